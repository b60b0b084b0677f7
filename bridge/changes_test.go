package bridge_test

import (
	"context"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// commandsLike is an interceptor that treats "!" and ";;" like the real
// router: commands answer in a whisper, notes stay notes, the rest is
// relayed.
var commandsLike = interceptFunc(func(_ context.Context, in bridge.OperatorInput, _ bridge.Conversation) (bridge.Outcome, error) {
	switch {
	case strings.HasPrefix(in.Text, "!"):
		return bridge.Outcome{Whisper: "result of " + in.Text}, nil
	case strings.HasPrefix(in.Text, ";;"):
		return bridge.Outcome{Note: strings.TrimPrefix(in.Text, ";;")}, nil
	}
	return bridge.Outcome{Relay: in.Text}, nil
})

func testFile(name string) *bridge.Attachment {
	return &bridge.Attachment{Key: bridge.BlobKey(strings.Repeat("ab", 32)), Name: name, Type: "image/png", Size: 1234, Width: 10, Height: 20, SHA256: strings.Repeat("ab", 32)}
}

// An operator edits and deletes a reply on their platform: the visitor's
// copy changes (a client that saw an older revision gets it again), the
// numbering does not, an edit that would turn the reply into a command or
// a note is refused, and changes of what the visitor never saw get a notice.
func TestOperatorEditAndDelete(t *testing.T) {
	ctx := context.Background()
	other := newFakeDest("other")
	other.wants = map[bridge.OutboxKind]bool{bridge.KindEdited: true, bridge.KindDeleted: true}
	e := newEnv(t, commandsLike, other)
	v := e.visitor("Ann")
	first := e.say(v, "1", "hi")
	conv := first.ConversationID
	op := bridge.Operator{Adapter: "slack", ID: "U1", Name: "Al"}
	send := func(in bridge.OperatorInput) {
		t.Helper()
		in.ConversationID, in.Operator = conv, op
		if err := e.engine.HandleOperator(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	send(bridge.OperatorInput{EventID: "ev1", PlatformID: "C1:100.1", Text: "Your order ships tomorow"})
	send(bridge.OperatorInput{EventID: "ev2", PlatformID: "C1:100.2", Text: "!help"})
	before, _ := e.engine.VisitorUpdates(ctx, v.ID, bridge.VisitorQuery{})
	if len(before.Messages) != 2 {
		t.Fatalf("visitor sees %+v", before.Messages)
	}
	seen := before.Conversation.LastRevision

	send(bridge.OperatorInput{EventID: "ev3", Edits: "C1:100.1", Text: "Your order ships tomorrow"})
	send(bridge.OperatorInput{EventID: "ev3", Edits: "C1:100.1", Text: "Your order ships tomorrow"}) // a repeat
	send(bridge.OperatorInput{EventID: "ev4", Edits: "C1:100.1", Text: "!close"})
	send(bridge.OperatorInput{EventID: "ev5", Edits: "C1:100.1", Text: ";; private after all"})
	send(bridge.OperatorInput{EventID: "ev6", Edits: "C1:100.2", Text: "!history"})
	// Another operator cannot edit Al's reply.
	if err := e.engine.HandleOperator(ctx, bridge.OperatorInput{ConversationID: conv, Operator: bridge.Operator{Adapter: "slack", ID: "U2", Name: "Bo"},
		EventID: "ev6b", Edits: "C1:100.1", Text: "Bo was here"}); err != nil {
		t.Fatal(err)
	}
	if c, _ := e.engine.Conversation(ctx, conv); c.Preview != "Your order ships tomorrow" {
		t.Errorf("list preview after the edit: %q", c.Preview)
	}

	upd, err := e.engine.VisitorUpdates(ctx, v.ID, bridge.VisitorQuery{After: 2, Revision: seen})
	if err != nil {
		t.Fatal(err)
	}
	if len(upd.Messages) != 1 || upd.Messages[0].Text != "Your order ships tomorrow" || upd.Messages[0].EditedAt.IsZero() ||
		upd.Messages[0].PublicSeq != 2 {
		t.Fatalf("updates since revision %d: %+v", seen, upd.Messages)
	}
	if n, _ := e.engine.VisitorUpdates(ctx, v.ID, bridge.VisitorQuery{After: 2, Revision: upd.Conversation.LastRevision}); len(n.Messages) != 0 {
		t.Fatalf("nothing changed since, yet %+v", n.Messages)
	}
	var notices []string
	for _, m := range e.messages(conv) {
		if m.Visibility == bridge.VisibilityWhisper {
			notices = append(notices, m.Text)
		}
	}
	joined := strings.Join(notices, "\n")
	for _, want := range []string{"Not edited for the visitor: the new text is a command or a note", "never saw the message you edited"} {
		if !strings.Contains(joined, want) {
			t.Errorf("whispers lack %q:\n%s", want, joined)
		}
	}
	if c := strings.Count(joined, "Not edited for the visitor"); c != 3 {
		t.Errorf("%d refusals, want 3 (!close, ;; and another operator's):\n%s", c, joined)
	}
	if !strings.Contains(joined, "only the operator who wrote a reply can edit it") {
		t.Errorf("whispers lack the refusal of another operator's edit:\n%s", joined)
	}

	send(bridge.OperatorInput{EventID: "ev7", Deletes: "C1:100.1"})
	if c, _ := e.engine.Conversation(ctx, conv); strings.Contains(c.Preview, "tomorrow") {
		t.Errorf("list preview after the deletion: %q", c.Preview)
	}
	view, _ := e.engine.VisitorMessages(ctx, v.ID, "", 0, 0)
	if len(view.Messages) != 2 || !view.Messages[1].Deleted || view.Messages[1].Text != "" || view.Messages[1].PublicSeq != 2 {
		t.Fatalf("after the deletion the visitor sees %+v", view.Messages)
	}
	e.say(v, "2", "ok")
	view, _ = e.engine.VisitorMessages(ctx, v.ID, "", 0, 0)
	if got := view.Messages[len(view.Messages)-1]; got.PublicSeq != 3 {
		t.Fatalf("the numbering moved: the next message is %d", got.PublicSeq)
	}
	fixture.WaitFor(t, "the edit and the deletion on the other platform", func() bool {
		other.mu.Lock()
		defer other.mu.Unlock()
		kinds := map[bridge.OutboxKind]int{}
		for _, d := range other.delivered {
			kinds[d.Entry.Kind]++
		}
		return kinds[bridge.KindEdited] == 1 && kinds[bridge.KindDeleted] == 1
	})
}

// A file reaches the visitor with its caption or alone; a file whose
// caption is a command or a note stays with the operators; emotes are
// marked; a visitor's file is stored with its message.
func TestFilesAndEmotes(t *testing.T) {
	ctx := context.Background()
	e := newEnv(t, commandsLike)
	v := e.visitor("Ann")
	m := e.say(v, "1", "hi")
	op := bridge.Operator{Adapter: "matrix", ID: "@al:x", Name: "Al"}
	for i, in := range []bridge.OperatorInput{
		{Text: "", File: testFile("invoice.png")},
		{Text: "here is the manual", File: testFile("manual.png")},
		{Text: "!lead x", File: testFile("secret.png")},
		{Text: "waves", Emote: true},
	} {
		in.EventID, in.ConversationID, in.Operator = "ev"+string(rune('a'+i)), m.ConversationID, op
		if err := e.engine.HandleOperator(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	view, _ := e.engine.VisitorMessages(ctx, v.ID, "", 1, 0)
	if len(view.Messages) != 3 {
		t.Fatalf("visitor sees %+v", view.Messages)
	}
	if f := view.Messages[0].File; f == nil || f.Name != "invoice.png" || view.Messages[0].Text != "" {
		t.Errorf("file alone: %+v", view.Messages[0])
	}
	if f := view.Messages[1].File; f == nil || view.Messages[1].Text != "here is the manual" {
		t.Errorf("file with caption: %+v", view.Messages[1])
	}
	if !view.Messages[2].Emote || view.Messages[2].Text != "waves" {
		t.Errorf("emote: %+v", view.Messages[2])
	}
	found := false
	for _, x := range e.messages(m.ConversationID) {
		found = found || (x.Visibility == bridge.VisibilityWhisper && strings.Contains(x.Text, "secret.png was not sent to the visitor"))
	}
	if !found {
		t.Error("no whisper about the file kept back")
	}

	vm, err := e.engine.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: "f1", File: testFile("screenshot.png")})
	if err != nil {
		t.Fatal(err)
	}
	again, _ := e.engine.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: "f1", File: testFile("screenshot.png")})
	if vm.File == nil || again.Seq != vm.Seq {
		t.Fatalf("visitor file %+v, retry %+v", vm, again)
	}
	if _, err := e.engine.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: "f2", File: &bridge.Attachment{Key: "../etc/passwd", Name: "x", Type: "text/plain", Size: 1}}); err == nil {
		t.Fatal("a file with a bad key was accepted")
	}
	c, _ := e.engine.Conversation(ctx, m.ConversationID)
	if c.Preview != "📎 screenshot.png" {
		t.Errorf("preview %q", c.Preview)
	}
}
