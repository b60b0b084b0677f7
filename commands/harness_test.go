package commands

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/canned"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// clock is the fixed time of every test: output is stable.
var clock = time.Date(2026, 11, 27, 14, 30, 0, 0, time.UTC)

var (
	alice = bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice Martin"}
	bob   = bridge.Operator{Adapter: "inbox", ID: "bob", Name: "Bob Stone"}
)

// harness is a real engine on a real boltstore with the Router installed.
type harness struct {
	t      testing.TB
	ctx    context.Context
	store  bridge.Store
	engine *bridge.Engine
	router *Router
	n      int
}

func newHarness(t testing.TB) *harness {
	t.Helper()
	st := fixture.Store(t)
	// The engine is not run: the outbox of the idle destination shows what
	// the engine announced (waiting, closed, tickets).
	e := fixture.Engine(t, fixture.Options{Store: st, NoRun: true, Components: []any{idleDest{}},
		Config: bridge.Config{Now: func() time.Time { return clock }, CheckCanned: canned.Validate}})
	r := New(e, Options{BotName: "chatbridge"})
	if err := e.Register(r); err != nil {
		t.Fatal(err)
	}
	return &harness{t: t, ctx: context.Background(), store: st, engine: e, router: r}
}

type idleDest struct{}

func (idleDest) Name() string                 { return "idle" }
func (idleDest) Wants(bridge.OutboxKind) bool { return true }
func (idleDest) Deliver(context.Context, bridge.Delivery) (bridge.Receipt, error) {
	return bridge.Receipt{}, nil
}

// outboxKinds lists the kinds queued for the idle destination.
func (h *harness) outboxKinds() string {
	h.t.Helper()
	var kinds []string
	h.update(func(tx bridge.Tx) error {
		entries, err := tx.Outbox("idle", 0, 0)
		for _, e := range entries {
			kinds = append(kinds, string(e.Kind))
		}
		return err
	})
	return strings.Join(kinds, " ")
}

// conversation starts a visitor (name may be "") with one message.
func (h *harness) conversation(name, email, locale, country string) bridge.Conversation {
	h.t.Helper()
	_, v, err := h.engine.StartSession(h.ctx, bridge.SessionInput{Name: name, Email: email, Locale: locale, Country: country})
	if err != nil {
		h.t.Fatal(err)
	}
	h.n++
	if _, err := h.engine.VisitorMessage(h.ctx, v.ID, fmt.Sprint("client-", h.n), "Hello, my printer prints blank pages."); err != nil {
		h.t.Fatal(err)
	}
	return h.conv(v.ID)
}

// conv reloads the visitor's newest conversation.
func (h *harness) conv(visitorID string) bridge.Conversation {
	h.t.Helper()
	var c bridge.Conversation
	err := h.store.View(h.ctx, func(tx bridge.Tx) error {
		cs, err := tx.Conversations(bridge.ConversationFilter{VisitorID: visitorID, Limit: 1})
		if err == nil && len(cs) == 1 {
			c = cs[0]
		}
		return err
	})
	if err != nil || c.ID == "" {
		h.t.Fatalf("conversation of %s: %v", visitorID, err)
	}
	return c
}

// send runs one operator message through engine.HandleOperator and returns
// every message it added to the conversation.
func (h *harness) send(conv bridge.Conversation, op bridge.Operator, text string) []bridge.Message {
	h.t.Helper()
	before := h.conv(conv.VisitorID).LastSeq
	h.n++
	in := bridge.OperatorInput{EventID: fmt.Sprint("ev-", h.n), ConversationID: conv.ID, Operator: op, Text: text, Mention: "<@UBOT>"}
	if err := h.engine.HandleOperator(h.ctx, in); err != nil {
		h.t.Fatalf("HandleOperator(%q): %v", text, err)
	}
	var msgs []bridge.Message
	if err := h.store.View(h.ctx, func(tx bridge.Tx) error {
		var err error
		msgs, err = tx.Messages(conv.ID, before, 0)
		return err
	}); err != nil {
		h.t.Fatal(err)
	}
	return msgs
}

// visitorSees returns the texts of the visitor's view after seq `after`.
func (h *harness) visitorSees(conv bridge.Conversation, after uint64) []bridge.Message {
	h.t.Helper()
	view, err := h.engine.VisitorMessages(h.ctx, conv.VisitorID, conv.ID, after, 0)
	if err != nil {
		h.t.Fatal(err)
	}
	return view.Messages
}

func (h *harness) update(fn func(tx bridge.Tx) error) {
	h.t.Helper()
	if err := h.store.Update(h.ctx, fn); err != nil {
		h.t.Fatal(err)
	}
}

// seedCanned stores the canned responses the tests use.
func (h *harness) seedCanned() {
	h.t.Helper()
	_, _, err := h.engine.ImportCanned(h.ctx, []bridge.CannedResponse{
		{Shortcut: "sorry", Text: "I am sorry to hear that.", Uses: 7},
		{Shortcut: "soon", Text: "We will get back to you soon.", Uses: 2},
		{Shortcut: "reason", Text: "Could you tell me the reason for your request?"},
		{Shortcut: "bye", Text: "Thank you for contacting us, goodbye!", Uses: 12},
		{Shortcut: "hi", Text: "Hello {{visitor.name|there}}, I am {{operator.name}}. How can I help?"},
		{Shortcut: "mail", Text: "We will write to {{visitor.email|the address you gave us}}."},
		{Shortcut: "ref", Text: "Your reference is {{conversation.id}}."},
		{Shortcut: "empty", Text: "{{visitor.email}}"},
		{Shortcut: "sig", Text: "Alice's own signature", Owner: alice.Key()},
		{Shortcut: "bye", Text: "Bye from Alice!", Owner: alice.Key()},
		{Shortcut: "long", Text: "This canned response is deliberately much longer than sixty characters so that the listing cuts it."},
	})
	if err != nil {
		h.t.Fatal(err)
	}
}

// describe renders messages as the golden files show them (the inbox view of
// the operator who typed, plus what the visitor sees).
func describe(msgs []bridge.Message) string {
	var b strings.Builder
	for _, m := range msgs {
		var who string
		switch m.Visibility {
		case bridge.VisibilityWhisper:
			who = "whisper to " + m.Recipient
		case bridge.VisibilityNote:
			who = "note by " + m.Author
		default:
			who = "visitor sees (" + string(m.From) + " " + m.Author + ")"
		}
		lines := strings.Split(m.Text, "\n")
		fmt.Fprintf(&b, "  %s: %s\n", who, lines[0])
		for _, l := range lines[1:] {
			fmt.Fprintf(&b, "    | %s\n", l)
		}
	}
	if len(msgs) == 0 {
		b.WriteString("  (nothing)\n")
	}
	return b.String()
}
