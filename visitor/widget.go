package visitor

import (
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"embed"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

//go:embed assets/widget.js assets/widget.css assets/widget-files.js assets/demo.html
var assets embed.FS

// WidgetConfig is the [widget] section of bridge.toml, plus what the widget
// needs from [server] and [visitor]. Zero fields take the defaults of
// DefaultWidgetConfig, except Sound and DemoPage.
type WidgetConfig struct {
	// PublicURL and AllowedOrigins are the visitor API's (server.public_url,
	// visitor.allowed_origins): they decide who may call the resume endpoint.
	PublicURL      string
	AllowedOrigins []string
	// TrustProxyHeaders is visitor.trust_proxy_headers (client IPs for the
	// resume endpoint's rate limit).
	TrustProxyHeaders bool

	// Title and Greeting are shown in the panel. The English defaults are
	// translated by the widget; any other text is shown as configured.
	Title    string
	Greeting string
	// Color is the accent colour, "#rgb" or "#rrggbb".
	Color string
	// Position is "right" or "left" (bottom corner).
	Position string
	// PrechatName and PrechatEmail are "off", "optional" or "required".
	PrechatName  string
	PrechatEmail string
	// OfflineAfter is how long after the visitor's first message, with no
	// operator answer, the widget asks for an e-mail address. Negative
	// disables the prompt.
	OfflineAfter time.Duration
	// Sound plays a short beep on operator messages in the visible tab.
	Sound bool
	// Language is "" (the browser's), "en" or "fr".
	Language string
	// DemoPage serves the demo shop at / and /demo/.
	DemoPage bool
	// MaxFileBytes is the largest file a visitor may send (files.max_bytes);
	// 0 hides the widget's attach button (the visitor API keeps no files).
	MaxFileBytes int64
	// Resume verifies a resume code from an offline-reply e-mail, uses it
	// up and returns its visitor id (package adapters/email provides it).
	// An error wrapping bridge.ErrAlreadyUsed (a link opened before) is
	// answered 410 resume_used, any other 401. Nil disables
	// POST /api/v1/sessions/resume.
	Resume func(ctx context.Context, code string) (visitorID string, err error)
}

// Widget defaults, matching bridge.example.toml.
const (
	DefaultWidgetTitle    = "Chat with us"
	DefaultWidgetGreeting = "Hi! How can we help?"
	DefaultWidgetColor    = "#2563eb"
	DefaultOfflineAfter   = 2 * time.Minute
)

// DefaultWidgetConfig returns the [widget] defaults.
func DefaultWidgetConfig() WidgetConfig {
	return WidgetConfig{
		Title: DefaultWidgetTitle, Greeting: DefaultWidgetGreeting, Color: DefaultWidgetColor,
		Position: "right", PrechatName: "optional", PrechatEmail: "optional",
		OfflineAfter: DefaultOfflineAfter, Sound: true, DemoPage: true,
	}
}

var colorRE = regexp.MustCompile(`^#(?:[0-9a-fA-F]{3}|[0-9a-fA-F]{6})$`)

// Validate reports every problem of c at once, each naming its bridge.toml
// key. Empty fields are valid (they take the defaults).
func (c WidgetConfig) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	oneOf := func(key, v string, allowed ...string) {
		if v == "" {
			return
		}
		for _, a := range allowed {
			if v == a {
				return
			}
		}
		bad(key, "%q is not one of %s", v, strings.Join(allowed, ", "))
	}
	if c.Color != "" && !colorRE.MatchString(c.Color) {
		bad("widget.color", "%q is not a #rgb or #rrggbb colour", c.Color)
	}
	oneOf("widget.position", c.Position, "right", "left")
	oneOf("widget.prechat_name", c.PrechatName, "off", "optional", "required")
	oneOf("widget.prechat_email", c.PrechatEmail, "off", "optional", "required")
	oneOf("widget.language", c.Language, "en", "fr")
	for key, v := range map[string]string{"widget.title": c.Title, "widget.greeting": c.Greeting} {
		if len(v) > 500 {
			bad(key, "is longer than 500 bytes")
		}
	}
	if c.PublicURL != "" {
		if _, err := parseOrigin(c.PublicURL, true); err != nil {
			bad("server.public_url", "%v", err)
		}
	}
	return errs
}

