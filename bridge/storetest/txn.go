package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// writes are one call of every write method, each on a record of its own.
var writes = []struct {
	name string
	fn   func(tx bridge.Tx) error
}{
	{"PutVisitor", func(tx bridge.Tx) error { return tx.PutVisitor(bridge.Visitor{ID: "v_w", CreatedAt: at(0)}) }},
	{"PutToken", func(tx bridge.Tx) error { return tx.PutToken(bridge.HashToken("w"), "v_w") }},
	{"PutExternalID", func(tx bridge.Tx) error { return tx.PutExternalID("ext-w", "v_w") }},
	{"AddPageView", func(tx bridge.Tx) error {
		return tx.AddPageView(bridge.PageView{VisitorID: "v_w", URL: "https://example.org/", At: at(0)})
	}},
	{"PutConversation", func(tx bridge.Tx) error { return tx.PutConversation(conv("c_w", "v_w", bridge.StatusOpen, 0)) }},
	{"PutMessage", func(tx bridge.Tx) error {
		return tx.PutMessage(bridge.Message{ConversationID: "c_w", Seq: 1, Text: "hi", At: at(0)})
	}},
	{"PutClientID", func(tx bridge.Tx) error { return tx.PutClientID("v_w", "k", "c_w", 1) }},
	{"Enqueue", func(tx bridge.Tx) error {
		_, err := tx.Enqueue(bridge.OutboxEntry{Destination: "slack", Kind: bridge.KindMessage, ConversationID: "c_w", Seq: 1})
		return err
	}},
	{"MarkSeen", func(tx bridge.Tx) error { _, err := tx.MarkSeen("ev-w", at(0), at(60)); return err }},
	{"ForgetSeen", func(tx bridge.Tx) error { return tx.ForgetSeen("ev-old") }},
	{"PutRef", func(tx bridge.Tx) error { return tx.PutRef("slack", "c_w", "ts-w") }},
	{"CreateTicket", func(tx bridge.Tx) error { _, err := tx.CreateTicket(bridge.Ticket{Title: "written"}); return err }},
	{"CreateLead", func(tx bridge.Tx) error { _, err := tx.CreateLead(bridge.Lead{Title: "written"}); return err }},
	{"PutCanned", func(tx bridge.Tx) error { return tx.PutCanned(bridge.CannedResponse{Shortcut: "w", Text: "written"}) }},
	{"PutState", func(tx bridge.Tx) error { return tx.PutState("ns", "w", []byte("written")) }},
}

// wantNothingWritten checks that none of the writes above is visible.
func wantNothingWritten(t *testing.T, s bridge.Store) {
	t.Helper()
	view(t, s, func(tx bridge.Tx) error {
		checks := []struct {
			name string
			err  error
		}{}
		add := func(name string, err error) {
			checks = append(checks, struct {
				name string
				err  error
			}{name, err})
		}
		_, err := tx.Visitor("v_w")
		add("Visitor", err)
		_, err = tx.VisitorByToken(bridge.HashToken("w"))
		add("VisitorByToken", err)
		_, err = tx.VisitorByExternalID("ext-w")
		add("VisitorByExternalID", err)
		_, err = tx.Conversation("c_w")
		add("Conversation", err)
		_, err = tx.Message("c_w", 1)
		add("Message", err)
		_, _, err = tx.ClientID("v_w", "k")
		add("ClientID", err)
		_, err = tx.Ref("slack", "c_w")
		add("Ref", err)
		_, err = tx.Ticket(1)
		add("Ticket", err)
		_, err = tx.Lead(1)
		add("Lead", err)
		_, err = tx.Canned("", "w")
		add("Canned", err)
		_, err = tx.GetState("ns", "w")
		add("GetState", err)
		for _, c := range checks {
			if !errors.Is(c.err, bridge.ErrNotFound) {
				t.Errorf("%s: err = %v, want ErrNotFound (nothing written)", c.name, c.err)
			}
		}
		pvs, err := tx.PageViews("v_w", 0)
		wantNoErr(t, "PageViews", err)
		ob, err := tx.Outbox("slack", 0, 0)
		wantNoErr(t, "Outbox", err)
		n, err := tx.CountConversations("")
		wantNoErr(t, "CountConversations", err)
		if len(pvs) != 0 || len(ob) != 0 || n != 0 {
			t.Errorf("written: %d page views, %d outbox entries, %d conversations", len(pvs), len(ob), n)
		}
		return nil
	})
}

