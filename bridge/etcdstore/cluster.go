package etcdstore

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.etcd.io/etcd/client/v3/concurrency"
)

var _ bridge.Cluster = (*Store)(nil)

// DefaultLeaseTTL is the lease of a node's elections: a node that dies is
// replaced as the leader of its singletons after about this long.
const DefaultLeaseTTL = 10 * time.Second

// Follow watches what other nodes commit (conversations, outbox entries)
// and broadcast, and calls fn with it, until ctx ends.
func (s *Store) Follow(ctx context.Context, fn func(bridge.ClusterChange)) error {
	resp, err := s.cli.Get(ctx, s.p+kSchema)
	if err != nil {
		return fmt.Errorf("follow: %w", err)
	}
	from := resp.Header.Revision + 1
	wctx, cancel := context.WithCancel(clientv3.WithRequireLeader(ctx))
	defer cancel()
	convs := s.cli.Watch(wctx, s.p+rConv, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithPrevKV(), clientv3.WithFilterDelete())
	outbox := s.cli.Watch(wctx, s.p+rOutbox, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithFilterDelete())
	events := s.cli.Watch(wctx, s.p+rEvent, clientv3.WithPrefix(), clientv3.WithRev(from), clientv3.WithFilterDelete())
	for {
		var (
			wr   clientv3.WatchResponse
			ok   bool
			kind string
		)
		select {
		case <-ctx.Done():
			return ctx.Err()
		case wr, ok = <-convs:
			kind = rConv
		case wr, ok = <-outbox:
			kind = rOutbox
		case wr, ok = <-events:
			kind = rEvent
		}
		if !ok {
			if ctx.Err() != nil {
				return ctx.Err()
			}
			return errors.New("follow: watch closed")
		}
		if err := wr.Err(); err != nil {
			return fmt.Errorf("follow: %w", err)
		}
		for _, ev := range wr.Events {
			s.followEvent(kind, ev, fn)
		}
	}
}

func (s *Store) followEvent(kind string, ev *clientv3.Event, fn func(bridge.ClusterChange)) {
	key := string(ev.Kv.Key)
	switch kind {
	case rConv:
		if s.mine(ev.Kv.ModRevision) {
			return
		}
		var c bridge.Conversation
		if err := json.Unmarshal(ev.Kv.Value, &c); err != nil {
			s.log.Warn("follow: malformed conversation", "key", key, "err", err)
			return
		}
		ch := bridge.ClusterChange{Conversation: &c}
		if ev.PrevKv != nil {
			var p bridge.Conversation
			if json.Unmarshal(ev.PrevKv.Value, &p) == nil {
				ch.Previous = &p
			}
		}
		fn(ch)
	case rOutbox:
		if s.mine(ev.Kv.ModRevision) {
			return
		}
		rest := strings.TrimPrefix(key, s.p+rOutbox)
		if i := strings.Index(rest, sep); i > 0 {
			fn(bridge.ClusterChange{Destination: rest[:i]})
		}
	case rEvent:
		var b broadcast
		if err := json.Unmarshal(ev.Kv.Value, &b); err != nil || b.Node == s.node {
			return
		}
		fn(bridge.ClusterChange{Event: &b.Event})
	}
}

// broadcast is the value of a node's event key.
type broadcast struct {
	Node  string       `json:"node"`
	Event bridge.Event `json:"event"`
}

// Broadcast puts ev under this node's event key: every put is one watch
// event for the other nodes, and the key never holds more than the last.
func (s *Store) Broadcast(ctx context.Context, ev bridge.Event) error {
	b, err := json.Marshal(broadcast{Node: s.node, Event: ev})
	if err != nil {
		return err
	}
	_, err = s.cli.Put(ctx, s.p+rEvent+s.node, string(b))
	return err
}

// session is this node's election lease, shared by its elections, with
// the time of its last keep-alive answer.
type session struct {
	*concurrency.Session
	ttl     time.Duration
	lastAck atomic.Int64 // unix nanoseconds
}

// valid reports whether the lease surely still runs: its last renewal plus
// the TTL, less a third of it for clocks and delays, is ahead.
func (ss *session) valid() bool {
	select {
	case <-ss.Done():
		return false
	default:
	}
	last := time.Unix(0, ss.lastAck.Load())
	return time.Since(last) < ss.ttl-ss.ttl/3
}

// session returns the node's live election session, making one when there
// is none (the first campaign, or the last one's lease ended).
func (s *Store) session(ctx context.Context) (*session, error) {
	s.sessMu.Lock()
	defer s.sessMu.Unlock()
	if s.sess != nil {
		select {
		case <-s.sess.Done():
		default:
			return s.sess, nil
		}
	}
	ttl := s.leaseTTL
	start := time.Now()
	lease, err := s.cli.Grant(ctx, int64(ttl/time.Second))
	if err != nil {
		return nil, fmt.Errorf("grant election lease: %w", err)
	}
	cs, err := concurrency.NewSession(s.cli, concurrency.WithLease(lease.ID))
	if err != nil {
		return nil, fmt.Errorf("election session: %w", err)
	}
	ss := &session{Session: cs, ttl: ttl}
	ss.lastAck.Store(start.UnixNano())
	// A keep-alive of our own, to know when the lease was last renewed.
	kctx, cancel := context.WithCancel(context.Background())
	ka, err := s.cli.KeepAlive(kctx, lease.ID)
	if err != nil {
		cancel()
		cs.Close()
		return nil, fmt.Errorf("election keep-alive: %w", err)
	}
	s.bg.Add(1)
	go func() {
		defer s.bg.Done()
		defer cancel()
		for {
			select {
			case r, ok := <-ka:
				if !ok {
					return
				}
				if r != nil {
					ss.lastAck.Store(time.Now().UnixNano())
				}
			case <-cs.Done():
				return
			case <-s.closed:
				// Give the singletons up at once instead of after the TTL.
				rctx, rc := context.WithTimeout(context.Background(), 2*time.Second)
				_, _ = s.cli.Revoke(rctx, lease.ID)
				rc()
				return
			}
		}
	}()
	s.sess = ss
	return ss, nil
}

