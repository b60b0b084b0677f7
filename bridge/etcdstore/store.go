package etcdstore

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
	"go.uber.org/zap"
)

// Defaults of etcd's server limits (--max-txn-ops, --max-request-bytes).
const (
	DefaultMaxTxnOps       = 128
	DefaultMaxRequestBytes = 1536 * 1024
	DefaultPrefix          = "/chatbridge/"
	DefaultDialTimeout     = 5 * time.Second
)

// Sentinel errors.
var (
	// ErrConflict: a transaction kept conflicting with others and gave up.
	ErrConflict = errors.New("etcd transaction kept conflicting")
	// ErrTooLarge: a single record is larger than etcd accepts in one
	// request (its --max-request-bytes). It wraps bridge.ErrInvalid.
	ErrTooLarge = fmt.Errorf("%w: record too large for etcd", bridge.ErrInvalid)
	// ErrFenced: a fenced transaction (see Leadership.Update) found that
	// this node no longer holds the leadership it was fenced with.
	ErrFenced = errors.New("leadership lost: write fenced off")
)

// Config opens a Store.
type Config struct {
	// Endpoints are the members' client URLs.
	Endpoints []string
	// Prefix is put before every key (default "/chatbridge/"); several
	// installations may share a cluster under different prefixes.
	Prefix string
	// DialTimeout bounds connecting (default 5 s).
	DialTimeout time.Duration
	// TLS, when set, is used for the client connections.
	TLS *tls.Config
	// Username and Password authenticate with etcd's auth, when set.
	Username, Password string
	// MaxTxnOps and MaxRequestBytes are the cluster's limits (default
	// etcd's: 128 and 1.5 MiB). Transactions larger than them are applied
	// through a redo log (see the package documentation).
	MaxTxnOps       int
	MaxRequestBytes int
	// Node names this process in the cluster (default: a random id).
	Node string
	// LeaseTTL is the lease of this node's elections (default 10 s, at
	// least 2 s): the fail-over time of its singletons when it dies.
	LeaseTTL time.Duration
}

// Store is a bridge.Store on etcd. It is safe for concurrent use.
type Store struct {
	cli    *clientv3.Client
	own    bool // Close closes cli
	p      string
	log    *slog.Logger
	maxOps int
	maxReq int
	node   string
	idBase uint64

	leases leaseCache
	dests  sync.Map // destination markers known to exist: key → struct{}

	// committed remembers the revisions this process committed, so that
	// the change feed skips them (see Changes).
	ownMu  sync.Mutex
	ownRev map[int64]time.Time

	stats Stats

	leaseTTL time.Duration
	sessMu   sync.Mutex
	sess     *session

	closeOnce sync.Once
	closed    chan struct{}
	bg        sync.WaitGroup
}

// Stats counts what the store did since it opened.
type Stats struct {
	// Reads are the read round trips, Commits the committing ones
	// (successful or not), Conflicts the failed commits that re-ran fn,
	// BigCommits the transactions applied through the redo log.
	Reads, Commits, Conflicts, BigCommits atomic.Int64
}

var _ bridge.Store = (*Store)(nil)

// Open connects to the cluster and checks (or writes) the layout version.
func Open(ctx context.Context, cfg Config, log *slog.Logger) (*Store, error) {
	if len(cfg.Endpoints) == 0 {
		return nil, fmt.Errorf("open etcd store: %w: no endpoints", bridge.ErrInvalid)
	}
	if cfg.DialTimeout <= 0 {
		cfg.DialTimeout = DefaultDialTimeout
	}
	cli, err := clientv3.New(clientv3.Config{
		Endpoints:            cfg.Endpoints,
		DialTimeout:          cfg.DialTimeout,
		DialKeepAliveTime:    5 * time.Second,
		DialKeepAliveTimeout: 5 * time.Second,
		TLS:                  cfg.TLS,
		Username:             cfg.Username,
		Password:             cfg.Password,
		Logger:               zap.NewNop(),
		MaxCallSendMsgSize:   64 << 20,
		MaxCallRecvMsgSize:   64 << 20,
	})
	if err != nil {
		return nil, fmt.Errorf("open etcd store: %w", err)
	}
	s, err := New(ctx, cli, cfg, log)
	if err != nil {
		cli.Close()
		return nil, err
	}
	s.own = true
	return s, nil
}

