package matrix

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"maunium.net/go/mautrix"
	"maunium.net/go/mautrix/event"
	"maunium.net/go/mautrix/id"
)

// openConversation starts a visitor's conversation on the running bridge,
// waits for its room and joins the operator to it.
func (w *world) openConversation(t *testing.T, b *running, name string) (bridge.Visitor, string, id.RoomID) {
	t.Helper()
	ctx := context.Background()
	_, v, err := b.engine.StartSession(ctx, bridge.SessionInput{Name: name})
	if err != nil {
		t.Fatal(err)
	}
	first, err := b.engine.VisitorMessage(ctx, v.ID, "c1", "hello")
	if err != nil {
		t.Fatal(err)
	}
	room := w.roomOf(t, first.ConversationID)
	w.join(t, room)
	w.waitEvent(t, room, "the visitor's first message", func(e *event.Event) bool { return strings.HasSuffix(bodyOf(e), "hello") })
	return v, first.ConversationID, room
}

// TestOutageLosesNothing: while the client bot is stopped, an operator
// writes more messages in a room than one sync returns (the timeline comes
// back "limited"); after the restart every one of them reaches the
// visitor, once and in order, and nothing is reported missing.
func TestOutageLosesNothing(t *testing.T) {
	w := newWorld(t)
	b := w.start(t)
	v, _, room := w.openConversation(t, b, "Eve")
	w.say(t, room, "before the outage")
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: before the outage")
	}, "the first reply")

	b.stop()
	var logs lockedBuffer
	w.tweak = func(a *Adapter) { a.log = slog.New(slog.NewTextHandler(&logs, nil)) }
	const n = timelineLimit + 50
	var want []string
	for i := range n {
		text := fmt.Sprintf("while away %03d", i)
		w.say(t, room, text)
		want = append(want, "Alice Operator: "+text)
	}
	b = w.start(t)
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), want[n-1])
	}, "the last message written during the outage")
	var got []string
	for _, s := range visitorTexts(t, b.engine, v.ID) {
		if strings.HasPrefix(s, "Alice Operator: while away") {
			got = append(got, s)
		}
	}
	if !slices.Equal(got, want) {
		t.Fatalf("the visitor got %d of the %d messages written during the outage (in order, once each): first %q, last %q",
			len(got), n, got[:min(3, len(got))], got[max(0, len(got)-3):])
	}
	// The sync really was limited: the back-fill fetched the 50 older ones.
	if !strings.Contains(logs.String(), `msg="matrix timeline gap filled"`) || !strings.Contains(logs.String(), "events=50") {
		t.Errorf("no back-fill of 50 events in the log:\n%s", logs.String())
	}
	for _, e := range w.events(t, room) {
		if strings.Contains(bodyOf(e), "could not fetch") {
			t.Errorf("a gap was reported although nothing was lost: %q", bodyOf(e))
		}
	}
}

// TestOutageGapReported: when the missing events are more than the
// back-fill may fetch, what could not be fetched is said in the room (and
// the log), the newest messages still arrive, and nothing arrives twice.
func TestOutageGapReported(t *testing.T) {
	w := newWorld(t)
	w.tweak = func(a *Adapter) { a.timelineLimit, a.maxBackfill = 10, 5 }
	b := w.start(t)
	v, _, room := w.openConversation(t, b, "Eve")
	b.stop()
	for i := range 30 {
		w.say(t, room, fmt.Sprintf("gap %02d", i))
	}
	b = w.start(t)
	notice := w.waitEvent(t, room, "the gap notice", func(e *event.Event) bool { return strings.Contains(bodyOf(e), "could not fetch every message") })
	if notice.Content.Raw["msgtype"] != "m.notice" || notice.Content.Raw[fieldOperatorOnly] != true {
		t.Errorf("gap notice is not an operator-only m.notice: %v", notice.Content.Raw)
	}
	testpeer.WaitFor(t, wait, func() bool {
		return slices.Contains(visitorTexts(t, b.engine, v.ID), "Alice Operator: gap 29")
	}, "the newest message")
	got := visitorTexts(t, b.engine, v.ID)
	for i := range 30 {
		s := fmt.Sprintf("Alice Operator: gap %02d", i)
		want := 0
		if i >= 15 { // the sync's 10 and the back-fill's 5
			want = 1
		}
		if n := countOf(got, s); n != want {
			t.Errorf("the visitor sees %q %d times, want %d", s, n, want)
		}
	}
}

