package matrix

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// adapterName is the adapter's name in the outbox, refs and operators.
const adapterName = "matrix"

// Backoff of the sync loop after a failed sync.
const (
	syncBackoffMin = time.Second
	syncBackoffMax = 2 * time.Minute
)

// Adapter is the Matrix adapter, a client bot or an appservice. It
// implements bridge.Deliverer, bridge.MessageFilter, bridge.Whisperer and
// bridge.HealthChecker. A client bot receives what operators type in Run;
// an appservice in the transactions its Handler is given.
type Adapter struct {
	cfg    Config
	as     bool // appservice mode
	bot    id.UserID
	ops    []id.UserID
	engine Engine
	client *mautrix.Client
	log    *slog.Logger

	mu        sync.Mutex
	names     map[id.RoomID]map[id.UserID]string           // display names by room
	encrypted map[id.RoomID]bool                           // checked rooms: true if encrypted
	threads   map[id.EventID]id.EventID                    // operator event → its thread root
	typingAt  map[string]time.Time                         // conversation → last visitor typing sent
	syncErr   error                                        // last sync/transaction failure, nil after a success
	syncOK    uint64                                       // handled sync responses or transactions
	ghosts    map[id.UserID]*ghost                         // appservice mode: visitors' ghost users
	levels    map[id.RoomID]*event.PowerLevelsEventContent // rooms' power levels, when operator_power_level is set
	mediaAuth *bool                                        // the homeserver serves authenticated media (nil: not asked yet)

	// What is known about outbox entries' sends (see resend.go).
	started time.Time               // when the adapter was made: older entries may have been sent by a process before
	notSent map[uint64]struct{}     // entries certainly not in their room
	triedAt map[uint64]time.Time    // entries whose last attempt's outcome is unknown
	scans   map[id.RoomID]*roomScan // the last look through each room for earlier sends

	timelineLimit int // events per room in one sync (timelineLimit; tests lower it)
	maxBackfill   int // events fetched to fill one room's gap (maxBackfill; tests lower it)

	txnMu sync.Mutex // one transaction at a time

	now func() time.Time // the clock (tests)
	// whoamiSem is held while the cached whoami answer is read or renewed.
	whoamiSem chan struct{}
	whoamiAt  time.Time // when whoamiErr was learnt; zero: never
	whoamiErr error     // the last whoami answer: nil, or what is wrong
}

// whoamiTTL is how long Health trusts a whoami answer: /healthz is public
// and must not turn every request into a request to the homeserver.
const whoamiTTL = 10 * time.Second

var (
	_ bridge.Deliverer     = (*Adapter)(nil)
	_ bridge.MessageFilter = (*Adapter)(nil)
	_ bridge.Whisperer     = (*Adapter)(nil)
	_ bridge.HealthChecker = (*Adapter)(nil)
)

// Engine is what the adapter uses of the bridge (bridge.Engine implements
// it).
type Engine interface {
	Hub() *bridge.Hub
	Conversation(ctx context.Context, id string) (bridge.Conversation, error)
	HandleOperator(ctx context.Context, in bridge.OperatorInput) error
	Whisper(ctx context.Context, conversationID string, op bridge.Operator, text, inReplyTo string) error
	Typing(ctx context.Context, conversationID string, from bridge.From, author string) error
	Ref(ctx context.Context, adapter, conversationID string) (string, error)
	ConversationByRef(ctx context.Context, adapter, ref string) (string, error)
	AdapterState(ctx context.Context, namespace, key string) ([]byte, error)
	SaveAdapter(ctx context.Context, adapter string, ch bridge.AdapterChange) error
	Once(ctx context.Context, key string, ttl time.Duration, fn func(context.Context) error) error
	Notice(ctx context.Context, in bridge.OperatorInput, text string) error
}

var _ Engine = (*bridge.Engine)(nil)