// New is Open on an existing client, which the caller closes after the
// store.
func New(ctx context.Context, cli *clientv3.Client, cfg Config, log *slog.Logger) (*Store, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if cfg.Prefix == "" {
		cfg.Prefix = DefaultPrefix
	}
	if cfg.MaxTxnOps <= 0 {
		cfg.MaxTxnOps = DefaultMaxTxnOps
	}
	if cfg.MaxRequestBytes <= 0 {
		cfg.MaxRequestBytes = DefaultMaxRequestBytes
	}
	if cfg.Node == "" {
		cfg.Node = bridge.NewID("n_")
	}
	if cfg.LeaseTTL <= 0 {
		cfg.LeaseTTL = DefaultLeaseTTL
	}
	cfg.LeaseTTL = max(cfg.LeaseTTL.Round(time.Second), 2*time.Second)
	if cfg.MaxTxnOps < 8 {
		return nil, fmt.Errorf("open etcd store: %w: max txn ops %d is too small", bridge.ErrInvalid, cfg.MaxTxnOps)
	}
	s := &Store{
		cli: cli, p: cfg.Prefix, log: log, maxOps: cfg.MaxTxnOps, maxReq: cfg.MaxRequestBytes,
		node: cfg.Node, ownRev: map[int64]time.Time{}, closed: make(chan struct{}), leaseTTL: cfg.LeaseTTL,
	}
	s.leases.s = s
	octx, cancel := context.WithTimeout(ctx, max(cfg.DialTimeout, 5*time.Second))
	defer cancel()
	if err := s.initSchema(octx); err != nil {
		return nil, fmt.Errorf("open etcd store %s: %w", strings.Join(cfg.Endpoints, ","), err)
	}
	return s, nil
}

// Client is the etcd client the store uses.
func (s *Store) Client() *clientv3.Client { return s.cli }

// Prefix is the key prefix of the store.
func (s *Store) Prefix() string { return s.p }

// Node is this process's name in the cluster.
func (s *Store) Node() string { return s.node }

// Stats are the store's counters.
func (s *Store) Stats() *Stats { return &s.stats }

// SchemaError reports a store written by a newer chatbridge.
type SchemaError struct{ Have, Want string }

func (e *SchemaError) Error() string {
	return fmt.Sprintf("etcd store layout version %s is newer than this chatbridge supports (%s); upgrade chatbridge", e.Have, e.Want)
}

// Unwrap returns bridge.ErrSchemaTooNew.
func (e *SchemaError) Unwrap() error { return bridge.ErrSchemaTooNew }

func (s *Store) initSchema(ctx context.Context) error {
	k := s.p + kSchema
	resp, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.CreateRevision(k), "=", 0)).
		Then(clientv3.OpPut(k, schemaValue)).Else(clientv3.OpGet(k), clientv3.OpGet(s.p+kIDBase)).Commit()
	if err != nil {
		return fmt.Errorf("check layout version: %w", err)
	}
	if !resp.Succeeded {
		if kvs := resp.Responses[0].GetResponseRange().Kvs; len(kvs) == 1 {
			have := string(kvs[0].Value)
			hv, _ := strconv.Atoi(have)
			wv, _ := strconv.Atoi(schemaValue)
			if hv > wv {
				return &SchemaError{Have: have, Want: schemaValue}
			}
			if hv < 2 {
				if err := s.indexTokens(ctx); err != nil {
					return fmt.Errorf("migrate layout %s to 2: %w", have, err)
				}
				if _, err := s.cli.Txn(ctx).If(clientv3.Compare(clientv3.Value(k), "=", have)).Then(clientv3.OpPut(k, schemaValue)).Commit(); err != nil {
					return fmt.Errorf("migrate layout %s to 2: %w", have, err)
				}
			}
		}
		if kvs := resp.Responses[1].GetResponseRange().Kvs; len(kvs) == 1 {
			if s.idBase, err = strconv.ParseUint(string(kvs[0].Value), 10, 64); err != nil {
				return fmt.Errorf("read %s: %w", kIDBase, err)
			}
		}
	}
	return nil
}

