package bridge

import (
	"context"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base32"
	"encoding/base64"
	"errors"
	"fmt"
	"log/slog"
	"strings"
	"sync"
	"time"
	"unicode/utf8"
)

// Config tunes the engine. Zero values take the defaults.
type Config struct {
	// MaxMessageBytes caps a message's text in bytes of UTF-8 (default
	// DefaultMaxMessageBytes).
	MaxMessageBytes int
	// DedupTTL is how long operator event ids are remembered (default 1 h).
	DedupTTL time.Duration
	// RetryMin and RetryMax bound the delivery backoff (1 s, 5 min).
	RetryMin, RetryMax time.Duration
	// VisitorIdleTTL makes the tokens of a visitor who has not been seen
	// (session, page view or message) for this long invalid; 0 keeps them
	// forever.
	VisitorIdleTTL time.Duration
	// Now is the clock (tests); default time.Now.
	Now func() time.Time
}

// DefaultMaxMessageBytes is the default cap on a message's text.
const DefaultMaxMessageBytes = 10000

func (c *Config) defaults() {
	if c.MaxMessageBytes <= 0 {
		c.MaxMessageBytes = DefaultMaxMessageBytes
	}
	if c.DedupTTL <= 0 {
		c.DedupTTL = time.Hour
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Engine is the conversation core: it turns visitor and operator actions into
// durable store transactions, outbox deliveries and live events.
type Engine struct {
	cfg   Config
	store Store
	log   *slog.Logger
	hub   *Hub

	mu          sync.RWMutex
	deliverers  []Deliverer
	whisperers  map[string]Whisperer
	interceptor Interceptor
	metrics     Metrics
	workers     map[string]*worker
}

// New returns an engine on store. Register adapters before Run.
func New(cfg Config, store Store, log *slog.Logger) (*Engine, error) {
	if store == nil {
		return nil, fmt.Errorf("new engine: %w: nil store", ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.defaults()
	return &Engine{
		cfg: cfg, store: store, log: log, hub: NewHub(),
		whisperers: map[string]Whisperer{},
		metrics:    nopMetrics{},
		workers:    map[string]*worker{},
	}, nil
}

// Store is the engine's store, for read-only helpers (commands, CLI).
func (e *Engine) Store() Store { return e.store }

// Hub is the engine's live event hub.
func (e *Engine) Hub() *Hub { return e.hub }

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.cfg.Now() }

// AddDeliverer registers a destination for outbox entries. Call before Run.
func (e *Engine) AddDeliverer(d Deliverer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.deliverers = append(e.deliverers, d)
	e.workers[d.Name()] = newWorker(e, d)
}

// AddWhisperer registers how operator-only text reaches operators of adapter.
func (e *Engine) AddWhisperer(adapter string, w Whisperer) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.whisperers[adapter] = w
}

// SetInterceptor sets the operator-message classifier (package commands).
func (e *Engine) SetInterceptor(i Interceptor) {
	e.mu.Lock()
	defer e.mu.Unlock()
	e.interceptor = i
}

// SetMetrics sets the metrics receiver.
func (e *Engine) SetMetrics(m Metrics) {
	e.mu.Lock()
	defer e.mu.Unlock()
	if m == nil {
		m = nopMetrics{}
	}
	e.metrics = m
}

func (e *Engine) m() Metrics {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.metrics
}

// Run delivers the outbox and purges expired de-duplication records until
// ctx ends. It returns after every worker stopped.
func (e *Engine) Run(ctx context.Context) error {
	e.mu.RLock()
	workers := make([]*worker, 0, len(e.workers))
	for _, w := range e.workers {
		workers = append(workers, w)
	}
	e.mu.RUnlock()
	var wg sync.WaitGroup
	for _, w := range workers {
		wg.Add(1)
		go func() { defer wg.Done(); w.run(ctx) }()
	}
	t := time.NewTicker(time.Minute)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			wg.Wait()
			return nil
		case <-t.C:
			var n int
			err := e.store.Update(context.WithoutCancel(ctx), func(tx Tx) error {
				var err error
				n, err = tx.PurgeSeen(e.cfg.Now())
				return err
			})
			if err != nil {
				e.log.Warn("purge dedup records", "err", err)
			} else if n > 0 {
				e.log.Debug("purged dedup records", "count", n)
			}
		}
	}
}

// destinations returns the names of the deliverers that want kind k.
func (e *Engine) destinations(k OutboxKind) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []string
	for _, d := range e.deliverers {
		if d.Wants(k) {
			out = append(out, d.Name())
		}
	}
	return out
}

// messageDestinations returns the destinations of a message entry for m.
func (e *Engine) messageDestinations(m Message) []string {
	e.mu.RLock()
	defer e.mu.RUnlock()
	var out []string
	for _, d := range e.deliverers {
		if !d.Wants(KindMessage) {
			continue
		}
		if f, ok := d.(MessageFilter); ok && !f.WantsMessage(Message{From: m.From, Visibility: m.Visibility, Operator: m.Operator}) {
			continue
		}
		out = append(out, d.Name())
	}
	return out
}

// wake tells the workers of the given destinations to look at the outbox.
func (e *Engine) wake(dests []string) {
	e.mu.RLock()
	defer e.mu.RUnlock()
	for _, d := range dests {
		if w := e.workers[d]; w != nil {
			w.poke()
		}
	}
}

// enqueue adds one entry per destination in tx.
func enqueue(tx Tx, dests []string, proto OutboxEntry) error {
	for _, d := range dests {
		e := proto
		e.Destination = d
		if _, err := tx.Enqueue(e); err != nil {
			return fmt.Errorf("enqueue %s: %w", d, err)
		}
	}
	return nil
}

// NewID returns a random identifier with a prefix ("c_…", "v_…").
func NewID(prefix string) string {
	var b [10]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err) // crypto/rand never fails on supported platforms
	}
	return prefix + strings.ToLower(base32.StdEncoding.WithPadding(base32.NoPadding).EncodeToString(b[:]))
}

// NewToken returns a random bearer token and the hash to store for it.
func NewToken() (token string, hash []byte) {
	var b [32]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic(err)
	}
	token = base64.RawURLEncoding.EncodeToString(b[:])
	return token, HashToken(token)
}

// HashToken is how tokens are stored: only their SHA-256.
func HashToken(token string) []byte {
	h := sha256.Sum256([]byte(token))
	return h[:]
}

// CheckText validates message text: valid UTF-8, not blank, within max
// bytes. It returns the text with surrounding white space trimmed.
func CheckText(text string, max int) (string, error) {
	if !utf8.ValidString(text) {
		return "", fmt.Errorf("%w: text is not valid UTF-8", ErrInvalid)
	}
	if strings.ContainsRune(text, 0) {
		return "", fmt.Errorf("%w: text contains a NUL character", ErrInvalid)
	}
	if len(text) > max {
		return "", fmt.Errorf("%w: %w: text is %d bytes, the limit is %d", ErrInvalid, ErrTooLarge, len(text), max)
	}
	text = strings.TrimSpace(text)
	if text == "" {
		return "", fmt.Errorf("%w: text is empty", ErrInvalid)
	}
	return text, nil
}

// ErrTooLarge: the input exceeds a size limit (wrapped with ErrInvalid).
var ErrTooLarge = errors.New("too large")

func preview(text string) string {
	const n = 140
	if len(text) <= n {
		return text
	}
	cut := n
	for cut > 0 && !utf8.RuneStart(text[cut]) {
		cut--
	}
	return text[:cut] + "…"
}
