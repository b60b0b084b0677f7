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
	u.engine.AddWhisperer(adapterName, rec)
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
