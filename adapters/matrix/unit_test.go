package matrix

import (
	"context"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	fx "github.com/chatbridge/chatbridge/internal/fixture"
	"maunium.net/go/mautrix/id"
)

// fakeHS is a scripted homeserver on 127.0.0.1 for the tests that need to
// see or shape single requests (counts, a 429) without a real Dendrite.
type fakeHS struct {
	srv *httptest.Server

	mu         sync.Mutex
	whoami     int             // whoami requests
	created    int             // rooms created
	invites    []string        // invited user ids, in order
	invite429  int             // how many of the next invites answer 429
	encrypted  map[string]bool // rooms with an m.room.encryption state event
	sent       []sentEvent     // m.room.message events, in order
	onCreate   func()          // called when a room is created, before the answer
	lookups    int             // /messages requests
	sendPlan   []sendStep      // what the next sends do (then: store and answer 200)
	versions   []string        // /versions
	features   map[string]bool // /versions unstable_features
	media      []byte          // what media downloads return (nil: 404)
	downloads  []string        // media download paths requested
	createdIDs []string
}

// sendStep is what the fake homeserver does with one send: it stores the
// event or not, and answers with status. Like Dendrite after a restart,
// it does not de-duplicate transaction ids.
type sendStep struct {
	store  bool
	status int
}

// sentEvent is an m.room.message the fake homeserver received.
type sentEvent struct {
	room, txn string
	content   map[string]any
	at        time.Time
}

func newFakeHS(t *testing.T) *fakeHS {
	t.Helper()
	f := &fakeHS{encrypted: map[string]bool{}}
	f.srv = httptest.NewServer(http.HandlerFunc(f.serve))
	t.Cleanup(f.srv.Close)
	return f
}

func (f *fakeHS) serve(w http.ResponseWriter, r *http.Request) {
	f.mu.Lock()
	defer f.mu.Unlock()
	switch p := r.URL.Path; {
	case p == "/_matrix/client/versions":
		writeJSON(w, http.StatusOK, map[string]any{"versions": f.versions, "unstable_features": f.features})
		return
	case strings.HasPrefix(p, "/_matrix/client/v1/media/download/") || strings.HasPrefix(p, "/_matrix/media/v3/download/"):
		f.downloads = append(f.downloads, p)
		if f.media == nil {
			matrixError(w, http.StatusNotFound, "M_NOT_FOUND")
			return
		}
		w.Header().Set("Content-Type", "application/octet-stream")
		_, _ = w.Write(f.media)
		return
	}
	path, ok := strings.CutPrefix(r.URL.Path, "/_matrix/client/v3/")
	if !ok {
		matrixError(w, http.StatusNotFound, "M_UNRECOGNIZED")
		return
	}
	parts := strings.Split(path, "/")
	switch {
	case path == "account/whoami":
		f.whoami++
		writeJSON(w, http.StatusOK, map[string]any{"user_id": "@bot:x"})
	case path == "createRoom":
		f.created++
		room := "!r" + uitoa(f.created) + ":x"
		f.createdIDs = append(f.createdIDs, room)
		if f.onCreate != nil {
			f.onCreate()
		}
		writeJSON(w, http.StatusOK, map[string]any{"room_id": room})
	case len(parts) == 3 && parts[0] == "rooms" && parts[2] == "invite":
		if f.invite429 > 0 {
			f.invite429--
			w.Header().Set("Retry-After", "1")
			matrixError(w, http.StatusTooManyRequests, "M_LIMIT_EXCEEDED")
			return
		}
		var body struct {
			UserID string `json:"user_id"`
		}
		_ = json.NewDecoder(r.Body).Decode(&body)
		f.invites = append(f.invites, body.UserID)
		writeJSON(w, http.StatusOK, map[string]any{})
	case len(parts) >= 4 && parts[0] == "rooms" && parts[2] == "state" && parts[3] == "m.room.encryption":
		if !f.encrypted[parts[1]] {
			matrixError(w, http.StatusNotFound, "M_NOT_FOUND")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"algorithm": "m.megolm.v1.aes-sha2"})
	case len(parts) == 3 && parts[0] == "rooms" && parts[2] == "messages":
		// Newest first, all in one page; the room's start is reached.
		chunk := []map[string]any{}
		for i := len(f.sent) - 1; i >= 0; i-- {
			if e := f.sent[i]; e.room == parts[1] {
				chunk = append(chunk, map[string]any{
					"event_id": "$e" + uitoa(i+1), "sender": "@bot:x", "type": "m.room.message",
					"room_id": e.room, "origin_server_ts": e.at.UnixMilli(), "content": e.content,
				})
			}
		}
		f.lookups++
		writeJSON(w, http.StatusOK, map[string]any{"chunk": chunk, "start": "s0"})
	case len(parts) == 5 && parts[0] == "rooms" && parts[2] == "send" && parts[3] == "m.room.message":
		var c map[string]any
		_ = json.NewDecoder(r.Body).Decode(&c)
		step := sendStep{store: true, status: http.StatusOK}
		if len(f.sendPlan) > 0 {
			step, f.sendPlan = f.sendPlan[0], f.sendPlan[1:]
		}
		if step.store {
			f.sent = append(f.sent, sentEvent{room: parts[1], txn: parts[4], content: c, at: time.Now()})
		}
		if step.status != http.StatusOK {
			matrixError(w, step.status, "M_UNKNOWN")
			return
		}
		writeJSON(w, http.StatusOK, map[string]any{"event_id": "$e" + uitoa(len(f.sent))})
	default:
		matrixError(w, http.StatusNotFound, "M_NOT_FOUND")
	}
}