func testUpdateRollback(t *testing.T, s bridge.Store) {
	errStop := errors.New("stop")
	err := s.Update(context.Background(), func(tx bridge.Tx) error {
		for _, w := range writes {
			if err := w.fn(tx); err != nil {
				return fmt.Errorf("%s: %w", w.name, err)
			}
		}
		return errStop
	})
	if !errors.Is(err, errStop) {
		t.Fatalf("Update returned %v, want fn's error", err)
	}
	wantNothingWritten(t, s)
	// Numbers used by the rolled back transaction are not lost.
	got := createTickets(t, s, bridge.Ticket{Title: "after rollback"})
	if got[0].Number != 1 {
		t.Errorf("first ticket after a rollback numbered %d, want 1", got[0].Number)
	}
}

func testUpdateCancelled(t *testing.T, s bridge.Store) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	err := s.Update(ctx, func(tx bridge.Tx) error {
		return tx.PutVisitor(bridge.Visitor{ID: "v_w"})
	})
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Update with a cancelled context: %v, want context.Canceled", err)
	}
	wantNothingWritten(t, s)
}

func testViewCannotWrite(t *testing.T, s bridge.Store) {
	// Records that the update-style writes would change.
	update(t, s, func(tx bridge.Tx) error {
		if _, err := tx.Enqueue(bridge.OutboxEntry{Destination: "matrix", Kind: bridge.KindMessage}); err != nil {
			return err
		}
		if _, err := tx.MarkSeen("ev-old", at(0), at(1)); err != nil {
			return err
		}
		return tx.PutCanned(bridge.CannedResponse{Shortcut: "old", Text: "old"})
	})
	more := append(writes[:len(writes):len(writes)],
		struct {
			name string
			fn   func(tx bridge.Tx) error
		}{"DeleteOutbox", func(tx bridge.Tx) error { return tx.DeleteOutbox("matrix", 1) }},
		struct {
			name string
			fn   func(tx bridge.Tx) error
		}{"PurgeSeen", func(tx bridge.Tx) error { _, err := tx.PurgeSeen(at(10)); return err }},
		struct {
			name string
			fn   func(tx bridge.Tx) error
		}{"DeleteCanned", func(tx bridge.Tx) error { return tx.DeleteCanned("", "old") }},
	)
	for _, w := range more {
		err := s.View(context.Background(), w.fn)
		if err == nil {
			t.Errorf("%s in a View succeeded", w.name)
		}
	}
	wantNothingWritten(t, s)
	view(t, s, func(tx bridge.Tx) error {
		ob, err := tx.Outbox("matrix", 0, 0)
		wantNoErr(t, "Outbox", err)
		if len(ob) != 1 {
			t.Errorf("DeleteOutbox in a View removed the entry")
		}
		if _, err := tx.Canned("", "old"); err != nil {
			t.Errorf("DeleteCanned in a View removed the response: %v", err)
		}
		return nil
	})
	var n int
	update(t, s, func(tx bridge.Tx) error {
		var err error
		n, err = tx.PurgeSeen(at(10))
		return err
	})
	if n != 1 {
		t.Errorf("PurgeSeen after a PurgeSeen in a View = %d, want 1", n)
	}
}

