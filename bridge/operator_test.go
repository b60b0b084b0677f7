package bridge_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// faultyStore fails one chosen call of the store: the skip+1-th View, or the
// next Update before or after it committed (the caller then sees an error
// although the transaction is durable: a crash between the commit and the
// platform's acknowledgement looks like this to the platform).
type faultyStore struct {
	bridge.Store
	mu          sync.Mutex
	viewSkip    int // views to let through before failing one; -1: none
	failUpdate  bool
	afterCommit bool
}

var errInjected = errors.New("injected failure")

func (f *faultyStore) View(ctx context.Context, fn func(bridge.Tx) error) error {
	f.mu.Lock()
	fail := f.viewSkip == 0
	if f.viewSkip >= 0 {
		f.viewSkip--
	}
	f.mu.Unlock()
	if fail {
		return errInjected
	}
	return f.Store.View(ctx, fn)
}

func (f *faultyStore) Update(ctx context.Context, fn func(bridge.Tx) error) error {
	f.mu.Lock()
	fail, after := f.failUpdate, f.afterCommit
	f.failUpdate = false
	f.mu.Unlock()
	if fail && !after {
		return errInjected
	}
	if err := f.Store.Update(ctx, fn); err != nil {
		return err
	}
	if fail {
		return errInjected
	}
	return nil
}

func (f *faultyStore) arm(fn func(f *faultyStore)) {
	f.mu.Lock()
	defer f.mu.Unlock()
	fn(f)
}

// flakyWhisperer fails to show whispers.
type flakyWhisperer struct{ shown int }

func (w *flakyWhisperer) Name() string { return "inbox" }
func (w *flakyWhisperer) Whisper(context.Context, bridge.Whisper) error {
	w.shown++
	return errors.New("platform down")
}

// An operator's reply, with a command's action and a whisper, survives a
// failure between any two steps of its handling: the platform's retry of the
// event (or the operator's) ends with exactly one reply, one ticket and one
// result, never none and never two.
func TestOperatorReplyFailureAtEveryStep(t *testing.T) {
	steps := []struct {
		name string
		arm  func(f *faultyStore, fail *bool)
		// wantErr: the first attempt reports an error to the platform.
		wantErr bool
	}{
		{"seen check read", func(f *faultyStore, _ *bool) { f.viewSkip = 0 }, true},
		{"conversation read", func(f *faultyStore, _ *bool) { f.viewSkip = 1 }, true},
		{"interceptor read", func(_ *faultyStore, fail *bool) { *fail = true }, false},
		{"commit", func(f *faultyStore, _ *bool) { f.failUpdate = true }, true},
		{"after commit, before the platform's answer", func(f *faultyStore, _ *bool) { f.failUpdate, f.afterCommit = true, true }, true},
		{"whisper shown on the platform", func(*faultyStore, *bool) {}, false},
	}
	for _, step := range steps {
		t.Run(step.name, func(t *testing.T) {
			ctx := context.Background()
			fs := &faultyStore{Store: fixture.Store(t), viewSkip: -1}
			failIntercept := false
			calls := 0
			ic := interceptFunc(func(_ context.Context, in bridge.OperatorInput, c bridge.Conversation) (bridge.Outcome, error) {
				calls++
				if failIntercept {
					failIntercept = false
					return bridge.Outcome{}, errInjected
				}
				return bridge.Outcome{
					Relay:   in.Text,
					Whisper: "sent",
					Actions: []bridge.Action{bridge.CreateTicketAction(bridge.Ticket{Title: "t", ConversationID: c.ID}, func(t bridge.Ticket) string {
						return fmt.Sprintf("Created ticket #%d", t.Number)
					})},
				}, nil
			})
			w := &flakyWhisperer{}
			eng := fixture.Engine(t, fixture.Options{Store: fs, Components: []any{ic, w}})
			_, v, err := eng.StartSession(ctx, bridge.SessionInput{Name: "Ann"})
			if err != nil {
				t.Fatal(err)
			}
			m, err := eng.VisitorMessage(ctx, v.ID, "1", "hi")
			if err != nil {
				t.Fatal(err)
			}
			in := bridge.OperatorInput{EventID: "ev-1", ConversationID: m.ConversationID,
				Operator: bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}, Text: "the answer"}

			fs.arm(func(f *faultyStore) { step.arm(f, &failIntercept) })
			err = eng.HandleOperator(ctx, in)
			if (err != nil) != step.wantErr {
				t.Fatalf("first attempt: err = %v, want an error: %v", err, step.wantErr)
			}
			// The platform (or the operator) sends the event again, twice.
			for range 2 {
				if err := eng.HandleOperator(ctx, in); err != nil {
					t.Fatalf("retry: %v", err)
				}
			}

			msgs, err := eng.Messages(ctx, m.ConversationID, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			var replies, results int
			for _, x := range msgs {
				switch {
				case x.Visibility == bridge.VisibilityPublic && x.Text == "the answer":
					replies++
				case x.Visibility == bridge.VisibilityWhisper && strings.Contains(x.Text, "Created ticket #1"):
					results++
				case x.Visibility == bridge.VisibilityWhisper && strings.Contains(x.Text, "That did not work"):
				case x.Visibility == bridge.VisibilityWhisper:
					t.Errorf("unexpected whisper %q", x.Text)
				}
			}
			tickets, err := eng.Tickets(ctx, 0)
			if err != nil {
				t.Fatal(err)
			}
			if replies != 1 || results != 1 || len(tickets) != 1 {
				t.Fatalf("after the failure and retries: %d replies, %d results, %d tickets; want 1 each", replies, results, len(tickets))
			}
			view, _ := eng.VisitorMessages(ctx, v.ID, "", 0, 0)
			if n := len(view.Messages); n != 2 {
				t.Fatalf("visitor sees %d messages, want 2", n)
			}
			// After a crash between commit and answer, the result is in the
			// store (the inbox and !history-like views show it) but the
			// retry, a duplicate, shows nothing on the platform.
			if w.shown == 0 && !strings.HasPrefix(step.name, "after commit") {
				t.Error("the whisper was never handed to the platform")
			}
		})
	}
}

