package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// fakeDest records deliveries and fails on demand.
type fakeDest struct {
	name string
	// wants are the kinds it takes (nil: every kind).
	wants map[bridge.OutboxKind]bool
	mu    sync.Mutex
	// fail decides whether a delivery fails (nil: never).
	fail      func(d bridge.Delivery) error
	delivered []bridge.Delivery
	attempts  int
	notify    chan struct{}
}

func newFakeDest(name string) *fakeDest {
	return &fakeDest{name: name, notify: make(chan struct{}, 1000)}
}

func (f *fakeDest) Name() string                   { return f.name }
func (f *fakeDest) Wants(k bridge.OutboxKind) bool { return f.wants == nil || f.wants[k] }
func (f *fakeDest) Deliver(_ context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.fail != nil {
		if err := f.fail(d); err != nil {
			return bridge.Receipt{}, err
		}
	}
	f.delivered = append(f.delivered, d)
	select {
	case f.notify <- struct{}{}:
	default:
	}
	return bridge.Receipt{}, nil
}

func (f *fakeDest) messages() []string {
	f.mu.Lock()
	defer f.mu.Unlock()
	var out []string
	for _, d := range f.delivered {
		if d.Message != nil {
			out = append(out, d.Message.Text)
		}
	}
	return out
}

type env struct {
	t      *testing.T
	engine *bridge.Engine
}

// newEnv runs an engine with the components registered.
func newEnv(t *testing.T, components ...any) *env {
	t.Helper()
	return &env{t: t, engine: fixture.Engine(t, fixture.Options{Components: components})}
}

// messages reads every message of a conversation.
func (e *env) messages(convID string) []bridge.Message {
	e.t.Helper()
	msgs, err := e.engine.Messages(context.Background(), convID, 0, 0)
	if err != nil {
		e.t.Fatal(err)
	}
	return msgs
}

func (e *env) visitor(name string) bridge.Visitor {
	e.t.Helper()
	_, v, err := e.engine.StartSession(context.Background(), bridge.SessionInput{Name: name})
	if err != nil {
		e.t.Fatal(err)
	}
	return v
}

func (e *env) say(v bridge.Visitor, id, text string) bridge.Message {
	e.t.Helper()
	m, err := e.engine.VisitorMessage(context.Background(), v.ID, id, text)
	if err != nil {
		e.t.Fatal(err)
	}
	return m
}

func TestVisitorMessageIdempotent(t *testing.T) {
	e := newEnv(t)
	v := e.visitor("Ann")
	m1 := e.say(v, "a", "hello")
	m2 := e.say(v, "a", "hello again, retried")
	if m1.Seq != m2.Seq || m1.ConversationID != m2.ConversationID || m2.Text != "hello" {
		t.Fatalf("retry created a new message: %+v vs %+v", m1, m2)
	}
	view, err := e.engine.VisitorMessages(context.Background(), v.ID, "", 0, 0)
	if err != nil || len(view.Messages) != 1 {
		t.Fatalf("want 1 message, got %d (%v)", len(view.Messages), err)
	}
}

func TestCheckText(t *testing.T) {
	for _, tc := range []struct {
		name, in string
		tooLarge bool
	}{
		{"invalid utf8", "a\xffb", false},
		{"nul", "a\x00b", false},
		{"blank", " \n\t ", false},
		{"too large", strings.Repeat("x", 11), true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, err := bridge.CheckText(tc.in, 10)
			if !errors.Is(err, bridge.ErrInvalid) {
				t.Fatalf("err = %v, want ErrInvalid", err)
			}
			if errors.Is(err, bridge.ErrTooLarge) != tc.tooLarge {
				t.Fatalf("ErrTooLarge = %v, want %v", errors.Is(err, bridge.ErrTooLarge), tc.tooLarge)
			}
		})
	}
	if got, err := bridge.CheckText("  hi  ", 10); err != nil || got != "hi" {
		t.Fatalf("CheckText trims: %q %v", got, err)
	}
}

