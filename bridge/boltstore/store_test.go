package boltstore_test

import (
	"context"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	bolt "go.etcd.io/bbolt"
)

func openTemp(t *testing.T) (*boltstore.Store, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "sub", "chatbridge.db")
	s, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	t.Cleanup(func() { _ = s.Close() })
	return s, path
}

func TestReopenKeepsData(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	at := time.Date(2025, 3, 4, 5, 6, 7, 8, time.UTC)
	var ticket bridge.Ticket
	err := s.Update(ctx, func(tx bridge.Tx) error {
		if err := tx.PutVisitor(bridge.Visitor{ID: "v1", Name: "Ada", CreatedAt: at}); err != nil {
			return err
		}
		var err error
		ticket, err = tx.CreateTicket(bridge.Ticket{Title: "Broken invoice", CreatedAt: at})
		return err
	})
	if err != nil {
		t.Fatalf("Update: %v", err)
	}
	if err := s.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	s2, err := boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatalf("reopen: %v", err)
	}
	defer s2.Close()
	err = s2.View(ctx, func(tx bridge.Tx) error {
		v, err := tx.Visitor("v1")
		if err != nil {
			return err
		}
		if v.Name != "Ada" || !v.CreatedAt.Equal(at) {
			t.Errorf("visitor after reopen = %+v", v)
		}
		got, _, err := tx.SearchTickets([]string{"invoice"}, 0)
		if err != nil {
			return err
		}
		if len(got) != 1 || got[0] != ticket.Number {
			t.Errorf("search after reopen = %v, want [%d]", got, ticket.Number)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("View: %v", err)
	}
	// Numbering continues after a reopen.
	err = s2.Update(ctx, func(tx bridge.Tx) error {
		tk, err := tx.CreateTicket(bridge.Ticket{Title: "second"})
		if err == nil && tk.Number != ticket.Number+1 {
			t.Errorf("ticket number after reopen = %d, want %d", tk.Number, ticket.Number+1)
		}
		return err
	})
	if err != nil {
		t.Fatalf("Update after reopen: %v", err)
	}
}

func TestSchemaTooNewIsRefused(t *testing.T) {
	s, path := openTemp(t)
	if err := s.Close(); err != nil {
		t.Fatal(err)
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, 7})
	})
	if cerr := db.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		t.Fatal(err)
	}
	s2, err := boltstore.Open(path, boltstore.Options{})
	if err == nil {
		s2.Close()
		t.Fatal("Open accepted a store with schema version 7")
	}
	if !errors.Is(err, bridge.ErrSchemaTooNew) {
		t.Errorf("error %v does not wrap bridge.ErrSchemaTooNew", err)
	}
	want := fmt.Sprintf("store schema version 7 is newer than this chatbridge supports (%d); upgrade chatbridge", boltstore.SchemaVersion)
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
}