// indexTokens writes the tokens-by-visitor index of every token (layout 1
// had none). It may run on several nodes at once: every write is the same.
func (s *Store) indexTokens(ctx context.Context) error {
	pfx := s.p + rToken
	end := prefixEnd(pfx)
	for start := pfx; ; {
		resp, err := s.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithLimit(int64(s.maxOps)),
			clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
		if err != nil {
			return err
		}
		ops := make([]clientv3.Op, 0, len(resp.Kvs))
		for _, kv := range resp.Kvs {
			hx := strings.TrimPrefix(string(kv.Key), pfx)
			ops = append(ops, clientv3.OpPut(s.p+rTokenByVis+string(kv.Value)+sep+hx, ""))
		}
		if len(ops) > 0 {
			if _, err := s.cli.Txn(ctx).Then(ops...).Commit(); err != nil {
				return err
			}
		}
		if !resp.More || len(resp.Kvs) == 0 {
			return nil
		}
		start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
	}
}

// SetIDBase makes outbox ids start above base (store copy: ids of the copied
// entries stay below every new one). It only raises the base.
func (s *Store) SetIDBase(ctx context.Context, base uint64) error {
	base = base>>idShift + 1
	err := s.Update(ctx, func(btx bridge.Tx) error {
		t := btx.(*tx)
		v, ok, err := t.get(s.p + kIDBase)
		if err != nil {
			return err
		}
		if ok {
			if old, _ := strconv.ParseUint(string(v), 10, 64); old >= base {
				base = old
				return nil
			}
		}
		t.put(s.p+kIDBase, []byte(strconv.FormatUint(base, 10)), 0)
		return nil
	})
	if err == nil {
		s.idBase = base
	}
	return err
}

// maxAttempts bounds the runs of fn in one Update.
const maxAttempts = 200

// Update runs fn as an optimistic transaction: reads are served at one
// snapshot revision and remembered, writes are buffered, and the commit is
// one etcd transaction that compares the mod revision of every key (and
// range) fn read. When another transaction changed one of them, fn runs
// again on a new snapshot. fn's error is returned unchanged; nothing it
// wrote is kept.
func (s *Store) Update(ctx context.Context, fn func(bridge.Tx) error) error {
	return s.update(ctx, nil, fn)
}

// fence is a compare a fenced transaction must pass (the leader key's
// create revision).
type fence struct {
	key string
	rev int64
}

func (s *Store) update(ctx context.Context, f *fence, fn func(bridge.Tx) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("update: %w", err)
		}
		if attempt >= maxAttempts {
			return fmt.Errorf("update: %w (%d attempts)", ErrConflict, attempt)
		}
		if attempt > 2 {
			d := time.Duration(rand.IntN(1000*min(attempt, 50))) * time.Microsecond
			select {
			case <-ctx.Done():
				return fmt.Errorf("update: %w", ctx.Err())
			case <-time.After(d):
			}
		}
		t := s.newTx(ctx, true)
		err := fn(t)
		if t.restart {
			continue
		}
		if err != nil {
			return err
		}
		if t.err != nil {
			return t.err
		}
		ok, err := t.commit(f)
		if err != nil {
			if errors.Is(err, errRestart) {
				continue
			}
			return err
		}
		if ok {
			return nil
		}
		s.stats.Conflicts.Add(1)
	}
}