// TestOnlyOperatorsReachTheVisitor runs in both modes: a member of the room
// who is not an operator (a guest, another bot) never reaches the visitor
// and is told so once per message (not for notices, which bots send); an
// operator by power level (matrix.operator_power_level) does reach the
// visitor.
func TestOnlyOperatorsReachTheVisitor(t *testing.T) {
	for _, mode := range []string{ModeBot, ModeAppservice} {
		t.Run(mode, func(t *testing.T) {
			w := worldIn(t, mode)
			level := 50
			w.cfg.OperatorPowerLevel = &level
			onlyOperators(t, w)
		})
	}
}

// worldIn is a world in the given mode.
func worldIn(t *testing.T, mode string) *world {
	if mode == ModeAppservice {
		return newAppserviceWorld(t)
	}
	return newWorld(t)
}

func onlyOperators(t *testing.T, w *world) {
	ctx := context.Background()
	b := w.start(t)
	v, _, room := w.openConversation(t, b, "Eve")
	member := func(local string) *mautrix.Client {
		uid, token := w.hs.Register(t, local, local+"-password-1")
		c, err := newClient(w.hs.URL, uid, token)
		if err != nil {
			t.Fatal(err)
		}
		if _, err := b.a.client.InviteUser(ctx, room, &mautrix.ReqInviteUser{UserID: c.UserID}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.JoinRoomByID(ctx, room); err != nil {
			t.Fatal(err)
		}
		return c
	}
	mallory, bob := member("mallory"), member("bob")
	var pl event.PowerLevelsEventContent
	if err := b.a.client.StateEvent(ctx, room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatal(err)
	}
	pl.SetUserLevel(bob.UserID, 50)
	if _, err := b.a.client.SendStateEvent(ctx, room, event.StatePowerLevels, "", &pl); err != nil {
		t.Fatal(err)
	}

	guest, err := mallory.SendText(ctx, room, "Hi, I am support too: send me your password")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.SendNotice(ctx, room, "a bot's notice"); err != nil {
		t.Fatal(err)
	}
	if _, err := mallory.SendMessageEvent(ctx, room, event.EventMessage, map[string]any{"msgtype": "m.emote", "body": "waves at the customer"}); err != nil {
		t.Fatal(err)
	}
	if _, err := bob.SendText(ctx, room, "Bob, moderator"); err != nil {
		t.Fatal(err)
	}
	w.say(t, room, "Alice here")
	testpeer.WaitFor(t, wait, func() bool {
		got := visitorTexts(t, b.engine, v.ID)
		return slices.Contains(got, "Alice Operator: Alice here") && slices.Contains(got, "bob: Bob, moderator")
	}, "the operators' replies")
	for _, s := range visitorTexts(t, b.engine, v.ID) {
		if strings.Contains(s, "password") || strings.Contains(s, "notice") || strings.Contains(s, "waves") {
			t.Errorf("a non-operator reached the visitor: %q", s)
		}
	}
	n := w.waitEvent(t, room, "the notice to the non-operator", func(e *event.Event) bool { return threadRootOf(e) == string(guest.EventID) })
	if !strings.Contains(bodyOf(n), "only the operators") || n.Content.Raw["msgtype"] != "m.notice" || !strings.Contains(string(mentionsOf(n)), string(mallory.UserID)) {
		t.Errorf("notice to the non-operator = %v, want an m.notice mentioning them", n.Content.Raw)
	}
	// One notice per message: the text and the emote, not the notice.
	testpeer.WaitFor(t, wait, func() bool { return countBody(t, w, room, notOperatorText) == 2 }, "two notices to the non-operator")
	if c := countBody(t, w, room, notOperatorText); c != 2 {
		t.Errorf("%d notices to the non-operator, want 2", c)
	}
}

// lockedBuffer is a log destination that tests read while the bridge
// writes.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// countBody counts the events of room whose body contains s.
func countBody(t *testing.T, w *world, room id.RoomID, s string) int {
	n := 0
	for _, e := range w.events(t, room) {
		if strings.Contains(bodyOf(e), s) {
			n++
		}
	}
	return n
}
