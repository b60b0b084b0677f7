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
	// TLS is how the connection is protected: TLSStartTLS (required: a
	// server that does not offer STARTTLS is an error), TLSImplicit (TLS
	// from the first byte), TLSNone (plain text, only when the configuration
	// says so) or "" (implicit on port 465, else STARTTLS).
	TLS string
	// TLSConfig overrides the TLS settings (custom CAs); ServerName
	// defaults to Host.
	TLSConfig *tls.Config

	// PublicURL is server.public_url; resume links point to it.
	PublicURL string
	// ResumeURL is the page resume links open, which must load the widget
	// (default PublicURL + "/", the demo page). Sites usually set their own.
	ResumeURL string
	// ResumeTTL is how long a resume link works (default 72 hours). A link
	// works once (see VerifyResume).
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
	DefaultResumeTTL   = 72 * time.Hour
	DefaultTimeout     = 30 * time.Second
	DefaultMaxAttempts = 8
)

// TLS modes of Config.TLS.
const (
	TLSStartTLS = "starttls"
	TLSImplicit = "implicit"
	TLSNone     = "none"
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
	switch c.TLS {
	case "", TLSStartTLS, TLSImplicit, TLSNone:
	default:
		bad("email.tls", "%q is not one of %q, %q, %q", c.TLS, TLSStartTLS, TLSImplicit, TLSNone)
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
	if c.TLS == "" {
		c.TLS = TLSStartTLS
		if c.Port == 465 {
			c.TLS = TLSImplicit
		}
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

// Engine is what the adapter uses of the bridge (bridge.Engine implements
// it).
type Engine interface {
	Messages(ctx context.Context, conversationID string, after uint64, limit int) ([]bridge.Message, error)
	AdapterState(ctx context.Context, namespace, key string) ([]byte, error)
	UpdateAdapterState(ctx context.Context, namespace, key string, fn func(old []byte, found bool) ([]byte, bool)) error
	Claim(ctx context.Context, key string, expires time.Time) (bool, error)
}

var _ Engine = (*bridge.Engine)(nil)

// Adapter is the "email" destination: the outbox delivers it the public
// operator replies (after Delay), and it e-mails them to visitors who left
// an address and are away, several replies in one e-mail at most every
// Coalesce. It keeps no queue of its own: waiting is the outbox entry's
// not-before time (Delay) or a postponement (bridge.PostponeError), retries
// are the outbox's.
type Adapter struct {
	cfg       Config
	engine    Engine
	log       *slog.Logger
	resumeURL *url.URL

	mu  sync.Mutex
	key []byte // resume secret, loaded on first use
}

var (
	_ bridge.Deliverer     = (*Adapter)(nil)
	_ bridge.MessageFilter = (*Adapter)(nil)
	_ bridge.Delayer       = (*Adapter)(nil)
)

// New validates cfg and returns the adapter. Register it with the engine
// (bridge.Engine.Register).
func New(cfg Config, engine Engine, log *slog.Logger) (*Adapter, error) {
	if engine == nil {
		return nil, errors.New("new email adapter: nil engine")
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
	a := &Adapter{cfg: cfg, engine: engine, log: log.With("adapter", "email"), resumeURL: u}
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

// Delay makes a reply to a visitor who is still connected wait AwayAfter
// before its delivery, which e-mails it only if the visitor is away then
// (gone since before the reply). A reply to an away visitor goes at once.
func (a *Adapter) Delay(conv bridge.Conversation, _ bridge.Message) time.Duration {
	if a.cfg.Away(conv.VisitorID) {
		return 0
	}
	return a.cfg.AwayAfter
}

// Deliver e-mails the public operator replies of the conversation from this
// entry's on, when the visitor left an address and is away; every other
// message is done without an e-mail. At most one e-mail per conversation
// goes out per Coalesce: an entry that comes sooner is postponed, and the
// e-mail then carries every reply since the last one.
func (a *Adapter) Deliver(ctx context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	m := d.Message
	if d.Entry.Kind != bridge.KindMessage || m == nil || m.From != bridge.FromOperator ||
		m.Visibility != bridge.VisibilityPublic || d.Visitor.Email == "" {
		return bridge.Receipt{}, nil
	}
	log := a.log.With("conversation", m.ConversationID)
	st, err := a.state(ctx, m.ConversationID)
	if err != nil {
		return bridge.Receipt{}, err
	}
	if m.Seq <= st.SentSeq {
		return bridge.Receipt{}, nil // it went out in an earlier e-mail
	}
	if !a.cfg.Away(d.Visitor.ID) {
		log.Debug("e-mail not needed: the visitor is back")
		return bridge.Receipt{}, nil
	}
	now := a.now()
	if next := st.SentAt.Add(a.cfg.Coalesce); !st.SentAt.IsZero() && next.After(now) {
		return bridge.Receipt{}, &bridge.PostponeError{Until: next}
	}
	msgs, err := a.engine.Messages(ctx, m.ConversationID, m.Seq-1, 0)
	if err != nil {
		return bridge.Receipt{}, fmt.Errorf("read replies: %w", err)
	}
	var replies []bridge.Message
	for _, x := range msgs {
		// The gate again: only public operator text leaves by e-mail, and
		// never a reply its author deleted (the store keeps its text).
		if x.From == bridge.FromOperator && x.Visibility == bridge.VisibilityPublic && !x.Deleted {
			replies = append(replies, x)
		}
	}
	if len(replies) == 0 {
		return bridge.Receipt{}, nil
	}
	code, err := a.ResumeCode(ctx, d.Visitor.ID)
	var body []byte
	if err == nil {
		body, err = a.compose(d.Visitor, replies, a.resumeLink(code))
	}
	if err == nil {
		err = a.send(ctx, d.Visitor.Email, body)
	}
	if err != nil {
		if ctx.Err() != nil {
			return bridge.Receipt{}, err
		}
		if permanent(err) || d.Entry.Attempts+1 >= a.cfg.MaxAttempts {
			log.Error("offline reply e-mail dropped", "visitor", d.Visitor.ID, "attempts", d.Entry.Attempts+1, "err", err)
			return bridge.Receipt{}, fmt.Errorf("%w: %w", bridge.ErrPermanent, err)
		}
		return bridge.Receipt{}, fmt.Errorf("send e-mail: %w", err)
	}
	log.Info("offline reply e-mailed", "visitor", d.Visitor.ID, "replies", len(replies))
	last := replies[len(replies)-1].Seq
	if err := a.saveSent(ctx, m.ConversationID, now, last); err != nil {
		// The e-mail went out; a repeat after a restart is the lesser harm.
		log.Error("e-mail state not saved", "err", err)
	}
	return bridge.Receipt{}, nil
}