func testInvalidInput(t *testing.T, s bridge.Store) {
	for _, c := range []struct {
		name string
		fn   func(tx bridge.Tx) error
	}{
		{"PutVisitor without id", func(tx bridge.Tx) error { return tx.PutVisitor(bridge.Visitor{Name: "x"}) }},
		{"PutConversation without id", func(tx bridge.Tx) error {
			return tx.PutConversation(bridge.Conversation{VisitorID: "v_1", Status: bridge.StatusOpen})
		}},
		{"PutMessage without conversation", func(tx bridge.Tx) error { return tx.PutMessage(bridge.Message{Seq: 1, Text: "x"}) }},
		{"Enqueue without destination", func(tx bridge.Tx) error {
			_, err := tx.Enqueue(bridge.OutboxEntry{Kind: bridge.KindMessage})
			return err
		}},
		{"PutCanned without shortcut", func(tx bridge.Tx) error { return tx.PutCanned(bridge.CannedResponse{Text: "x"}) }},
		{"MarkSeen without key", func(tx bridge.Tx) error { _, err := tx.MarkSeen("", at(0), at(1)); return err }},
	} {
		if err := s.Update(context.Background(), c.fn); err == nil {
			t.Errorf("%s: accepted", c.name)
		}
	}
	wantNothingWritten(t, s)
}

func testConcurrentUpdates(t *testing.T, s bridge.Store) {
	const writers, each = 16, 8
	type result struct {
		ticket, outbox uint64
	}
	results := make(chan result, writers*each)
	errs := make(chan error, writers*each)
	var wg sync.WaitGroup
	for w := range writers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range each {
				var r result
				err := s.Update(context.Background(), func(tx bridge.Tx) error {
					convID := fmt.Sprintf("c_%d", w)
					c, err := tx.Conversation(convID)
					if errors.Is(err, bridge.ErrNotFound) {
						c, err = conv(convID, fmt.Sprintf("v_%d", w), bridge.StatusOpen, 0), nil
					}
					if err != nil {
						return err
					}
					c.LastSeq++
					c.UpdatedAt = at(int(c.LastSeq))
					if err := tx.PutMessage(bridge.Message{ConversationID: convID, Seq: c.LastSeq, Text: fmt.Sprint(i), At: c.UpdatedAt}); err != nil {
						return err
					}
					if err := tx.PutConversation(c); err != nil {
						return err
					}
					tk, err := tx.CreateTicket(bridge.Ticket{Title: fmt.Sprintf("writer %d item %d", w, i)})
					if err != nil {
						return err
					}
					id, err := tx.Enqueue(bridge.OutboxEntry{Destination: "slack", Kind: bridge.KindMessage, ConversationID: convID, Seq: c.LastSeq})
					r = result{tk.Number, id}
					return err
				})
				if err != nil {
					errs <- err
					return
				}
				results <- r
			}
		}()
	}
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(2 * time.Minute):
		t.Fatal("concurrent Updates did not finish in 2 minutes")
	}
	close(results)
	close(errs)
	for err := range errs {
		t.Fatalf("concurrent Update: %v", err)
	}
	tickets, outbox := map[uint64]bool{}, map[uint64]bool{}
	for r := range results {
		if tickets[r.ticket] || outbox[r.outbox] {
			t.Errorf("number given twice: ticket %d, outbox %d", r.ticket, r.outbox)
		}
		tickets[r.ticket], outbox[r.outbox] = true, true
	}
	for n := uint64(1); n <= writers*each; n++ {
		if !tickets[n] {
			t.Errorf("ticket number %d missing: numbers are lost or skipped", n)
		}
	}
	view(t, s, func(tx bridge.Tx) error {
		all, err := tx.Tickets(0)
		wantNoErr(t, "Tickets", err)
		ob, err := tx.Outbox("slack", 0, 0)
		wantNoErr(t, "Outbox", err)
		n, err := tx.CountConversations(bridge.StatusOpen)
		wantNoErr(t, "CountConversations", err)
		if len(all) != writers*each || len(ob) != writers*each || n != writers {
			t.Errorf("committed %d tickets, %d outbox entries, %d conversations; want %d, %d, %d", len(all), len(ob), n, writers*each, writers*each, writers)
		}
		for w := range writers {
			ms, err := tx.Messages(fmt.Sprintf("c_%d", w), 0, 0)
			wantNoErr(t, "Messages", err)
			for i, m := range ms {
				if m.Seq != uint64(i+1) || m.Text != fmt.Sprint(i) {
					t.Errorf("writer %d message %d = seq %d %q", w, i, m.Seq, m.Text)
				}
			}
			if len(ms) != each {
				t.Errorf("writer %d has %d messages, want %d", w, len(ms), each)
			}
		}
		return nil
	})
}
