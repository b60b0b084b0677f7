package matrix

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	fx "github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// newAppserviceWorld starts the appservice's HTTP server (answering 503
// until a bridge runs), writes the registration, and starts Dendrite with
// it.
func newAppserviceWorld(t *testing.T) *world {
	t.Helper()
	w := &world{}
	srv := httptest.NewServer(http.HandlerFunc(func(rw http.ResponseWriter, r *http.Request) {
		h := w.appservice.Load()
		if h == nil {
			http.Error(rw, "no bridge running", http.StatusServiceUnavailable)
			return
		}
		(*h).ServeHTTP(rw, r)
	}))
	t.Cleanup(srv.Close)
	w.cfg = Config{
		Mode: ModeAppservice, UserID: "@chatbridge:" + testpeer.DendriteServerName,
		ASToken: randomHex(t), HSToken: randomHex(t), AppserviceURL: srv.URL,
	}
	reg, err := Registration(w.cfg)
	if err != nil {
		t.Fatal(err)
	}
	regPath := filepath.Join(t.TempDir(), "chatbridge-registration.yaml")
	if err := os.WriteFile(regPath, []byte(reg), 0o600); err != nil {
		t.Fatal(err)
	}
	w.hs = testpeer.Dendrite(t, testpeer.WithAppservice(regPath))
	w.cfg.HomeserverURL = w.hs.URL
	opID, opToken := w.hs.Register(t, "alice", "alice-password-1")
	w.cfg.Operators = []string{opID}
	if w.op, err = mautrix.NewClient(w.hs.URL, id.UserID(opID), opToken); err != nil {
		t.Fatal(err)
	}
	if err := w.op.SetDisplayName(context.Background(), "Alice Operator"); err != nil {
		t.Fatal(err)
	}
	w.store = &flakyStore{Store: fx.Store(t)}
	w.blobs = newBlobs(t)
	w.cfg.Blobs = w.blobs
	return w
}

func randomHex(t *testing.T) string {
	b := make([]byte, 16)
	if _, err := rand.Read(b); err != nil {
		t.Fatal(err)
	}
	return hex.EncodeToString(b)
}

