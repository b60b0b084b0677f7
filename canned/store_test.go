package canned

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// The engine stores canned responses with this package's validation (as
// serve wires it); these tests check the two together.

func newEngine(t *testing.T, now func() time.Time) *bridge.Engine {
	t.Helper()
	return fixture.Engine(t, fixture.Options{NoRun: true, Config: bridge.Config{CheckCanned: Validate, Now: now}})
}

func all(t *testing.T, e *bridge.Engine) []bridge.CannedResponse {
	t.Helper()
	out, err := e.CannedResponses(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// interceptFunc adapts a function to bridge.Interceptor.
type interceptFunc func(ctx context.Context, in bridge.OperatorInput, c bridge.Conversation) (bridge.Outcome, error)

func (f interceptFunc) Intercept(ctx context.Context, in bridge.OperatorInput, c bridge.Conversation) (bridge.Outcome, error) {
	return f(ctx, in, c)
}

func TestUse(t *testing.T) {
	ctx := context.Background()
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	var shortcuts []string
	e := fixture.Engine(t, fixture.Options{NoRun: true, Config: bridge.Config{CheckCanned: Validate, Now: func() time.Time { return now }},
		Components: []any{interceptFunc(func(_ context.Context, in bridge.OperatorInput, _ bridge.Conversation) (bridge.Outcome, error) {
			return bridge.Outcome{Relay: in.Text, Actions: []bridge.Action{bridge.UseCannedAction(shortcuts, in.Operator.Key())}}, nil
		})}})
	seed := []bridge.CannedResponse{
		{Shortcut: "sorry", Text: "shared"},
		{Shortcut: "sorry", Text: "mine", Owner: "inbox:alice"},
		{Shortcut: "bye", Text: "shared bye", Uses: 4},
	}
	if _, _, err := e.ImportCanned(ctx, seed); err != nil {
		t.Fatal(err)
	}
	_, v, err := e.StartSession(ctx, bridge.SessionInput{})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.VisitorMessage(ctx, v.ID, "1", "hi")
	if err != nil {
		t.Fatal(err)
	}
	for _, u := range []struct {
		owner     string
		shortcuts []string
	}{
		{"alice", []string{"sorry", "bye", "gone"}},
		{"bob", []string{"sorry"}},
		{"bob", []string{"bye", "bye"}},
	} {
		shortcuts = u.shortcuts
		in := bridge.OperatorInput{ConversationID: m.ConversationID, Operator: bridge.Operator{Adapter: "inbox", ID: u.owner, Name: u.owner}, Text: "reply"}
		if err := e.HandleOperator(ctx, in); err != nil {
			t.Fatalf("use %v: %v", u, err)
		}
	}
	want := map[string]uint64{"bye/": 6, "sorry/": 1, "sorry/inbox:alice": 1}
	for _, c := range all(t, e) {
		k := c.Shortcut + "/" + c.Owner
		if c.Uses != want[k] || !c.LastUsed.Equal(now) {
			t.Errorf("%s: uses %d last %v, want %d at %v", k, c.Uses, c.LastUsed, want[k], now)
		}
	}
}

func TestPutKeepsUses(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	last := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put := func(c bridge.CannedResponse) bool {
		replaced, err := e.PutCanned(ctx, c)
		if err != nil {
			t.Fatal(err)
		}
		return replaced
	}
	if put(bridge.CannedResponse{Shortcut: "hi", Text: "one", Uses: 3, LastUsed: last}) {
		t.Error("first put reported a replacement")
	}
	if !put(bridge.CannedResponse{Shortcut: "hi", Text: "two"}) {
		t.Error("second put did not report a replacement")
	}
	got := all(t, e)
	if len(got) != 1 || got[0].Text != "two" || got[0].Uses != 3 || !got[0].LastUsed.Equal(last) {
		t.Errorf("after replace: %+v", got)
	}
	_, err := e.PutCanned(ctx, bridge.CannedResponse{Shortcut: "Bad", Text: "x"})
	if !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("invalid put: %v", err)
	}
}

func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	e := newEngine(t, nil)
	list := []bridge.CannedResponse{{Shortcut: "a", Text: "x"}, {Shortcut: "b", Text: ""}, {Shortcut: "c", Text: "y"}}
	var ie *ImportError
	if err := ValidateAll(list); !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Entry != 2 {
		t.Fatalf("validate with a bad entry: %v", err)
	}
	if _, _, err := e.ImportCanned(ctx, list); !errors.Is(err, bridge.ErrInvalid) {
		t.Fatalf("import with a bad entry: %v", err)
	}
	if got := all(t, e); len(got) != 0 {
		t.Errorf("stored half-way: %+v", got)
	}
	list[1].Text = "fixed"
	if added, replaced, err := e.ImportCanned(ctx, list); err != nil || added != 3 || replaced != 0 {
		t.Fatalf("import: %d added, %d replaced, %v", added, replaced, err)
	}
	if added, replaced, err := e.ImportCanned(ctx, list[:1]); err != nil || added != 0 || replaced != 1 {
		t.Fatalf("re-import: %d added, %d replaced, %v", added, replaced, err)
	}
}
