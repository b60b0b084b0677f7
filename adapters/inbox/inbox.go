package inbox

import (
	"context"
	"embed"
	"errors"
	"fmt"
	"html/template"
	"io/fs"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/chatbridge/chatbridge/bridge"
)

// AdapterName is the inbox's platform name in bridge.Operator.Adapter.
const AdapterName = "inbox"

//go:embed templates/*.html
var templateFS embed.FS

//go:embed static
var staticFS embed.FS

// Inbox is the built-in operator inbox. Create it with New, mount Handler at
// /inbox/ and run Run for the lifetime of the server.
type Inbox struct {
	cfg       Config
	engine    Engine
	log       *slog.Logger
	generated string

	secureCookie bool
	publicHost   string
	// dummyHash is checked for unknown logins (see dummyHashFor); it is
	// made in the background at start (bcrypt takes tens of milliseconds,
	// which start-up should not wait for) or by the first login, whichever
	// comes first.
	dummyHash func() (string, error)

	sessions *sessions
	limiter  *limiter
	seen     *seenTracker
	// typingGate coalesces operators' typing events.
	typingGate *typingGate
	tmpl       *template.Template
	handler    http.Handler

	done      chan struct{}
	closeOnce sync.Once
	proxyOnce sync.Once
}

var (
	_ bridge.Whisperer     = (*Inbox)(nil)
	_ bridge.HealthChecker = (*Inbox)(nil)
)

// Engine is what the inbox uses of the bridge (bridge.Engine implements it).
type Engine interface {
	Now() time.Time
	MaxMessageBytes() int
	Hub() *bridge.Hub
	Conversation(ctx context.Context, id string) (bridge.Conversation, error)
	Conversations(ctx context.Context, f bridge.ConversationFilter) ([]bridge.ConversationSummary, error)
	ConversationDetail(ctx context.Context, id string, after uint64, limit, pages int) (bridge.ConversationDetail, error)
	Messages(ctx context.Context, conversationID string, after uint64, limit int) ([]bridge.Message, error)
	AdapterState(ctx context.Context, namespace, key string) ([]byte, error)
	UpdateAdapterState(ctx context.Context, namespace, key string, fn func(old []byte, found bool) ([]byte, bool)) error
	HandleOperator(ctx context.Context, in bridge.OperatorInput) error
	Close(ctx context.Context, conversationID string, by bridge.Operator) error
	Leave(ctx context.Context, conversationID string, op bridge.Operator) (bool, error)
	Whisper(ctx context.Context, conversationID string, op bridge.Operator, text, inReplyTo string) error
	Typing(ctx context.Context, conversationID string, from bridge.From, author string) error
}

var _ Engine = (*bridge.Engine)(nil)

// New validates cfg and returns an inbox on engine. Register it with the
// engine (bridge.Engine.Register): it is the whisperer of the "inbox"
// adapter. With no operators configured and Config.GenerateAdmin, it
// creates the operator "admin" with a random password, which
// GeneratedPassword returns; without GenerateAdmin nobody can log in.
func New(cfg Config, engine Engine, log *slog.Logger) (*Inbox, error) {
	if engine == nil {
		return nil, fmt.Errorf("new inbox: %w: nil engine", bridge.ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("new inbox: %w", errors.Join(errs...))
	}
	cfg.defaults()
	in := &Inbox{
		cfg: cfg, engine: engine, log: log.With("adapter", AdapterName),
		sessions:   &sessions{engine: engine, ttl: cfg.SessionTTL},
		seen:       newSeenTracker(maxSeenCached),
		typingGate: newTypingGate(),
		done:       make(chan struct{}),
	}
	in.sessions.account = func(login string) (OperatorAccount, bool) {
		for _, a := range in.cfg.Operators {
			if strings.EqualFold(a.Login, login) {
				return a, true
			}
		}
		return OperatorAccount{}, false
	}
	if len(in.cfg.Operators) == 0 && cfg.GenerateAdmin {
		pw := randomString(12)
		// 96 random bits cannot be guessed whatever the hash cost, so the
		// cheapest bcrypt cost keeps start-up fast (DefaultCost adds ~80 ms).
		hash, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
		if err != nil {
			return nil, fmt.Errorf("new inbox: %w", err)
		}
		in.generated = pw
		in.cfg.Operators = []OperatorAccount{{Login: "admin", Name: "Support", PasswordHash: string(hash)}}
	}
	in.limiter = newLimiter(in.cfg.Operators)
	ops := in.cfg.Operators
	in.dummyHash = sync.OnceValues(func() (string, error) { return dummyHashFor(ops) })
	go in.dummyHash()
	if u, err := url.Parse(cfg.PublicURL); err == nil && cfg.PublicURL != "" {
		in.secureCookie = u.Scheme == "https"
		in.publicHost = u.Host
	}
	tmpl, err := template.New("").Funcs(templateFuncs).ParseFS(templateFS, "templates/*.html")
	if err != nil {
		return nil, fmt.Errorf("new inbox: parse templates: %w", err)
	}
	in.tmpl = tmpl
	in.handler = in.routes()
	return in, nil
}

// GeneratedPassword is the random password of the "admin" operator New
// created because none was configured, or "" when operators are configured.
// The serve command prints it once.
func (in *Inbox) GeneratedPassword() string { return in.generated }

// Handler serves the inbox under /inbox/ (paths keep their /inbox prefix).
func (in *Inbox) Handler() http.Handler { return in.handler }

// Name is the inbox's name for health reports.
func (in *Inbox) Name() string { return AdapterName }

// Health reports the inbox healthy: it has no outside system to lose.
func (in *Inbox) Health(ctx context.Context) error { return nil }

// Whisper is called by the engine after it stored a whisper for an inbox
// operator. The stored message already produced a hub event that the
// operator's live stream forwards (to that operator only), so the page
// fetches and shows it; nothing more is needed here.
func (in *Inbox) Whisper(ctx context.Context, w bridge.Whisper) error {
	in.log.Debug("whisper stored", "conversation", w.Conversation.ID, "operator", w.Operator.ID)
	return nil
}

// Run purges expired sessions, login counters and typing marks until ctx ends, then calls
// Close. It returns nil.
func (in *Inbox) Run(ctx context.Context) error {
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	defer in.Close()
	for {
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
			now := in.now()
			if err := in.sessions.purge(ctx, now); err != nil {
				in.log.Warn("expired sessions not purged", "err", err)
			}
			in.limiter.purge(now)
			in.typingGate.purge(now)
		}
	}
}

