package etcdstore

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"go.etcd.io/etcd/api/v3/etcdserverpb"
	"go.etcd.io/etcd/api/v3/v3rpc/rpctypes"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// errRestart makes Update or View run fn again on a new snapshot (the
// snapshot was compacted away, or a large transaction was being applied).
var errRestart = errors.New("etcd snapshot unusable: transaction restarted")

// errReadOnly is returned by writes in a View.
var errReadOnly = fmt.Errorf("%w: write in a read-only transaction", bridge.ErrInvalid)

// snap is a key's value at the snapshot.
type snap struct {
	val []byte
	mod int64 // 0: absent
}

// wop is a buffered write.
type wop struct {
	val   []byte
	del   bool
	lease clientv3.LeaseID
}

// keyRange is a range read [start, end).
type keyRange struct{ start, end string }

// kv is one key of a range read, with its value in the transaction.
type kv struct {
	key string
	val []byte
}

// tx is one run of fn: an optimistic transaction. See Store.Update.
type tx struct {
	s     *Store
	ctx   context.Context
	write bool
	rev   int64 // snapshot revision; 0 until the first read

	cache  map[string]snap  // values at the snapshot
	reads  map[string]int64 // point reads to compare at commit: key → mod revision
	ranges []keyRange       // range reads to compare at commit
	writes map[string]wop

	restart bool  // the snapshot is unusable: run fn again
	err     error // a sticky error of a read

	nextID uint64 // the next outbox id of this transaction (0: none yet)

	// prefetched are range reads done ahead, in the round trip of an
	// earlier read, that a scan with the same request takes over.
	prefetched []*rangeReq
}

func (s *Store) newTx(ctx context.Context, write bool) *tx {
	return &tx{s: s, ctx: ctx, write: write, cache: map[string]snap{}, reads: map[string]int64{}, writes: map[string]wop{}}
}

// writable fails in a View.
func (t *tx) writable(op string) error {
	if !t.write {
		return fmt.Errorf("%s: %w", op, errReadOnly)
	}
	return nil
}

func (t *tx) put(key string, val []byte, lease clientv3.LeaseID) {
	if val == nil {
		val = []byte{}
	}
	t.writes[key] = wop{val: val, lease: lease}
}

func (t *tx) del(key string) { t.writes[key] = wop{del: true} }

// fail records a read error: restarts for an unusable snapshot.
func (t *tx) fail(err error) error {
	if errors.Is(err, errRestart) || isCompacted(err) {
		t.restart = true
		return errRestart
	}
	if t.err == nil {
		t.err = err
	}
	return err
}

// rangeReq is one range read of a fetch.
type rangeReq struct {
	start, end string
	limit      int64
	desc       bool
	keysOnly   bool
	countOnly  bool
	resp       *clientv3.GetResponse
}