// Campaign blocks until this node leads name (or ctx ends).
func (s *Store) Campaign(ctx context.Context, name string) (bridge.Leadership, error) {
	for {
		ss, err := s.session(ctx)
		if err != nil {
			return nil, err
		}
		el := concurrency.NewElection(ss.Session, s.p+rElection+name)
		err = el.Campaign(ctx, s.node)
		if err != nil {
			if ctx.Err() != nil {
				return nil, ctx.Err()
			}
			select {
			case <-ss.Done(): // the lease ended while waiting: a new one
				continue
			default:
			}
			return nil, fmt.Errorf("campaign %s: %w", name, err)
		}
		l := &leadership{s: s, ss: ss, el: el, name: name, lost: make(chan struct{})}
		l.f = fence{key: el.Key(), rev: el.Rev()}
		s.bg.Add(1)
		go l.watch()
		return l, nil
	}
}

// leadership is a node's lead of one singleton.
type leadership struct {
	s      *Store
	ss     *session
	el     *concurrency.Election
	name   string
	f      fence
	lost   chan struct{}
	once   sync.Once
	resign sync.Once
}

var _ bridge.Leadership = (*leadership)(nil)

func (l *leadership) markLost() { l.once.Do(func() { close(l.lost) }) }

// watch closes lost when the lease runs out by this node's clock, its
// session ends, or the leader key goes away.
func (l *leadership) watch() {
	defer l.s.bg.Done()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	wch := l.s.cli.Watch(ctx, l.f.key, clientv3.WithRev(l.f.rev), clientv3.WithFilterPut())
	tick := time.NewTicker(l.ss.ttl / 20)
	defer tick.Stop()
	for {
		select {
		case <-l.lost:
			return
		case <-l.s.closed:
			l.markLost()
			return
		case <-l.ss.Done():
			l.markLost()
			return
		case wr, ok := <-wch:
			if !ok || wr.Canceled {
				wch = nil
				continue
			}
			if len(wr.Events) > 0 {
				l.markLost()
				return
			}
		case <-tick.C:
			if !l.ss.valid() {
				l.markLost()
				return
			}
		}
	}
}

func (l *leadership) Lost() <-chan struct{} { return l.lost }

func (l *leadership) Valid() bool {
	select {
	case <-l.lost:
		return false
	default:
	}
	return l.ss.valid()
}

// Update is Store.Update that commits only while the leader key is the one
// this node created (its create revision), else ErrFenced.
func (l *leadership) Update(ctx context.Context, fn func(bridge.Tx) error) error {
	err := l.s.update(ctx, &l.f, fn)
	if errors.Is(err, ErrFenced) {
		l.markLost()
		return fmt.Errorf("%s: %w", l.name, bridge.ErrFenced)
	}
	return err
}

func (l *leadership) Resign(ctx context.Context) error {
	var err error
	l.resign.Do(func() {
		l.markLost()
		err = l.el.Resign(ctx)
	})
	return err
}

// presenceKey is the key of node's record of a visitor's presence.
func (s *Store) presenceKey(visitorID, node string) string {
	return s.p + rPresence + visitorID + sep + node
}

// SetPresence puts this node's records of visitors' presence under the
// node's lease, so that they end with the node (nil deletes one), in as
// few transactions as etcd's limit on operations allows.
func (s *Store) SetPresence(ctx context.Context, changes map[string]*bridge.NodePresence) error {
	if len(changes) == 0 {
		return nil
	}
	ss, err := s.session(ctx)
	if err != nil {
		return err
	}
	ops := make([]clientv3.Op, 0, len(changes))
	for id, p := range changes {
		if id == "" {
			return fmt.Errorf("presence: %w: no visitor", bridge.ErrInvalid)
		}
		key := s.presenceKey(id, s.node)
		if p == nil {
			ops = append(ops, clientv3.OpDelete(key))
			continue
		}
		rec := *p
		rec.Node = ""
		b, err := json.Marshal(rec)
		if err != nil {
			return err
		}
		ops = append(ops, clientv3.OpPut(key, string(b), clientv3.WithLease(ss.Lease())))
	}
	for len(ops) > 0 {
		n := min(len(ops), max(s.maxOps, 1))
		if _, err := s.cli.Txn(ctx).Then(ops[:n]...).Commit(); err != nil {
			return fmt.Errorf("presence: %w", err)
		}
		ops = ops[n:]
	}
	return nil
}

// Presence lists every live node's record of a visitor's presence.
func (s *Store) Presence(ctx context.Context, visitorID string) ([]bridge.NodePresence, error) {
	prefix := s.presenceKey(visitorID, "")
	resp, err := s.cli.Get(ctx, prefix, clientv3.WithPrefix())
	if err != nil {
		return nil, fmt.Errorf("presence: %w", err)
	}
	out := make([]bridge.NodePresence, 0, len(resp.Kvs))
	for _, kv := range resp.Kvs {
		var p bridge.NodePresence
		if err := json.Unmarshal(kv.Value, &p); err != nil {
			continue
		}
		p.Node = strings.TrimPrefix(string(kv.Key), prefix)
		out = append(out, p)
	}
	return out, nil
}