// Close ends the open live streams (they would otherwise hold
// http.Server.Shutdown until its deadline: register it with
// RegisterOnShutdown) and refuses new ones. Pages keep working. It is safe to
// call more than once.
func (in *Inbox) Close() {
	in.closeOnce.Do(func() { close(in.done) })
}

func (in *Inbox) now() time.Time { return in.engine.Now() }

// operator is the bridge identity of a logged-in account.
func operator(a OperatorAccount) bridge.Operator {
	return bridge.Operator{Adapter: AdapterName, ID: a.Login, Name: a.Name}
}

// routes builds the inbox's handler.
func (in *Inbox) routes() http.Handler {
	mux := http.NewServeMux()
	static, err := fs.Sub(staticFS, "static")
	if err != nil {
		panic(err) // the embedded tree always has it
	}
	files := http.StripPrefix("/inbox/static/", http.FileServerFS(static))
	mux.Handle("GET /inbox/static/", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Cache-Control", "no-cache")
		files.ServeHTTP(w, r)
	}))
	mux.HandleFunc("GET /inbox", func(w http.ResponseWriter, r *http.Request) {
		http.Redirect(w, r, "/inbox/", http.StatusMovedPermanently)
	})
	mux.HandleFunc("GET /inbox/login", in.loginPage)
	mux.HandleFunc("POST /inbox/login", in.login)
	mux.HandleFunc("POST /inbox/logout", in.page(in.logout))
	mux.HandleFunc("GET /inbox/{$}", in.page(in.listPage))
	mux.HandleFunc("GET /inbox/c/{id}", in.page(in.conversationPage))
	mux.HandleFunc("POST /inbox/c/{id}/reply", in.page(in.reply))
	mux.HandleFunc("POST /inbox/c/{id}/typing", in.api(in.typing))
	mux.HandleFunc("POST /inbox/c/{id}/close", in.page(in.closeConversation))
	mux.HandleFunc("POST /inbox/c/{id}/leave", in.page(in.leaveConversation))
	mux.HandleFunc("POST /inbox/c/{id}/edit", in.api(in.editMessage))
	mux.HandleFunc("POST /inbox/c/{id}/delete", in.api(in.deleteMessage))
	mux.HandleFunc("GET /inbox/files/{id}/{seq}", in.api(in.serveFile))
	mux.HandleFunc("GET /inbox/events", in.api(in.events))
	mux.HandleFunc("GET /inbox/api/conversations", in.api(in.apiList))
	mux.HandleFunc("GET /inbox/api/conversations/{id}", in.api(in.apiConversation))
	mux.HandleFunc("/inbox/", func(w http.ResponseWriter, r *http.Request) {
		http.Error(w, "not found", http.StatusNotFound)
	})
	return securityHeaders(mux)
}

// csp allows only the inbox's own files: no inline script or style, no
// framing, forms only to the inbox.
const csp = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self'; connect-src 'self'; " +
	"frame-ancestors 'none'; base-uri 'none'; form-action 'self'"

func securityHeaders(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Content-Security-Policy", csp)
		h.Set("X-Content-Type-Options", "nosniff")
		h.Set("X-Frame-Options", "DENY")
		h.Set("Referrer-Policy", "same-origin") // "no-referrer" would make browsers send "Origin: null" on our own POSTs
		if !strings.HasPrefix(r.URL.Path, "/inbox/static/") {
			h.Set("Cache-Control", "no-store")
		}
		next.ServeHTTP(w, r)
	})
}

// page wraps a handler that needs a logged-in operator; others are sent to
// the login page (scripts asking for JSON get 401).
func (in *Inbox) page(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := in.sessionFrom(r)
		if ss == nil {
			if wantsJSON(r) {
				writeJSONError(w, http.StatusUnauthorized, "log in first")
				return
			}
			target := "/inbox/login"
			if next := r.URL.RequestURI(); r.Method == http.MethodGet && safeNext(next) && next != "/inbox/" {
				target += "?next=" + url.QueryEscape(next)
			}
			http.Redirect(w, r, target, http.StatusSeeOther)
			return
		}
		h(w, r, ss)
	}
}

// api wraps a handler that needs a logged-in operator and answers 401
// otherwise.
func (in *Inbox) api(h func(http.ResponseWriter, *http.Request, *session)) http.HandlerFunc {
	return func(w http.ResponseWriter, r *http.Request) {
		ss := in.sessionFrom(r)
		if ss == nil {
			writeJSONError(w, http.StatusUnauthorized, "log in first")
			return
		}
		h(w, r, ss)
	}
}

// safeNext reports whether next is an inbox path to return to after login
// (never another site: no "//host", no scheme).
func safeNext(next string) bool {
	return strings.HasPrefix(next, "/inbox/") && !strings.HasPrefix(next, "/inbox//") &&
		!strings.ContainsAny(next, "\\\r\n") && len(next) < 512
}

func wantsJSON(r *http.Request) bool {
	return strings.Contains(r.Header.Get("Accept"), "application/json")
}