// fetch reads keys (into the cache) and ranges at the snapshot, in as few
// round trips as etcd's limits allow; the first read of a transaction also
// fixes the snapshot and checks for a large transaction being applied.
func (t *tx) fetch(keys []string, ranges []*rangeReq) error {
	if t.restart {
		return errRestart
	}
	var need []string
	for _, k := range keys {
		if _, ok := t.cache[k]; !ok && !slices.Contains(need, k) {
			need = append(need, k)
		}
	}
	first := t.rev == 0
	if first && !slices.Contains(need, t.s.p+kBigTx) {
		need = append([]string{t.s.p + kBigTx}, need...)
	}
	if len(need) == 0 && len(ranges) == 0 {
		return nil
	}
	type item struct {
		key string
		rr  *rangeReq
	}
	items := make([]item, 0, len(need)+len(ranges))
	for _, k := range need {
		items = append(items, item{key: k})
	}
	for _, r := range ranges {
		items = append(items, item{rr: r})
	}
	per := t.s.maxOps
	for len(items) > 0 {
		n := min(per, len(items))
		batch := items[:n]
		items = items[n:]
		ops := make([]clientv3.Op, 0, n)
		for _, it := range batch {
			var opts []clientv3.OpOption
			if t.rev > 0 {
				opts = append(opts, clientv3.WithRev(t.rev))
			}
			if it.rr == nil {
				ops = append(ops, clientv3.OpGet(it.key, opts...))
				continue
			}
			r := it.rr
			opts = append(opts, clientv3.WithRange(r.end))
			if r.countOnly {
				opts = append(opts, clientv3.WithCountOnly())
			} else {
				order := clientv3.SortAscend
				if r.desc {
					order = clientv3.SortDescend
				}
				opts = append(opts, clientv3.WithSort(clientv3.SortByKey, order))
				if r.limit > 0 {
					opts = append(opts, clientv3.WithLimit(r.limit))
				}
				if r.keysOnly {
					opts = append(opts, clientv3.WithKeysOnly())
				}
			}
			ops = append(ops, clientv3.OpGet(r.start, opts...))
		}
		t.s.stats.Reads.Add(1)
		resp, err := t.s.cli.Txn(t.ctx).Then(ops...).Commit()
		if err != nil {
			if isCompacted(err) {
				return t.fail(errRestart)
			}
			return t.fail(fmt.Errorf("etcd read: %w", err))
		}
		if t.rev == 0 {
			t.rev = resp.Header.Revision
		}
		for i, it := range batch {
			rr := resp.Responses[i].GetResponseRange()
			if it.rr != nil {
				gr := (*clientv3.GetResponse)(rr)
				it.rr.resp = gr
				if !it.rr.keysOnly && !it.rr.countOnly {
					for _, e := range gr.Kvs {
						if _, ok := t.cache[string(e.Key)]; !ok {
							t.cache[string(e.Key)] = snap{val: e.Value, mod: e.ModRevision}
						}
					}
				}
				continue
			}
			var sn snap
			if len(rr.Kvs) == 1 {
				sn = snap{val: rr.Kvs[0].Value, mod: rr.Kvs[0].ModRevision}
			}
			t.cache[it.key] = sn
		}
	}
	if first {
		big := t.cache[t.s.p+kBigTx]
		if t.write {
			t.reads[t.s.p+kBigTx] = big.mod
		}
		if big.mod != 0 {
			if err := t.s.rollForward(context.WithoutCancel(t.ctx), big.val); err != nil {
				return t.fail(fmt.Errorf("finish a large transaction: %w", err))
			}
			return t.fail(errRestart)
		}
	}
	return nil
}

// get returns key's value in the transaction.
func (t *tx) get(key string) ([]byte, bool, error) {
	if w, ok := t.writes[key]; ok {
		return w.val, !w.del, nil
	}
	sn, err := t.snap(key)
	if err != nil {
		return nil, false, err
	}
	return sn.val, sn.mod != 0, nil
}

// snap returns key's value at the snapshot, recording the read.
func (t *tx) snap(key string) (snap, error) {
	if _, ok := t.cache[key]; !ok {
		if err := t.fetch([]string{key}, nil); err != nil {
			return snap{}, err
		}
	}
	sn := t.cache[key]
	if t.write {
		t.reads[key] = sn.mod
	}
	return sn, nil
}

// prefetch reads keys in one round trip (into the cache, not yet recorded
// as read): what a method will read next.
func (t *tx) prefetch(keys ...string) error { return t.fetch(keys, nil) }

// getMany is get for several keys in one round trip.
func (t *tx) getMany(keys []string) ([][]byte, []bool, error) {
	if err := t.fetch(keys, nil); err != nil {
		return nil, nil, err
	}
	vals, oks := make([][]byte, len(keys)), make([]bool, len(keys))
	for i, k := range keys {
		v, ok, err := t.get(k)
		if err != nil {
			return nil, nil, err
		}
		vals[i], oks[i] = v, ok
	}
	return vals, oks, nil
}

// scan is a range read's request.
type scan struct {
	start, end string
	limit      int
	desc       bool
	keysOnly   bool
}

