package bridge

import (
	"context"
	"errors"
	"slices"
	"time"
)

// Cluster is an optional capability of a Store that several chatbridge
// nodes share (the etcd store); the engine detects it with a type
// assertion. A single-node store (bbolt) does not need it: every effect of
// a commit then happens in the one process that committed.
//
// With it, the effects of a commit also happen on the other nodes: the
// engine publishes hub events for conversations changed elsewhere (a
// visitor's long poll on node B hears an operator's reply handled on node
// A), outbox workers wake for entries enqueued elsewhere, and singletons run
// on one node at a time under elections: the delivery to each destination
// (so a destination's pace holds across the cluster) and whatever adapters
// run through Engine.Singleton (the Matrix sync loop).
type Cluster interface {
	// Node names this node.
	Node() string
	// Follow calls fn, from one goroutine, with what other nodes committed
	// and broadcast, until ctx ends. It returns ctx's error, or an error
	// when it cannot follow at all (the caller retries).
	Follow(ctx context.Context, fn func(ClusterChange)) error
	// Broadcast sends an event that is not stored (typing) to the other
	// nodes, whose Follow passes it on. Best effort.
	Broadcast(ctx context.Context, ev Event) error
	// Campaign blocks until this node leads the singleton named name, or
	// ctx ends.
	Campaign(ctx context.Context, name string) (Leadership, error)
	// SetPresence records this node's view of visitors' live connections
	// (by visitor id; nil forgets a visitor), for as long as the node
	// lives.
	SetPresence(ctx context.Context, changes map[string]*NodePresence) error
	// Presence lists what every live node recorded for a visitor.
	Presence(ctx context.Context, visitorID string) ([]NodePresence, error)
}

// NodePresence is one node's view of a visitor's live connections
// (widget streams and long polls).
type NodePresence struct {
	Node string `json:"node,omitempty"`
	// Connected: the visitor has a live connection on the node now.
	Connected bool `json:"connected"`
	// Since is when the visitor's last connection there closed (when not
	// Connected).
	Since time.Time `json:"since"`
}

// ClusterChange is one thing another node did.
type ClusterChange struct {
	// Conversation is a conversation another node committed, Previous what
	// it was before (nil when new).
	Conversation, Previous *Conversation
	// Destination has new outbox entries.
	Destination string
	// Event is another node's broadcast.
	Event *Event
	// Resync says that changes may have been missed (the follow restarted
	// after a gap): subscribers should re-read.
	Resync bool
}

// Leadership is a node's lead of a singleton.
type Leadership interface {
	// Lost is closed when the node no longer leads (its lease ended, the
	// store is unreachable for longer than the lease, or Resign).
	Lost() <-chan struct{}
	// Valid reports whether the node still surely leads: by its own clock,
	// its lease has not run out. Check it before any effect outside the
	// store.
	Valid() bool
	// Update is Store.Update fenced by the leadership: it commits only
	// while this node leads, and fails with an error wrapping ErrFenced
	// otherwise.
	Update(ctx context.Context, fn func(Tx) error) error
	// Resign gives the lead up.
	Resign(ctx context.Context) error
}

// ErrFenced: a singleton's write was refused because this node no longer
// leads it.
var ErrFenced = errors.New("no longer the leader")

// cluster is the engine's Cluster, nil on a single node.
func (e *Engine) cluster() Cluster {
	c, _ := e.store.(Cluster)
	return c
}

// Node names this node in a cluster ("" on a single node).
func (e *Engine) Node() string {
	if c := e.cluster(); c != nil {
		return c.Node()
	}
	return ""
}

// Singletons lists the singletons this node leads now, sorted.
func (e *Engine) Singletons() []string {
	e.leadMu.Lock()
	defer e.leadMu.Unlock()
	out := make([]string, 0, len(e.leading))
	for n := range e.leading {
		out = append(out, n)
	}
	slices.Sort(out)
	return out
}

func (e *Engine) setLeading(name string, on bool) {
	e.leadMu.Lock()
	defer e.leadMu.Unlock()
	if e.leading == nil {
		e.leading = map[string]bool{}
	}
	if on {
		e.leading[name] = true
	} else {
		delete(e.leading, name)
	}
}

// Singleton runs fn on one node of a cluster at a time: this node
// campaigns for name, runs fn while it leads (fn's context ends when the
// lead is lost) and campaigns again, until ctx ends. On a single node it
// is fn(ctx). Adapters use it for work that must not run twice at once
// (the Matrix client's sync loop).
func (e *Engine) Singleton(ctx context.Context, name string, fn func(context.Context) error) error {
	c := e.cluster()
	if c == nil {
		return fn(ctx)
	}
	e.singleton(ctx, c, name, func(ctx context.Context, _ Leadership) { _ = fn(ctx) })
	return nil
}