// clientConfig is the widget's settings as the script receives them.
type clientConfig struct {
	Title        string  `json:"title,omitempty"`
	Greeting     string  `json:"greeting,omitempty"`
	Color        string  `json:"color"`
	Position     string  `json:"position"`
	PrechatName  string  `json:"prechat_name"`
	PrechatEmail string  `json:"prechat_email"`
	OfflineAfter float64 `json:"offline_after"` // seconds; 0: never
	Sound        bool    `json:"sound"`
	Language     string  `json:"language,omitempty"`
	// Files is the largest file the visitor may send, in bytes; 0: none.
	Files int64 `json:"files,omitempty"`
}

// Widget serves the embeddable chat widget (/widget.js), its settings
// (/api/v1/widget/config), the resume endpoint of offline-reply e-mails and
// the demo page.
type Widget struct {
	cfg     WidgetConfig
	engine  Engine
	log     *slog.Logger
	origins originPolicy
	resumes *limiter

	script script
	// files is the upload code, fetched by the widget only when the
	// visitor attaches a file.
	files  script
	config []byte
	demo   []byte
}

// script is a served script, kept plain and gzipped.
type script struct {
	js, gz []byte
	etag   string
}

func newScript(js []byte) script {
	var gz bytes.Buffer
	zw, _ := gzip.NewWriterLevel(&gz, gzip.BestCompression)
	_, _ = zw.Write(js)
	_ = zw.Close()
	sum := sha256.Sum256(js)
	return script{js: js, gz: gz.Bytes(), etag: `"` + hex.EncodeToString(sum[:12]) + `"`}
}

// NewWidget validates cfg and prepares the widget: the script is built once,
// with its settings and CSS inlined, and kept gzipped.
func NewWidget(cfg WidgetConfig, engine Engine, log *slog.Logger) (*Widget, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("new widget: %w", errors.Join(errs...))
	}
	if engine == nil && cfg.Resume != nil {
		return nil, errors.New("new widget: resume needs an engine")
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	w := &Widget{
		cfg: cfg, engine: engine, log: log,
		origins: newOriginPolicy(cfg.PublicURL, cfg.AllowedOrigins),
		resumes: newLimiter(30, time.Hour),
	}
	cc := w.clientConfig()
	var err error
	if w.config, err = json.Marshal(cc); err != nil {
		return nil, fmt.Errorf("new widget: encode config: %w", err)
	}
	js, err := buildScript(w.config)
	if err != nil {
		return nil, fmt.Errorf("new widget: %w", err)
	}
	w.script = newScript(js)
	fjs, err := assets.ReadFile("assets/widget-files.js")
	if err != nil {
		return nil, fmt.Errorf("new widget: %w", err)
	}
	w.files = newScript(fjs)
	if w.demo, err = assets.ReadFile("assets/demo.html"); err != nil {
		return nil, fmt.Errorf("new widget: %w", err)
	}
	return w, nil
}

// clientConfig applies the defaults. The English default title and greeting
// are left out so that the script shows its own translation of them.
func (w *Widget) clientConfig() clientConfig {
	c := w.cfg
	cc := clientConfig{
		Title: c.Title, Greeting: c.Greeting, Color: c.Color, Position: c.Position,
		PrechatName: c.PrechatName, PrechatEmail: c.PrechatEmail, Sound: c.Sound, Language: c.Language,
		Files: max(c.MaxFileBytes, 0),
	}
	if cc.Title == DefaultWidgetTitle {
		cc.Title = ""
	}
	if cc.Greeting == DefaultWidgetGreeting {
		cc.Greeting = ""
	}
	def := func(p *string, d string) {
		if *p == "" {
			*p = d
		}
	}
	def(&cc.Color, DefaultWidgetColor)
	def(&cc.Position, "right")
	def(&cc.PrechatName, "optional")
	def(&cc.PrechatEmail, "optional")
	switch {
	case c.OfflineAfter == 0:
		cc.OfflineAfter = DefaultOfflineAfter.Seconds()
	case c.OfflineAfter > 0:
		cc.OfflineAfter = c.OfflineAfter.Seconds()
	}
	return cc
}

