package matrix

import (
	"context"
	"errors"
	"fmt"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// stateNamespace is the bridge store namespace of the adapter's state.
const stateNamespace = "matrix"

// syncStore is the mautrix SyncStore. The next_batch token lives in the
// bridge store (key "next_batch:<user id>"), so it survives restarts, but it
// is written by syncer.ProcessResponse only after a response was handled:
// mautrix saves the token before handling, which would lose the operator
// messages of a response whose handling failed. SaveNextBatch is therefore a
// no-op. The filter id is kept in memory: filters are cheap to recreate and
// may change between versions.
type syncStore struct {
	a        *Adapter
	filterID string // used by the sync goroutine only
}

var _ mautrix.SyncStore = (*syncStore)(nil)

func nextBatchKey(u id.UserID) string { return "next_batch:" + string(u) }

// SaveFilterID remembers the filter for this process.
func (s *syncStore) SaveFilterID(_ context.Context, _ id.UserID, filterID string) error {
	s.filterID = filterID
	return nil
}

// LoadFilterID returns the filter of this process ("" at first).
func (s *syncStore) LoadFilterID(context.Context, id.UserID) (string, error) {
	return s.filterID, nil
}

// SaveNextBatch does nothing: see syncStore.
func (s *syncStore) SaveNextBatch(context.Context, id.UserID, string) error { return nil }

// LoadNextBatch reads the token saved after the last handled response.
func (s *syncStore) LoadNextBatch(ctx context.Context, u id.UserID) (string, error) {
	b, err := s.a.engine.AdapterState(ctx, stateNamespace, nextBatchKey(u))
	if errors.Is(err, bridge.ErrNotFound) {
		return "", nil
	}
	token := string(b)
	if err != nil {
		return "", fmt.Errorf("load matrix sync token: %w", err)
	}
	return token, nil
}

// syncer handles sync responses with mautrix's DefaultSyncer and saves the
// next_batch token after each response was handled.
type syncer struct {
	*mautrix.DefaultSyncer
	a *Adapter
	// failed is the first transient failure of a handler in the current
	// response (handlers run on the sync goroutine, one at a time).
	failed error
}

// timelineLimit is how many events per room one sync returns; more than
// mautrix's default, so that a bot that was down briefly misses nothing.
const timelineLimit = 200

func newSyncer(a *Adapter) *syncer {
	s := &syncer{DefaultSyncer: mautrix.NewDefaultSyncer(), a: a}
	s.FilterJSON = &mautrix.Filter{
		Room: &mautrix.RoomFilter{Timeline: &mautrix.FilterPart{Limit: a.timelineLimit}},
	}
	// A first start (no token) does not replay history: old commands must
	// not run again. mautrix's DontProcessOldEvents also skips rooms whose
	// timeline holds the bot's join, which would drop the first operator
	// messages of a room the bot just created; the bot never joins rooms
	// by invitation, so only the first-sync rule is needed.
	s.OnSync(func(_ context.Context, _ *mautrix.RespSync, since string) bool { return since != "" })
	known := map[string]bool{}
	for _, h := range a.eventHandlers() {
		s.OnEventType(h.typ, s.handle(h.fn))
		known[h.typ.Type] = true
	}
	// Every other message event in a room's timeline gets a word to the
	// operator who sent it (onOther).
	other := s.handle(a.onOther)
	s.OnEvent(func(ctx context.Context, evt *event.Event) {
		if evt.Type.Class == event.MessageEventType && evt.Mautrix.EventSource&event.SourceTimeline != 0 && !known[evt.Type.Type] {
			other(ctx, evt)
		}
	})
	return s
}

// eventHandler handles one type of event; it returns an error only for
// failures that handling the event again can fix.
type eventHandler struct {
	typ event.Type
	fn  func(context.Context, *event.Event) error
}

// eventHandlers are the events the adapter looks at, in both modes: the
// sync loop and the appservice's transactions share them.
func (a *Adapter) eventHandlers() []eventHandler {
	return []eventHandler{
		{event.EventMessage, a.onMessage},
		{event.EventRedaction, a.onRedaction},
		{event.StatePowerLevels, a.onPowerLevels},
		{event.EventEncrypted, a.onEncrypted},
		{event.StateEncryption, a.onEncryption},
		{event.StateMember, a.onMember},
		{event.EphemeralEventTyping, a.onTyping},
	}
}

// handle adapts an erroring handler: after the first failure of a response
// the other events are left for the retry of the whole response.
func (s *syncer) handle(fn func(context.Context, *event.Event) error) mautrix.EventHandler {
	return func(ctx context.Context, evt *event.Event) {
		if s.failed != nil {
			return
		}
		s.failed = fn(ctx, evt)
	}
}

// ProcessResponse handles resp and then saves its next_batch token. A
// room whose timeline the sync limited first gets the events it left out
// (backfill.go), handled in order before the sync's own. When a handler
// failed, the token is not saved and the error stops the sync: Run syncs
// again from the saved token, and the engine drops the events it already
// handled (by event id).
func (s *syncer) ProcessResponse(ctx context.Context, resp *mautrix.RespSync, since string) error {
	s.failed = nil
	var gaps []gap
	if since != "" { // a first start skips the history anyway
		var err error
		if gaps, err = s.a.fillGaps(ctx, resp); err != nil {
			return fmt.Errorf("fill matrix timeline gaps: %w", err)
		}
	}
	if err := s.DefaultSyncer.ProcessResponse(ctx, resp, since); err != nil {
		return err
	}
	if s.failed != nil {
		return fmt.Errorf("handle matrix events: %w", s.failed)
	}
	state := s.a.handledState(resp)
	state[nextBatchKey(s.a.bot)] = []byte(resp.NextBatch)
	err := s.a.engine.SaveAdapter(ctx, stateNamespace, bridge.AdapterChange{State: state})
	if err != nil {
		return fmt.Errorf("save matrix sync token: %w", err)
	}
	for _, g := range gaps {
		s.a.reportGap(ctx, g)
	}
	s.a.syncSucceeded()
	return nil
}

// OnFailedSync stops SyncWithContext, so that Run backs off and reports.
func (s *syncer) OnFailedSync(_ *mautrix.RespSync, err error) (time.Duration, error) {
	return 0, err
}