// singleton is Singleton on a cluster, handing fn its leadership.
func (e *Engine) singleton(ctx context.Context, c Cluster, name string, fn func(context.Context, Leadership)) {
	for ctx.Err() == nil {
		err := e.lead(ctx, c, name, fn)
		if err != nil && ctx.Err() == nil {
			e.log.Warn("campaign failed", "singleton", name, "err", err)
			sleepCtx(ctx, time.Second)
		}
	}
}

// lead campaigns for name and runs fn while leading; it returns when the
// lead is lost or ctx ends (resigning then).
func (e *Engine) lead(ctx context.Context, c Cluster, name string, fn func(context.Context, Leadership)) error {
	l, err := c.Campaign(ctx, name)
	if err != nil {
		return err
	}
	start := e.cfg.Now()
	e.log.Info("leading singleton", "singleton", name)
	e.setLeading(name, true)
	lctx, cancel := context.WithCancel(ctx)
	done := make(chan struct{})
	go func() {
		defer close(done)
		fn(lctx, l)
	}()
	select {
	case <-l.Lost():
		e.log.Warn("lost the lead of a singleton", "singleton", name, "led_for", e.cfg.Now().Sub(start))
	case <-done:
	case <-ctx.Done():
	}
	cancel()
	<-done
	e.setLeading(name, false)
	rctx, rcancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
	_ = l.Resign(rctx)
	rcancel()
	return nil
}

func sleepCtx(ctx context.Context, d time.Duration) {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
	case <-t.C:
	}
}

// follow publishes on this node's hub what other nodes committed, and
// wakes the workers of destinations they enqueued for, until ctx ends.
func (e *Engine) follow(ctx context.Context, c Cluster) {
	for ctx.Err() == nil {
		err := c.Follow(ctx, e.applyChange)
		if ctx.Err() != nil {
			return
		}
		e.log.Warn("following the cluster failed, again in a second", "err", err)
		e.applyChange(ClusterChange{Resync: true})
		sleepCtx(ctx, time.Second)
	}
}

// applyChange turns another node's change into this node's effects.
func (e *Engine) applyChange(ch ClusterChange) {
	switch {
	case ch.Resync:
		e.hub.publishEveryone(Event{Kind: EventUpdated})
		e.mu.RLock()
		for _, w := range e.workers {
			w.poke()
		}
		e.mu.RUnlock()
	case ch.Destination != "":
		e.wake([]string{ch.Destination})
	case ch.Event != nil:
		e.hub.Publish(*ch.Event)
	case ch.Conversation != nil:
		for _, ev := range conversationEvents(ch.Previous, *ch.Conversation) {
			e.hub.Publish(ev)
		}
	}
}

// conversationEvents are the hub events of a conversation's change from
// prev (nil: new) to c: what the committing node published, less the
// details only it knew (a message's visibility: subscribers re-read with
// their own rights).
func conversationEvents(prev *Conversation, c Conversation) []Event {
	base := Event{VisitorID: c.VisitorID, ConversationID: c.ID}
	var out []Event
	add := func(k EventKind, seq uint64) {
		ev := base
		ev.Kind, ev.Seq = k, seq
		out = append(out, ev)
	}
	// Who wrote the newest message, as far as the record tells (operator
	// views hide a visitor's typing on it).
	from := func() From {
		var pv, po time.Time
		if prev != nil {
			pv, po = prev.LastVisitorAt, prev.LastOperatorAt
		}
		switch {
		case c.LastVisitorAt.After(pv) && !c.LastOperatorAt.After(c.LastVisitorAt):
			return FromVisitor
		case c.LastOperatorAt.After(po):
			return FromOperator
		}
		return ""
	}
	message := func() {
		add(EventMessage, c.LastSeq)
		out[len(out)-1].From = from()
	}
	if prev == nil {
		add(EventOpened, 0)
		if c.LastSeq > 0 {
			message()
		}
		return out
	}
	if c.LastSeq > prev.LastSeq {
		message()
	} else if c.LastRevision > prev.LastRevision {
		add(EventChanged, c.LastSeq)
	}
	if c.Status == StatusClosed && prev.Status != StatusClosed {
		add(EventClosed, c.LastSeq)
	}
	if !slices.Equal(prev.Operators, c.Operators) || (c.Status != prev.Status && c.Status != StatusClosed) {
		add(EventUpdated, 0)
	}
	if len(out) == 0 {
		add(EventUpdated, 0)
	}
	return out
}

// publishTyping publishes a typing event here and on the other nodes.
func (e *Engine) publishTyping(ctx context.Context, ev Event) {
	e.hub.Publish(ev)
	if c := e.cluster(); c != nil {
		go func() {
			bctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), 5*time.Second)
			defer cancel()
			if err := c.Broadcast(bctx, ev); err != nil {
				e.log.Debug("typing not broadcast", "err", err)
			}
		}()
	}
}
