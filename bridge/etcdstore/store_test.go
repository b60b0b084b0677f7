package etcdstore_test

import (
	"context"
	"errors"
	"fmt"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	clientv3 "go.etcd.io/etcd/client/v3"
)

func cluster(t *testing.T) *testpeer.EtcdCluster {
	t.Helper()
	c := testpeer.Etcd(t, 1)
	return c
}

type deliverer struct{ name string }

func (d deliverer) Name() string                   { return d.name }
func (d deliverer) Wants(k bridge.OutboxKind) bool { return true }
func (d deliverer) Deliver(context.Context, bridge.Delivery) (bridge.Receipt, error) {
	return bridge.Receipt{}, nil
}

// TestRoundTripsPerAppend measures the etcd round trips of a visitor
// message through the engine: the first read (client id, visitor and their
// conversations in one), the conversation, the commit.
func TestRoundTripsPerAppend(t *testing.T) {
	s := openOn(t, cluster(t), etcdstore.Config{})
	defer s.Close()
	e, err := bridge.New(bridge.Config{}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"slack", "matrix"} {
		if err := e.Register(deliverer{d}); err != nil {
			t.Fatal(err)
		}
	}
	ctx := context.Background()
	_, v, err := e.StartSession(ctx, bridge.SessionInput{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := e.VisitorMessage(ctx, v.ID, "warm-up", "hello"); err != nil {
		t.Fatal(err)
	}
	const n = 20
	st := s.Stats()
	reads, commits := st.Reads.Load(), st.Commits.Load()
	for i := range n {
		if _, err := e.VisitorMessage(ctx, v.ID, fmt.Sprint("k", i), fmt.Sprint("message ", i)); err != nil {
			t.Fatal(err)
		}
	}
	r := float64(st.Reads.Load()-reads) / n
	c := float64(st.Commits.Load()-commits) / n
	t.Logf("per visitor message: %.1f reads + %.1f commits", r, c)
	if r+c > 3 {
		t.Errorf("%.1f round trips per visitor message, want at most 3", r+c)
	}
}

// TestLargeTransaction writes more than etcd takes in one transaction
// (its default 128 operations and 1.5 MiB): it is applied whole, through
// the redo log, and a record too large for any request is refused clearly.
func TestLargeTransaction(t *testing.T) {
	s := openOn(t, cluster(t), etcdstore.Config{})
	defer s.Close()
	ctx := context.Background()
	big := strings.Repeat("x", 200<<10)
	err := s.Update(ctx, func(tx bridge.Tx) error {
		for i := range 500 {
			if err := tx.PutState("bulk", fmt.Sprint(i), []byte(fmt.Sprint(i))); err != nil {
				return err
			}
		}
		for i := range 12 { // 2.4 MB in all
			if err := tx.PutState("big", fmt.Sprint(i), []byte(big)); err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		t.Fatalf("large Update: %v", err)
	}
	if s.Stats().BigCommits.Load() == 0 {
		t.Error("no transaction went through the redo log")
	}
	err = s.View(ctx, func(tx bridge.Tx) error {
		for i := range 500 {
			v, err := tx.GetState("bulk", fmt.Sprint(i))
			if err != nil || string(v) != fmt.Sprint(i) {
				return fmt.Errorf("bulk %d = %q, %v", i, v, err)
			}
		}
		v, err := tx.GetState("big", "11")
		if err != nil || len(v) != len(big) {
			return fmt.Errorf("big 11: %d bytes, %v", len(v), err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	// A message with a long text (1 MB) is stored.
	long := strings.Repeat("é", 500<<10)
	err = s.Update(ctx, func(tx bridge.Tx) error {
		return tx.PutMessage(bridge.Message{ConversationID: "c_1", Seq: 1, Text: long})
	})
	if err != nil {
		t.Errorf("a 1 MB message: %v", err)
	}
	// One beyond etcd's request limit is refused, saying why.
	err = s.Update(ctx, func(tx bridge.Tx) error {
		return tx.PutMessage(bridge.Message{ConversationID: "c_1", Seq: 2, Text: strings.Repeat("x", 2<<20)})
	})
	if !errors.Is(err, etcdstore.ErrTooLarge) || !errors.Is(err, bridge.ErrInvalid) || !strings.Contains(err.Error(), "max-request-bytes") {
		t.Errorf("a 2 MiB message: %v, want ErrTooLarge naming max-request-bytes", err)
	}
}

// TestTwoNodes runs ticket numbering and conversation appends from two
// stores (as two nodes would) at once: numbers stay consecutive and no
// message is lost or numbered twice.
func TestTwoNodes(t *testing.T) {
	c := cluster(t)
	a := openOn(t, c, etcdstore.Config{Prefix: "/two/"})
	b := openOn(t, c, etcdstore.Config{Prefix: "/two/"})
	defer a.Close()
	defer b.Close()
	ctx := context.Background()
	const each = 25
	var wg sync.WaitGroup
	errs := make(chan error, 2*each)
	for _, s := range []*etcdstore.Store{a, b} {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range each {
				errs <- s.Update(ctx, func(tx bridge.Tx) error {
					c, err := tx.Conversation("c_shared")
					if errors.Is(err, bridge.ErrNotFound) {
						c, err = bridge.Conversation{ID: "c_shared", VisitorID: "v_1", Status: bridge.StatusOpen}, nil
					}
					if err != nil {
						return err
					}
					c.LastSeq++
					if err := tx.PutMessage(bridge.Message{ConversationID: c.ID, Seq: c.LastSeq, Text: fmt.Sprint(c.LastSeq)}); err != nil {
						return err
					}
					if _, err := tx.CreateTicket(bridge.Ticket{Title: "t"}); err != nil {
						return err
					}
					return tx.PutConversation(c)
				})
			}
		}()
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	err := a.View(ctx, func(tx bridge.Tx) error {
		ms, err := tx.Messages("c_shared", 0, 0)
		if err != nil {
			return err
		}
		if len(ms) != 2*each || ms[len(ms)-1].Seq != 2*each {
			t.Errorf("%d messages, last seq %d; want %d", len(ms), ms[len(ms)-1].Seq, 2*each)
		}
		ts, err := tx.Tickets(0)
		if err != nil {
			return err
		}
		if len(ts) != 2*each || ts[0].Number != 2*each {
			t.Errorf("%d tickets, newest %d; want %d", len(ts), ts[0].Number, 2*each)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("conflicts: node a %d, node b %d", a.Stats().Conflicts.Load(), b.Stats().Conflicts.Load())
}

// TestSeenLeases: de-dup records live on leases, shared by records that
// expire in the same bucket, and vanish with them.
func TestSeenLeases(t *testing.T) {
	s := openOn(t, cluster(t), etcdstore.Config{})
	defer s.Close()
	ctx := context.Background()
	now := time.Now()
	for _, k := range []string{"slack:E1", "slack:E2"} {
		err := s.Update(ctx, func(tx bridge.Tx) error { _, err := tx.MarkSeen(k, now, now.Add(time.Hour)); return err })
		if err != nil {
			t.Fatal(err)
		}
	}
	resp, err := s.Client().Get(ctx, s.Prefix()+"seen/", clientv3.WithPrefix())
	if err != nil {
		t.Fatal(err)
	}
	if len(resp.Kvs) != 2 || resp.Kvs[0].Lease == 0 || resp.Kvs[0].Lease != resp.Kvs[1].Lease {
		t.Fatalf("de-dup records %v: want two on one lease", resp.Kvs)
	}
	ttl, err := s.Client().TimeToLive(ctx, clientv3.LeaseID(resp.Kvs[0].Lease))
	if err != nil {
		t.Fatal(err)
	}
	if ttl.TTL < 3600 || ttl.TTL > 3600+2*300+60 {
		t.Errorf("lease TTL %d s for records expiring in an hour", ttl.TTL)
	}
	if _, err := s.Client().Revoke(ctx, clientv3.LeaseID(resp.Kvs[0].Lease)); err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx bridge.Tx) error {
		seen, err := tx.Seen("slack:E1", now)
		if seen {
			t.Error("a record whose lease ended is still seen")
		}
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	// A lease that vanished is replaced, not an error.
	err = s.Update(ctx, func(tx bridge.Tx) error { _, err := tx.MarkSeen("slack:E3", now, now.Add(time.Hour)); return err })
	if err != nil {
		t.Errorf("MarkSeen after its cached lease was revoked: %v", err)
	}
}
