package visitor

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestHappyPath(t *testing.T) {
	e := newEnv(t)
	token, vid := e.session()

	e.do(request{method: "POST", path: "/api/v1/pageviews", token: token,
		body: pageViewRequest{URL: "https://shop.example.com/cart", Title: "Cart", Referrer: "https://search.example/"}}).decodeTo(t, 204, nil)

	empty := e.messages(token, "")
	if empty.ConversationID != "" || empty.Status != "none" || len(empty.Messages) != 0 {
		t.Fatalf("before the first message: %+v", empty)
	}

	m1 := e.send(token, "c1", "  Hello, is my order shipped?  ")
	if m1.Seq != 1 || !strings.HasPrefix(m1.ConversationID, "c_") {
		t.Fatalf("first message = %+v", m1)
	}
	if _, err := e.engine.Reply(context.Background(), m1.ConversationID, testOperator, "Yes, it left today.", ""); err != nil {
		t.Fatal(err)
	}
	got := e.messages(token, "?after=0")
	if got.ConversationID != m1.ConversationID || got.Status != "open" {
		t.Fatalf("view = %+v", got)
	}
	if want := []string{"Hello, is my order shipped?", "Yes, it left today."}; !slices.Equal(texts(got.Messages), want) {
		t.Fatalf("texts = %q, want %q", texts(got.Messages), want)
	}
	if got.Messages[0].From != bridge.FromVisitor || got.Messages[0].Author != "Vera" ||
		got.Messages[1].From != bridge.FromOperator || got.Messages[1].Author != "Alice" || got.Messages[1].At.IsZero() {
		t.Errorf("messages = %+v", got.Messages)
	}
	if after := e.messages(token, "?after=1"); len(after.Messages) != 1 || after.Messages[0].Seq != 2 {
		t.Errorf("after=1: %+v", after.Messages)
	}

	var vr visitorResponse
	e.do(request{method: "PATCH", path: "/api/v1/visitor", token: token,
		body: visitorRequest{Email: "vera@example.com"}}).decodeTo(t, 200, &vr)
	if vr.VisitorID != vid || vr.Name != "Vera" || vr.Email != "vera@example.com" {
		t.Errorf("visitor = %+v", vr)
	}

	e.do(request{method: "POST", path: "/api/v1/conversation/close", token: token}).decodeTo(t, 204, nil)
	closed := e.messages(token, "?after=2")
	if closed.Status != "closed" || len(closed.Messages) != 1 || closed.Messages[0].From != bridge.FromSystem {
		t.Fatalf("after close: %+v", closed)
	}

	// A new message starts a new conversation.
	m2 := e.send(token, "c2", "One more thing")
	if m2.ConversationID == m1.ConversationID || m2.Seq != 1 {
		t.Fatalf("after close, message = %+v", m2)
	}
	// A client still on the old conversation gets the new one from its start.
	if v := e.messages(token, "?after=3&conversation="+m1.ConversationID); v.ConversationID != m2.ConversationID || len(v.Messages) != 1 {
		t.Errorf("catch-up view = %+v", v)
	}

	var pvs []bridge.PageView
	err := e.store.View(context.Background(), func(tx bridge.Tx) error {
		var err error
		pvs, err = tx.PageViews(vid, 10)
		return err
	})
	if err != nil || len(pvs) != 1 || pvs[0].URL != "https://shop.example.com/cart" || pvs[0].Title != "Cart" {
		t.Errorf("page views = %+v, %v", pvs, err)
	}
}

func TestIdempotentClientID(t *testing.T) {
	e := newEnv(t)
	token, _ := e.session()
	first := e.send(token, "same", "hello")
	before := e.store.updates.Load()
	for range 3 {
		if again := e.send(token, "same", "hello (retried)"); again != first {
			t.Fatalf("retry = %+v, want %+v", again, first)
		}
	}
	if n := e.store.updates.Load() - before; n != 0 {
		t.Errorf("retries committed %d transactions", n)
	}
	if convs, msgs := e.counts(); convs != 1 || msgs != 1 {
		t.Errorf("store has %d conversations, %d messages; want 1, 1", convs, msgs)
	}
	// Another visitor's identical client_id is a different message.
	token2, _ := e.session()
	if other := e.send(token2, "same", "hello"); other.ConversationID == first.ConversationID {
		t.Errorf("client ids are shared between visitors")
	}
}

