package email

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net/mail"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Config is the [email] section of bridge.toml plus the wiring the serve
// command provides. Zero durations take the defaults below.
type Config struct {
	// Host and Port of the SMTP server (port 465 means implicit TLS).
	Host string
	Port int
	// Username and Password enable AUTH PLAIN (only over TLS or to a
	// loopback server: net/smtp refuses to send a password in clear).
	Username, Password string
	// From is the sender address ("Support <support@example.com>").
	From string
	// StartTLS upgrades the connection when the server offers STARTTLS.
	StartTLS bool
	// TLSConfig overrides the TLS settings (custom CAs); ServerName
	// defaults to Host.
	TLSConfig *tls.Config

	// PublicURL is server.public_url; resume links point to it.
	PublicURL string
	// ResumeURL is the page resume links open, which must load the widget
	// (default PublicURL + "/", the demo page). Sites usually set their own.
	ResumeURL string
	// ResumeTTL is how long a resume link works (default 14 days).
	ResumeTTL time.Duration
	// Secret signs resume codes; empty: a random key kept in the store.
	Secret []byte

	// Away reports whether a visitor has had no live widget connection for
	// at least AwayAfter. Required: the serve command wires the visitor
	// server's presence to it. A widget page that is left ends its
	// connection, also when the browser keeps it in its back/forward cache,
	// and a frozen page's connection is closed for want of heartbeats
	// (package visitor), so a visitor who navigated away is away.
	Away func(visitorID string) bool
	// AwayAfter is email.away_after (default 1 min). A reply to a visitor
	// who is not away yet is checked again after AwayAfter: only a visitor
	// still away then (gone since before the reply) gets it by e-mail.
	AwayAfter time.Duration
	// Coalesce is the least time between two e-mails about one conversation
	// (default 10 min); replies in between go into the next e-mail.
	Coalesce time.Duration
	// SiteName names the site in the e-mail (default: ResumeURL's host).
	SiteName string
	// HelloName is sent in EHLO (default "localhost").
	HelloName string
	// Timeout bounds one SMTP session (default 30 s).
	Timeout time.Duration
	// MaxAttempts is how often a failing e-mail is tried before it is
	// dropped (default 8, spread over about an hour and a half).
	MaxAttempts int
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// Defaults of Config.
const (
	DefaultPort        = 587
	DefaultAwayAfter   = time.Minute
	DefaultCoalesce    = 10 * time.Minute
	DefaultResumeTTL   = 14 * 24 * time.Hour
	DefaultTimeout     = 30 * time.Second
	DefaultMaxAttempts = 8
)

// Validate reports every problem of c at once, each naming its bridge.toml
// key (wiring fields name the Go field).
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("%s: %s", key, fmt.Sprintf(format, args...)))
	}
	if c.Host == "" {
		bad("email.host", "is empty")
	} else if strings.ContainsAny(c.Host, " /:\r\n") {
		bad("email.host", "%q is not a host name", c.Host)
	}
	if c.Port < 0 || c.Port > 65535 {
		bad("email.port", "%d is not a port", c.Port)
	}
	if c.From == "" {
		bad("email.from", "is empty")
	} else if _, err := mail.ParseAddress(c.From); err != nil || strings.ContainsAny(c.From, "\r\n") {
		bad("email.from", "%q is not an e-mail address", c.From)
	}
	if c.Password != "" && c.Username == "" {
		bad("email.username", "is empty but a password is set")
	}
	if c.ResumeURL == "" && c.PublicURL == "" {
		bad("server.public_url", "is needed for the links in e-mails")
	}
	for key, raw := range map[string]string{"server.public_url": c.PublicURL, "ResumeURL": c.ResumeURL} {
		if raw == "" {
			continue
		}
		if u, err := url.Parse(raw); err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			bad(key, "%q is not an http(s) URL", raw)
		}
	}
	for key, d := range map[string]time.Duration{"email.away_after": c.AwayAfter, "Coalesce": c.Coalesce, "ResumeTTL": c.ResumeTTL, "Timeout": c.Timeout} {
		if d < 0 {
			bad(key, "must not be negative")
		}
	}
	if c.Away == nil {
		bad("Away", "is nil: wire the visitor server's presence")
	}
	return errs
}