func matrixError(w http.ResponseWriter, status int, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(status)
	_ = json.NewEncoder(w).Encode(map[string]any{"errcode": code, "error": code})
}

func uitoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// bodies returns the bodies of the messages sent to room.
func (f *fakeHS) bodies(room string) []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, e := range f.sent {
		if e.room == room {
			s, _ := e.content["body"].(string)
			out = append(out, s)
		}
	}
	return out
}

// unit is an adapter on a fake homeserver with a bolt store and an engine
// that is not running (deliveries are made by the test).
type unit struct {
	hs     *fakeHS
	a      *Adapter
	engine *bridge.Engine
	store  bridge.Store
}

func newUnit(t *testing.T, bcfg bridge.Config, store func(bridge.Store) bridge.Store) *unit {
	t.Helper()
	hs := newFakeHS(t)
	var s bridge.Store = fx.Store(t)
	if store != nil {
		s = store(s)
	}
	log := slog.New(slog.DiscardHandler)
	engine := fx.Engine(t, fx.Options{Store: s, Config: bcfg, NoRun: true, Log: log})
	a, err := New(Config{HomeserverURL: hs.srv.URL, UserID: "@bot:x", AccessToken: "token", Operators: []string{"@alice:x", "@bob:x"}}, engine, log)
	if err != nil {
		t.Fatal(err)
	}
	return &unit{hs: hs, a: a, engine: engine, store: s}
}

// conversation starts a visitor's conversation and returns it.
func (u *unit) conversation(t *testing.T) (bridge.Conversation, bridge.Visitor) {
	t.Helper()
	ctx := context.Background()
	_, v, err := u.engine.StartSession(ctx, bridge.SessionInput{Name: "Vera"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := u.engine.VisitorMessage(ctx, v.ID, "c1", "hello")
	if err != nil {
		t.Fatal(err)
	}
	c, err := u.engine.Conversation(ctx, m.ConversationID)
	if err != nil {
		t.Fatal(err)
	}
	return c, v
}

// withRoom records room as the conversation's room.
func (u *unit) withRoom(t *testing.T, conv string, room id.RoomID) {
	t.Helper()
	err := u.store.Update(context.Background(), func(tx bridge.Tx) error { return tx.PutRef(adapterName, conv, string(room)) })
	if err != nil {
		t.Fatal(err)
	}
}

// recordingWhisperer keeps the whispers the engine hands to it.
type recordingWhisperer struct {
	mu sync.Mutex
	ws []bridge.Whisper
}

func (r *recordingWhisperer) Name() string { return adapterName }

func (r *recordingWhisperer) Whisper(_ context.Context, w bridge.Whisper) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.ws = append(r.ws, w)
	return nil
}

func (r *recordingWhisperer) texts() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []string
	for _, w := range r.ws {
		out = append(out, w.Text)
	}
	return out
}
