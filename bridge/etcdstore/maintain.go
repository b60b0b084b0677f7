package etcdstore

import (
	"context"
	"fmt"
	"strings"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"
)

// Status is what the members say about the database.
type Status struct {
	// DBSize is the largest backend file of the members, DBSizeInUse the
	// part of it in use (the rest is free pages after compaction).
	DBSize, DBSizeInUse int64
	// Revision is the cluster's current revision.
	Revision int64
	// Members answered, of Endpoints.
	Members, Endpoints int
}

// Status asks every member for its database size (the maintenance Status
// API).
func (s *Store) Status(ctx context.Context) (Status, error) {
	eps := s.cli.Endpoints()
	st := Status{Endpoints: len(eps)}
	var last error
	for _, ep := range eps {
		r, err := s.cli.Status(ctx, ep)
		if err != nil {
			last = err
			continue
		}
		st.Members++
		st.DBSize = max(st.DBSize, r.DbSize)
		st.DBSizeInUse = max(st.DBSizeInUse, r.DbSizeInUse)
		st.Revision = max(st.Revision, r.Header.Revision)
	}
	if st.Members == 0 {
		return st, fmt.Errorf("etcd status: no member answered: %w", last)
	}
	return st, nil
}

// Compact compacts etcd's history up to rev (revisions before it are
// forgotten; watches behind it start over).
func (s *Store) Compact(ctx context.Context, rev int64) error {
	_, err := s.cli.Compact(ctx, rev, clientv3.WithCompactPhysical())
	if err != nil && !isCompacted(err) {
		return fmt.Errorf("compact to %d: %w", rev, err)
	}
	return nil
}

// Maintain compacts etcd's history every `every`, keeping about `keep` of
// it, and removes redo logs of large transactions whose writer died before
// committing them, until ctx ends. Run it on one node at a time
// (bridge.Engine.Singleton "maintenance"); it returns nil when ctx ends.
func (s *Store) Maintain(ctx context.Context, every, keep time.Duration) error {
	type sample struct {
		at  time.Time
		rev int64
	}
	var samples []sample
	t := time.NewTicker(every)
	defer t.Stop()
	for {
		resp, err := s.cli.Get(ctx, s.p+kSchema)
		if err == nil {
			now := time.Now()
			samples = append(samples, sample{now, resp.Header.Revision})
			// The newest revision older than keep.
			var target int64
			i := 0
			for i < len(samples) && now.Sub(samples[i].at) >= keep {
				target = samples[i].rev
				i++
			}
			if i > 0 {
				samples = samples[i-1:]
			}
			if target > 0 {
				if err := s.Compact(ctx, target); err != nil {
					s.log.Warn("etcd compaction failed", "err", err)
				} else {
					s.log.Debug("etcd history compacted", "revision", target)
				}
			}
			s.dropStaleLogs(ctx, now.Add(-time.Hour))
		} else if ctx.Err() == nil {
			s.log.Warn("etcd maintenance: cluster unreachable", "err", err)
		}
		select {
		case <-ctx.Done():
			return nil
		case <-t.C:
		}
	}
}

// dropStaleLogs deletes redo logs begun before `before` that no marker
// names (their transaction never committed).
func (s *Store) dropStaleLogs(ctx context.Context, before time.Time) {
	pfx := s.p + kBigLog
	resp, err := s.cli.Get(ctx, pfx, clientv3.WithPrefix(), clientv3.WithKeysOnly())
	if err != nil || len(resp.Kvs) == 0 {
		return
	}
	cur, err := s.cli.Get(ctx, s.p+kBigTx)
	if err != nil {
		return
	}
	var active string
	if len(cur.Kvs) == 1 {
		active = string(cur.Kvs[0].Value)
	}
	for _, kv := range resp.Kvs {
		id := string(kv.Key[len(pfx):])
		if len(id) < 16 {
			continue
		}
		var nanos int64
		if _, err := fmt.Sscanf(id[:16], "%016x", &nanos); err != nil || time.Unix(0, nanos).After(before) {
			continue
		}
		if slash := strings.IndexByte(id, '/'); slash > 0 && active != "" && strings.Contains(active, id[:slash]) {
			continue
		}
		_, _ = s.cli.Delete(ctx, string(kv.Key))
	}
}
