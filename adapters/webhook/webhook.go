package webhook

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"
	"unicode"

	"github.com/chatbridge/chatbridge/bridge"
)

// Config configures a Sink.
type Config struct {
	// Name is the outbox destination name (default "webhook"); give each
	// sink its own when there are several.
	Name string
	// URL receives the POSTs: an absolute http(s) URL.
	URL string
	// Secret keys the HMAC-SHA256 signature; required.
	Secret string
	// Events are the event types to send (see Types); default ticket and
	// lead.
	Events []string
	// Timeout bounds one request (default 10 s).
	Timeout time.Duration
	// HealthWindow is how long a failed delivery keeps Health failing
	// unless a later one succeeds (default 5 min).
	HealthWindow time.Duration
	// Client sends the requests (default: a client with Timeout that does
	// not follow redirects).
	Client *http.Client
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Sink posts outbox entries to a webhook URL. It implements
// bridge.Deliverer and bridge.HealthChecker.
type Sink struct {
	cfg    Config
	events map[bridge.OutboxKind]bool
	client *http.Client
	log    *slog.Logger

	mu      sync.Mutex
	lastErr error
	errAt   time.Time
}

var (
	_ bridge.Deliverer     = (*Sink)(nil)
	_ bridge.HealthChecker = (*Sink)(nil)
)

// maxRetryAfter caps a receiver's Retry-After so that one answer cannot
// park the outbox for days.
const maxRetryAfter = time.Hour

// Validate reports every problem of c at once, each naming its bridge.toml
// key ("sinks.webhook.url: …").
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("sinks.webhook.%s: %w: %s", key, bridge.ErrInvalid, fmt.Sprintf(format, args...)))
	}
	if u, err := url.Parse(c.URL); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		bad("url", "%q is not an absolute http(s) URL", c.URL)
	}
	if c.Secret == "" {
		bad("secret", "is required to sign requests")
	}
	for _, e := range c.Events {
		if !slices.Contains(Types, e) {
			bad("events", "unknown event %q (known: %s)", e, strings.Join(Types, ", "))
		}
	}
	return errs
}