// New checks cfg and returns an adapter for engine. Register it with the
// engine (bridge.Engine.Register: a destination and the "matrix"
// whisperer) before the engine runs, and run a.Run.
func New(cfg Config, engine Engine, log *slog.Logger) (*Adapter, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("new matrix adapter: %w: %w", bridge.ErrInvalid, errors.Join(errs...))
	}
	if engine == nil {
		return nil, fmt.Errorf("new matrix adapter: %w: nil engine", bridge.ErrInvalid)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.RoomName == "" {
		cfg.RoomName = DefaultRoomName
	}
	if cfg.MaxFileBytes == 0 {
		cfg.MaxFileBytes = DefaultMaxFileBytes
	}
	token := cfg.AccessToken
	if cfg.appservice() {
		token = cfg.ASToken
	}
	client, err := mautrix.NewClient(cfg.HomeserverURL, cfg.botID(), token)
	if err != nil {
		return nil, fmt.Errorf("new matrix adapter: %w: homeserver_url: %w", bridge.ErrInvalid, err)
	}
	client.Client = &http.Client{Timeout: 90 * time.Second} // > the 30 s long poll
	// An appservice names the user it acts as (?user_id=): Dendrite takes
	// the bare localpart for the sender otherwise.
	client.SetAppServiceUserID = cfg.appservice()
	a := &Adapter{
		cfg: cfg, as: cfg.appservice(), bot: cfg.botID(), ops: cfg.operators(),
		engine: engine, client: client,
		log:           log.With("adapter", adapterName),
		names:         map[id.RoomID]map[id.UserID]string{},
		encrypted:     map[id.RoomID]bool{},
		threads:       map[id.EventID]id.EventID{},
		typingAt:      map[string]time.Time{},
		ghosts:        map[id.UserID]*ghost{},
		levels:        map[id.RoomID]*event.PowerLevelsEventContent{},
		started:       time.Now(),
		notSent:       map[uint64]struct{}{},
		triedAt:       map[uint64]time.Time{},
		scans:         map[id.RoomID]*roomScan{},
		timelineLimit: timelineLimit,
		maxBackfill:   maxBackfill,
		now:           time.Now,
		whoamiSem:     make(chan struct{}, 1),
	}
	client.Store = &syncStore{a: a}
	return a, nil
}

// Name is the outbox destination name, "matrix".
func (a *Adapter) Name() string { return adapterName }

// Wants reports the outbox kinds shown in rooms: conversation lifecycle,
// messages, and edits and deletions of messages made on other platforms.
func (a *Adapter) Wants(k bridge.OutboxKind) bool {
	switch k {
	case bridge.KindOpened, bridge.KindMessage, bridge.KindWaiting, bridge.KindClosed, bridge.KindEdited, bridge.KindDeleted:
		return true
	}
	return false
}

// WantsMessage keeps whispers and this platform's own operators' messages
// (already in the room) out of the outbox.
func (a *Adapter) WantsMessage(m bridge.Message) bool {
	if m.Visibility == bridge.VisibilityWhisper {
		return false
	}
	return m.From != bridge.FromOperator || m.Operator == nil || m.Operator.Adapter != adapterName
}

// Health checks the access token (whoami, at most every whoamiTTL) and
// reports a failing sync and open conversations in encrypted rooms.
func (a *Adapter) Health(ctx context.Context) error {
	if err := a.whoami(ctx); err != nil {
		return err
	}
	a.mu.Lock()
	syncErr := a.syncErr
	a.mu.Unlock()
	enc, err := a.encryptedOpen(ctx)
	if err != nil {
		return fmt.Errorf("matrix health: %w", err)
	}
	if syncErr != nil && a.as {
		return fmt.Errorf("matrix transactions: %w", syncErr)
	}
	if syncErr != nil {
		return fmt.Errorf("matrix sync: %w", syncErr)
	}
	if len(enc) > 0 {
		return fmt.Errorf("matrix: %d room(s) not bridged: %w: %s", len(enc), ErrEncrypted, strings.Join(enc, ", "))
	}
	return nil
}

// whoami reports whether the token is the configured account's, asking
// the homeserver only when the last answer is older than whoamiTTL.
// Concurrent callers share one request.
func (a *Adapter) whoami(ctx context.Context) error {
	select {
	case a.whoamiSem <- struct{}{}:
	case <-ctx.Done():
		return fmt.Errorf("matrix whoami: %w", ctx.Err())
	}
	defer func() { <-a.whoamiSem }()
	if !a.whoamiAt.IsZero() && a.now().Sub(a.whoamiAt) < whoamiTTL {
		return a.whoamiErr
	}
	who, err := a.client.Whoami(ctx)
	switch {
	case err != nil:
		err = fmt.Errorf("matrix whoami: %w", err)
	case who.UserID != a.bot:
		err = fmt.Errorf("matrix whoami: %w: %s, configured %s", ErrWrongAccount, who.UserID, a.bot)
	}
	if ctx.Err() == nil { // a caller that gave up learnt nothing
		a.whoamiAt, a.whoamiErr = a.now(), err
	}
	return err
}

