package visitor

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

// Server serves the visitor API and the live stream for one engine.
type Server struct {
	cfg     Config
	engine  Engine
	log     *slog.Logger
	origins originPolicy

	sessions      *limiter // per client IP
	conversations *limiter // per client IP
	messages      *limiter // per conversation
	pageviews     *limiter // per visitor
	typing        *limiter // per visitor, one per 50 ms
	updates       *limiter // per visitor: name and e-mail changes
	uploads       *limiter // per visitor: upload attempts
	uploadsIP     *limiter // per client IP: upload attempts

	// uploading allows one upload at a time per visitor; quota counts the
	// files of the day per conversation (files.go).
	uploading *connLimiter
	quota     *fileQuota
	// fileSecret signs file links (fileKey), loaded on first use.
	fileKeyMu  sync.Mutex
	fileSecret []byte

	// Live connections (streams and long polls) per client IP, counted
	// from before a stream's hello, and per visitor.
	ipConns      *connLimiter
	visitorConns *connLimiter

	// ctx ends when the server closes (long polls return).
	ctx    context.Context
	cancel context.CancelFunc
	// ws holds the live WebSocket streams (stream.go).
	ws *streams
}

// Engine is what the visitor API and the widget use of the bridge
// (bridge.Engine implements it).
type Engine interface {
	Now() time.Time
	// Node names this node in a cluster ("" on a single node).
	Node() string
	Hub() *bridge.Hub
	StartSession(ctx context.Context, in bridge.SessionInput) (token string, v bridge.Visitor, err error)
	Authenticate(ctx context.Context, token string) (bridge.Visitor, error)
	UpdateVisitor(ctx context.Context, visitorID, name, email string) (bridge.Visitor, error)
	RecordPageView(ctx context.Context, visitorID string, pv bridge.PageView) error
	CheckMessage(ctx context.Context, visitorID, clientID string) (bridge.MessageCheck, error)
	VisitorMessage(ctx context.Context, visitorID, clientID, text string) (bridge.Message, error)
	VisitorSend(ctx context.Context, visitorID string, in bridge.VisitorInput) (bridge.Message, error)
	Conversation(ctx context.Context, id string) (bridge.Conversation, error)
	Messages(ctx context.Context, conversationID string, after uint64, limit int) ([]bridge.Message, error)
	AdapterState(ctx context.Context, namespace, key string) ([]byte, error)
	UpdateAdapterState(ctx context.Context, namespace, key string, fn func(old []byte, found bool) ([]byte, bool)) error
	HoldBlob(key string) (release func())
	DropUnusedBlob(ctx context.Context, blobs bridge.BlobStore, key string) (bool, error)
	VisitorMessages(ctx context.Context, visitorID, conversationID string, after uint64, limit int) (bridge.VisitorView, error)
	VisitorUpdates(ctx context.Context, visitorID string, q bridge.VisitorQuery) (bridge.VisitorView, error)
	VisitorTyping(ctx context.Context, visitorID, author string) error
	CloseByVisitor(ctx context.Context, visitorID string) error
	IssueToken(ctx context.Context, visitorID string) (string, error)
}

var _ Engine = (*bridge.Engine)(nil)