// scanMany reads several ranges in one round trip, merged with the
// transaction's writes, and records them for the commit.
func (t *tx) scanMany(scans ...scan) ([][]kv, error) {
	reqs := make([]*rangeReq, len(scans))
	for i, sc := range scans {
		r := &rangeReq{start: sc.start, end: sc.end, desc: sc.desc, keysOnly: sc.keysOnly}
		if sc.limit > 0 {
			// Writes may delete keys the limit would return.
			r.limit = int64(sc.limit + t.writesIn(sc.start, sc.end, true))
		}
		reqs[i] = r
	}
	var need []*rangeReq
	for i, r := range reqs {
		if j := slices.IndexFunc(t.prefetched, func(p *rangeReq) bool {
			return p.start == r.start && p.end == r.end && p.limit == r.limit && p.desc == r.desc && p.keysOnly == r.keysOnly
		}); j >= 0 {
			reqs[i] = t.prefetched[j]
			t.prefetched = slices.Delete(t.prefetched, j, j+1)
			continue
		}
		need = append(need, r)
	}
	if err := t.fetch(nil, need); err != nil {
		return nil, err
	}
	out := make([][]kv, len(scans))
	for i, sc := range scans {
		resp := reqs[i].resp
		start, end := sc.start, sc.end
		if sc.limit > 0 && resp.More && len(resp.Kvs) > 0 {
			last := string(resp.Kvs[len(resp.Kvs)-1].Key)
			if sc.desc {
				start = last
			} else {
				end = last + "\x00"
			}
		}
		if t.write {
			t.ranges = append(t.ranges, keyRange{start, end})
		}
		var res []kv
		for _, e := range resp.Kvs {
			k := string(e.Key)
			if _, ok := t.writes[k]; ok {
				continue
			}
			res = append(res, kv{key: k, val: e.Value})
		}
		for k, w := range t.writes {
			if w.del || k < start || k >= end {
				continue
			}
			res = append(res, kv{key: k, val: w.val})
		}
		sort.Slice(res, func(a, b int) bool {
			if sc.desc {
				return res[a].key > res[b].key
			}
			return res[a].key < res[b].key
		})
		if sc.limit > 0 && len(res) > sc.limit {
			res = res[:sc.limit]
		}
		out[i] = res
	}
	return out, nil
}

// scan1 is scanMany for one range.
func (t *tx) scan1(sc scan) ([]kv, error) {
	r, err := t.scanMany(sc)
	if err != nil {
		return nil, err
	}
	return r[0], nil
}

// writesIn counts the buffered writes (deletes only, or all) in a range.
func (t *tx) writesIn(start, end string, delsOnly bool) int {
	n := 0
	for k, w := range t.writes {
		if k >= start && k < end && (w.del || !delsOnly) {
			n++
		}
	}
	return n
}

// counts counts the keys of ranges in the transaction, in one round trip
// (plus one for the snapshot values of keys the transaction wrote there).
func (t *tx) counts(rs ...keyRange) ([]int, error) {
	reqs := make([]*rangeReq, len(rs))
	var written []string
	for i, r := range rs {
		reqs[i] = &rangeReq{start: r.start, end: r.end, countOnly: true}
		for k := range t.writes {
			if k >= r.start && k < r.end {
				written = append(written, k)
			}
		}
	}
	if err := t.fetch(written, reqs); err != nil {
		return nil, err
	}
	out := make([]int, len(rs))
	for i, r := range rs {
		if t.write {
			t.ranges = append(t.ranges, r)
		}
		n := int(reqs[i].resp.Count)
		for k, w := range t.writes {
			if k < r.start || k >= r.end {
				continue
			}
			sn, err := t.snap(k)
			if err != nil {
				return nil, err
			}
			switch {
			case w.del && sn.mod != 0:
				n--
			case !w.del && sn.mod == 0:
				n++
			}
		}
		out[i] = n
	}
	return out, nil
}

// budget is the request size a transaction may use (etcd's limit less
// room for the envelope).
func (s *Store) budget() int { return s.maxReq - 8<<10 }

const opOverhead = 24