func (c *Config) defaults() {
	if c.Port == 0 {
		c.Port = DefaultPort
	}
	if c.AwayAfter == 0 {
		c.AwayAfter = DefaultAwayAfter
	}
	if c.Coalesce == 0 {
		c.Coalesce = DefaultCoalesce
	}
	if c.ResumeTTL == 0 {
		c.ResumeTTL = DefaultResumeTTL
	}
	if c.Timeout == 0 {
		c.Timeout = DefaultTimeout
	}
	if c.MaxAttempts <= 0 {
		c.MaxAttempts = DefaultMaxAttempts
	}
	if c.HelloName == "" {
		c.HelloName = "localhost"
	}
	if c.ResumeURL == "" {
		c.ResumeURL = strings.TrimRight(c.PublicURL, "/") + "/"
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Adapter is the "email" destination. Deliver records replies; Run sends
// them.
type Adapter struct {
	cfg       Config
	store     bridge.Store
	log       *slog.Logger
	resumeURL *url.URL
	wake      chan struct{}

	mu  sync.Mutex
	key []byte // resume secret, loaded on first use
}

var _ bridge.Deliverer = (*Adapter)(nil)

// New validates cfg and returns the adapter. Register it with
// Engine.AddDeliverer and run Run next to the engine.
func New(cfg Config, store bridge.Store, log *slog.Logger) (*Adapter, error) {
	if store == nil {
		return nil, errors.New("new email adapter: nil store")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("new email adapter: %w", errors.Join(errs...))
	}
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, err := url.Parse(cfg.ResumeURL)
	if err != nil {
		return nil, fmt.Errorf("new email adapter: resume url: %w", err)
	}
	if cfg.SiteName == "" {
		cfg.SiteName = u.Hostname()
	}
	a := &Adapter{cfg: cfg, store: store, log: log.With("adapter", "email"), resumeURL: u, wake: make(chan struct{}, 1)}
	if len(cfg.Secret) > 0 {
		a.key = cfg.Secret
	}
	return a, nil
}

func (a *Adapter) now() time.Time { return a.cfg.Now() }

// Name is the outbox destination name.
func (a *Adapter) Name() string { return "email" }

// Wants reports that the adapter reads message entries only.
func (a *Adapter) Wants(k bridge.OutboxKind) bool { return k == bridge.KindMessage }

// WantsMessage limits the adapter's outbox entries to public operator
// replies, so visitor messages and notes cost no outbox write.
func (a *Adapter) WantsMessage(m bridge.Message) bool {
	return m.From == bridge.FromOperator && m.Visibility == bridge.VisibilityPublic
}

var _ bridge.MessageFilter = (*Adapter)(nil)

// Deliver records a public operator reply to a visitor with an e-mail
// address; every other message is ignored. The e-mail itself is sent by
// Run, so an SMTP outage never blocks the outbox.
func (a *Adapter) Deliver(ctx context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	m := d.Message
	if d.Entry.Kind != bridge.KindMessage || m == nil || m.From != bridge.FromOperator ||
		m.Visibility != bridge.VisibilityPublic || d.Visitor.Email == "" {
		return bridge.Receipt{}, nil
	}
	now := a.now()
	due := now
	if !a.cfg.Away(d.Visitor.ID) {
		due = now.Add(a.cfg.AwayAfter)
	}
	err := a.store.Update(ctx, func(tx bridge.Tx) error {
		st, err := loadConv(tx, m.ConversationID)
		if err != nil {
			return err
		}
		if m.Seq <= st.SentSeq || st.has(m.Seq) {
			return nil // a repeated delivery
		}
		st.Seqs = append(st.Seqs, m.Seq)
		d := due
		if !st.SentAt.IsZero() {
			if c := st.SentAt.Add(a.cfg.Coalesce); c.After(d) {
				d = c
			}
		}
		if d.After(st.Due) {
			st.Due = d
		}
		return saveConv(tx, m.ConversationID, st)
	})
	if err != nil {
		return bridge.Receipt{}, fmt.Errorf("record reply for e-mail: %w", err)
	}
	a.poke()
	return bridge.Receipt{}, nil
}

func (a *Adapter) poke() {
	select {
	case a.wake <- struct{}{}:
	default:
	}
}

// Run sends the due e-mails until ctx ends.
func (a *Adapter) Run(ctx context.Context) error {
	for {
		next, err := a.sendDue(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err != nil {
			a.log.Error("e-mail pass failed", "err", err)
			next = a.now().Add(time.Minute)
		}
		var (
			timer <-chan time.Time
			t     *time.Timer
		)
		if !next.IsZero() {
			t = time.NewTimer(max(next.Sub(a.now()), 0))
			timer = t.C
		}
		select {
		case <-ctx.Done():
		case <-a.wake:
		case <-timer:
		}
		if t != nil {
			t.Stop()
		}
		if ctx.Err() != nil {
			return nil
		}
	}
}

// sendDue handles every conversation whose e-mail is due and returns when
// the next one is (zero: none pending).
func (a *Adapter) sendDue(ctx context.Context) (time.Time, error) {
	var pending map[string]convState
	err := a.store.View(ctx, func(tx bridge.Tx) error {
		var err error
		pending, err = loadPending(tx)
		return err
	})
	if err != nil {
		return time.Time{}, fmt.Errorf("read pending e-mails: %w", err)
	}
	var next time.Time
	now := a.now()
	for convID, st := range pending {
		if ctx.Err() != nil {
			return time.Time{}, nil
		}
		if st.Due.After(now) {
			if next.IsZero() || st.Due.Before(next) {
				next = st.Due
			}
			continue
		}
		if due := a.flush(ctx, convID); !due.IsZero() && (next.IsZero() || due.Before(next)) {
			next = due
		}
	}
	return next, nil
}