func TestSecondOpenIsLocked(t *testing.T) {
	_, path := openTemp(t)
	start := time.Now()
	s2, err := boltstore.Open(path, boltstore.Options{Timeout: 100 * time.Millisecond})
	if err == nil {
		s2.Close()
		t.Fatal("second Open of a held store succeeded")
	}
	if !errors.Is(err, boltstore.ErrLocked) {
		t.Fatalf("second Open: %v, want an error wrapping ErrLocked", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("second Open took %v with a 100ms timeout", d)
	}
}

func TestEngineVisitorMessage(t *testing.T) {
	ctx := context.Background()
	s, _ := openTemp(t)
	e, err := bridge.New(bridge.Config{}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, v, err := e.StartSession(ctx, bridge.SessionInput{Name: "Ada"})
	if err != nil {
		t.Fatalf("StartSession: %v", err)
	}
	m1, err := e.VisitorMessage(ctx, v.ID, "c1", "hello")
	if err != nil {
		t.Fatalf("VisitorMessage: %v", err)
	}
	m2, err := e.VisitorMessage(ctx, v.ID, "c2", "again")
	if err != nil {
		t.Fatalf("VisitorMessage: %v", err)
	}
	dup, err := e.VisitorMessage(ctx, v.ID, "c1", "hello")
	if err != nil {
		t.Fatalf("VisitorMessage dup: %v", err)
	}
	if m1.ConversationID != m2.ConversationID || m1.Seq != 1 || m2.Seq != 2 || dup.Seq != 1 {
		t.Errorf("messages: %+v %+v dup %+v", m1, m2, dup)
	}
	view, err := e.VisitorMessages(ctx, v.ID, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(view.Messages) != 2 || view.Conversation.LastSeq != 2 {
		t.Errorf("view = %+v", view)
	}
}

// A schema-1 store (no public sequence numbers) is migrated on open: its
// public messages keep the numbers clients already hold, and new ones
// continue after them.
func TestMigratePublicSeq(t *testing.T) {
	s, path := openTemp(t)
	ctx := context.Background()
	at := time.Date(2026, 11, 1, 10, 0, 0, 0, time.UTC)
	err := s.Update(ctx, func(tx bridge.Tx) error {
		if err := tx.PutVisitor(bridge.Visitor{ID: "v_1", CreatedAt: at}); err != nil {
			return err
		}
		if err := tx.PutConversation(bridge.Conversation{ID: "c_1", VisitorID: "v_1", Status: bridge.StatusOpen, CreatedAt: at, UpdatedAt: at, LastSeq: 3}); err != nil {
			return err
		}
		for _, m := range []bridge.Message{
			{Seq: 1, From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Text: "hi"},
			{Seq: 2, From: bridge.FromOperator, Visibility: bridge.VisibilityNote, Text: "note"},
			{Seq: 3, From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Text: "hello"},
		} {
			m.ConversationID, m.At = "c_1", at
			if err := tx.PutMessage(m); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, 1})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	eng, _ := bridge.New(bridge.Config{}, s, nil)
	view, err := eng.VisitorMessages(ctx, "v_1", "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var seqs []uint64
	for _, m := range view.Messages {
		seqs = append(seqs, m.PublicSeq)
	}
	if fmt.Sprint(seqs) != "[1 3]" {
		t.Fatalf("public seqs after migration %v, want [1 3]", seqs)
	}
	m, err := eng.VisitorMessage(ctx, "v_1", "new", "after the upgrade")
	if err != nil {
		t.Fatal(err)
	}
	if m.PublicSeq != 4 || m.Seq != 4 {
		t.Fatalf("new message seq %d public %d, want 4 and 4", m.Seq, m.PublicSeq)
	}
	view, _ = eng.VisitorMessages(ctx, "v_1", "", 3, 0)
	if len(view.Messages) != 1 || view.Messages[0].Text != "after the upgrade" {
		t.Fatalf("a client resuming after 3 gets %+v", view.Messages)
	}
}

// A store written by the previous version (schema 2: JSON records, index
// times in nanoseconds; testdata/schema2.db has three conversations, one
// closed, with replies, notes, outbox entries and tickets) opens as
// schema 3: everything reads back, conversations get their revisions, new
// writes use the binary form, and old index entries move cleanly.
func TestMigrateFromSchema2(t *testing.T) {
	src, err := os.ReadFile("testdata/schema2.db")
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "chatbridge.db")
	if err := os.WriteFile(path, src, 0o600); err != nil {
		t.Fatal(err)
	}
	st, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	ctx := context.Background()
	var convs []bridge.Conversation
	err = st.View(ctx, func(tx bridge.Tx) error {
		var err error
		if convs, err = tx.Conversations(bridge.ConversationFilter{}); err != nil {
			return err
		}
		for _, c := range convs {
			msgs, err := tx.Messages(c.ID, 0, 0)
			if err != nil {
				return err
			}
			if len(msgs) < 4 || msgs[0].From != bridge.FromVisitor || !strings.HasPrefix(msgs[0].Text, "Hello from") {
				t.Errorf("conversation %s: messages %+v", c.ID, msgs)
			}
			if c.LastRevision != c.LastPublicSeq || c.LastRevision == 0 {
				t.Errorf("conversation %s: LastRevision %d, LastPublicSeq %d", c.ID, c.LastRevision, c.LastPublicSeq)
			}
		}
		tickets, err := tx.Tickets(0)
		if err != nil || len(tickets) != 3 {
			t.Errorf("tickets %d, %v", len(tickets), err)
		}
		// The ticket index moved to blocks of 4,096: every ticket is found
		// by each of its words.
		for _, tk := range tickets {
			for _, term := range bridge.TicketTerms(tk) {
				found, total, err := tx.SearchTickets([]string{term}, 0)
				if err != nil || !slices.Contains(found, tk.Number) || total != len(found) {
					t.Errorf("search %q: %v (%d), %v; want ticket %d among them", term, found, total, err, tk.Number)
				}
			}
		}
		depth, err := tx.OutboxDepth()
		if err != nil || depth["slack"] == 0 {
			t.Errorf("outbox %v, %v", depth, err)
		}
		entries, err := tx.Outbox("slack", 0, 0)
		if err != nil || len(entries) != depth["slack"] || entries[0].Destination != "slack" || entries[0].CreatedAt.IsZero() {
			t.Errorf("outbox entries %+v, %v", entries, err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(convs) != 3 {
		t.Fatalf("%d conversations, want 3", len(convs))
	}
	// The engine goes on where the old version stopped.
	e, err := bridge.New(bridge.Config{}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	var open bridge.Conversation
	for _, c := range convs {
		if c.Status == bridge.StatusOpen {
			open = c
		}
	}
	m, err := e.VisitorMessage(ctx, open.VisitorID, "after-upgrade", "still there?")
	if err != nil {
		t.Fatal(err)
	}
	if m.ConversationID != open.ID || m.PublicSeq != open.LastPublicSeq+1 || m.Revision != open.LastRevision+1 {
		t.Fatalf("new message %+v after %+v", m, open)
	}
	again, err := e.VisitorMessage(ctx, open.VisitorID, "c1", "a retry of the first message")
	if err != nil || again.Seq != 1 {
		t.Fatalf("a client id from before the upgrade: %+v, %v", again, err)
	}
	got, err := e.Conversations(ctx, bridge.ConversationFilter{Status: bridge.StatusOpen})
	if err != nil || len(got) != 2 || got[0].Conversation.ID != open.ID {
		t.Fatalf("open conversations after a write: %+v, %v", got, err)
	}
	n, err := e.CountConversations(ctx, "")
	if err != nil || n != 3 {
		t.Fatalf("count %d, %v", n, err)
	}
}