// startPoll runs a long poll in the background and waits until it has
// subscribed to the hub.
func startPoll(t *testing.T, e *testEnv, token, query string) <-chan messagesResponse {
	t.Helper()
	subs := e.engine.Hub().Subscribers()
	out := make(chan messagesResponse, 1)
	go func() {
		var mr messagesResponse
		r := e.do(request{method: "GET", path: "/api/v1/messages" + query, token: token})
		if r.status == 200 {
			_ = jsonUnmarshal(r.body, &mr)
		}
		out <- mr
	}()
	waitFor(t, "long poll to subscribe", func() bool { return e.engine.Hub().Subscribers() > subs })
	return out
}

func TestLongPollWakesOnReplyNeverOnPrivate(t *testing.T) {
	e := newEnv(t)
	token, _ := e.session()
	m := e.send(token, "c1", "anyone there?")
	ctx := context.Background()

	poll := startPoll(t, e, token, fmt.Sprintf("?after=%d&wait=20", m.Seq))
	if err := e.engine.Whisper(ctx, m.ConversationID, testOperator, "SECRET whisper: command output", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.AddNote(ctx, m.ConversationID, testOperator, "SECRET note: VIP customer", ""); err != nil {
		t.Fatal(err)
	}
	select {
	case got := <-poll:
		t.Fatalf("long poll woke on private content: %+v", got)
	default:
	}
	if _, err := e.engine.Reply(ctx, m.ConversationID, testOperator, "Hi, Alice here.", ""); err != nil {
		t.Fatal(err)
	}
	got := <-poll
	if want := []string{"Hi, Alice here."}; !slices.Equal(texts(got.Messages), want) {
		t.Fatalf("long poll = %q, want %q", texts(got.Messages), want)
	}
	if got.Messages[0].Seq != 2 {
		t.Errorf("reply seq = %d, want 2: the whisper and the note leave no gap", got.Messages[0].Seq)
	}
	all := e.messages(token, "?after=0")
	for _, msg := range all.Messages {
		if strings.Contains(msg.Text, "SECRET") {
			t.Errorf("visitor sees private message %+v", msg)
		}
	}
	if len(all.Messages) != 2 {
		t.Errorf("visitor sees %d messages, want 2", len(all.Messages))
	}
}

func TestLongPollEndsOnClose(t *testing.T) {
	e := newEnv(t)
	token, _ := e.session()
	m := e.send(token, "c1", "bye")
	poll := startPoll(t, e, token, "?after=1&wait=20&conversation="+m.ConversationID)
	if err := e.engine.Close(context.Background(), m.ConversationID, testOperator); err != nil {
		t.Fatal(err)
	}
	got := <-poll
	if got.Status != "closed" || len(got.Messages) != 1 || got.Messages[0].From != bridge.FromSystem {
		t.Errorf("long poll after close = %+v", got)
	}
}

func TestLongPollIsCapped(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.LongPollMax = 50 * time.Millisecond }))
	token, _ := e.session()
	e.send(token, "c1", "hello")
	done := make(chan messagesResponse, 1)
	go func() { done <- e.messages(token, "?after=1&wait=3600") }()
	select {
	case got := <-done:
		if len(got.Messages) != 0 || got.Status != "open" {
			t.Errorf("empty long poll = %+v", got)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("wait=3600 was not capped at LongPollMax")
	}
}

func TestVisitorUpdate(t *testing.T) {
	e := newEnv(t)
	token, vid := e.session()
	for _, tc := range []struct {
		name   string
		method string
		body   any
		status int
		want   visitorResponse
	}{
		{"email", "PATCH", visitorRequest{Email: "a.b+c@mail.example.org"}, 200, visitorResponse{VisitorID: vid, Name: "Vera", Email: "a.b+c@mail.example.org"}},
		{"name by POST", "POST", visitorRequest{Name: "Véra L."}, 200, visitorResponse{VisitorID: vid, Name: "Véra L.", Email: "a.b+c@mail.example.org"}},
		{"display name form", "PATCH", visitorRequest{Email: "Vera <v@example.com>"}, 400, visitorResponse{}},
		{"no at", "PATCH", visitorRequest{Email: "vera.example.com"}, 400, visitorResponse{}},
		{"no domain", "PATCH", visitorRequest{Email: "vera@"}, 400, visitorResponse{}},
		{"dot domain", "PATCH", visitorRequest{Email: "vera@example..com"}, 400, visitorResponse{}},
		{"nothing", "PATCH", visitorRequest{}, 400, visitorResponse{}},
		{"newline name", "PATCH", visitorRequest{Name: "a\nb"}, 400, visitorResponse{}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.store.updates.Load()
			r := e.do(request{method: tc.method, path: "/api/v1/visitor", token: token, body: tc.body})
			if tc.status != 200 {
				r.wantError(t, tc.status, CodeBadRequest)
				if e.store.updates.Load() != before {
					t.Error("a refused update wrote to the store")
				}
				return
			}
			var got visitorResponse
			r.decodeTo(t, 200, &got)
			if got != tc.want {
				t.Errorf("got %+v, want %+v", got, tc.want)
			}
		})
	}
}