// New returns a server for engine. cfg is validated; zero fields take the
// defaults.
func New(cfg Config, engine Engine, log *slog.Logger) (*Server, error) {
	if engine == nil {
		return nil, errors.New("new visitor server: nil engine")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("new visitor server: %w", errors.Join(errs...))
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg = cfg.withDefaults()
	ctx, cancel := context.WithCancel(context.Background())
	s := &Server{
		cfg:           cfg,
		engine:        engine,
		log:           log,
		origins:       newOriginPolicy(cfg.PublicURL, cfg.AllowedOrigins),
		sessions:      newLimiter(cfg.SessionsPerIPPerHour, time.Hour),
		conversations: newLimiter(cfg.ConversationsPerIPPerDay, 24*time.Hour),
		messages:      newLimiter(cfg.MessagesPerMinute, time.Minute),
		pageviews:     newLimiter(cfg.PageviewsPerMinute, time.Minute),
		typing:        newLimiter(1, typingInterval),
		updates:       newLimiter(cfg.VisitorUpdatesPerMinute, time.Minute),
		uploads:       newLimiter(cfg.UploadsPerMinute, time.Minute),
		uploadsIP:     newLimiter(cfg.UploadsPerIPPerHour, time.Hour),
		uploading:     newConnLimiter(1),
		quota:         newFileQuota(cfg.FilesPerConversationPerDay, cfg.FileBytesPerConversationPerDay, engine.Node() != ""),
		fileSecret:    cfg.FileSecret,
		ipConns:       newConnLimiter(cfg.MaxConnsPerIP),
		visitorConns:  newConnLimiter(cfg.MaxConnsPerVisitor),
		ctx:           ctx,
		cancel:        cancel,
	}
	if err := s.startStreams(); err != nil {
		cancel()
		return nil, fmt.Errorf("new visitor server: streams: %w", err)
	}
	return s, nil
}

// typingInterval is the minimum time between two typing events of a visitor.
const typingInterval = 50 * time.Millisecond

// Run sweeps idle rate-limit buckets until ctx ends, then closes every live
// stream (status 1001, going away) and returns once they have ended.
func (s *Server) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			s.Close()
			return nil
		case <-t.C:
			now := s.engine.Now()
			for _, l := range []*limiter{s.sessions, s.conversations, s.messages, s.pageviews, s.typing, s.updates, s.uploads, s.uploadsIP} {
				l.sweep(now)
			}
			s.quota.sweep(now)
		}
	}
}

// Close ends every live stream and waits for them. Plain HTTP requests are
// left to http.Server.Shutdown.
func (s *Server) Close() {
	s.cancel()
	s.closeStreams()
}

// route is one API endpoint: handlers by method.
type route map[string]http.HandlerFunc

// Handler returns the visitor API under /api/v1/ and the widget routes.
func (s *Server) Handler() http.Handler {
	routes := map[string]route{
		"/api/v1/sessions":           {http.MethodPost: s.handleSession},
		"/api/v1/pageviews":          {http.MethodPost: s.handlePageView},
		"/api/v1/messages":           {http.MethodPost: s.handlePostMessage, http.MethodGet: s.handleGetMessages},
		"/api/v1/conversation/close": {http.MethodPost: s.handleClose},
		"/api/v1/visitor":            {http.MethodPost: s.handleVisitor, http.MethodPatch: s.handleVisitor},
		"/api/v1/typing":             {http.MethodPost: s.handleTyping},
		"/api/v1/stream":             {http.MethodGet: s.handleStream},
		"/api/v1/files":              {http.MethodPost: s.handleUpload},
		fileURLPrefix:                {http.MethodGet: s.handleFile, http.MethodHead: s.handleFile},
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", s.api(routes))
	s.mountWidget(mux)
	return mux
}

// api wraps the routes with the checks every API call gets: security
// headers, the Origin allow-list, CORS and JSON 404/405 errors.
func (s *Server) api(routes map[string]route) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("Cache-Control", "no-store")
		if !s.origins.allowed(r) {
			s.writeError(w, r, errForbiddenOrigin)
			return
		}
		setCORS(h, r)
		rt, found := routes[r.URL.Path]
		if !found && strings.HasPrefix(r.URL.Path, fileURLPrefix) {
			rt, found = routes[fileURLPrefix]
		}
		if !found {
			s.writeError(w, r, errNotFound)
			return
		}
		if r.Method == http.MethodOptions {
			w.WriteHeader(http.StatusNoContent)
			return
		}
		fn := rt[r.Method]
		if fn == nil {
			methods := make([]string, 0, len(rt)+1)
			for m := range rt {
				methods = append(methods, m)
			}
			h.Set("Allow", strings.Join(append(methods, http.MethodOptions), ", "))
			s.writeError(w, r, &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, message: r.Method + " is not supported here"})
			return
		}
		fn(w, r)
	})
}