// View runs fn on one snapshot of the store; writes fail in it.
func (s *Store) View(ctx context.Context, fn func(bridge.Tx) error) error {
	for attempt := 0; ; attempt++ {
		if err := ctx.Err(); err != nil {
			return fmt.Errorf("view: %w", err)
		}
		if attempt >= maxAttempts {
			return fmt.Errorf("view: %w (%d attempts)", ErrConflict, attempt)
		}
		t := s.newTx(ctx, false)
		err := fn(t)
		if t.restart {
			continue
		}
		if err == nil {
			err = t.err
		}
		return err
	}
}

// Close stops the store's background work and closes its client when
// Open made it. Closing twice is not an error.
func (s *Store) Close() error {
	var err error
	s.closeOnce.Do(func() {
		close(s.closed)
		s.bg.Wait()
		s.leases.revokeAll()
		if s.own {
			err = s.cli.Close()
		}
	})
	return err
}

// remember records a revision this process committed (kept for two
// minutes: the change feed is long past it by then).
func (s *Store) remember(rev int64) {
	now := time.Now()
	s.ownMu.Lock()
	s.ownRev[rev] = now
	if len(s.ownRev)%1024 == 0 {
		for r, at := range s.ownRev {
			if now.Sub(at) > 2*time.Minute {
				delete(s.ownRev, r)
			}
		}
	}
	s.ownMu.Unlock()
}

// mine reports whether rev was committed by this process.
func (s *Store) mine(rev int64) bool {
	s.ownMu.Lock()
	defer s.ownMu.Unlock()
	_, ok := s.ownRev[rev]
	return ok
}

// isCompacted reports whether err says a revision was compacted.
func isCompacted(err error) bool {
	return errors.Is(err, rpctypes.ErrCompacted)
}

// leaseCache hands out leases bucketed by expiry time, so that de-dup
// records expiring within the same bucket share one lease.
type leaseCache struct {
	s  *Store
	mu sync.Mutex
	m  map[int64]clientv3.LeaseID // bucket end (unix s) → lease
}

// leaseBucket is the granularity of expiry buckets.
const leaseBucket = 5 * time.Minute

// get returns a lease that expires at least ttl from now (and at most
// leaseBucket later), or 0 when ttl is not positive or etcd refuses one
// (the record is then removed by PurgeSeen).
func (l *leaseCache) get(ctx context.Context, ttl time.Duration) clientv3.LeaseID {
	if ttl <= 0 {
		return 0
	}
	now := time.Now()
	end := now.Add(ttl).Add(leaseBucket).Truncate(leaseBucket).Unix()
	l.mu.Lock()
	if l.m == nil {
		l.m = map[int64]clientv3.LeaseID{}
	}
	for b := range l.m {
		if b <= now.Unix() {
			delete(l.m, b)
		}
	}
	id, ok := l.m[end]
	l.mu.Unlock()
	if ok {
		return id
	}
	secs := end - now.Unix() + 60
	resp, err := l.s.cli.Grant(ctx, secs)
	if err != nil {
		l.s.log.Warn("etcd lease for de-dup records refused", "err", err)
		return 0
	}
	l.mu.Lock()
	if old, ok := l.m[end]; ok {
		l.mu.Unlock()
		_, _ = l.s.cli.Revoke(context.WithoutCancel(ctx), resp.ID)
		return old
	}
	l.m[end] = resp.ID
	l.mu.Unlock()
	return resp.ID
}

// drop forgets a lease that etcd no longer knows.
func (l *leaseCache) drop(id clientv3.LeaseID) {
	l.mu.Lock()
	for b, v := range l.m {
		if v == id {
			delete(l.m, b)
		}
	}
	l.mu.Unlock()
}

// revokeAll forgets the cached leases (they expire by themselves; records
// attached to them must outlive this process).
func (l *leaseCache) revokeAll() {
	l.mu.Lock()
	l.m = nil
	l.mu.Unlock()
}
