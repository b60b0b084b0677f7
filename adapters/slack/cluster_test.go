package slack

import (
	"context"
	"fmt"
	"log/slog"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// clusterEngine is a node of a cluster whose store learns a thread's
// reference only after another node stored it.
type clusterEngine struct {
	Engine
	node    string
	now     time.Time
	storeAt time.Time
	lookups atomic.Int32
}

func (e *clusterEngine) Node() string   { return e.node }
func (e *clusterEngine) Now() time.Time { return e.now }
func (e *clusterEngine) ConversationByRef(ctx context.Context, adapter, ref string) (string, error) {
	e.lookups.Add(1)
	if time.Now().Before(e.storeAt) {
		return "", bridge.ErrNotFound
	}
	return "conv-1", nil
}

// In a cluster, a reply in a thread whose root another node is posting
// waits for that node to store the reference; an old unknown thread, or
// any unknown thread on a single node with no root in flight, does not.
func TestReplyWaitsForAnotherNodesRoot(t *testing.T) {
	now := time.Now()
	ts := func(d time.Duration) string { return fmt.Sprintf("%d.000100", now.Add(d).Unix()) }
	for _, tc := range []struct {
		name, node, thread string
		want               bool
	}{
		{"cluster, root just posted", "n1", ts(-time.Second), true},
		{"cluster, root an hour old", "n1", ts(-time.Hour), false},
		{"single node", "", ts(-time.Second), false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := &clusterEngine{node: tc.node, now: now, storeAt: time.Now().Add(400 * time.Millisecond)}
			a := &Adapter{engine: e, log: slog.New(slog.DiscardHandler)}
			start := time.Now()
			conv, ok, err := a.conversationOf(context.Background(), "C1", tc.thread)
			if err != nil || ok != tc.want || (ok && conv != "conv-1") {
				t.Fatalf("conversationOf = %q, %v, %v; want found %v", conv, ok, err, tc.want)
			}
			if !tc.want && time.Since(start) > 100*time.Millisecond {
				t.Errorf("an unknown thread was waited for %s", time.Since(start))
			}
		})
	}
}
