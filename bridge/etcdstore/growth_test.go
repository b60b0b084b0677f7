package etcdstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// TestBoundedGrowth: under a steady load whose live data stays the same
// size (conversations rewritten, outbox entries enqueued and acked, state
// overwritten) etcd's history grows until compacted; with Maintain
// compacting it, the database in use stays bounded (measured with the
// maintenance Status API).
func TestBoundedGrowth(t *testing.T) {
	c := testpeer.Etcd(t, 1)
	s := openOn(t, c, etcdstore.Config{})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Maintain(ctx, 200*time.Millisecond, 300*time.Millisecond) }()
	text := strings.Repeat("x", 2000)
	round := func(r int) {
		for i := range 50 {
			err := s.Update(ctx, func(tx bridge.Tx) error {
				conv := fmt.Sprint("c_", i)
				if err := tx.PutConversation(bridge.Conversation{ID: conv, VisitorID: "v_1", Status: bridge.StatusOpen, Preview: text, LastSeq: uint64(r)}); err != nil {
					return err
				}
				if err := tx.PutState("load", conv, []byte(text)); err != nil {
					return err
				}
				id, err := tx.Enqueue(bridge.OutboxEntry{Destination: "slack", Kind: bridge.KindMessage, ConversationID: conv, LastError: text})
				if err != nil {
					return err
				}
				return tx.DeleteOutbox("slack", id) // delivered at once
			})
			if err != nil {
				t.Fatal(err)
			}
		}
	}
	var sizes []int64
	for r := range 12 {
		round(r)
		time.Sleep(600 * time.Millisecond) // a compaction passes
		st, err := s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		sizes = append(sizes, st.DBSizeInUse)
	}
	t.Logf("database in use after each round (bytes): %v", sizes)
	// Each round writes about 50 × 3 × 2 KB = 300 KB of new revisions:
	// uncompacted, twelve rounds would hold 3.6 MB more than the first.
	if last, first := sizes[len(sizes)-1], sizes[1]; last > first+1<<20 {
		t.Errorf("database in use grew from %d to %d bytes under a steady load with compaction", first, last)
	}
}
