package bridge

import (
	"context"
	"sync"
	"time"
)

// Presence in a cluster: a visitor's widget may hold its connection on any
// node, so whether the visitor is away (the offline e-mail's question) is
// asked of every node. Each node's hub reports when a visitor's first live
// connection there opens and when the last closes; the presence writer
// records that in the store (a node's records end with the node), and
// Engine.Away reads them.

// presenceChange is a hub's report about one visitor.
type presenceChange struct {
	connected, forget bool
	at                time.Time
}

// presenceWriter records the hub's reports in the cluster store, the
// latest per visitor, off the hub's lock.
type presenceWriter struct {
	mu      sync.Mutex
	pending map[string]presenceChange
	wake    chan struct{}
}

func newPresenceWriter() *presenceWriter {
	return &presenceWriter{pending: map[string]presenceChange{}, wake: make(chan struct{}, 1)}
}

// report queues a change; it never blocks (it runs under the hub's lock).
func (w *presenceWriter) report(visitorID string, ch presenceChange) {
	w.mu.Lock()
	w.pending[visitorID] = ch
	w.mu.Unlock()
	select {
	case w.wake <- struct{}{}:
	default:
	}
}

// run writes the queued changes, all that accumulated in one call, until
// ctx ends; changes that fail are tried again a second later unless newer
// ones replaced them.
func (w *presenceWriter) run(ctx context.Context, c Cluster, e *Engine) {
	for {
		select {
		case <-ctx.Done():
			return
		case <-w.wake:
		}
		w.mu.Lock()
		batch := w.pending
		w.pending = map[string]presenceChange{}
		w.mu.Unlock()
		changes := make(map[string]*NodePresence, len(batch))
		for id, ch := range batch {
			var p *NodePresence // nil forgets
			if !ch.forget {
				p = &NodePresence{Connected: ch.connected, Since: ch.at}
			}
			changes[id] = p
		}
		wctx, cancel := context.WithTimeout(ctx, 10*time.Second)
		err := c.SetPresence(wctx, changes)
		cancel()
		failed := 0
		if err != nil && ctx.Err() == nil {
			w.mu.Lock()
			for id, ch := range batch {
				if _, newer := w.pending[id]; !newer {
					w.pending[id] = ch
					failed++
				}
			}
			w.mu.Unlock()
		}
		if failed > 0 {
			e.log.Warn("visitor presence not shared with the other nodes, again in a second", "visitors", failed, "err", err)
			sleepCtx(ctx, time.Second)
			select { // again, with what failed
			case w.wake <- struct{}{}:
			default:
			}
		}
	}
}

// Away reports whether a visitor has had no live connection (widget stream
// or long poll) for at least d, on any node: on a single node, what the
// hub knows; in a cluster, also what the other nodes recorded. When the
// other nodes cannot be asked, this node's knowledge answers.
func (e *Engine) Away(ctx context.Context, visitorID string, d time.Duration) bool {
	if !e.hub.Away(visitorID, d) {
		return false
	}
	c := e.cluster()
	if c == nil {
		return true
	}
	ps, err := c.Presence(ctx, visitorID)
	if err != nil {
		e.log.Warn("visitor presence on the other nodes unknown; deciding on this node's", "visitor", visitorID, "err", err)
		return true
	}
	now := e.cfg.Now()
	for _, p := range ps {
		if p.Node == c.Node() {
			continue // the hub knows better
		}
		if p.Connected || now.Sub(p.Since) < d {
			return false
		}
	}
	return true
}