// A failing delivery blocks the later entries of its conversation only, and
// everything arrives in order once it recovers.
func TestOutboxOrderAndRetry(t *testing.T) {
	d := newFakeDest("fake")
	var (
		failA    atomic.Int32 // A's deliveries still to fail
		bArrived atomic.Bool
	)
	failA.Store(3)
	// A's deliveries fail three times, and keep failing until B's message
	// is through: B must not wait behind A's retries, however the machine
	// schedules the test.
	d.fail = func(del bridge.Delivery) error {
		if del.Message != nil && del.Message.Text == "b-one" {
			bArrived.Store(true)
		}
		if del.Visitor.Name == "A" && (failA.Add(-1) >= 0 || !bArrived.Load()) {
			return errors.New("platform down")
		}
		return nil
	}
	e := newEnv(t, d)
	a, b := e.visitor("A"), e.visitor("B")
	e.say(a, "a1", "a-one")
	e.say(a, "a2", "a-two")
	e.say(b, "b1", "b-one")
	e.say(a, "a3", "a-three")
	fixture.WaitFor(t, "all delivered", func() bool { return len(d.messages()) == 4 })
	var gotA []string
	for _, m := range d.messages() {
		if strings.HasPrefix(m, "a-") {
			gotA = append(gotA, m)
		}
	}
	if strings.Join(gotA, ",") != "a-one,a-two,a-three" {
		t.Fatalf("conversation A out of order: %v", gotA)
	}
	if msgs := d.messages(); msgs[0] != "b-one" {
		t.Errorf("B should not wait for A's retries: %v", msgs)
	}
	if failA.Load() > -1 {
		t.Errorf("A's deliveries failed %d times, want 3", 3-failA.Load())
	}
	fixture.WaitFor(t, "outbox empty", func() bool {
		st, _ := e.engine.OutboxStats(context.Background())
		return st.Depth["fake"] == 0
	})
}

// An entry a destination refuses for good becomes a dead letter: it no
// longer holds back its conversation, the operators on the other platforms
// are told (not the refusing one), and it can be retried or dropped.
func TestPermanentErrorMakesADeadLetter(t *testing.T) {
	var refuse atomic.Bool
	refuse.Store(true)
	d := newFakeDest("fake")
	d.fail = func(del bridge.Delivery) error {
		if del.Message != nil && del.Message.Text == "poison" && refuse.Load() {
			return fmt.Errorf("rejected: %w", bridge.ErrPermanent)
		}
		return nil
	}
	other := newFakeDest("other")
	e := newEnv(t, d, other)
	ctx := context.Background()
	v := e.visitor("A")
	e.say(v, "1", "poison")
	e.say(v, "2", "fine")
	fixture.WaitFor(t, "the later message delivered", func() bool { return slices.Contains(d.messages(), "fine") })
	if got := d.messages(); slices.Contains(got, "poison") {
		t.Fatalf("the refused message counted as delivered: %v", got)
	}
	var dead []bridge.OutboxEntry
	fixture.WaitFor(t, "the dead letter", func() bool {
		dead, _ = e.engine.DeadLetters(ctx, "", 0)
		return len(dead) == 1
	})
	if dead[0].Destination != "fake" || !strings.Contains(dead[0].LastError, "rejected") || dead[0].DeadAt.IsZero() {
		t.Fatalf("dead letter %+v", dead[0])
	}
	// Every platform is told, the refusing one too: it refused one message,
	// and on a one-platform install its operators are the only ones to tell.
	for _, dest := range []*fakeDest{other, d} {
		fixture.WaitFor(t, "the notice on "+dest.name, func() bool {
			for _, m := range dest.messages() {
				if strings.Contains(m, "Could not deliver") && strings.Contains(m, "to fake") {
					return true
				}
			}
			return false
		})
	}
	st, _ := e.engine.OutboxStats(ctx)
	if st.Dead["fake"] != 1 {
		t.Fatalf("stats %+v", st)
	}
	// Retried once the destination accepts it again: delivered.
	refuse.Store(false)
	if _, err := e.engine.RetryDeadLetter(ctx, dead[0].ID); err != nil {
		t.Fatal(err)
	}
	fixture.WaitFor(t, "the retried letter delivered", func() bool { return slices.Contains(d.messages(), "poison") })
	if got, _ := e.engine.DeadLetters(ctx, "", 0); len(got) != 0 {
		t.Fatalf("dead letters after the retry: %+v", got)
	}
	if _, err := e.engine.RetryDeadLetter(ctx, dead[0].ID); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("retrying it again: %v", err)
	}
	// Dropped for good.
	refuse.Store(true)
	e.say(v, "3", "poison")
	fixture.WaitFor(t, "a second dead letter", func() bool {
		dead, _ = e.engine.DeadLetters(ctx, "fake", 0)
		return len(dead) == 1
	})
	if _, err := e.engine.DropDeadLetter(ctx, dead[0].ID); err != nil {
		t.Fatal(err)
	}
	if got, _ := e.engine.DeadLetters(ctx, "", 0); len(got) != 0 {
		t.Fatalf("dead letters after the drop: %+v", got)
	}
}

