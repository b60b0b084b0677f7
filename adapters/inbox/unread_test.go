package inbox

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

// TestSeenMarksBounded keeps only a few last-viewed marks in memory and
// checks that unread counts stay right for the marks it dropped (they are
// read back from the store).
func TestSeenMarksBounded(t *testing.T) {
	const capacity = 3
	f := newFixture(t, Config{})
	f.inbox.seen.max = capacity
	var convs, visitors []string
	for i := range 6 {
		vid, m := f.visitorSays("", fmt.Sprintf("V%d", i), "hello")
		f.visitorSays(vid, "", "still there?")
		visitors, convs = append(visitors, vid), append(convs, m.ConversationID)
	}
	a, b := f.login(alice), f.login(bob)
	for _, id := range convs {
		a.conversation(id)
	}
	b.list("open")
	if n := f.inbox.seen.len(); n > capacity {
		t.Fatalf("memory holds %d last-viewed marks, want at most %d", n, capacity)
	}
	for _, vid := range visitors {
		f.visitorSays(vid, "", "one more")
	}
	for _, tc := range []struct {
		name string
		c    *client
		want int
	}{
		{"alice, who viewed every conversation", a, 1},
		{"bob, who viewed none", b, 3},
	} {
		items := tc.c.list("open")
		for _, id := range convs {
			if it, ok := findItem(items, id); !ok || it.Unread != tc.want {
				t.Errorf("%s: conversation %s unread = %d (listed %v), want %d", tc.name, id, it.Unread, ok, tc.want)
			}
		}
	}
	if n := f.inbox.seen.len(); n > capacity {
		t.Errorf("after listing, memory holds %d marks, want at most %d", n, capacity)
	}
	// Viewing again with a dropped mark neither writes an older mark nor
	// loses the newer one.
	a.conversation(convs[0])
	if it, _ := findItem(a.list("open"), convs[0]); it.Unread != 0 {
		t.Errorf("after viewing again: unread %d, want 0", it.Unread)
	}
}

// readCountingStore records the Messages reads made in View transactions.
type readCountingStore struct {
	bridge.Store
	mu    sync.Mutex
	reads []messagesRead
}

type messagesRead struct{ limit, got int }

func (s *readCountingStore) View(ctx context.Context, fn func(bridge.Tx) error) error {
	return s.Store.View(ctx, func(tx bridge.Tx) error { return fn(readCountingTx{tx, s}) })
}

type readCountingTx struct {
	bridge.Tx
	s *readCountingStore
}

func (tx readCountingTx) Messages(conversationID string, after uint64, limit int) ([]bridge.Message, error) {
	msgs, err := tx.Tx.Messages(conversationID, after, limit)
	tx.s.mu.Lock()
	tx.s.reads = append(tx.s.reads, messagesRead{limit, len(msgs)})
	tx.s.mu.Unlock()
	return msgs, err
}

// TestUnreadCountIsBoundedRead: a conversation with far more unread
// messages than the badge shows is counted with a bounded read.
func TestUnreadCountIsBoundedRead(t *testing.T) {
	const total = 250
	counting := &readCountingStore{}
	f := newFixtureWith(t, Config{}, func(st bridge.Store) bridge.Store { counting.Store = st; return counting })
	_, first := f.visitorSays("", "Vera", "message 1")
	err := f.store.Update(f.ctx, func(tx bridge.Tx) error { // a long conversation, written directly
		c, err := tx.Conversation(first.ConversationID)
		if err != nil {
			return err
		}
		for c.LastSeq < total {
			c.LastSeq++
			m := first
			m.Seq, m.ClientID, m.Text = c.LastSeq, "", fmt.Sprintf("message %d", c.LastSeq)
			if err := tx.PutMessage(m); err != nil {
				return err
			}
		}
		return tx.PutConversation(c)
	})
	if err != nil {
		t.Fatal(err)
	}
	a := f.login(alice)
	counting.mu.Lock()
	counting.reads = nil // only the reads below
	counting.mu.Unlock()

	it, ok := findItem(a.list("open"), first.ConversationID)
	if !ok || it.Unread != unreadCap {
		t.Errorf("unread = %d (listed %v), want the cap %d", it.Unread, ok, unreadCap)
	}
	if _, html, _ := a.get("/inbox/"); !strings.Contains(html, `title="unread messages">99&#43;</span>`) {
		t.Errorf("the list page does not show 99+ unread")
	}
	counting.mu.Lock()
	defer counting.mu.Unlock()
	if len(counting.reads) == 0 {
		t.Fatal("no message reads recorded")
	}
	for _, r := range counting.reads {
		if r.limit <= 0 || r.limit > unreadScan || r.got > unreadScan {
			t.Errorf("a list read asked for limit %d and got %d messages, want a limit of 1 to %d", r.limit, r.got, unreadScan)
		}
	}
}