// compares are the commit's compares: every point read by mod revision,
// every range read not changed since the snapshot. When they are more than
// etcd allows in one transaction, reads are merged into ranges per kind of
// record (still detecting every key created or changed in them since the
// snapshot; a key deleted from a merged range is not seen).
func (t *tx) compares(room int) []clientv3.Cmp {
	type iv struct {
		start, end string
		point      bool
		mod        int64
	}
	var ivs []iv
	for k, mod := range t.reads {
		ivs = append(ivs, iv{start: k, end: k + "\x00", point: true, mod: mod})
	}
	for _, r := range t.ranges {
		ivs = append(ivs, iv{start: r.start, end: r.end})
	}
	if len(ivs) > room {
		// Merge by kind of record: the key's part up to the first '/'
		// after the prefix.
		kind := func(k string) string {
			rest := strings.TrimPrefix(k, t.s.p)
			if i := strings.IndexByte(rest, '/'); i >= 0 {
				return rest[:i+1]
			}
			return rest
		}
		merged := map[string]*iv{}
		var order []string
		for _, v := range ivs {
			kd := kind(v.start)
			m, ok := merged[kd]
			if !ok {
				c := v
				c.point = false
				merged[kd] = &c
				order = append(order, kd)
				continue
			}
			m.start = min(m.start, v.start)
			m.end = max(m.end, v.end)
		}
		ivs = ivs[:0]
		for _, kd := range order {
			ivs = append(ivs, *merged[kd])
		}
		if len(ivs) > room { // one range over everything read
			all := ivs[0]
			for _, v := range ivs[1:] {
				all.start = min(all.start, v.start)
				all.end = max(all.end, v.end)
			}
			ivs = []iv{all}
		}
	}
	cmps := make([]clientv3.Cmp, 0, len(ivs))
	for _, v := range ivs {
		if v.point {
			cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(v.start), "=", v.mod))
			continue
		}
		cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(v.start), "<", t.rev+1).WithRange(v.end))
	}
	return cmps
}

// bigOp is a write as the redo log keeps it.
type bigOp struct {
	K     string `json:"k"`
	V     []byte `json:"v,omitempty"`
	Del   bool   `json:"d,omitempty"`
	Lease int64  `json:"l,omitempty"`
}

func (o bigOp) size() int { return len(o.K) + len(o.V) + opOverhead }

func (o bigOp) op() clientv3.Op {
	if o.Del {
		return clientv3.OpDelete(o.K)
	}
	if o.Lease != 0 {
		return clientv3.OpPut(o.K, string(o.V), clientv3.WithLease(clientv3.LeaseID(o.Lease)))
	}
	return clientv3.OpPut(o.K, string(o.V))
}

func (t *tx) ops() []bigOp {
	keys := make([]string, 0, len(t.writes))
	for k := range t.writes {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	out := make([]bigOp, 0, len(keys))
	for _, k := range keys {
		w := t.writes[k]
		out = append(out, bigOp{K: k, V: w.val, Del: w.del, Lease: int64(w.lease)})
	}
	return out
}

// commitTimeout bounds a commit, which does not stop for the caller's
// cancellation: once sent, its outcome is known.
const commitTimeout = 30 * time.Second

// commit sends the transaction: true when it committed, false on a
// conflict (fn runs again).
func (t *tx) commit(f *fence) (bool, error) {
	if len(t.writes) == 0 {
		if f != nil {
			return t.checkFence(f)
		}
		return true, nil
	}
	if t.rev == 0 { // blind writes: a snapshot for the compares all the same
		if err := t.fetch(nil, nil); err != nil {
			return false, err
		}
		if t.restart {
			return false, errRestart
		}
	}
	ops := t.ops()
	size := 0
	for _, o := range ops {
		if o.size() > t.s.budget() {
			return false, fmt.Errorf("commit: %w: %s is %d bytes, etcd takes at most about %d in one request (its --max-request-bytes)",
				ErrTooLarge, strings.TrimPrefix(o.K, t.s.p), len(o.V), t.s.budget())
		}
		size += o.size()
	}
	room := t.s.maxOps - 2
	cmps := t.compares(room)
	for _, c := range cmps {
		size += len(c.KeyBytes()) + 2*len(c.KeyBytes()) + opOverhead
	}
	var elses []clientv3.Op
	elses = append(elses, clientv3.OpGet(t.s.p+kBigTx))
	if f != nil {
		cmps = append(cmps, clientv3.Compare(clientv3.CreateRevision(f.key), "=", f.rev))
		elses = append(elses, clientv3.OpGet(f.key))
	}
	if len(ops) > t.s.maxOps || size > t.s.budget() {
		return t.commitBig(cmps, ops, f)
	}
	cops := make([]clientv3.Op, len(ops))
	for i, o := range ops {
		cops[i] = o.op()
	}
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), commitTimeout)
	defer cancel()
	t.s.stats.Commits.Add(1)
	resp, err := t.s.cli.Txn(ctx).If(cmps...).Then(cops...).Else(elses...).Commit()
	if err != nil {
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			t.dropLeases()
			return false, errRestart
		}
		return false, fmt.Errorf("commit: %w", err)
	}
	if resp.Succeeded {
		t.s.remember(resp.Header.Revision)
		return true, nil
	}
	return false, t.afterConflict(resp.Responses, f)
}