// Placeholders in widget.js replaced at build time.
const (
	cfgPlaceholder = "/*CFG*/{}"
	cssPlaceholder = `/*CSS*/""`
)

// buildScript inlines the settings and the stylesheet into the script.
// encoding/json escapes <, > and & (and U+2028/2029), so neither can end
// the script element or break the JavaScript string.
func buildScript(config []byte) ([]byte, error) {
	js, err := assets.ReadFile("assets/widget.js")
	if err != nil {
		return nil, err
	}
	css, err := assets.ReadFile("assets/widget.css")
	if err != nil {
		return nil, err
	}
	cssJSON, err := json.Marshal(string(css))
	if err != nil {
		return nil, err
	}
	for _, p := range []string{cfgPlaceholder, cssPlaceholder} {
		if n := bytes.Count(js, []byte(p)); n != 1 {
			return nil, fmt.Errorf("build widget script: placeholder %s found %d times", p, n)
		}
	}
	js = bytes.Replace(js, []byte(cfgPlaceholder), config, 1)
	js = bytes.Replace(js, []byte(cssPlaceholder), cssJSON, 1)
	return js, nil
}

// Mount registers the widget's routes on mux. With the visitor API served by
// Server.Handler, wire both on one mux:
//
//	mux.Handle("/", visitorServer.Handler())
//	widget.Mount(mux)
func (w *Widget) Mount(mux *http.ServeMux) {
	mux.HandleFunc("GET /widget.js", func(rw http.ResponseWriter, r *http.Request) { serveScript(rw, r, w.script) })
	mux.HandleFunc("GET /widget-files.js", func(rw http.ResponseWriter, r *http.Request) { serveScript(rw, r, w.files) })
	mux.HandleFunc("GET /api/v1/widget/config", w.serveConfig)
	if w.cfg.Resume != nil {
		mux.HandleFunc("/api/v1/sessions/resume", w.handleResume)
	}
	if w.cfg.DemoPage {
		mux.HandleFunc("GET /{$}", w.serveDemo)
		mux.HandleFunc("GET /demo/", w.serveDemo)
	}
}

// mountWidget serves a widget with the default settings next to the API, so
// that Server.Handler alone is a working chat. A Widget mounted on an outer
// mux (the serve command) takes precedence over it.
func (s *Server) mountWidget(mux *http.ServeMux) {
	cfg := DefaultWidgetConfig()
	cfg.PublicURL, cfg.AllowedOrigins, cfg.TrustProxyHeaders = s.cfg.PublicURL, s.cfg.AllowedOrigins, s.cfg.TrustProxyHeaders
	cfg.DemoPage = false
	if s.cfg.Blobs != nil {
		cfg.MaxFileBytes = s.cfg.MaxFileBytes
	}
	w, err := NewWidget(cfg, s.engine, s.log)
	if err != nil {
		s.log.Error("default widget not served", "err", err)
		return
	}
	w.Mount(mux)
}

func serveScript(rw http.ResponseWriter, r *http.Request, sc script) {
	h := rw.Header()
	h.Set("Content-Type", "text/javascript; charset=utf-8")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("ETag", sc.etag)
	h.Set("Vary", "Accept-Encoding")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cross-Origin-Resource-Policy", "cross-origin")
	if match := r.Header.Get("If-None-Match"); match != "" && strings.Contains(match, sc.etag) {
		rw.WriteHeader(http.StatusNotModified)
		return
	}
	body := sc.js
	if acceptsGzip(r) {
		h.Set("Content-Encoding", "gzip")
		body = sc.gz
	}
	h.Set("Content-Length", strconv.Itoa(len(body)))
	_, _ = rw.Write(body)
}

func acceptsGzip(r *http.Request) bool {
	for _, part := range strings.Split(r.Header.Get("Accept-Encoding"), ",") {
		enc, q, _ := strings.Cut(strings.TrimSpace(part), ";")
		if strings.EqualFold(strings.TrimSpace(enc), "gzip") && strings.ReplaceAll(strings.TrimSpace(q), " ", "") != "q=0" {
			return true
		}
	}
	return false
}