func TestTypingIsCoalesced(t *testing.T) {
	clock := &fakeClock{now: time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)}
	e := newEnv(t, withClock(clock))
	token, vid := e.session()
	sub := e.engine.Hub().SubscribeAll()
	defer sub.Close()

	typing := func() { e.do(request{method: "POST", path: "/api/v1/typing", token: token}).decodeTo(t, 204, nil) }
	typing() // no conversation yet: nobody to tell
	m := e.send(token, "c1", "hello")
	drain := func() []bridge.Event {
		var evs []bridge.Event
		for {
			select {
			case ev := <-sub.C:
				if ev.Kind == bridge.EventTyping {
					evs = append(evs, ev)
				}
			default:
				return evs
			}
		}
	}
	if evs := drain(); len(evs) != 0 {
		t.Fatalf("typing without a conversation published %+v", evs)
	}
	clock.Advance(time.Second)
	typing()
	typing() // same instant: coalesced
	clock.Advance(typingInterval)
	typing()
	evs := drain()
	if len(evs) != 2 {
		t.Fatalf("got %d typing events, want 2: %+v", len(evs), evs)
	}
	for _, ev := range evs {
		if ev.From != bridge.FromVisitor || ev.VisitorID != vid || ev.ConversationID != m.ConversationID || ev.Author != "Vera" {
			t.Errorf("typing event = %+v", ev)
		}
	}
}

func TestPublicMessagesDropsNonPublic(t *testing.T) {
	s := &Server{log: discardLogger()}
	at := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	in := []bridge.Message{
		{Seq: 1, PublicSeq: 1, From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Text: "hi", At: at},
		{Seq: 2, From: bridge.FromOperator, Visibility: bridge.VisibilityNote, Text: "note"},
		{Seq: 3, From: bridge.FromSystem, Visibility: bridge.VisibilityWhisper, Recipient: "inbox:alice", Text: "whisper"},
		{Seq: 4, From: bridge.FromOperator, Visibility: "", Text: "unknown visibility"},
		{Seq: 5, PublicSeq: 2, From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Author: "Alice", Text: "hello", At: at,
			Operator: &testOperator, PlatformID: "Ev123"},
	}
	got := s.publicMessages(context.Background(), "v_1", in)
	want := []apiMessage{
		{Seq: 1, From: bridge.FromVisitor, Text: "hi", At: at},
		{Seq: 2, From: bridge.FromOperator, Author: "Alice", Text: "hello", At: at},
	}
	if !slices.Equal(got, want) {
		t.Fatalf("publicMessages = %+v, want %+v", got, want)
	}
	b, err := jsonMarshal(messageFrame{Type: "message", apiMessage: got[1], ConversationID: "c_1"})
	if err != nil {
		t.Fatal(err)
	}
	const wantJSON = `{"type":"message","seq":2,"from":"operator","author":"Alice","text":"hello","at":"2026-01-02T03:04:05Z","conversation_id":"c_1"}`
	if string(b) != wantJSON {
		t.Errorf("frame = %s, want %s", b, wantJSON)
	}
}

func TestLongPollSeesNewConversation(t *testing.T) {
	e := newEnv(t)
	token, _ := e.session()
	first := e.send(token, "c1", "one")
	e.send(token, "c2", "two")
	e.do(request{method: "POST", path: "/api/v1/conversation/close", token: token}).decodeTo(t, 204, nil)
	// A client that did not pass conversation= and waits after seq 3 of
	// the old conversation still learns about the new one.
	poll := startPoll(t, e, token, "?after=3&wait=20")
	next := e.send(token, "c3", "three")
	got := <-poll
	if got.ConversationID != next.ConversationID || got.ConversationID == first.ConversationID || got.Status != "open" {
		t.Fatalf("long poll = %+v, want the new conversation %s", got, next.ConversationID)
	}
}