// afterConflict looks at a failed commit's Else answers: a fence that no
// longer holds is ErrFenced; a large transaction is finished.
func (t *tx) afterConflict(rs []*etcdserverpb.ResponseOp, f *fence) error {
	if len(rs) > 0 {
		if kvs := rs[0].GetResponseRange().Kvs; len(kvs) == 1 {
			if err := t.s.rollForward(context.WithoutCancel(t.ctx), kvs[0].Value); err != nil {
				return fmt.Errorf("finish a large transaction: %w", err)
			}
		}
	}
	if f != nil && len(rs) > 1 {
		kvs := rs[1].GetResponseRange().Kvs
		if len(kvs) == 0 || kvs[0].CreateRevision != f.rev {
			return ErrFenced
		}
	}
	return nil
}

func (t *tx) checkFence(f *fence) (bool, error) {
	resp, err := t.s.cli.Get(t.ctx, f.key)
	if err != nil {
		return false, fmt.Errorf("check leadership: %w", err)
	}
	if len(resp.Kvs) == 0 || resp.Kvs[0].CreateRevision != f.rev {
		return false, ErrFenced
	}
	return true, nil
}

func (t *tx) dropLeases() {
	for _, w := range t.writes {
		if w.lease != 0 {
			t.s.leases.drop(w.lease)
		}
	}
}

// bigMarker is the value of the bigtx key while a large transaction is
// applied.
type bigMarker struct {
	ID     string `json:"id"`
	Chunks int    `json:"chunks"`
}

// commitBig applies a transaction too large for one etcd request: its
// writes go to a redo log first (in chunks), then one transaction with the
// compares of every read commits it by writing the bigtx marker, and the
// chunks are applied. Every transaction reads the marker with its snapshot
// (and finishes a pending large transaction before going on) and compares
// it at commit, so nobody sees or writes over a half-applied one.
func (t *tx) commitBig(cmps []clientv3.Cmp, ops []bigOp, f *fence) (bool, error) {
	s := t.s
	s.stats.BigCommits.Add(1)
	ctx, cancel := context.WithTimeout(context.WithoutCancel(t.ctx), 5*commitTimeout)
	defer cancel()
	chunks := s.chunk(ops)
	id := fmt.Sprintf("%016x-%08x", time.Now().UnixNano(), rand.Uint32())
	logPrefix := s.p + kBigLog + id + "/"
	for i, ch := range chunks {
		b, err := json.Marshal(ch)
		if err != nil {
			return false, fmt.Errorf("commit: %w", err)
		}
		if _, err := s.cli.Put(ctx, logPrefix+num(uint64(i)), string(b)); err != nil {
			return false, fmt.Errorf("commit: write redo log: %w", err)
		}
	}
	marker, _ := json.Marshal(bigMarker{ID: id, Chunks: len(chunks)})
	elses := []clientv3.Op{clientv3.OpGet(s.p + kBigTx)}
	if f != nil {
		elses = append(elses, clientv3.OpGet(f.key))
	}
	s.stats.Commits.Add(1)
	resp, err := s.cli.Txn(ctx).If(cmps...).Then(clientv3.OpPut(s.p+kBigTx, string(marker))).Else(elses...).Commit()
	if err != nil {
		return false, fmt.Errorf("commit: %w", err)
	}
	if !resp.Succeeded {
		_, _ = s.cli.Delete(ctx, logPrefix, clientv3.WithPrefix())
		return false, t.afterConflict(resp.Responses, f)
	}
	s.remember(resp.Header.Revision)
	if err := s.applyBig(ctx, marker, id, chunks); err != nil {
		// Committed: whoever reads next finishes it.
		s.log.Warn("large etcd transaction committed, not yet applied", "err", err)
	}
	return true, nil
}

