package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/commands"
	fx "github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// wait is the deadline of every polling wait against the homeserver.
const wait = 20 * time.Second

// world is a real Dendrite with a bot and an operator account, and a bridge
// store shared by the bridges started on it.
type world struct {
	hs       *testpeer.Homeserver
	cfg      Config
	botToken string
	// dedupTTL is the engine's memory of event ids (0: the default).
	dedupTTL time.Duration
	op       *mautrix.Client
	store    *flakyStore
	// appservice is the running bridge's appservice handler, behind the
	// URL the homeserver pushes transactions to (appservice mode only).
	appservice atomic.Pointer[http.Handler]
	// blobs keeps the bridge's files (w.cfg.Blobs).
	blobs bridge.BlobStore
	// tweak, when set, changes each adapter before it runs.
	tweak func(*Adapter)
}

// newBlobs is a blob store in a temporary directory.
func newBlobs(t *testing.T) bridge.BlobStore {
	t.Helper()
	b, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// flakyStore is the bolt store whose next writes can be made to fail.
type flakyStore struct {
	bridge.Store
	fail atomic.Int32 // how many of the next Updates fail
}

var errStoreDown = errors.New("store down (test)")

func (s *flakyStore) Update(ctx context.Context, fn func(bridge.Tx) error) error {
	if s.fail.Add(-1) >= 0 {
		return errStoreDown
	}
	s.fail.Store(0)
	return s.Store.Update(ctx, fn)
}

func newWorld(t *testing.T) *world {
	t.Helper()
	hs := testpeer.Dendrite(t)
	botID, botToken := hs.Register(t, "chatbridge", "bot-password-1")
	opID, opToken := hs.Register(t, "alice", "alice-password-1")
	op, err := mautrix.NewClient(hs.URL, id.UserID(opID), opToken)
	if err != nil {
		t.Fatal(err)
	}
	if err := op.SetDisplayName(context.Background(), "Alice Operator"); err != nil {
		t.Fatal(err)
	}
	blobs := newBlobs(t)
	return &world{
		hs:       hs,
		cfg:      Config{HomeserverURL: hs.URL, UserID: botID, AccessToken: botToken, Operators: []string{opID}, Blobs: blobs},
		botToken: botToken, op: op, store: &flakyStore{Store: fx.Store(t)}, blobs: blobs,
		// The client bot: only its sync token keeps replays out.
		dedupTTL: time.Nanosecond,
	}
}

// running is an engine with the command router and the Matrix adapter,
// running until stop.
type running struct {
	engine *bridge.Engine
	a      *Adapter
	stop   func()
}

// start runs a bridge on the world's store. In the client bot's world,
// operator event ids are remembered for only a nanosecond, so that a
// replayed Matrix event would be handled again: only the adapter's sync
// token keeps replays out.
func (w *world) start(t *testing.T) *running {
	t.Helper()
	log := slog.New(slog.DiscardHandler)
	engine := fx.Engine(t, fx.Options{Store: w.store, NoRun: true, Log: log,
		Config: bridge.Config{RetryMin: 10 * time.Millisecond, RetryMax: 200 * time.Millisecond, DedupTTL: w.dedupTTL}})
	a, err := New(w.cfg, engine, log)
	if err != nil {
		t.Fatal(err)
	}
	if w.tweak != nil {
		w.tweak(a)
	}
	for _, c := range []any{commands.New(engine, commands.Options{}), a} {
		if err := engine.Register(c); err != nil {
			t.Fatal(err)
		}
	}
	ctx, cancel := context.WithCancel(context.Background())
	var wg sync.WaitGroup
	wg.Add(2)
	go func() { defer wg.Done(); _ = engine.Run(ctx) }()
	go func() {
		defer wg.Done()
		if err := a.Run(ctx); err != nil {
			t.Errorf("run: %v", err)
		}
	}()
	var once sync.Once
	stop := func() { once.Do(func() { w.appservice.Store(nil); cancel(); wg.Wait() }) }
	t.Cleanup(stop)
	if w.cfg.Mode == ModeAppservice {
		h := a.Handler()
		w.appservice.Store(&h)
		return &running{engine: engine, a: a, stop: stop}
	}
	// Wait for the first sync, so that what happens next is not part of the
	// history a first start skips.
	testpeer.WaitFor(t, wait, func() bool { return a.syncCount() > 0 }, "first sync")
	return &running{engine: engine, a: a, stop: stop}
}

// roomOf waits for the conversation's room.
func (w *world) roomOf(t *testing.T, conv string) id.RoomID {
	t.Helper()
	var room string
	testpeer.WaitFor(t, wait, func() bool {
		err := w.store.View(context.Background(), func(tx bridge.Tx) error {
			var err error
			room, err = tx.Ref("matrix", conv)
			return err
		})
		return err == nil && room != ""
	}, "room of "+conv)
	return id.RoomID(room)
}

// join makes the operator accept the invitation to room.
func (w *world) join(t *testing.T, room id.RoomID) {
	t.Helper()
	testpeer.WaitFor(t, wait, func() bool {
		_, err := w.op.JoinRoomByID(context.Background(), room)
		return err == nil
	}, "operator joins "+string(room))
}

// events returns the room's message events, oldest first, as the operator
// sees them.
func (w *world) events(t *testing.T, room id.RoomID) []*event.Event {
	t.Helper()
	resp, err := w.op.Messages(context.Background(), room, "", "", mautrix.DirectionBackward, nil, 500)
	if err != nil {
		t.Fatalf("messages of %s: %v", room, err)
	}
	var out []*event.Event
	for _, e := range slices.Backward(resp.Chunk) {
		if e.Type.Type == event.EventMessage.Type {
			out = append(out, e)
		}
	}
	return out
}

// waitEvent waits for a message event in room matching match and returns it.
func (w *world) waitEvent(t *testing.T, room id.RoomID, what string, match func(*event.Event) bool) *event.Event {
	t.Helper()
	var found *event.Event
	testpeer.WaitFor(t, wait, func() bool {
		for _, e := range w.events(t, room) {
			if match(e) {
				found = e
				return true
			}
		}
		return false
	}, what)
	return found
}

// count counts the message events in room with the given body.
func (w *world) count(t *testing.T, room id.RoomID, body string) int {
	n := 0
	for _, e := range w.events(t, room) {
		if bodyOf(e) == body {
			n++
		}
	}
	return n
}

func bodyOf(e *event.Event) string { s, _ := e.Content.Raw["body"].(string); return s }

// say sends an m.text as the operator and returns its event id.
func (w *world) say(t *testing.T, room id.RoomID, text string) id.EventID {
	t.Helper()
	resp, err := w.op.SendText(context.Background(), room, text)
	if err != nil {
		t.Fatalf("operator says %q: %v", text, err)
	}
	return resp.EventID
}

// visitorTexts returns the texts the visitor sees, in order.
func visitorTexts(t *testing.T, e *bridge.Engine, visitorID string) []string {
	t.Helper()
	view, err := e.VisitorMessages(context.Background(), visitorID, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, m := range view.Messages {
		out = append(out, m.Author+": "+m.Text)
	}
	return out
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

// threadRootOf returns the thread an event is in, "" for none.
func threadRootOf(e *event.Event) string {
	rel, _ := e.Content.Raw["m.relates_to"].(map[string]any)
	if rel["rel_type"] != "m.thread" {
		return ""
	}
	s, _ := rel["event_id"].(string)
	return s
}

func newClient(url, user, token string) (*mautrix.Client, error) {
	return mautrix.NewClient(url, id.UserID(user), token)
}

// opSyncToken returns the operator's current sync position.
func (w *world) opSyncToken(t *testing.T) string {
	t.Helper()
	resp, err := w.op.SyncRequest(context.Background(), 0, "", "", false, "")
	if err != nil {
		t.Fatal(err)
	}
	return resp.NextBatch
}

// waitBotTyping syncs as the operator from since until the bot types in room.
func (w *world) waitBotTyping(t *testing.T, room id.RoomID, since string) {
	t.Helper()
	deadline := time.Now().Add(wait)
	for time.Now().Before(deadline) {
		resp, err := w.op.SyncRequest(context.Background(), 1000, since, "", false, "")
		if err != nil {
			t.Fatal(err)
		}
		since = resp.NextBatch
		for _, e := range resp.Rooms.Join[room].Ephemeral.Events {
			var c event.TypingEventContent
			if e.Type.Type == event.EphemeralEventTyping.Type && json.Unmarshal(e.Content.VeryRaw, &c) == nil && slices.Contains(c.UserIDs, id.UserID(w.cfg.UserID)) {
				return
			}
		}
	}
	t.Fatal("the bot never typed in the room")
}
