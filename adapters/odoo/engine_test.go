package odoo

import (
	"context"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// Through a real engine: a refused API key keeps the ticket in the store and
// the outbox and tells the operator; once Odoo accepts the key, the retry
// creates the record and the operator gets its link.
func TestEngineRefusedKeyThenFixed(t *testing.T) {
	f := newFakeOdoo(t)
	f.set(func(f *fakeOdoo) { f.refuse = true })
	sink := newTestSink(t, f.config())
	eng := fixture.Engine(t, fixture.Options{Components: []any{sink}, Config: bridge.Config{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}})
	ctx := context.Background()

	_, v, err := eng.StartSession(ctx, bridge.SessionInput{Name: "Vera", Email: "vera@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := eng.VisitorMessage(ctx, v.ID, "c1", "my parcel is late")
	if err != nil {
		t.Fatal(err)
	}
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	tk, err := eng.CreateTicket(ctx, bridge.Ticket{
		Title: "Late parcel", Description: "Vera: my parcel is late", ConversationID: m.ConversationID,
		VisitorID: v.ID, CustomerName: v.Name, CustomerEmail: v.Email, Operator: op,
	})
	if err != nil {
		t.Fatal(err)
	}

	whispers := func() []string {
		var out []string
		msgs, err := eng.Messages(ctx, m.ConversationID, 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, msg := range msgs {
			if msg.Visibility == bridge.VisibilityWhisper && msg.Recipient == op.Key() {
				out = append(out, msg.Text)
			}
		}
		return out
	}
	fixture.WaitFor(t, "the operator to be told about the refused key", func() bool { return len(whispers()) > 0 })
	w := whispers()[0]
	for _, want := range []string{"odoo", "ticket #1", `odoo refused the login or API key for database "shopdb"`, "saved in chatbridge"} {
		if !strings.Contains(w, want) {
			t.Errorf("whisper %q lacks %q", w, want)
		}
	}
	if _, err := eng.Ticket(ctx, tk.Number); err != nil {
		t.Fatalf("ticket not in the store: %v", err)
	}
	st, err := eng.OutboxStats(ctx)
	if err != nil {
		t.Fatal(err)
	}
	depth := st.Depth[sink.Name()]
	if depth != 1 {
		t.Errorf("outbox depth %d, want the ticket waiting", depth)
	}
	if err := sink.Health(ctx); err == nil {
		t.Errorf("Health() = nil with a refused key")
	}

	// The key is accepted again (fixed in Odoo): the outbox delivers it.
	f.set(func(f *fakeOdoo) { f.refuse = false })
	var link string
	fixture.WaitFor(t, "the ticket link", func() bool {
		got, err := eng.Ticket(ctx, tk.Number)
		if err != nil {
			t.Fatal(err)
		}
		link = got.Links[sink.Name()]
		return link != ""
	})
	if want := f.URL + "/web#id=1&model=helpdesk.ticket&view_type=form"; link != want {
		t.Errorf("link = %q, want %q", link, want)
	}
	fixture.WaitFor(t, "the link whisper", func() bool {
		ws := whispers()
		return strings.Contains(ws[len(ws)-1], link)
	})
	if ws := whispers(); len(ws) != 2 {
		t.Errorf("operator got %d whispers, want the failure once and the link: %q", len(ws), ws)
	}
	f.mu.Lock()
	n := len(f.records["helpdesk.ticket"])
	f.mu.Unlock()
	if n != 1 {
		t.Errorf("Odoo has %d tickets, want 1", n)
	}
	// No whisper or note reached the visitor.
	view, err := eng.VisitorMessages(ctx, v.ID, m.ConversationID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, vm := range view.Messages {
		if strings.Contains(vm.Text, "odoo") {
			t.Errorf("visitor sees %q", vm.Text)
		}
	}
}