// chunk cuts ops into pieces that fit one request each.
func (s *Store) chunk(ops []bigOp) [][]bigOp {
	var out [][]bigOp
	var cur []bigOp
	size := 0
	room := s.maxOps - 2
	for _, o := range ops {
		if len(cur) > 0 && (len(cur) >= room || size+o.size() > s.budget()/2) {
			out = append(out, cur)
			cur, size = nil, 0
		}
		cur = append(cur, o)
		size += o.size()
	}
	if len(cur) > 0 {
		out = append(out, cur)
	}
	return out
}

// applyBig applies the chunks of the large transaction whose marker is
// current, then removes the marker and the log.
func (s *Store) applyBig(ctx context.Context, marker []byte, id string, chunks [][]bigOp) error {
	mine := clientv3.Compare(clientv3.Value(s.p+kBigTx), "=", string(marker))
	for _, ch := range chunks {
		ops := make([]clientv3.Op, len(ch))
		for i, o := range ch {
			ops[i] = o.op()
		}
		resp, err := s.cli.Txn(ctx).If(mine).Then(ops...).Commit()
		if errors.Is(err, rpctypes.ErrLeaseNotFound) {
			for i, o := range ch { // the records' lease expired meanwhile
				o.Lease = 0
				ops[i] = o.op()
			}
			resp, err = s.cli.Txn(ctx).If(mine).Then(ops...).Commit()
		}
		if err != nil {
			return err
		}
		if !resp.Succeeded {
			return nil // finished by someone else
		}
		s.remember(resp.Header.Revision)
	}
	logPrefix := s.p + kBigLog + id + "/"
	resp, err := s.cli.Txn(ctx).If(mine).Then(
		clientv3.OpDelete(s.p+kBigTx),
		clientv3.OpDelete(logPrefix, clientv3.WithPrefix()),
	).Commit()
	if err == nil && resp.Succeeded {
		s.remember(resp.Header.Revision)
	}
	return err
}

// rollForward finishes the large transaction whose marker is marker.
func (s *Store) rollForward(ctx context.Context, marker []byte) error {
	var m bigMarker
	if err := json.Unmarshal(marker, &m); err != nil {
		return fmt.Errorf("malformed marker %q: %w", marker, err)
	}
	logPrefix := s.p + kBigLog + m.ID + "/"
	resp, err := s.cli.Get(ctx, logPrefix, clientv3.WithPrefix(), clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
	if err != nil {
		return err
	}
	if len(resp.Kvs) != m.Chunks {
		// Finished meanwhile (the log is deleted with the marker)?
		cur, err := s.cli.Get(ctx, s.p+kBigTx)
		if err != nil {
			return err
		}
		if len(cur.Kvs) == 0 || !bytes.Equal(cur.Kvs[0].Value, marker) {
			return nil
		}
		return fmt.Errorf("redo log of %s has %d chunks, want %d", m.ID, len(resp.Kvs), m.Chunks)
	}
	chunks := make([][]bigOp, len(resp.Kvs))
	for i, e := range resp.Kvs {
		if err := json.Unmarshal(e.Value, &chunks[i]); err != nil {
			return fmt.Errorf("redo log chunk %d: %w", i, err)
		}
	}
	return s.applyBig(ctx, marker, m.ID, chunks)
}
