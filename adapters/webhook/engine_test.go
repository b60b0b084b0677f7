package webhook_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/adapters/webhook"
	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// flaky answers 500 to the first failures requests, then records and
// accepts every valid one.
type flaky struct {
	t        *testing.T
	secret   string
	mu       sync.Mutex
	failures int
	attempts int
	accepted []webhook.Event
	changed  chan struct{}
}

func (f *flaky) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	body, _ := io.ReadAll(r.Body)
	if !webhook.Verify(f.secret, body, r.Header.Get("X-Chatbridge-Signature")) {
		f.t.Errorf("bad signature on %s", body)
		w.WriteHeader(http.StatusUnauthorized)
		return
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	f.attempts++
	if f.attempts <= f.failures {
		w.WriteHeader(http.StatusInternalServerError)
		return
	}
	var ev webhook.Event
	if err := json.Unmarshal(body, &ev); err != nil {
		f.t.Errorf("undecodable body: %v", err)
	}
	f.accepted = append(f.accepted, ev)
	select {
	case f.changed <- struct{}{}:
	default:
	}
	w.WriteHeader(http.StatusNoContent)
}

func (f *flaky) snapshot() (attempts int, accepted []webhook.Event) {
	f.mu.Lock()
	defer f.mu.Unlock()
	return f.attempts, append([]webhook.Event(nil), f.accepted...)
}

// A receiver that fails for a while gets every ticket exactly once, in
// order, once it recovers; the outbox is then empty.
func TestEngineRetriesUntilDelivered(t *testing.T) {
	const (
		secret   = "engine-test-secret"
		failures = 4
		tickets  = 6
	)
	rcv := &flaky{t: t, secret: secret, failures: failures, changed: make(chan struct{}, 1)}
	srv := httptest.NewServer(rcv)
	defer srv.Close()

	log := slog.New(slog.DiscardHandler)
	sink, err := webhook.New(webhook.Config{URL: srv.URL, Secret: secret, Timeout: 2 * time.Second}, log)
	if err != nil {
		t.Fatal(err)
	}
	eng := fixture.Engine(t, fixture.Options{Components: []any{sink}, Config: bridge.Config{RetryMin: 10 * time.Millisecond, RetryMax: 50 * time.Millisecond}})
	ctx := context.Background()

	_, v, err := eng.StartSession(ctx, bridge.SessionInput{Name: "Vera", Email: "vera@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	m, err := eng.VisitorMessage(ctx, v.ID, "c1", "my order is late")
	if err != nil {
		t.Fatal(err)
	}
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	for i := range tickets {
		_, err := eng.CreateTicket(ctx, bridge.Ticket{
			Title: fmt.Sprintf("ticket %d", i+1), ConversationID: m.ConversationID, VisitorID: v.ID,
			CustomerName: v.Name, CustomerEmail: v.Email, Operator: op,
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	fixture.WaitFor(t, "every ticket delivered and the outbox empty", func() bool {
		_, acc := rcv.snapshot()
		if len(acc) < tickets {
			return false
		}
		st, err := eng.OutboxStats(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.Depth[sink.Name()] == 0
	})
	attempts, acc := rcv.snapshot()
	if len(acc) != tickets {
		t.Fatalf("receiver accepted %d events, want %d", len(acc), tickets)
	}
	if attempts != failures+tickets {
		t.Errorf("receiver saw %d requests, want %d failures + %d deliveries", attempts, failures, tickets)
	}
	seen := map[string]bool{}
	for i, ev := range acc {
		if seen[ev.ID] {
			t.Errorf("event %s delivered twice", ev.ID)
		}
		seen[ev.ID] = true
		if ev.Type != "ticket" || ev.Ticket == nil || ev.Ticket.Number != uint64(i+1) || ev.Ticket.Title != fmt.Sprintf("ticket %d", i+1) {
			t.Errorf("event %d: %+v, want ticket #%d in order", i, ev, i+1)
		}
		if ev.Visitor == nil || ev.Visitor.Email != "vera@example.com" {
			t.Errorf("event %d: visitor %+v", i, ev.Visitor)
		}
	}
	if err := sink.Health(ctx); err != nil {
		t.Errorf("Health after recovery: %v", err)
	}
	// The operator was told once, at the first failure; the ticket stayed.
	var whispers int
	msgs, err := eng.Messages(ctx, m.ConversationID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range msgs {
		if msg.Visibility == bridge.VisibilityWhisper && msg.Recipient == op.Key() {
			whispers++
		}
	}
	if whispers != 1 {
		t.Errorf("operator got %d failure whispers, want 1", whispers)
	}
}