// New checks cfg (Validate) and returns a Sink.
func New(cfg Config, log *slog.Logger) (*Sink, error) {
	if cfg.Name == "" {
		cfg.Name = "webhook"
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("new webhook: %w", errors.Join(errs...))
	}
	if cfg.Events == nil {
		cfg.Events = []string{TypeTicket, TypeLead}
	}
	events := map[bridge.OutboxKind]bool{}
	for _, e := range cfg.Events {
		events[bridge.OutboxKind(e)] = true
	}
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.HealthWindow <= 0 {
		cfg.HealthWindow = 5 * time.Minute
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	client := cfg.Client
	if client == nil {
		client = &http.Client{
			Timeout: cfg.Timeout,
			// A redirected POST becomes a GET: the event would be lost
			// while the receiver answers 2xx. Report it instead.
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		}
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Sink{cfg: cfg, events: events, client: client, log: log.With("sink", cfg.Name)}, nil
}

// Name is the outbox destination name.
func (s *Sink) Name() string { return s.cfg.Name }

// Wants reports whether k is one of the configured events.
func (s *Sink) Wants(k bridge.OutboxKind) bool { return s.events[k] }

// WantsMessage keeps notes and whispers out of the outbox: only public
// messages are ever sent.
func (s *Sink) WantsMessage(m bridge.Message) bool { return m.Visibility == bridge.VisibilityPublic }

var _ bridge.MessageFilter = (*Sink)(nil)

// Deliver POSTs one event. Called by the engine's delivery worker only.
// A 2xx answer delivers it; 410 Gone drops it (bridge.ErrPermanent); any
// other answer or a network error is retried, after the receiver's
// Retry-After on 429 and 503 (as a *bridge.RetryAfterError).
//
// For ticket and lead events, a 2xx JSON answer with a "link" field (an
// http(s) URL of the record the receiver created) is returned as the
// Receipt's link, which the operator is shown.
func (s *Sink) Deliver(ctx context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	if (d.Entry.Kind == bridge.KindTicket && d.Ticket == nil) || (d.Entry.Kind == bridge.KindLead && d.Lead == nil) {
		return bridge.Receipt{}, fmt.Errorf("webhook %s: %w: %s without its record", d.Entry.EventID(), bridge.ErrPermanent, d.Entry.Kind)
	}
	ev, ok := newEvent(d)
	if !ok {
		return bridge.Receipt{}, nil // operator-only: never sent, done
	}
	rc, err := s.post(ctx, ev)
	s.record(err)
	return rc, err
}

func (s *Sink) post(ctx context.Context, ev Event) (bridge.Receipt, error) {
	body, err := json.Marshal(ev)
	if err != nil {
		return bridge.Receipt{}, fmt.Errorf("webhook %s: %w: encode: %w", ev.ID, bridge.ErrPermanent, err)
	}
	ctx, cancel := context.WithTimeout(ctx, s.cfg.Timeout)
	defer cancel()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, s.cfg.URL, bytes.NewReader(body))
	if err != nil {
		return bridge.Receipt{}, fmt.Errorf("webhook %s: %w: %w", ev.ID, bridge.ErrPermanent, err)
	}
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("User-Agent", "chatbridge-webhook")
	req.Header.Set("X-Chatbridge-Event", ev.Type)
	req.Header.Set("X-Chatbridge-Event-Id", ev.ID)
	req.Header.Set("X-Chatbridge-Signature", Sign(s.cfg.Secret, body))
	resp, err := s.client.Do(req)
	if err != nil {
		return bridge.Receipt{}, fmt.Errorf("webhook %s: post: %w", ev.ID, err)
	}
	defer resp.Body.Close()
	answer, _ := io.ReadAll(io.LimitReader(resp.Body, 64<<10))
	switch code := resp.StatusCode; {
	case code >= 200 && code < 300:
		s.log.Debug("webhook delivered", "event", ev.ID, "type", ev.Type, "status", code)
		var rc bridge.Receipt
		if ev.Type == TypeTicket || ev.Type == TypeLead {
			rc.Link = receiptLink(resp.Header.Get("Content-Type"), answer)
		}
		return rc, nil
	case code == http.StatusGone:
		return bridge.Receipt{}, fmt.Errorf("webhook %s: %w: the receiver answered 410 Gone", ev.ID, bridge.ErrPermanent)
	case code >= 300 && code < 400:
		return bridge.Receipt{}, fmt.Errorf("webhook %s: the receiver redirects (%d to %q): configure the final URL", ev.ID, code, resp.Header.Get("Location"))
	default:
		err := fmt.Errorf("webhook %s: the receiver answered %d %s%s", ev.ID, code, http.StatusText(code), snippet(answer))
		if code == http.StatusTooManyRequests || code == http.StatusServiceUnavailable {
			if after, ok := retryAfter(resp.Header.Get("Retry-After"), s.cfg.Now()); ok {
				return bridge.Receipt{}, &bridge.RetryAfterError{After: after, Err: err}
			}
		}
		return bridge.Receipt{}, err
	}
}

// retryAfter parses a Retry-After header: seconds or an HTTP date.
func retryAfter(h string, now time.Time) (time.Duration, bool) {
	h = strings.TrimSpace(h)
	if h == "" {
		return 0, false
	}
	var d time.Duration
	if n, err := strconv.Atoi(h); err == nil {
		d = time.Duration(n) * time.Second
	} else if t, err := http.ParseTime(h); err == nil {
		d = t.Sub(now)
	} else {
		return 0, false
	}
	if d <= 0 {
		return 0, false
	}
	return min(d, maxRetryAfter), true
}

// receiptLink extracts {"link": "https://…"} from a JSON answer.
func receiptLink(contentType string, body []byte) string {
	if !strings.HasPrefix(strings.TrimSpace(strings.ToLower(contentType)), "application/json") {
		return ""
	}
	var r struct {
		Link string `json:"link"`
	}
	if json.Unmarshal(body, &r) != nil {
		return ""
	}
	u, err := url.Parse(r.Link)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return ""
	}
	return r.Link
}

// snippet quotes the start of an error answer for the operator's message,
// on one line and without control characters.
func snippet(body []byte) string {
	s := strings.Join(strings.Fields(strings.Map(func(r rune) rune {
		if unicode.IsControl(r) {
			return ' '
		}
		return r
	}, string(body))), " ")
	if s == "" {
		return ""
	}
	if r := []rune(s); len(r) > 200 {
		s = string(r[:200]) + "…"
	}
	return ": " + strconv.Quote(s)
}

func (s *Sink) record(err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err == nil {
		s.lastErr = nil
		return
	}
	s.lastErr, s.errAt = err, s.cfg.Now()
}

// Health fails while the latest delivery failed within HealthWindow.
func (s *Sink) Health(context.Context) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.lastErr == nil {
		return nil
	}
	ago := s.cfg.Now().Sub(s.errAt)
	if ago > s.cfg.HealthWindow {
		return nil
	}
	return fmt.Errorf("last delivery failed %s ago: %w", ago.Round(time.Second), s.lastErr)
}
