package etcdstore

import (
	"fmt"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// ---- de-duplication

func (t *tx) seenKey(key string) string { return t.s.p + rSeen + key }

func (t *tx) seenExpiryKey(exp uint64, key string) string {
	return t.s.p + rSeenExpiry + num(exp) + key
}

// seenRecord reads key's record: its expiry (timeKey) and presence.
func (t *tx) seenRecord(key string) (uint64, bool, error) {
	v, ok, err := t.get(t.seenKey(key))
	if err != nil || !ok {
		return 0, false, err
	}
	exp, err := parseNum(string(v))
	if err != nil {
		return 0, false, fmt.Errorf("de-dup record %s: %w", key, err)
	}
	return exp, true, nil
}

// MarkSeen records key until expires (a create-if-absent put, attached to
// a lease that removes it after expires) and reports whether a live record
// existed.
func (t *tx) MarkSeen(key string, now, expires time.Time) (bool, error) {
	if err := t.writable("mark seen"); err != nil {
		return false, err
	}
	if key == "" {
		return false, fmt.Errorf("mark seen: %w: empty key", bridge.ErrInvalid)
	}
	exp, ok, err := t.seenRecord(key)
	if err != nil {
		return false, err
	}
	if ok && exp > timeKey(now) {
		return true, nil
	}
	if ok {
		t.del(t.seenExpiryKey(exp, key))
	}
	lease := t.s.leases.get(t.ctx, expires.Sub(now))
	ne := timeKey(expires)
	t.put(t.seenKey(key), []byte(num(ne)), lease)
	t.put(t.seenExpiryKey(ne, key), nil, lease)
	return false, nil
}

// Seen reports whether a record of key is live at now.
func (t *tx) Seen(key string, now time.Time) (bool, error) {
	if key == "" {
		return false, nil
	}
	exp, ok, err := t.seenRecord(key)
	if err != nil {
		return false, err
	}
	return ok && exp > timeKey(now), nil
}

// ForgetSeen deletes the record of key.
func (t *tx) ForgetSeen(key string) error {
	if err := t.writable("forget seen"); err != nil {
		return err
	}
	if key == "" {
		return nil
	}
	exp, ok, err := t.seenRecord(key)
	if err != nil || !ok {
		return err
	}
	t.del(t.seenKey(key))
	t.del(t.seenExpiryKey(exp, key))
	return nil
}

// PurgeSeen deletes the records not live at now. Records expire with
// their leases, so in a running cluster it usually finds none.
func (t *tx) PurgeSeen(now time.Time) (int, error) {
	if err := t.writable("purge seen"); err != nil {
		return 0, err
	}
	pfx := t.s.p + rSeenExpiry
	end := pfx + num(timeKey(now)+1)
	kvs, err := t.scan1(scan{start: pfx, end: end, keysOnly: true})
	if err != nil {
		return 0, err
	}
	n := 0
	for _, e := range kvs {
		rest := e.key[len(pfx):]
		exp, err := parseNum(rest)
		if err != nil {
			return 0, err
		}
		key := rest[hexWidth:]
		t.del(e.key)
		cur, ok, err := t.seenRecord(key)
		if err != nil {
			return 0, err
		}
		if ok && cur == exp {
			t.del(t.seenKey(key))
			n++
		}
	}
	return n, nil
}
