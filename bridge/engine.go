package bridge

import (
	"context"
	"fmt"
	"log/slog"
	"sync"
	"time"
)

// Config tunes the engine. Zero values take the defaults.
type Config struct {
	// MaxMessageBytes caps a message's text in bytes of UTF-8 (default
	// DefaultMaxMessageBytes).
	MaxMessageBytes int
	// DedupTTL is how long platform event ids are remembered (default
	// 24 h: a homeserver retries an appservice transaction until the
	// bridge answers, however long it was down).
	DedupTTL time.Duration
	// RetryMin and RetryMax bound the delivery backoff (1 s, 5 min).
	RetryMin, RetryMax time.Duration
	// GiveUpAfter makes an entry that still fails this long after it was
	// created a dead letter (default 72 h): it stops holding back its
	// conversation's later entries, and operators are told.
	GiveUpAfter time.Duration
	// VisitorIdleTTL makes the tokens of a visitor who has not been seen
	// (session, page view or message) for this long invalid; 0 keeps them
	// forever.
	VisitorIdleTTL time.Duration
	// ConversationState lists where adapters keep state about a
	// conversation, for Purge to delete it with the conversation. List
	// every adapter that ever ran, configured now or not: their state
	// outlives their configuration.
	ConversationState []ConversationState
	// CheckCanned validates a canned response before the engine stores it
	// (cmd wires canned.Validate); nil requires a shortcut and a text only.
	CheckCanned func(CannedResponse) error
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
		c.DedupTTL = 24 * time.Hour
	}
	if c.RetryMin <= 0 {
		c.RetryMin = time.Second
	}
	if c.RetryMax <= 0 {
		c.RetryMax = 5 * time.Minute
	}
	if c.GiveUpAfter <= 0 {
		c.GiveUpAfter = 72 * time.Hour
	}
	if c.Now == nil {
		c.Now = time.Now
	}
}

// Engine is the conversation core and the only writer of the store: it turns
// visitor and operator actions into durable transactions, outbox deliveries
// and live events. Adapters, commands and the CLI read and change state only
// through its methods.
type Engine struct {
	cfg   Config
	store Store
	log   *slog.Logger
	hub   *Hub

	mu          sync.RWMutex
	deliverers  []Deliverer
	whisperers  map[string]Whisperer
	health      []HealthChecker
	interceptor Interceptor
	metrics     Metrics
	workers     map[string]*worker

	blobs blobHolds // uploads between storing their bytes and their message

	leadMu  sync.Mutex
	leading map[string]bool // singletons this node leads (cluster)

	presence *presenceWriter // shares the hub's presence (cluster)
}

// New returns an engine on store. Register components before Run.
func New(cfg Config, store Store, log *slog.Logger) (*Engine, error) {
	if store == nil {
		return nil, fmt.Errorf("new engine: %w: nil store", ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	cfg.defaults()
	e := &Engine{
		cfg: cfg, store: store, log: log, hub: NewHub(),
		whisperers: map[string]Whisperer{},
		metrics:    nopMetrics{},
		workers:    map[string]*worker{},
	}
	if e.cluster() != nil {
		e.presence = newPresenceWriter()
		e.hub.presence = e.presence.report
	}
	return e, nil
}

// Hub is the engine's live event hub.
func (e *Engine) Hub() *Hub { return e.hub }

// Now is the engine's clock.
func (e *Engine) Now() time.Time { return e.cfg.Now() }

// MaxMessageBytes is the limit on a message's text.
func (e *Engine) MaxMessageBytes() int { return e.cfg.MaxMessageBytes }

// Register adds a component, detecting what it offers by interface:
//
//   - Deliverer: a destination of outbox entries (one delivery worker);
//   - Whisperer (with a Name method naming its adapter): shows
//     operator-only text on that platform;
//   - Interceptor: classifies operator messages (at most one);
//   - HealthChecker: reported by Health;
//   - Metrics: receives the engine's counters (at most one).
//
// A component that offers none of them is an error. Call before Run.
func (e *Engine) Register(c any) error {
	e.mu.Lock()
	defer e.mu.Unlock()
	used := false
	if d, ok := c.(Deliverer); ok {
		if _, dup := e.workers[d.Name()]; dup {
			return fmt.Errorf("register: %w: two destinations named %q", ErrInvalid, d.Name())
		}
		e.deliverers = append(e.deliverers, d)
		e.workers[d.Name()] = newWorker(e, d)
		used = true
	}
	if w, ok := c.(Whisperer); ok {
		n, named := c.(interface{ Name() string })
		if !named {
			return fmt.Errorf("register: %w: %T is a Whisperer without a Name", ErrInvalid, c)
		}
		e.whisperers[n.Name()] = w
		used = true
	}
	if i, ok := c.(Interceptor); ok {
		if e.interceptor != nil {
			return fmt.Errorf("register: %w: a second Interceptor (%T)", ErrInvalid, c)
		}
		e.interceptor = i
		used = true
	}
	if h, ok := c.(HealthChecker); ok {
		e.health = append(e.health, h)
		used = true
	}
	if m, ok := c.(Metrics); ok {
		e.metrics = m
		used = true
	}
	if !used {
		return fmt.Errorf("register: %w: %T offers nothing the engine uses", ErrInvalid, c)
	}
	return nil
}

func (e *Engine) m() Metrics {
	e.mu.RLock()
	defer e.mu.RUnlock()
	return e.metrics
}

// HealthResult is one line of Engine.Health.
type HealthResult struct {
	Name string
	// Err is nil when healthy.
	Err error
}

// Health checks the store ("store") and then every registered
// HealthChecker, in registration order.
func (e *Engine) Health(ctx context.Context) []HealthResult {
	e.mu.RLock()
	checks := append([]HealthChecker(nil), e.health...)
	e.mu.RUnlock()
	err := e.store.View(ctx, func(tx Tx) error {
		_, err := tx.CountConversations(StatusOpen)
		return err
	})
	out := []HealthResult{{Name: "store", Err: err}}
	for _, h := range checks {
		out = append(out, HealthResult{Name: h.Name(), Err: h.Health(ctx)})
	}
	return out
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
	c := e.cluster()
	for _, w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if c == nil {
				w.run(ctx)
				return
			}
			// One node delivers to a destination at a time, fenced.
			e.singleton(ctx, c, "outbox/"+w.name, func(ctx context.Context, l Leadership) {
				w.lead = l
				w.run(ctx)
				w.lead = nil
			})
		}()
	}
	if c != nil {
		wg.Add(2)
		go func() { defer wg.Done(); e.follow(ctx, c) }()
		go func() { defer wg.Done(); e.presence.run(ctx, c, e) }()
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

// delay is how long destination dest wants the entry for m (in conv) to
// wait before its first attempt (see Delayer).
func (e *Engine) delay(dest string, conv Conversation, m Message) time.Duration {
	e.mu.RLock()
	w := e.workers[dest]
	e.mu.RUnlock()
	if w == nil {
		return 0
	}
	if d, ok := w.d.(Delayer); ok {
		return d.Delay(conv, m)
	}
	return 0
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
