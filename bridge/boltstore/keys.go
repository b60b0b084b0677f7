package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"math"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
)

const sep = 0

// u64 encodes n big-endian, so that keys sort numerically.
func u64(n uint64) []byte {
	var b [8]byte
	binary.BigEndian.PutUint64(b[:], n)
	return b[:]
}

// Range of time.UnixNano.
var (
	minTime = time.Unix(0, math.MinInt64)
	maxTime = time.Unix(0, math.MaxInt64)
)

// timeKey maps t to a uint64 that sorts like t: the zero time first, then
// every time in the range of UnixNano (outside it, clamped).
func timeKey(t time.Time) uint64 {
	switch {
	case t.IsZero():
		return 0
	case !t.After(minTime):
		return 1
	case !t.Before(maxTime):
		return math.MaxUint64
	}
	k := uint64(t.UnixNano()) ^ (1 << 63)
	if k == 0 {
		k = 1
	}
	return k
}

// key joins parts with NUL bytes, then appends the suffixes as they are.
func key(parts []string, suffix ...[]byte) []byte {
	n := len(parts)
	for _, p := range parts {
		n += len(p)
	}
	for _, s := range suffix {
		n += len(s)
	}
	b := make([]byte, 0, n)
	for i, p := range parts {
		if i > 0 {
			b = append(b, sep)
		}
		b = append(b, p...)
	}
	if len(suffix) > 0 && len(parts) > 0 {
		b = append(b, sep)
	}
	for _, s := range suffix {
		b = append(b, s...)
	}
	return b
}

// prefix is parts joined and terminated by NUL: the common start of every
// key whose leading parts are parts.
func prefix(parts ...string) []byte {
	b := key(parts)
	return append(b, sep)
}

// checkParts rejects empty or NUL-containing key parts (the last part of a
// key may contain NUL; callers pass only the parts that must not).
func checkParts(op string, parts ...string) error {
	for _, p := range parts {
		if p == "" {
			return fmt.Errorf("%s: %w: empty identifier", op, bridge.ErrInvalid)
		}
		if strings.IndexByte(p, sep) >= 0 {
			return fmt.Errorf("%s: %w: identifier contains a NUL byte", op, bridge.ErrInvalid)
		}
	}
	return nil
}

// validParts is checkParts for lookups: a bad part cannot name a record.
func validParts(parts ...string) bool {
	for _, p := range parts {
		if p == "" || strings.IndexByte(p, sep) >= 0 {
			return false
		}
	}
	return true
}

// revPrefix iterates the keys that start with pfx, last key first.
type revPrefix struct {
	c   *bolt.Cursor
	pfx []byte
	k   []byte
	v   []byte
}

// newRevPrefix positions an iterator on the last key with prefix pfx, which
// must end with a NUL byte.
func newRevPrefix(b *bolt.Bucket, pfx []byte) *revPrefix {
	upper := bytes.Clone(pfx)
	upper[len(upper)-1]++
	return newRevBelow(b, pfx, upper)
}

// newRevBelow positions an iterator with prefix pfx on the last key below
// upper.
func newRevBelow(b *bolt.Bucket, pfx, upper []byte) *revPrefix {
	it := &revPrefix{c: b.Cursor(), pfx: pfx}
	k, v := it.c.Seek(upper)
	if k == nil {
		k, v = it.c.Last()
	} else {
		k, v = it.c.Prev()
	}
	it.set(k, v)
	return it
}

func (it *revPrefix) set(k, v []byte) {
	if k != nil && bytes.HasPrefix(k, it.pfx) {
		it.k, it.v = k, v
	} else {
		it.k, it.v = nil, nil
	}
}

func (it *revPrefix) prev() { it.set(it.c.Prev()) }

// rest is the current key without the prefix.
func (it *revPrefix) rest() []byte { return it.k[len(it.pfx):] }

// errNotFound wraps bridge.ErrNotFound with what was looked up.
func errNotFound(what string, id any) error {
	return fmt.Errorf("%s %v: %w", what, id, bridge.ErrNotFound)
}