// serveConfig returns the widget's settings; they are public.
func (w *Widget) serveConfig(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("Access-Control-Allow-Origin", "*")
	h.Set("Cache-Control", "public, max-age=300")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Content-Type", "application/json; charset=utf-8")
	_, _ = rw.Write(w.config)
}

func (w *Widget) serveDemo(rw http.ResponseWriter, r *http.Request) {
	if r.URL.Path != "/" && !demoPath.MatchString(r.URL.Path) {
		http.NotFound(rw, r)
		return
	}
	h := rw.Header()
	h.Set("Content-Type", "text/html; charset=utf-8")
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-cache")
	_, _ = rw.Write(w.demo)
}

var demoPath = regexp.MustCompile(`^/demo/(product/[0-9]+)?$`)

// resumeRequest is the body of POST /api/v1/sessions/resume.
type resumeRequest struct {
	Code string `json:"code"`
}

// handleResume exchanges the code of a resume link (from an offline-reply
// e-mail) for a new bearer token of that visitor (201 {token, visitor_id}).
func (w *Widget) handleResume(rw http.ResponseWriter, r *http.Request) {
	h := rw.Header()
	h.Set("X-Content-Type-Options", "nosniff")
	h.Set("Cache-Control", "no-store")
	if !w.origins.allowed(r) {
		w.writeError(rw, r, errForbiddenOrigin)
		return
	}
	setCORS(h, r)
	switch r.Method {
	case http.MethodOptions:
		rw.WriteHeader(http.StatusNoContent)
		return
	case http.MethodPost:
	default:
		h.Set("Allow", "POST, OPTIONS")
		w.writeError(rw, r, &apiError{status: http.StatusMethodNotAllowed, code: CodeMethodNotAllowed, message: r.Method + " is not supported here"})
		return
	}
	if ok, wait := w.resumes.allow(clientIP(r, w.cfg.TrustProxyHeaders), w.engine.Now()); !ok {
		w.writeError(rw, r, errRateLimited("too many resume attempts: try again in "+roundUp(wait).String(), wait))
		return
	}
	var req resumeRequest
	body := http.MaxBytesReader(rw, r.Body, 4096)
	dec := json.NewDecoder(body)
	if err := dec.Decode(&req); err != nil || req.Code == "" {
		w.writeError(rw, r, errBadRequest(`send {"code": "<the chatbridge_resume value of the link>"}`))
		return
	}
	visitorID, err := w.cfg.Resume(r.Context(), req.Code)
	if errors.Is(err, bridge.ErrAlreadyUsed) {
		w.log.Info("resume code refused", "err", err)
		w.writeError(rw, r, &apiError{status: http.StatusGone, code: CodeResumeUsed,
			message: "this link was already used: each link works once; write to us here and the next e-mail brings a new one"})
		return
	}
	if err != nil {
		w.log.Info("resume code refused", "err", err)
		w.writeError(rw, r, errUnauthorized("this link is invalid or has expired"))
		return
	}
	token, err := w.engine.IssueToken(r.Context(), visitorID)
	if errors.Is(err, bridge.ErrNotFound) {
		w.writeError(rw, r, errUnauthorized("this link is invalid or has expired"))
		return
	}
	if err != nil {
		w.writeError(rw, r, err)
		return
	}
	writeJSON(rw, http.StatusCreated, sessionResponse{Token: token, VisitorID: visitorID})
}

// writeError writes err as the API's JSON error; unexpected errors are
// logged and hidden.
func (w *Widget) writeError(rw http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	if !errors.As(err, &ae) {
		w.log.Error("widget request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errInternal
	}
	if ae.retryAfter > 0 {
		rw.Header().Set("Retry-After", strconv.FormatInt(int64(roundUp(ae.retryAfter)/time.Second), 10))
	}
	var body errorBody
	body.Error.Code, body.Error.Message = ae.code, ae.message
	writeJSON(rw, ae.status, body)
}