// A duplicate event is answered from one read: the interceptor does not
// run again.
func TestDuplicateOperatorEventSkipsInterceptor(t *testing.T) {
	ctx := context.Background()
	calls := 0
	ic := interceptFunc(func(_ context.Context, in bridge.OperatorInput, _ bridge.Conversation) (bridge.Outcome, error) {
		calls++
		return bridge.Outcome{Relay: in.Text}, nil
	})
	e := newEnv(t, ic)
	v := e.visitor("Ann")
	m := e.say(v, "1", "hi")
	in := bridge.OperatorInput{EventID: "ev", ConversationID: m.ConversationID, Operator: bridge.Operator{Adapter: "slack", ID: "U1", Name: "Al"}, Text: "hello"}
	for range 3 {
		if err := e.engine.HandleOperator(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	if calls != 1 {
		t.Fatalf("interceptor ran %d times for one event", calls)
	}
}

// A reply to a closed conversation is not sent, and what belongs to it
// (its canned use count, its "sent" notice) is not done either.
func TestReplyToClosedConversation(t *testing.T) {
	ctx := context.Background()
	ic := interceptFunc(func(_ context.Context, in bridge.OperatorInput, _ bridge.Conversation) (bridge.Outcome, error) {
		return bridge.Outcome{Relay: in.Text, Whisper: "Sent canned response :hi.", Actions: []bridge.Action{bridge.UseCannedAction([]string{"hi"}, "")}}, nil
	})
	e := newEnv(t, ic)
	if _, err := e.engine.PutCanned(ctx, bridge.CannedResponse{Shortcut: "hi", Text: "Hello"}); err != nil {
		t.Fatal(err)
	}
	v := e.visitor("Ann")
	m := e.say(v, "1", "hi")
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	if err := e.engine.Close(ctx, m.ConversationID, op); err != nil {
		t.Fatal(err)
	}
	if err := e.engine.HandleOperator(ctx, bridge.OperatorInput{EventID: "x", ConversationID: m.ConversationID, Operator: op, Text: "Hello"}); err != nil {
		t.Fatal(err)
	}
	msgs := e.messages(m.ConversationID)
	last := msgs[len(msgs)-1]
	if last.Visibility != bridge.VisibilityWhisper || !strings.Contains(last.Text, "closed") || strings.Contains(last.Text, "Sent canned") {
		t.Fatalf("last message %+v", last)
	}
	all, _ := e.engine.CannedResponses(ctx)
	if all[0].Uses != 0 {
		t.Fatalf("a reply that was not sent counted a canned use")
	}
}
