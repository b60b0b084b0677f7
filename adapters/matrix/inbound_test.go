package matrix

import (
	"context"
	"slices"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// TestRefusedReplyWhispered: a reply the engine refuses as invalid (over
// max_message_bytes) is not silently dropped: the operator is told.
func TestRefusedReplyWhispered(t *testing.T) {
	u := newUnit(t, bridge.Config{MaxMessageBytes: 20}, nil)
	rec := &recordingWhisperer{}
	if err := u.engine.Register(rec); err != nil {
		t.Fatal(err)
	}
	c, v := u.conversation(t)
	room := id.RoomID("!room:x")
	u.withRoom(t, c.ID, room)
	u.a.names[room] = map[id.UserID]string{"@alice:x": "Alice"}

	long := strings.Repeat("x", 30)
	evt := &event.Event{ID: "$long", RoomID: room, Sender: "@alice:x", Type: event.EventMessage,
		Content: event.Content{Parsed: &event.MessageEventContent{MsgType: event.MsgText, Body: long}}}
	if err := u.a.onMessage(context.Background(), evt); err != nil {
		t.Fatalf("onMessage: %v", err)
	}
	got := rec.texts()
	if len(got) != 1 || !strings.HasPrefix(got[0], "Not sent to the visitor: ") || !strings.Contains(got[0], "limit is 20") {
		t.Fatalf("whispers = %q, want one \"Not sent to the visitor: …limit is 20\"", got)
	}
	if rec.ws[0].Operator.ID != "@alice:x" || rec.ws[0].InReplyTo != "$long" {
		t.Errorf("whisper to %q in reply to %q, want @alice:x, $long", rec.ws[0].Operator.ID, rec.ws[0].InReplyTo)
	}
	view, err := u.engine.VisitorMessages(context.Background(), v.ID, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if slices.ContainsFunc(view.Messages, func(m bridge.Message) bool {
		return strings.Contains(m.Text, long) || strings.Contains(m.Text, "Not sent")
	}) {
		t.Errorf("the visitor sees the refused reply or the whisper: %+v", view.Messages)
	}
}

// TestForwardTyping: operators typing in the room is shown to the visitor
// unless Config.ForwardTyping is false.
func TestForwardTyping(t *testing.T) {
	no := false
	yes := true
	tests := []struct {
		name    string
		forward *bool
		want    bool
	}{
		{"default", nil, true},
		{"on", &yes, true},
		{"off", &no, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			u := newUnit(t, bridge.Config{}, nil)
			u.a.cfg.ForwardTyping = tt.forward
			c, _ := u.conversation(t)
			room := id.RoomID("!room:x")
			u.withRoom(t, c.ID, room)
			u.a.names[room] = map[id.UserID]string{"@alice:x": "Alice"}
			sub := u.engine.Hub().SubscribeAll()
			defer sub.Close()
			evt := &event.Event{RoomID: room, Type: event.EphemeralEventTyping,
				Content: event.Content{Parsed: &event.TypingEventContent{UserIDs: []id.UserID{"@alice:x"}}}}
			if err := u.a.onTyping(context.Background(), evt); err != nil {
				t.Fatal(err)
			}
			got := false // Publish is synchronous: the event is here by now
		drain:
			for {
				select {
				case ev := <-sub.C:
					got = got || ev.Kind == bridge.EventTyping && ev.From == bridge.FromOperator && ev.Author == "Alice"
				default:
					break drain
				}
			}
			if got != tt.want {
				t.Errorf("typing shown to the visitor = %v, want %v", got, tt.want)
			}
		})
	}
}
