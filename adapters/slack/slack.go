package slack

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"time"

	"github.com/slack-go/slack"

	"github.com/chatbridge/chatbridge/bridge"
)

// AdapterName is the adapter's name in the outbox, in refs and in
// bridge.Operator.Adapter.
const AdapterName = "slack"

// Adapter bridges conversations into threads of one Slack channel. It
// implements bridge.Deliverer, bridge.MessageFilter, bridge.Whisperer and
// bridge.HealthChecker. It paces its posts itself, per channel (pacer):
// one delivery may make several posts (a thread's root, the parts of a
// long text).
type Adapter struct {
	cfg     Config
	engine  Engine
	api     *slack.Client
	log     *slog.Logger
	started time.Time
	inbound chan inboundEvent
	users   *userCache
	pace    *pacer
	// probeEvery is how often a paused adapter tries one post (tests
	// shorten it).
	probeEvery time.Duration
	// drainTimeout bounds the handling of queued events after Run's
	// context ends (tests shorten it).
	drainTimeout time.Duration

	// recvMu guards recvClosed: set when Run stops receiving, after which
	// the HTTP handler queues nothing more.
	recvMu     sync.RWMutex
	recvClosed bool

	authMu sync.Mutex // serialises auth.test

	// roots counts thread roots being posted whose reference is not stored
	// yet: a reply in such a thread waits for it instead of passing for a
	// thread chatbridge does not know.
	roots pendingRoots

	mu          sync.Mutex
	self        identity
	authed      bool
	authErr     error
	platformErr error     // a problem a person must fix; pauses posting
	probeAt     time.Time // when a paused adapter may try again
	socketErr   error
	fileErr     error // files cannot be uploaded (a scope is missing); shown by Health
	// tried holds what is known of the entries this process tried (see
	// post.go), so that a retry needs no lookup when every earlier try's
	// outcome is known.
	tried map[uint64]*tried
}

// identity is who the bot is, from auth.test (and bots.info, Socket Mode's
// hello for the app id).
type identity struct {
	UserID, BotID, AppID, TeamURL string
	// Customize: the token has chat:write.customize, so visitors can be
	// shown under their own name.
	Customize bool
}

var (
	_ bridge.Deliverer     = (*Adapter)(nil)
	_ bridge.MessageFilter = (*Adapter)(nil)
	_ bridge.Whisperer     = (*Adapter)(nil)
	_ bridge.HealthChecker = (*Adapter)(nil)
)

// inboundQueue bounds the events accepted but not yet handled.
const inboundQueue = 256

// Engine is what the adapter uses of the bridge (bridge.Engine implements
// it).
type Engine interface {
	Now() time.Time
	// Node names this node in a cluster ("" on a single node).
	Node() string
	HandleOperator(ctx context.Context, in bridge.OperatorInput) error
	Notice(ctx context.Context, in bridge.OperatorInput, text string) error
	Whisper(ctx context.Context, conversationID string, op bridge.Operator, text, inReplyTo string) error
	Ref(ctx context.Context, adapter, conversationID string) (string, error)
	ConversationByRef(ctx context.Context, adapter, ref string) (string, error)
	SaveAdapter(ctx context.Context, adapter string, ch bridge.AdapterChange) error
	AdapterState(ctx context.Context, namespace, key string) ([]byte, error)
	Once(ctx context.Context, key string, ttl time.Duration, fn func(context.Context) error) error
}

var _ Engine = (*bridge.Engine)(nil)

// New validates cfg and returns the adapter. Register it with the engine
// (bridge.Engine.Register: a destination and the "slack" whisperer), run Run
// next to the engine (in both modes), and in HTTP mode mount Handler at
// EventsPath. New does no I/O: Run checks the token with auth.test.
func New(cfg Config, engine Engine, log *slog.Logger) (*Adapter, error) {
	if engine == nil {
		return nil, errors.New("new slack adapter: nil engine")
	}
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, fmt.Errorf("new slack adapter: %w", errors.Join(errs...))
	}
	cfg.defaults()
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	opts := []slack.Option{slack.OptionAPIURL(cfg.APIURL), slack.OptionHTTPClient(cfg.HTTPClient)}
	if cfg.AppToken != "" {
		opts = append(opts, slack.OptionAppLevelToken(cfg.AppToken))
	}
	a := &Adapter{
		cfg:          cfg,
		engine:       engine,
		api:          slack.New(cfg.BotToken, opts...),
		log:          log.With("adapter", AdapterName),
		started:      engine.Now(),
		inbound:      make(chan inboundEvent, inboundQueue),
		probeEvery:   30 * time.Second,
		drainTimeout: drainTimeout,
		tried:        map[uint64]*tried{},
		pace:         newPacer(postsPerSecond, postBurst),
	}
	a.users = newUserCache(a.api, engine.Now)
	return a, nil
}