// TestAppservice runs a conversation through a real Dendrite in appservice
// mode: the visitor is a ghost user in the room, operators' messages arrive
// in transactions, commands answer in threads, and a transaction delivered
// twice or failed once is handled once.
func TestAppservice(t *testing.T) {
	w := newAppserviceWorld(t)
	ctx := context.Background()
	b := w.start(t)
	opID := string(w.op.UserID)

	_, v, err := b.engine.StartSession(ctx, bridge.SessionInput{Name: "Eve", Email: "eve@example.org"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.engine.VisitorMessage(ctx, v.ID, "c1", "@room hi <b>x</b>")
	if err != nil {
		t.Fatal(err)
	}
	conv := first.ConversationID
	room := w.roomOf(t, conv)
	w.join(t, room)
	ghostID := b.a.ghostID(v.ID)
	if want := "@livechat_" + v.ID + ":" + testpeer.DendriteServerName; string(ghostID) != want {
		t.Errorf("ghost id = %s, want %s", ghostID, want)
	}

	// The bot made the room and posted the card; the ghost joined as Eve
	// and says what the visitor typed, as plain text that pings nobody.
	var create event.CreateEventContent
	if err := w.op.StateEvent(ctx, room, event.StateCreate, "", &create); err != nil {
		t.Fatal(err)
	}
	if create.Creator != w.cfg.botID() {
		t.Errorf("room created by %s, want the bot %s", create.Creator, w.cfg.botID())
	}
	card := w.waitEvent(t, room, "context card", func(e *event.Event) bool { return strings.Contains(bodyOf(e), "New chat with Eve") })
	if card.Sender != w.cfg.botID() || !strings.Contains(string(mentionsOf(card)), opID) {
		t.Errorf("card sent by %s with m.mentions %s, want the bot mentioning %s", card.Sender, mentionsOf(card), opID)
	}
	vm := w.waitEvent(t, room, "visitor message", func(e *event.Event) bool { return e.Sender == ghostID })
	if got, want := bodyOf(vm), "@\u2060room hi <b>x</b>"; got != want {
		t.Errorf("ghost's message body = %q, want %q", got, want)
	}
	if got := string(mentionsOf(vm)); got != "{}" {
		t.Errorf("ghost's message m.mentions = %s, want {}", got)
	}
	if _, html := vm.Content.Raw["formatted_body"]; html {
		t.Errorf("ghost's message has HTML: %v", vm.Content.Raw)
	}
	var member event.MemberEventContent
	if err := w.op.StateEvent(ctx, room, event.StateMember, string(ghostID), &member); err != nil {
		t.Fatal(err)
	}
	if member.Membership != event.MembershipJoin || member.Displayname != "Eve" {
		t.Errorf("ghost membership %s, name %q; want join, Eve", member.Membership, member.Displayname)
	}

	// A reply reaches the visitor; the visitor's next message is the
	// ghost's again.
	w.say(t, room, "Hello from Element")
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: Hello from Element")
	}, "reply reaches the visitor")
	if _, err := b.engine.VisitorMessage(ctx, v.ID, "c2", "thanks"); err != nil {
		t.Fatal(err)
	}
	w.waitEvent(t, room, "second visitor message", func(e *event.Event) bool { return e.Sender == ghostID && bodyOf(e) == "thanks" })
	seen := len(visitorTexts(t, b.engine, v.ID))

	// !help answers in a thread; nothing reaches the visitor.
	evID := w.say(t, room, "!help")
	answer := w.waitEvent(t, room, "answer to !help", func(e *event.Event) bool { return threadRootOf(e) == string(evID) })
	if answer.Sender != w.cfg.botID() || answer.Content.Raw["msgtype"] != "m.notice" || answer.Content.Raw[fieldOperatorOnly] != true {
		t.Errorf("answer to !help is not the bot's operator-only notice: %s %v", answer.Sender, answer.Content.Raw)
	}
	if !strings.Contains(bodyOf(answer), "private conversation with Eve") {
		t.Errorf("answer to !help is not the help text: %q", bodyOf(answer))
	}
	if got := visitorTexts(t, b.engine, v.ID); len(got) != seen {
		t.Fatalf("the visitor saw operator-only content: %q", got[seen:])
	}

	// A transaction delivered twice, and its message again in another
	// transaction, reach the visitor once.
	h := b.a.Handler()
	txn := transactionWith(room, "$dup-1", id.UserID(opID), "Only once")
	for i, txnID := range []string{"t-dup", "t-dup", "t-other"} {
		if code := put(h, txnID, w.cfg.HSToken, txn); code != http.StatusOK {
			t.Fatalf("transaction %d (%s): status %d, want 200", i+1, txnID, code)
		}
	}
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: Only once")
	}, "the transaction's message reaches the visitor")
	// A transaction that fails is answered with an error, not acknowledged,
	// and handled when the homeserver sends it again.
	w.store.fail.Store(1)
	txn = transactionWith(room, "$retry-1", id.UserID(opID), "After a failure")
	if code := put(h, "t-fail", w.cfg.HSToken, txn); code != http.StatusInternalServerError {
		t.Errorf("failed transaction: status %d, want 500", code)
	}
	if put(h, "t-fail", w.cfg.HSToken, txn) != http.StatusOK || put(h, "t-fail", w.cfg.HSToken, txn) != http.StatusOK {
		t.Error("the retried transaction is not acknowledged")
	}
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: After a failure")
	}, "the retried transaction's message reaches the visitor")
	got := visitorTexts(t, b.engine, v.ID)
	for _, s := range []string{"Alice Operator: Only once", "Alice Operator: After a failure", "Alice Operator: Hello from Element"} {
		if n := countOf(got, s); n != 1 {
			t.Errorf("visitor sees %q %d times, want once: %q", s, n, got)
		}
	}

	// Only the homeserver may push transactions.
	for _, tc := range []struct {
		token string
		want  int
	}{{"", http.StatusUnauthorized}, {"wrong", http.StatusForbidden}} {
		if code := put(h, "t-forged", tc.token, transactionWith(room, "$forged", id.UserID(opID), "forged")); code != tc.want {
			t.Errorf("transaction with token %q: status %d, want %d", tc.token, code, tc.want)
		}
	}
	if err := b.a.Health(ctx); err != nil {
		t.Errorf("health: %v", err)
	}

	// While chatbridge is down the homeserver gets errors and keeps the
	// transaction; after the restart it arrives, once.
	b.stop()
	w.say(t, room, "While you were away")
	b = w.start(t)
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: While you were away")
	}, "message sent during the restart reaches the visitor")
	if n := countThreadNotices(t, w, room); n != 1 {
		t.Errorf("%d command answers after the restart, want 1 (no replays)", n)
	}

	// The end of the chat is announced in the room.
	if err := b.engine.CloseByVisitor(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	w.waitEvent(t, room, "end of chat", func(e *event.Event) bool { return bodyOf(e) == "The chat has ended." })
	if n := countOf(visitorTexts(t, b.engine, v.ID), "Alice Operator: forged"); n != 0 {
		t.Error("a forged transaction reached the visitor")
	}
}

// transactionWith is a transaction holding one m.text of sender in room.
func transactionWith(room id.RoomID, eventID string, sender id.UserID, text string) []byte {
	b, _ := json.Marshal(map[string]any{"events": []map[string]any{{
		"type": "m.room.message", "event_id": eventID, "room_id": room, "sender": sender,
		"origin_server_ts": 1, "content": map[string]any{"msgtype": "m.text", "body": text},
	}}})
	return b
}

// put sends a transaction to the appservice handler and returns the status.
func put(h http.Handler, txnID, token string, body []byte) int {
	r := httptest.NewRequest(http.MethodPut, "/_matrix/app/v1/transactions/"+txnID, bytes.NewReader(body))
	if token != "" {
		r.Header.Set("Authorization", "Bearer "+token)
	}
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, r)
	return rec.Code
}