// Run shows the visitor's typing in the rooms until ctx ends. A client bot
// also syncs with the homeserver and hands operators' messages and typing
// to the engine; a failed sync is retried with backoff. (An appservice
// receives them through Handler.) Run returns nil when ctx ends.
func (a *Adapter) Run(ctx context.Context) error {
	var wg sync.WaitGroup
	wg.Add(1)
	go func() { defer wg.Done(); a.forwardTyping(ctx) }()
	defer wg.Wait()
	if a.as {
		a.log.Info("matrix appservice ready", "user", a.bot, "transactions", AppservicePrefix)
		<-ctx.Done()
		return nil
	}
	a.client.Syncer = newSyncer(a)
	// In a cluster one node syncs at a time (the engine elects it).
	if s, ok := a.engine.(singletons); ok {
		return s.Singleton(ctx, "matrix-sync", a.syncLoop)
	}
	return a.syncLoop(ctx)
}

// singletons is what the engine offers for work that runs on one node of
// a cluster at a time (bridge.Engine.Singleton).
type singletons interface {
	Singleton(ctx context.Context, name string, fn func(context.Context) error) error
}

// syncLoop syncs with the homeserver until ctx ends, retrying with backoff.
func (a *Adapter) syncLoop(ctx context.Context) error {
	backoff := syncBackoffMin
	for {
		before := a.syncCount()
		err := a.client.SyncWithContext(ctx)
		if ctx.Err() != nil {
			return nil
		}
		if err == nil { // another sync replaced this one; not expected
			err = errors.New("sync stopped")
		}
		a.setSyncErr(err)
		if a.syncCount() != before {
			backoff = syncBackoffMin // it worked for a while
		}
		level := slog.LevelWarn
		if errors.Is(err, mautrix.MUnknownToken) {
			level = slog.LevelError // a person must fix the token
		}
		a.log.Log(ctx, level, "matrix sync failed", "err", err, "retry_in", backoff)
		t := time.NewTimer(backoff)
		select {
		case <-ctx.Done():
			t.Stop()
			return nil
		case <-t.C:
		}
		backoff = min(backoff*2, syncBackoffMax)
	}
}

// syncSucceeded records a handled sync response.
func (a *Adapter) syncSucceeded() {
	a.mu.Lock()
	a.syncErr = nil
	a.syncOK++
	a.mu.Unlock()
}

func (a *Adapter) syncCount() uint64 {
	a.mu.Lock()
	defer a.mu.Unlock()
	return a.syncOK
}

func (a *Adapter) setSyncErr(err error) {
	a.mu.Lock()
	a.syncErr = err
	a.mu.Unlock()
}

// forwardTyping shows a typing visitor as the bot (appservice: the
// visitor's ghost) typing in the room, at most every few seconds per
// conversation.
func (a *Adapter) forwardTyping(ctx context.Context) {
	sub := a.engine.Hub().SubscribeAll()
	defer sub.Close()
	for {
		select {
		case <-ctx.Done():
			return
		case ev := <-sub.C:
			if ev.Kind != bridge.EventTyping || ev.From != bridge.FromVisitor {
				continue
			}
			now := time.Now()
			a.mu.Lock()
			recent := now.Sub(a.typingAt[ev.ConversationID]) < 3*time.Second
			if !recent {
				if len(a.typingAt) > 1000 {
					clear(a.typingAt)
				}
				a.typingAt[ev.ConversationID] = now
			}
			a.mu.Unlock()
			if recent {
				continue
			}
			room, err := a.room(ctx, ev.ConversationID)
			if err != nil || room == "" {
				continue
			}
			if _, err := a.typist(ctx, ev.ConversationID, room).UserTyping(ctx, room, true, 6*time.Second); err != nil {
				a.log.Debug("matrix typing not shown", "conversation", ev.ConversationID, "err", err)
			}
		}
	}
}

// room returns the conversation's room, "" when it has none yet.
func (a *Adapter) room(ctx context.Context, conversationID string) (id.RoomID, error) {
	ref, err := a.engine.Ref(ctx, adapterName, conversationID)
	if errors.Is(err, bridge.ErrNotFound) {
		return "", nil
	}
	return id.RoomID(ref), err
}
