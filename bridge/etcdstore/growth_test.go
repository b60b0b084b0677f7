package etcdstore_test

import (
	"context"
	"fmt"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	clientv3 "go.etcd.io/etcd/client/v3"
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

// TestBoundedGrowthWithRetention: under a steady load of new conversations
// (a visitor, messages of 2 KB, a file each) that get closed, the live data
// grows for ever unless retention deletes them; with Engine.Purge run
// after every round and Maintain compacting, the keys under the prefix and
// the database in use both stay bounded.
func TestBoundedGrowthWithRetention(t *testing.T) {
	c := testpeer.Etcd(t, 1)
	s := openOn(t, c, etcdstore.Config{})
	defer s.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go func() { _ = s.Maintain(ctx, 200*time.Millisecond, 300*time.Millisecond) }()
	e, err := bridge.New(bridge.Config{}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	blobs, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	text := strings.Repeat("x", 2000)
	n := 0
	round := func() {
		for range 30 {
			n++
			_, v, err := e.StartSession(ctx, bridge.SessionInput{Name: "V"})
			if err != nil {
				t.Fatal(err)
			}
			sum := fmt.Sprintf("%064x", n)
			if err := blobs.Put(ctx, bridge.BlobKey(sum), strings.NewReader("png"), 3); err != nil {
				t.Fatal(err)
			}
			file := &bridge.Attachment{Key: bridge.BlobKey(sum), Name: "f.png", Type: "image/png", Size: 3, SHA256: sum}
			if _, err := e.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: "f", File: file}); err != nil {
				t.Fatal(err)
			}
			for i := range 3 {
				if _, err := e.VisitorMessage(ctx, v.ID, fmt.Sprint(i), text); err != nil {
					t.Fatal(err)
				}
			}
			if err := e.CloseByVisitor(ctx, v.ID); err != nil {
				t.Fatal(err)
			}
		}
	}
	keys := func() int64 {
		resp, err := s.Client().Get(ctx, s.Prefix(), clientv3.WithPrefix(), clientv3.WithCountOnly())
		if err != nil {
			t.Fatal(err)
		}
		return resp.Count
	}
	size := func() int64 {
		time.Sleep(600 * time.Millisecond) // a compaction passes
		st, err := s.Status(ctx)
		if err != nil {
			t.Fatal(err)
		}
		return st.DBSizeInUse
	}
	var sizes, counts, peaks, peakCounts []int64
	purged := 0
	for range 8 {
		round()
		time.Sleep(500 * time.Millisecond) // closed a second before the cutoff
		peaks, peakCounts = append(peaks, size()), append(peakCounts, keys())
		res, err := e.Purge(ctx, bridge.PurgeOptions{ClosedBefore: time.Now()})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.DropPurgedBlobs(ctx, blobs); err != nil {
			t.Fatal(err)
		}
		purged += res.Conversations
		sizes, counts = append(sizes, size()), append(counts, keys())
	}
	t.Logf("%d conversations written, %d purged; keys under the prefix before and after each purge %v %v; database in use (bytes) before and after each purge %v %v",
		n, purged, peakCounts, counts, peaks, sizes)
	if purged != n {
		t.Errorf("purged %d of %d closed conversations", purged, n)
	}
	// Each round writes 30 × (4 messages, about 6 KB of text, and their
	// indexes): kept, eight rounds would hold about 1.3 MB and 2,500 keys
	// more than the first.
	if last, first := counts[len(counts)-1], counts[1]; last > first+50 {
		t.Errorf("keys grew from %d to %d under a steady load with retention", first, last)
	}
	if last, first := sizes[len(sizes)-1], sizes[1]; last > first+1<<20 {
		t.Errorf("database in use grew from %d to %d bytes under a steady load with retention", first, last)
	}
	if last, first := peaks[len(peaks)-1], peaks[1]; last > first+1<<20 {
		t.Errorf("database in use before each purge grew from %d to %d bytes", first, last)
	}
}