// Name is the outbox destination name, "slack".
func (a *Adapter) Name() string { return AdapterName }

// Health reports the first problem: auth.test not (yet) passing, a platform
// error that paused posting (not_in_channel, channel_not_found, is_archived,
// invalid_auth, missing_scope) with what to do, a Socket Mode connection
// that failed, or files that cannot be uploaded. It makes no request.
func (a *Adapter) Health(ctx context.Context) error {
	a.mu.Lock()
	defer a.mu.Unlock()
	switch {
	case a.platformErr != nil:
		return fmt.Errorf("slack: posting paused: %w", a.platformErr)
	case a.authErr != nil && !a.authed:
		return fmt.Errorf("slack: auth.test failed: %w", a.authErr)
	case !a.authed:
		return errors.New("slack: not connected yet (auth.test pending)")
	case a.socketErr != nil:
		return fmt.Errorf("slack: socket mode: %w", a.socketErr)
	case a.fileErr != nil:
		return fmt.Errorf("slack: files are not uploaded: %w", a.fileErr)
	}
	return nil
}

// Run checks the token (auth.test, retried with backoff), handles inbound
// events until ctx ends, and in Socket Mode keeps the connection up,
// reconnecting with backoff. It returns nil when ctx ends, after it stopped
// receiving (the Socket Mode connection closed, the HTTP handler answering
// 503) and handled every event already acknowledged, for at most
// drainTimeout: Slack does not send an acknowledged event again.
func (a *Adapter) Run(ctx context.Context) error {
	stopped := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() { a.processInbound(ctx, stopped) })
	defer func() {
		a.stopReceiving()
		close(stopped)
		wg.Wait()
	}()
	if !a.authLoop(ctx) {
		return nil
	}
	if a.cfg.Mode == ModeHTTP {
		<-ctx.Done()
		return nil
	}
	a.runSocket(ctx)
	return nil
}

// authLoop runs auth.test until it passes; false when ctx ended first.
func (a *Adapter) authLoop(ctx context.Context) bool {
	wait := time.Second
	for {
		_, err := a.ensureAuth(ctx)
		if err == nil {
			return true
		}
		if ctx.Err() != nil {
			return false
		}
		a.log.Warn("slack auth.test failed", "err", err, "retry_in", wait)
		if !sleep(ctx, wait) {
			return false
		}
		wait = min(2*wait, a.cfg.ReconnectMax)
	}
}