// A notice about a dead letter that is refused too becomes a dead letter
// itself, and there it stops: no notice about the notice.
func TestDeadLetterNoticeRefusedStops(t *testing.T) {
	d := newFakeDest("fake")
	d.fail = func(bridge.Delivery) error { return fmt.Errorf("no: %w", bridge.ErrPermanent) }
	e := newEnv(t, d)
	ctx := context.Background()
	v := e.visitor("A")
	e.say(v, "1", "poison")
	e.say(v, "2", "after")
	// The opening, two messages, and one notice for each of them.
	fixture.WaitFor(t, "every entry dead", func() bool {
		dead, _ := e.engine.DeadLetters(ctx, "", 0)
		return len(dead) >= 6
	})
	time.Sleep(200 * time.Millisecond) // a notice of a notice would come now
	dead, _ := e.engine.DeadLetters(ctx, "", 0)
	msgs, err := e.engine.Messages(ctx, dead[0].ConversationID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	notices := 0
	for _, m := range msgs {
		if m.System != nil && m.System.Kind == bridge.SystemDeadLetter {
			notices++
		}
	}
	if len(dead) != 6 || notices != 3 {
		t.Fatalf("%d dead letters (%d notices), want 6 (3)", len(dead), notices)
	}
}

// An entry that keeps failing longer than GiveUpAfter becomes a dead
// letter instead of holding back its conversation for ever.
func TestGiveUpAfter(t *testing.T) {
	d := newFakeDest("fake")
	d.fail = func(del bridge.Delivery) error {
		if del.Message != nil && del.Message.Text == "stuck" {
			return errors.New("503 unavailable")
		}
		return nil
	}
	eng := fixture.Engine(t, fixture.Options{Components: []any{d}, Config: bridge.Config{GiveUpAfter: 100 * time.Millisecond}})
	e := &env{t: t, engine: eng}
	v := e.visitor("A")
	e.say(v, "1", "stuck")
	e.say(v, "2", "after")
	fixture.WaitFor(t, "the later message delivered once the first one was given up", func() bool { return slices.Contains(d.messages(), "after") })
	dead, _ := eng.DeadLetters(context.Background(), "fake", 0)
	if len(dead) != 1 || dead[0].Attempts < 2 || !strings.Contains(dead[0].LastError, "503") {
		t.Fatalf("dead letters %+v", dead)
	}
}

// Operator-only output never reaches the visitor's view.
func TestVisitorSeesOnlyPublic(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := e.visitor("Ann")
	m := e.say(v, "1", "hi")
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	if _, err := e.engine.AddNote(ctx, m.ConversationID, op, "secret note", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.engine.Whisper(ctx, m.ConversationID, op, "secret whisper", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.Reply(ctx, m.ConversationID, op, "public reply", ""); err != nil {
		t.Fatal(err)
	}
	view, err := e.engine.VisitorMessages(ctx, v.ID, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var texts []string
	for _, m := range view.Messages {
		texts = append(texts, m.Text)
	}
	if strings.Join(texts, "|") != "hi|public reply" {
		t.Fatalf("visitor sees %q", texts)
	}
}

type interceptFunc func(ctx context.Context, in bridge.OperatorInput, c bridge.Conversation) (bridge.Outcome, error)

func (f interceptFunc) Intercept(ctx context.Context, in bridge.OperatorInput, c bridge.Conversation) (bridge.Outcome, error) {
	return f(ctx, in, c)
}

func TestHandleOperatorDedupAndOutcome(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := e.visitor("Ann")
	m := e.say(v, "1", "hi")
	e.engine.Register(interceptFunc(func(_ context.Context, in bridge.OperatorInput, _ bridge.Conversation) (bridge.Outcome, error) {
		if strings.HasPrefix(in.Text, "!") {
			return bridge.Outcome{Whisper: "result of " + in.Text}, nil
		}
		return bridge.Outcome{Relay: in.Text}, nil
	}))
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	for _, in := range []bridge.OperatorInput{
		{EventID: "e1", Text: "hello there"},
		{EventID: "e1", Text: "hello there"}, // platform retry
		{EventID: "e2", Text: "!history"},
	} {
		in.ConversationID, in.Operator = m.ConversationID, op
		if err := e.engine.HandleOperator(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	view, _ := e.engine.VisitorMessages(ctx, v.ID, "", 0, 0)
	if len(view.Messages) != 2 || view.Messages[1].Text != "hello there" || view.Messages[1].Author != "Alice" {
		t.Fatalf("visitor view: %+v", view.Messages)
	}
	var whispers []bridge.Message
	for _, x := range e.messages(m.ConversationID) {
		if x.Visibility == bridge.VisibilityWhisper {
			whispers = append(whispers, x)
		}
	}
	if len(whispers) != 1 || whispers[0].Recipient != op.Key() || !whispers[0].VisibleTo("inbox:alice") || whispers[0].VisibleTo("inbox:bob") {
		t.Fatalf("whispers: %+v", whispers)
	}
}

func TestCloseAndNewConversation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := e.visitor("Ann")
	m1 := e.say(v, "1", "first chat")
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	if err := e.engine.Close(ctx, m1.ConversationID, op); err != nil {
		t.Fatal(err)
	}
	view, _ := e.engine.VisitorMessages(ctx, v.ID, m1.ConversationID, 1, 0)
	if view.Conversation.Status != bridge.StatusClosed || len(view.Messages) != 1 || view.Messages[0].From != bridge.FromSystem {
		t.Fatalf("after close: %+v", view)
	}
	if _, err := e.engine.Reply(ctx, m1.ConversationID, op, "late", ""); !errors.Is(err, bridge.ErrClosed) {
		t.Fatalf("reply to closed: %v", err)
	}
	m2 := e.say(v, "2", "second chat")
	if m2.ConversationID == m1.ConversationID || m2.Seq != 1 {
		t.Fatalf("new conversation expected: %+v", m2)
	}
	// A client still on the old conversation gets the new one from the start.
	view, _ = e.engine.VisitorMessages(ctx, v.ID, m1.ConversationID, 2, 0)
	if view.Conversation.ID != m2.ConversationID || len(view.Messages) != 1 {
		t.Fatalf("catch-up view: %+v", view)
	}
}

func TestLeaveAnnouncesWaiting(t *testing.T) {
	d := newFakeDest("fake")
	e := newEnv(t, d)
	ctx := context.Background()
	v := e.visitor("Ann")
	m := e.say(v, "1", "hi")
	alice := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	bob := bridge.Operator{Adapter: "inbox", ID: "bob", Name: "Bob"}
	for _, op := range []bridge.Operator{alice, bob} {
		if _, err := e.engine.Reply(ctx, m.ConversationID, op, "hello from "+op.Name, ""); err != nil {
			t.Fatal(err)
		}
	}
	still, err := e.engine.Leave(ctx, m.ConversationID, alice)
	if err != nil || !still {
		t.Fatalf("leave alice: still=%v err=%v", still, err)
	}
	still, err = e.engine.Leave(ctx, m.ConversationID, bob)
	if err != nil || still {
		t.Fatalf("leave bob: still=%v err=%v", still, err)
	}
	fixture.WaitFor(t, "waiting announcement", func() bool {
		d.mu.Lock()
		defer d.mu.Unlock()
		for _, x := range d.delivered {
			if x.Entry.Kind == bridge.KindWaiting {
				return true
			}
		}
		return false
	})
}

func TestTranscript(t *testing.T) {
	msgs := []bridge.Message{
		{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Ann", Text: "my order"},
		{From: bridge.FromOperator, Visibility: bridge.VisibilityNote, Author: "Alice", Text: "note"},
		{From: bridge.FromSystem, Visibility: bridge.VisibilityWhisper, Author: "chatbridge", Text: "whisper"},
		{From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Author: "Alice", Text: "checking"},
		{From: bridge.FromSystem, Visibility: bridge.VisibilityPublic, Author: "system", Text: "closed"},
	}
	if got, want := bridge.FormatTranscript(msgs), "Ann: my order\nAlice: checking"; got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

func TestSearchTerms(t *testing.T) {
	got := strings.Join(bridge.SearchTerms("Big ORDER for ann@example.com, #12"), " ")
	want := "big order for ann@example.com ann example com 12"
	if got != want {
		t.Fatalf("got %q want %q", got, want)
	}
}

type pacedDest struct{ *fakeDest }

func (pacedDest) RateLimit() (float64, int) { return 100, 1 }

func TestRateLimitedDestination(t *testing.T) {
	d := pacedDest{newFakeDest("paced")}
	e := newEnv(t, d)
	v := e.visitor("A")
	start := time.Now()
	for i := range 5 {
		e.say(v, fmt.Sprint(i), fmt.Sprint("m", i))
	}
	fixture.WaitFor(t, "all delivered", func() bool { return len(d.messages()) == 5 })
	// 5 deliveries at 100/s with a burst of 1 cannot take less than 40 ms.
	if el := time.Since(start); el < 40*time.Millisecond {
		t.Fatalf("5 paced deliveries took %v, want ≥ 40ms", el)
	}
}

func TestRetryAfterHonoured(t *testing.T) {
	d := newFakeDest("fake")
	d.fail = func(bridge.Delivery) error {
		return &bridge.RetryAfterError{After: time.Hour, Err: errors.New("429")}
	}
	e := newEnv(t, d)
	v := e.visitor("A")
	e.say(v, "1", "hi")
	var en bridge.OutboxEntry
	fixture.WaitFor(t, "a failed attempt recorded", func() bool {
		list, _ := e.engine.PendingDeliveries(context.Background(), "fake", 1)
		if len(list) == 1 {
			en = list[0]
		}
		return en.Attempts == 1
	})
	if until := time.Until(en.NextAttempt); until < 50*time.Minute {
		t.Fatalf("next attempt in %v, want about an hour", until)
	}
}

func TestHubPresence(t *testing.T) {
	h := bridge.NewHub()
	if !h.Away("v1", time.Hour) {
		t.Fatal("a visitor never seen should be away")
	}
	sub := h.SubscribeVisitor("v1")
	if h.Away("v1", 0) {
		t.Fatal("a connected visitor is not away")
	}
	sub.Close()
	if h.Away("v1", time.Hour) {
		t.Fatal("a visitor who left a moment ago is not away for an hour yet")
	}
	if !h.Away("v1", 0) {
		t.Fatal("away after 0")
	}
}

type operatorOnlyDest struct{ *fakeDest }

func (operatorOnlyDest) WantsMessage(m bridge.Message) bool {
	return m.From == bridge.FromOperator && m.Visibility == bridge.VisibilityPublic
}

func TestMessageFilter(t *testing.T) {
	d := operatorOnlyDest{newFakeDest("filtered")}
	e := newEnv(t, d)
	ctx := context.Background()
	v := e.visitor("A")
	m := e.say(v, "1", "from visitor")
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	e.engine.AddNote(ctx, m.ConversationID, op, "a note", "")
	e.engine.Reply(ctx, m.ConversationID, op, "from operator", "")
	fixture.WaitFor(t, "the reply", func() bool { return len(d.messages()) == 1 })
	if got := d.messages(); got[0] != "from operator" {
		t.Fatalf("got %v", got)
	}
	st, _ := e.engine.OutboxStats(ctx)
	depth := st.Depth
	if depth["filtered"] > 1 { // at most the conversation.opened entry
		t.Fatalf("unwanted messages were enqueued: %v", depth)
	}
}

// Entries of a conversation stuck on a failing delivery never starve the
// other conversations, however many there are (more than one page).
func TestOutboxNoHeadOfLineBlocking(t *testing.T) {
	d := newFakeDest("fake")
	var stuck sync.Map
	d.fail = func(del bridge.Delivery) error {
		if _, ok := stuck.Load(del.Entry.ConversationID); ok {
			return errors.New("down for this conversation")
		}
		return nil
	}
	e := newEnv(t, d)
	a := e.visitor("A")
	first := e.say(a, "a0", "a 0")
	stuck.Store(first.ConversationID, true)
	for i := 1; i < 300; i++ {
		e.say(a, fmt.Sprint("a", i), fmt.Sprint("a ", i))
	}
	b := e.visitor("B")
	e.say(b, "b1", "b one")
	fixture.WaitFor(t, "B's message despite 300 stuck entries of A", func() bool {
		for _, m := range d.messages() {
			if m == "b one" {
				return true
			}
		}
		return false
	})
}

// A note on an old, closed conversation does not take the visitor back to
// it: the visitor sees the open conversation, or else the newest one.
func TestVisitorCurrentConversation(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := e.visitor("Ann")
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	old := e.say(v, "1", "first chat")
	if err := e.engine.Close(ctx, old.ConversationID, op); err != nil {
		t.Fatal(err)
	}
	cur := e.say(v, "2", "second chat")
	if _, err := e.engine.AddNote(ctx, old.ConversationID, op, "note on the old chat", ""); err != nil {
		t.Fatal(err)
	}
	view, _ := e.engine.VisitorMessages(ctx, v.ID, "", 0, 0)
	if view.Conversation.ID != cur.ConversationID {
		t.Fatalf("visitor sees %s, want the open %s", view.Conversation.ID, cur.ConversationID)
	}
	if err := e.engine.Close(ctx, cur.ConversationID, op); err != nil {
		t.Fatal(err)
	}
	e.engine.AddNote(ctx, old.ConversationID, op, "another note", "")
	view, _ = e.engine.VisitorMessages(ctx, v.ID, "", 0, 0)
	if view.Conversation.ID != cur.ConversationID {
		t.Fatalf("with both closed the visitor sees %s, want the newest %s", view.Conversation.ID, cur.ConversationID)
	}
}

func TestTypingEvent(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := e.visitor("Ann")
	m := e.say(v, "1", "hi")
	sub := e.engine.Hub().SubscribeVisitor(v.ID)
	defer sub.Close()
	if err := e.engine.Typing(ctx, m.ConversationID, bridge.FromOperator, "Alice"); err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-sub.C:
		if ev.Kind != bridge.EventTyping || ev.From != bridge.FromOperator || ev.Author != "Alice" || ev.ConversationID != m.ConversationID {
			t.Fatalf("event %+v", ev)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("no typing event")
	}
}

// Notes and whispers leave no gap in the numbers the visitor sees.
func TestPublicSeqHasNoGaps(t *testing.T) {
	e := newEnv(t)
	ctx := context.Background()
	v := e.visitor("Ann")
	m := e.say(v, "1", "hi")
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	e.engine.AddNote(ctx, m.ConversationID, op, "private", "")
	e.engine.Whisper(ctx, m.ConversationID, op, "whisper", "")
	r, _ := e.engine.Reply(ctx, m.ConversationID, op, "reply", "")
	m2 := e.say(v, "2", "thanks")
	if m.PublicSeq != 1 || r.PublicSeq != 2 || m2.PublicSeq != 3 || m2.Seq != 5 {
		t.Fatalf("public seqs %d %d %d (seq %d)", m.PublicSeq, r.PublicSeq, m2.PublicSeq, m2.Seq)
	}
	view, _ := e.engine.VisitorMessages(ctx, v.ID, "", 1, 0)
	if len(view.Messages) != 2 || view.Messages[0].Text != "reply" || view.Messages[1].Text != "thanks" {
		t.Fatalf("after public seq 1: %+v", view.Messages)
	}
	view, _ = e.engine.VisitorMessages(ctx, v.ID, "", 2, 0)
	if len(view.Messages) != 1 || view.Messages[0].Text != "thanks" {
		t.Fatalf("after public seq 2: %+v", view.Messages)
	}
	view, _ = e.engine.VisitorMessages(ctx, v.ID, "", 99, 0)
	if len(view.Messages) != 3 {
		t.Fatalf("after a number never reached: %d messages, want all 3", len(view.Messages))
	}
	if again := e.say(v, "2", "thanks"); again.PublicSeq != 3 {
		t.Fatalf("idempotent retry has public seq %d", again.PublicSeq)
	}
}

// A visitor idle for longer than VisitorIdleTTL loses their tokens.
func TestVisitorIdleTTL(t *testing.T) {
	now := time.Date(2026, 1, 1, 12, 0, 0, 0, time.UTC)
	eng := fixture.Engine(t, fixture.Options{NoRun: true, Config: bridge.Config{VisitorIdleTTL: 30 * 24 * time.Hour, Now: func() time.Time { return now }}})
	ctx := context.Background()
	token, v, err := eng.StartSession(ctx, bridge.SessionInput{Name: "Ann"})
	if err != nil {
		t.Fatal(err)
	}
	now = now.Add(20 * 24 * time.Hour)
	if _, err := eng.Authenticate(ctx, token); err != nil {
		t.Fatalf("after 20 days: %v", err)
	}
	if _, err := eng.VisitorMessage(ctx, v.ID, "m1", "still here"); err != nil { // refreshes last seen
		t.Fatal(err)
	}
	now = now.Add(25 * 24 * time.Hour)
	if _, err := eng.Authenticate(ctx, token); err != nil {
		t.Fatalf("25 days after the last message: %v", err)
	}
	now = now.Add(10 * 24 * time.Hour)
	if _, err := eng.Authenticate(ctx, token); !errors.Is(err, bridge.ErrUnauthorized) {
		t.Fatalf("35 days idle: err = %v, want ErrUnauthorized", err)
	}
}
