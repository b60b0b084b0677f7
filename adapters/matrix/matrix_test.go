package matrix

import (
	"context"
	"encoding/json"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestRoundTrip runs a conversation through a real Dendrite: the room and
// its card, visitor text, operator replies, commands and notes, typing, a
// restart, a repeated delivery and the end of the chat.
func TestRoundTrip(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	b := w.start(t)
	opID := string(w.op.UserID)

	_, v, err := b.engine.StartSession(ctx, bridge.SessionInput{Name: "Eve", Email: "eve@example.org", Locale: "fr-FR", UserAgent: "Firefox/128"})
	if err != nil {
		t.Fatal(err)
	}
	if err := b.engine.RecordPageView(ctx, v.ID, bridge.PageView{URL: "https://shop.example/cart", Referrer: "https://search.example/"}); err != nil {
		t.Fatal(err)
	}
	first, err := b.engine.VisitorMessage(ctx, v.ID, "c1", "@room hi <b>x</b>")
	if err != nil {
		t.Fatal(err)
	}
	conv := first.ConversationID
	room := w.roomOf(t, conv)
	w.join(t, room)

	// The context card pings the operator with an m.text.
	card := w.waitEvent(t, room, "context card", func(e *event.Event) bool { return strings.Contains(bodyOf(e), "New chat with Eve") })
	for _, want := range []string{opID, "eve@example.org", "Page: https://shop.example/cart", "Referrer: https://search.example/", "Language: fr-FR", "Browser: Firefox/128", "!help", ";;"} {
		if !strings.Contains(bodyOf(card), want) {
			t.Errorf("card lacks %q:\n%s", want, bodyOf(card))
		}
	}
	if card.Content.Raw["msgtype"] != "m.text" || !strings.Contains(string(mentionsOf(card)), opID) {
		t.Errorf("card is %v with m.mentions %s, want an m.text mentioning %s", card.Content.Raw["msgtype"], mentionsOf(card), opID)
	}
	var name event.RoomNameEventContent
	if err := w.op.StateEvent(ctx, room, event.StateRoomName, "", &name); err != nil || name.Name != "Chat with Eve" {
		t.Errorf("room name = %q (%v), want %q", name.Name, err, "Chat with Eve")
	}

	// The visitor's text pings nobody and is not HTML.
	vm := w.waitEvent(t, room, "visitor message", func(e *event.Event) bool { return strings.HasPrefix(bodyOf(e), "Eve (visitor): ") })
	if got, want := bodyOf(vm), "Eve (visitor): @\u2060room hi <b>x</b>"; got != want {
		t.Errorf("visitor message body = %q, want %q", got, want)
	}
	if got := string(mentionsOf(vm)); got != "{}" {
		t.Errorf("visitor message m.mentions = %s, want {}", got)
	}
	if f, _ := vm.Content.Raw["formatted_body"].(string); strings.Contains(f, "<b>x</b>") || !strings.Contains(f, "&lt;b&gt;x&lt;/b&gt;") {
		t.Errorf("visitor text not escaped in formatted_body: %q", f)
	}

	// A reply reaches the visitor with the operator's display name.
	w.say(t, room, "Hello from Element")
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: Hello from Element")
	}, "reply reaches the visitor")
	seen := len(visitorTexts(t, b.engine, v.ID))

	// !help and Element X's /help answer in a thread under the command;
	// notes and commands never reach the visitor.
	for _, cmd := range []string{"!help", "/help"} {
		evID := w.say(t, room, cmd)
		answer := w.waitEvent(t, room, "answer to "+cmd, func(e *event.Event) bool { return threadRootOf(e) == string(evID) })
		if answer.Content.Raw["msgtype"] != "m.notice" || answer.Content.Raw[fieldOperatorOnly] != true || !strings.Contains(string(mentionsOf(answer)), opID) {
			t.Errorf("answer to %s is not an operator-only notice mentioning the operator: %v", cmd, answer.Content.Raw)
		}
		if !strings.Contains(bodyOf(answer), "private conversation with Eve") {
			t.Errorf("answer to %s is not the help text: %q", cmd, bodyOf(answer))
		}
	}
	w.say(t, room, ";; private")
	testpeer.WaitFor(t, wait, func() bool { return hasMessage(t, w, conv, bridge.VisibilityNote, "private") }, "note stored")
	if got := visitorTexts(t, b.engine, v.ID); len(got) != seen {
		t.Fatalf("the visitor saw operator-only content: %q", got[seen:])
	}

	// Operator typing shows in the widget.
	sub := b.engine.Hub().SubscribeVisitor(v.ID)
	if _, err := w.op.UserTyping(ctx, room, true, 10*time.Second); err != nil {
		t.Fatal(err)
	}
	waitTyping(t, sub, "Alice Operator")
	sub.Close()
	// And the visitor typing shows as the bot typing in the room.
	since := w.opSyncToken(t)
	if err := b.engine.Typing(ctx, conv, bridge.FromVisitor, "Eve"); err != nil {
		t.Fatal(err)
	}
	w.waitBotTyping(t, room, since)

	// Restart: what was handled stays handled, what was said meanwhile
	// arrives once.
	b.stop()
	w.say(t, room, "While you were away")
	b = w.start(t)
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: While you were away")
	}, "message sent during the restart reaches the visitor")
	w.say(t, room, "After the restart")
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: After the restart")
	}, "message after the restart reaches the visitor")
	got := visitorTexts(t, b.engine, v.ID)
	for _, s := range []string{"Alice Operator: Hello from Element", "Alice Operator: While you were away", "Eve: @room hi <b>x</b>"} {
		if n := countOf(got, s); n != 1 {
			t.Errorf("visitor sees %q %d times, want once: %q", s, n, got)
		}
	}
	if n := countThreadNotices(t, w, room); n != 2 {
		t.Errorf("%d command answers in the room after the restart, want 2 (no replays)", n)
	}

	// A start without a sync token skips the history.
	b.stop()
	if err := w.store.Update(ctx, func(tx bridge.Tx) error {
		return tx.PutState(stateNamespace, nextBatchKey(id.UserID(w.cfg.UserID)), nil)
	}); err != nil {
		t.Fatal(err)
	}
	b = w.start(t)
	w.say(t, room, "After a fresh start")
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: After a fresh start")
	}, "message after a fresh start reaches the visitor")
	if got := visitorTexts(t, b.engine, v.ID); countOf(got, "Alice Operator: Hello from Element") != 1 || countOf(got, "Alice Operator: After the restart") != 1 {
		t.Errorf("a fresh start replayed history: %q", got)
	}

	// A repeated delivery (same outbox entry) shows the message once.
	msg := bridge.Message{ConversationID: conv, Seq: 999, From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Eve", Text: "retry me"}
	d := bridge.Delivery{
		Entry:        bridge.OutboxEntry{ID: 424242, Destination: "matrix", Kind: bridge.KindMessage, ConversationID: conv, Seq: 999},
		Conversation: bridge.Conversation{ID: conv}, Visitor: v, Message: &msg,
	}
	for i := range 2 {
		if _, err := b.a.Deliver(ctx, d); err != nil {
			t.Fatalf("delivery %d: %v", i+1, err)
		}
	}
	// The homeserver's timeline catches up asynchronously: wait for the
	// message, then check that it is there once.
	w.waitEvent(t, room, "the retried message", func(e *event.Event) bool { return bodyOf(e) == "Eve (visitor): retry me" })
	if n := w.count(t, room, "Eve (visitor): retry me"); n != 1 {
		t.Errorf("a repeated delivery shows the message %d times, want 1", n)
	}

	// When the last operator leaves, the room is told (with a ping).
	w.say(t, room, "!leave")
	waiting := w.waitEvent(t, room, "waiting again", func(e *event.Event) bool { return strings.Contains(bodyOf(e), "Waiting for an operator again") })
	if waiting.Content.Raw["msgtype"] != "m.text" || !strings.Contains(string(mentionsOf(waiting)), opID) {
		t.Errorf("waiting announcement is %v with m.mentions %s, want an m.text mentioning %s", waiting.Content.Raw["msgtype"], mentionsOf(waiting), opID)
	}

	// The end of the chat is announced in the room.
	if err := b.engine.CloseByVisitor(ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	w.waitEvent(t, room, "end of chat", func(e *event.Event) bool { return bodyOf(e) == "The chat has ended." })
	if err := b.a.Health(ctx); err != nil {
		t.Errorf("health: %v", err)
	}
}

// TestEncryptedRoom: a room that becomes encrypted is refused clearly.
func TestEncryptedRoom(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	b := w.start(t)
	_, v, err := b.engine.StartSession(ctx, bridge.SessionInput{Name: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.engine.VisitorMessage(ctx, v.ID, "c1", "hello")
	if err != nil {
		t.Fatal(err)
	}
	room := w.roomOf(t, first.ConversationID)
	w.join(t, room)
	w.waitEvent(t, room, "visitor message", func(e *event.Event) bool { return bodyOf(e) == "Eve (visitor): hello" })

	// Someone with the power to do it (here: the bot's own account in
	// another client) turns encryption on.
	other, err := newClient(w.hs.URL, w.cfg.UserID, w.botToken)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := other.SendStateEvent(ctx, room, event.StateEncryption, "", map[string]any{"algorithm": "m.megolm.v1.aes-sha2"}); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, wait, func() bool { return errors.Is(b.a.Health(ctx), ErrEncrypted) }, "health reports the encrypted room")
	w.waitEvent(t, room, "encryption notice", func(e *event.Event) bool { return strings.Contains(bodyOf(e), "end-to-end encrypted") })

	if _, err := b.engine.VisitorMessage(ctx, v.ID, "c2", "secret stuff"); err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, wait, func() bool { return outboxDepth(t, w) == 0 }, "the refused delivery leaves the outbox")
	if n := w.count(t, room, "Eve (visitor): secret stuff"); n != 0 {
		t.Errorf("message sent into the encrypted room %d times", n)
	}

	// A wrong token is a health failure too.
	bad := w.cfg
	bad.AccessToken = "not-a-token"
	a, err := New(bad, b.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := a.Health(ctx); err == nil {
		t.Error("health with a wrong token: no error")
	}
}

func mentionsOf(e *event.Event) []byte {
	b, _ := json.Marshal(e.Content.Raw["m.mentions"])
	return b
}

func hasMessage(t *testing.T, w *world, conv string, vis bridge.Visibility, text string) bool {
	var found bool
	err := w.store.View(context.Background(), func(tx bridge.Tx) error {
		msgs, err := tx.Messages(conv, 0, 0)
		for _, m := range msgs {
			found = found || (m.Visibility == vis && m.Text == text)
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return found
}

func countThreadNotices(t *testing.T, w *world, room id.RoomID) int {
	n := 0
	for _, e := range w.events(t, room) {
		if threadRootOf(e) != "" && e.Content.Raw[fieldOperatorOnly] == true {
			n++
		}
	}
	return n
}

func outboxDepth(t *testing.T, w *world) int {
	var n int
	err := w.store.View(context.Background(), func(tx bridge.Tx) error {
		d, err := tx.OutboxDepth()
		n = d["matrix"]
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}

func waitTyping(t *testing.T, sub *bridge.Subscription, author string) {
	t.Helper()
	timeout := time.After(wait)
	for {
		select {
		case ev := <-sub.C:
			if ev.Kind == bridge.EventTyping && ev.From == bridge.FromOperator && ev.Author == author {
				return
			}
		case <-timeout:
			t.Fatalf("no typing event from %s", author)
		}
	}
}

// TestHandlingFailureRetried: when the store fails while an operator message
// is handled, the sync token is not advanced and the message is handled
// again later, once.
func TestHandlingFailureRetried(t *testing.T) {
	w := newWorld(t)
	ctx := context.Background()
	b := w.start(t)
	_, v, err := b.engine.StartSession(ctx, bridge.SessionInput{Name: "Eve"})
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.engine.VisitorMessage(ctx, v.ID, "c1", "hello")
	if err != nil {
		t.Fatal(err)
	}
	room := w.roomOf(t, first.ConversationID)
	w.join(t, room)
	w.waitEvent(t, room, "visitor message", func(e *event.Event) bool { return bodyOf(e) == "Eve (visitor): hello" })

	testpeer.WaitFor(t, wait, func() bool { return outboxDepth(t, w) == 0 }, "outbox empty")
	// The next write is the handling of the operator's message: it fails.
	// Were the sync token saved anyway, the message would be lost.
	w.store.fail.Store(1)
	w.say(t, room, "Sent while the store fails")
	testpeer.WaitFor(t, wait, func() bool {
		b.a.mu.Lock()
		defer b.a.mu.Unlock()
		return errors.Is(b.a.syncErr, errStoreDown)
	}, "the failed handling stops the sync")
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: Sent while the store fails")
	}, "the message is handled after the store recovers")
	w.say(t, room, "And then")
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: And then")
	}, "later messages flow")
	if n := countOf(visitorTexts(t, b.engine, v.ID), "Alice Operator: Sent while the store fails"); n != 1 {
		t.Errorf("the retried message reached the visitor %d times, want 1", n)
	}
	if err := b.a.Health(ctx); err != nil {
		t.Errorf("health after recovery: %v", err)
	}
}
