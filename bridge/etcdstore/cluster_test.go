package etcdstore_test

import (
	"context"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// recorder is the one "other side" of every node's destination: it counts
// each delivery, by conversation and seq, and which node made it.
type recorder struct {
	mu    sync.Mutex
	got   map[string][]uint64 // conversation → seqs in delivery order
	nodes map[string]int
	busy  int // deliveries in flight at once (must stay ≤ 1)
	max   int
}

type sink struct {
	r    *recorder
	node string
}

func (s sink) Name() string                   { return "sink" }
func (s sink) Wants(k bridge.OutboxKind) bool { return k == bridge.KindMessage }
func (s sink) Deliver(ctx context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	r := s.r
	r.mu.Lock()
	r.busy++
	r.max = max(r.max, r.busy)
	r.mu.Unlock()
	time.Sleep(time.Millisecond)
	r.mu.Lock()
	defer r.mu.Unlock()
	r.busy--
	r.got[d.Conversation.ID] = append(r.got[d.Conversation.ID], d.Message.Seq)
	r.nodes[s.node]++
	return bridge.Receipt{}, nil
}

type node struct {
	name   string
	store  *etcdstore.Store
	engine *bridge.Engine
	cancel context.CancelFunc
	done   chan struct{}
}

func startNode(t *testing.T, c *testpeer.EtcdCluster, prefix, name string, r *recorder) *node {
	t.Helper()
	s := openOn(t, c, etcdstore.Config{Prefix: prefix, Node: name, LeaseTTL: 2 * time.Second})
	e, err := bridge.New(bridge.Config{RetryMin: 50 * time.Millisecond}, s, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := e.Register(sink{r: r, node: name}); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	n := &node{name: name, store: s, engine: e, cancel: cancel, done: make(chan struct{})}
	go func() { defer close(n.done); _ = e.Run(ctx) }()
	t.Cleanup(n.stop)
	return n
}

func (n *node) stop() {
	n.cancel()
	<-n.done
	n.store.Close()
}

// TestEngineCluster runs three engines (nodes) on one store: a visitor's
// subscription on one node hears what another node committed, one node at
// a time delivers, every message exactly once and in order, also when the
// delivering node stops mid-load.
func TestEngineCluster(t *testing.T) {
	c := testpeer.Etcd(t, 1)
	r := &recorder{got: map[string][]uint64{}, nodes: map[string]int{}}
	var nodes []*node
	for i := range 3 {
		nodes = append(nodes, startNode(t, c, "/engine-cluster/", fmt.Sprintf("n%d", i), r))
	}
	ctx := context.Background()
	_, v, err := nodes[0].engine.StartSession(ctx, bridge.SessionInput{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	// A subscription on node 2 hears a message committed on node 0.
	sub := nodes[2].engine.Hub().SubscribeVisitor(v.ID)
	defer sub.Close()
	m, err := nodes[0].engine.VisitorMessage(ctx, v.ID, "k0", "hello")
	if err != nil {
		t.Fatal(err)
	}
	select {
	case ev := <-sub.C:
		if ev.ConversationID != m.ConversationID {
			t.Errorf("event %+v, want conversation %s", ev, m.ConversationID)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("node 2 heard nothing of node 0's commit")
	}
	// Load from every node; stop the leader of the sink half-way.
	var visitors []string
	for i := range 6 {
		_, v, err := nodes[i%3].engine.StartSession(ctx, bridge.SessionInput{})
		if err != nil {
			t.Fatal(err)
		}
		visitors = append(visitors, v.ID)
	}
	const each = 20
	var stopped string
	for k := range each {
		if k == each/2 {
			for _, n := range nodes {
				if len(n.engine.Singletons()) > 0 {
					stopped = n.name
					n.stop()
					break
				}
			}
		}
		for i, vid := range visitors {
			n := nodes[i%3]
			if n.name == stopped {
				n = nodes[(i+1)%3]
				if n.name == stopped {
					n = nodes[(i+2)%3]
				}
			}
			if _, err := n.engine.VisitorMessage(ctx, vid, fmt.Sprint("k", k), fmt.Sprint("m", k)); err != nil {
				t.Fatal(err)
			}
		}
	}
	if stopped == "" {
		t.Fatal("no node led the sink's delivery")
	}
	deadline := time.Now().Add(30 * time.Second)
	for {
		r.mu.Lock()
		n := 0
		for _, seqs := range r.got {
			n += len(seqs)
		}
		r.mu.Unlock()
		if n >= 1+6*each {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("%d of %d messages delivered", n, 1+6*each)
		}
		time.Sleep(20 * time.Millisecond)
	}
	time.Sleep(200 * time.Millisecond) // duplicates would come now
	r.mu.Lock()
	defer r.mu.Unlock()
	for conv, seqs := range r.got {
		for i, s := range seqs {
			if s != uint64(i+1) {
				t.Fatalf("conversation %s got seqs %v: want 1..%d once each, in order", conv, seqs, len(seqs))
			}
		}
	}
	if r.max > 1 {
		t.Errorf("%d deliveries at once: more than one node delivered", r.max)
	}
	t.Logf("deliveries by node: %v (stopped %s)", r.nodes, stopped)
}

// TestPresenceAcrossNodes: a visitor connected to one node is not away
// for another (the offline e-mail is decided wherever the delivery runs),
// nor just after leaving; a node that stops takes its records with it.
func TestPresenceAcrossNodes(t *testing.T) {
	c := testpeer.Etcd(t, 1)
	r := &recorder{got: map[string][]uint64{}, nodes: map[string]int{}}
	a := startNode(t, c, "/presence/", "a", r)
	b := startNode(t, c, "/presence/", "b", r)
	ctx := context.Background()
	_, v, err := a.engine.StartSession(ctx, bridge.SessionInput{Name: "Ada"})
	if err != nil {
		t.Fatal(err)
	}
	const d = 300 * time.Millisecond
	waitAway := func(n *node, want bool, what string) {
		t.Helper()
		deadline := time.Now().Add(10 * time.Second)
		for n.engine.Away(ctx, v.ID, d) != want {
			if time.Now().After(deadline) {
				t.Fatalf("%s: node %s says away = %v", what, n.name, !want)
			}
			time.Sleep(20 * time.Millisecond)
		}
	}
	if !a.engine.Away(ctx, v.ID, d) {
		t.Fatal("a visitor never connected is not away")
	}
	sub := b.engine.Hub().SubscribeVisitor(v.ID)
	waitAway(a, false, "connected to b")
	time.Sleep(2 * d)
	if a.engine.Away(ctx, v.ID, d) {
		t.Fatal("a visitor still connected to b became away for a")
	}
	sub.Close()
	if a.engine.Away(ctx, v.ID, time.Hour) {
		t.Error("a visitor who left b a moment ago is away for an hour's threshold")
	}
	waitAway(a, true, "left b")

	// A burst of connections (more than one etcd transaction's operations)
	// is shared too.
	var subs []*bridge.Subscription
	for i := range 300 {
		subs = append(subs, b.engine.Hub().SubscribeVisitor(fmt.Sprint("burst-", i)))
	}
	deadline := time.Now().Add(10 * time.Second)
	for i := 0; i < 300; {
		if a.engine.Away(ctx, fmt.Sprint("burst-", i), d) {
			if time.Now().After(deadline) {
				t.Fatalf("visitor burst-%d connected to b is away for a", i)
			}
			time.Sleep(20 * time.Millisecond)
			continue
		}
		i++
	}
	for _, s := range subs {
		s.Close()
	}

	// Connected to b again; b stops: its records end with it.
	sub = b.engine.Hub().SubscribeVisitor(v.ID)
	waitAway(a, false, "connected to b again")
	sub.Close()
	b.stop()
	ps, err := a.store.Presence(ctx, v.ID)
	if err != nil {
		t.Fatal(err)
	}
	if len(ps) != 0 {
		t.Errorf("records of a stopped node: %+v", ps)
	}
}