// authenticate resolves the request's bearer token.
func (s *Server) authenticate(r *http.Request) (bridge.Visitor, error) {
	auth := r.Header.Get("Authorization")
	scheme, token, ok := strings.Cut(auth, " ")
	if auth == "" {
		return bridge.Visitor{}, errUnauthorized("missing token: send Authorization: Bearer <token> from POST /api/v1/sessions")
	}
	if !ok || !strings.EqualFold(scheme, "Bearer") || strings.TrimSpace(token) == "" {
		return bridge.Visitor{}, errUnauthorized("malformed Authorization header: want Bearer <token>")
	}
	v, err := s.engine.Authenticate(r.Context(), strings.TrimSpace(token))
	if err != nil {
		if errors.Is(err, bridge.ErrUnauthorized) {
			return bridge.Visitor{}, errUnauthorized("unknown or expired token: start a new session")
		}
		return bridge.Visitor{}, fmt.Errorf("authenticate: %w", err)
	}
	return v, nil
}

// bodyLimit is the largest request body accepted: a message of
// MaxMessageBytes, even with every byte JSON-escaped to two (quotes,
// backslashes, newlines), plus room for the other fields.
func (s *Server) bodyLimit() int64 { return 2*int64(s.cfg.MaxMessageBytes) + 4096 }

// decode reads a JSON object body into v. Invalid UTF-8 anywhere in the body
// is refused (encoding/json would silently replace it), as are trailing data
// and bodies over bodyLimit. An empty body decodes as {} when emptyOK.
func (s *Server) decode(w http.ResponseWriter, r *http.Request, v any, emptyOK bool) error {
	body, err := io.ReadAll(http.MaxBytesReader(w, r.Body, s.bodyLimit()))
	if err != nil {
		var mbe *http.MaxBytesError
		if errors.As(err, &mbe) {
			return errTooLarge(fmt.Sprintf("request body is over %d bytes", mbe.Limit))
		}
		return errBadRequest("could not read the request body")
	}
	return decodeJSON(body, v, emptyOK)
}

// decodeJSON is decode without the transport, for fuzzing.
func decodeJSON(body []byte, v any, emptyOK bool) error {
	if len(bytes.TrimSpace(body)) == 0 {
		if emptyOK {
			return nil
		}
		return errBadRequest("request body is empty: send a JSON object")
	}
	if !utf8.Valid(body) {
		return errBadRequest("request body is not valid UTF-8")
	}
	if bytes.TrimSpace(body)[0] != '{' {
		return errBadRequest("request body is not a JSON object")
	}
	dec := json.NewDecoder(bytes.NewReader(body))
	if err := dec.Decode(v); err != nil {
		var te *json.UnmarshalTypeError
		if errors.As(err, &te) && te.Field != "" {
			return errBadRequest(fmt.Sprintf("field %q must be a JSON %s", te.Field, jsonKind(te.Type.Kind().String())))
		}
		return errBadRequest("request body is not a valid JSON object")
	}
	if dec.More() {
		return errBadRequest("request body has data after the JSON object")
	}
	if _, err := dec.Token(); err != io.EOF {
		return errBadRequest("request body has data after the JSON object")
	}
	return nil
}

func jsonKind(goKind string) string {
	switch {
	case goKind == "string":
		return "string"
	case strings.HasPrefix(goKind, "int"), strings.HasPrefix(goKind, "uint"), strings.HasPrefix(goKind, "float"):
		return "number"
	case goKind == "bool":
		return "boolean"
	default:
		return "object"
	}
}

// limited returns a 429 error when l has no token for key.
func (s *Server) limited(l *limiter, key, what string) error {
	ok, wait := l.allow(key, s.engine.Now())
	if ok {
		return nil
	}
	return errRateLimited("too many "+what+": try again in "+roundUp(wait).String(), wait)
}

func roundUp(d time.Duration) time.Duration {
	return (d + time.Second - 1).Truncate(time.Second)
}