// sleep waits d or until ctx ends; it reports whether d elapsed.
func sleep(ctx context.Context, d time.Duration) bool {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

// ensureAuth returns the bot's identity, calling auth.test the first time
// (and again after a failure).
func (a *Adapter) ensureAuth(ctx context.Context) (identity, error) {
	a.mu.Lock()
	if a.authed {
		self := a.self
		a.mu.Unlock()
		return self, nil
	}
	a.mu.Unlock()
	a.authMu.Lock()
	defer a.authMu.Unlock()
	a.mu.Lock()
	if a.authed {
		self := a.self
		a.mu.Unlock()
		return self, nil
	}
	a.mu.Unlock()

	resp, err := a.api.AuthTestContext(ctx)
	if err != nil {
		a.mu.Lock()
		a.authErr = err
		a.mu.Unlock()
		a.noteError(err)
		return identity{}, fmt.Errorf("auth.test: %w", err)
	}
	self := identity{UserID: resp.UserID, BotID: resp.BotID, TeamURL: resp.URL}
	for s := range strings.SplitSeq(resp.Header.Get("X-OAuth-Scopes"), ",") {
		if strings.TrimSpace(s) == "chat:write.customize" {
			self.Customize = true
		}
	}
	if self.BotID != "" {
		if bot, err := a.api.GetBotInfoContext(ctx, slack.GetBotInfoParameters{Bot: self.BotID}); err == nil {
			self.AppID = bot.AppID
		} else {
			a.log.Debug("slack bots.info failed", "err", err)
		}
	}
	a.mu.Lock()
	if a.self.AppID != "" && self.AppID == "" {
		self.AppID = a.self.AppID // from Socket Mode's hello
	}
	a.self, a.authed, a.authErr = self, true, nil
	var pe *platformError
	if errors.As(a.platformErr, &pe) && pe.auth() {
		a.platformErr = nil
	}
	a.mu.Unlock()
	a.log.Info("slack connected", "bot_user", self.UserID, "bot", self.BotID, "customize", self.Customize)
	return self, nil
}

// setAppID records the app id Socket Mode's hello reports.
func (a *Adapter) setAppID(id string) {
	if id == "" {
		return
	}
	a.mu.Lock()
	a.self.AppID = id
	a.mu.Unlock()
}

// noCustomize records that chat:write.customize is missing after all.
func (a *Adapter) noCustomize() {
	a.mu.Lock()
	a.self.Customize = false
	a.mu.Unlock()
	a.log.Warn("slack token lacks chat:write.customize: visitors are shown by a name prefix")
}

// platformError is a Slack error that a person must fix.
type platformError struct {
	Code   string
	Needed string
	hint   string
}

func (e *platformError) Error() string {
	s := "slack answered " + e.Code + ": " + e.hint
	if e.Needed != "" {
		s += " (needed: " + e.Needed + ")"
	}
	return s
}

func (e *platformError) auth() bool {
	return e.Code == "invalid_auth" || e.Code == "account_inactive" || e.Code == "token_revoked" || e.Code == "not_authed"
}

// healthCodes are the Slack errors that pause posting, with what to do.
var healthCodes = map[string]string{
	"not_in_channel":    "invite the bot to the support channel (/invite @bot)",
	"channel_not_found": "check slack.channel (the channel ID) and that the bot can see the channel",
	"is_archived":       "the support channel is archived: unarchive it or configure another",
	"invalid_auth":      "slack.bot_token is not valid: reinstall the app and copy the bot token",
	"not_authed":        "slack.bot_token is missing",
	"account_inactive":  "the app or its workspace was deactivated: reinstall the app",
	"token_revoked":     "the bot token was revoked: reinstall the app and copy the new token",
	"missing_scope":     "the app lacks a scope: update it from `chatbridge slack manifest` and reinstall",
}

// noteError records err as a health problem when it is one.
func (a *Adapter) noteError(err error) {
	var se slack.SlackErrorResponse
	if !errors.As(err, &se) {
		return
	}
	hint, ok := healthCodes[se.Err]
	if !ok {
		return
	}
	pe := &platformError{Code: se.Err, Needed: se.Needed, hint: hint}
	a.mu.Lock()
	first := a.platformErr == nil
	a.platformErr = pe
	a.probeAt = a.engine.Now().Add(a.probeEvery)
	a.mu.Unlock()
	if first {
		a.log.Error("slack posting paused", "err", pe)
	}
}

// noteOK clears a paused state after a successful post.
func (a *Adapter) noteOK() {
	a.mu.Lock()
	was := a.platformErr
	a.platformErr = nil
	a.mu.Unlock()
	if was != nil {
		a.log.Info("slack posting resumed")
	}
}

// gate refuses to post while paused, except for one probe per probeEvery.
func (a *Adapter) gate() error {
	a.mu.Lock()
	defer a.mu.Unlock()
	if a.platformErr == nil {
		return nil
	}
	now := a.engine.Now()
	if now.Before(a.probeAt) {
		return &bridge.RetryAfterError{After: a.probeAt.Sub(now), Err: fmt.Errorf("%w: %w", ErrUnhealthy, a.platformErr)}
	}
	a.probeAt = now.Add(a.probeEvery)
	return nil
}

// slackErrCode returns the error code of a Slack error answer, or "".
func slackErrCode(err error) string {
	var se slack.SlackErrorResponse
	if errors.As(err, &se) {
		return se.Err
	}
	return ""
}

// userCache resolves user ids to display names with users.info.
type userCache struct {
	api *slack.Client
	now func() time.Time

	mu    sync.Mutex
	names map[string]cachedName
}

type cachedName struct {
	name string
	at   time.Time
	ok   bool
}

const (
	userTTL     = time.Hour
	userFailTTL = time.Minute
	userMax     = 5000
)

func newUserCache(api *slack.Client, now func() time.Time) *userCache {
	return &userCache{api: api, now: now, names: map[string]cachedName{}}
}

// name returns the user's display name (display name, else real name, else
// user name), or "" when users.info fails.
func (c *userCache) name(ctx context.Context, id string) string {
	now := c.now()
	c.mu.Lock()
	if e, ok := c.names[id]; ok && ((e.ok && now.Sub(e.at) < userTTL) || now.Sub(e.at) < userFailTTL) {
		c.mu.Unlock()
		return e.name
	}
	c.mu.Unlock()
	var name string
	u, err := c.api.GetUserInfoContext(ctx, id)
	if err == nil {
		for _, n := range []string{u.Profile.DisplayName, u.Profile.RealName, u.RealName, u.Name} {
			if n = strings.TrimSpace(n); n != "" {
				name = n
				break
			}
		}
	}
	c.mu.Lock()
	if len(c.names) >= userMax {
		clear(c.names)
	}
	c.names[id] = cachedName{name: name, at: now, ok: err == nil}
	c.mu.Unlock()
	return name
}

// isOneOf reports whether s is one of list.
func isOneOf(s string, list ...string) bool { return slices.Contains(list, s) }
