package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
)

// The outbox bucket holds one nested bucket per destination, keyed by entry
// id (big-endian). Ids come from the outbox bucket's own sequence, so they
// increase across destinations.

// Enqueue adds e to its destination's outbox and returns its new id.
func (t *tx) Enqueue(e bridge.OutboxEntry) (uint64, error) {
	if err := t.writable("enqueue"); err != nil {
		return 0, err
	}
	if e.Destination == "" {
		return 0, fmt.Errorf("enqueue: %w: empty destination", bridge.ErrInvalid)
	}
	ob := t.b(bOutbox)
	id, err := ob.NextSequence()
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	e.ID = id
	dest, err := ob.CreateBucketIfNotExists([]byte(e.Destination))
	if err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	if err := dest.Put(u64(id), encodeOutbox(e)); err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	return id, nil
}

// Outbox returns up to limit entries of a destination with id > after, in
// id order.
func (t *tx) Outbox(destination string, after uint64, limit int) ([]bridge.OutboxEntry, error) {
	return t.entries(bOutbox, destination, after, limit)
}

// entries reads a destination's entries under the outbox or dead bucket.
func (t *tx) entries(root []byte, destination string, after uint64, limit int) ([]bridge.OutboxEntry, error) {
	if destination == "" {
		return nil, nil
	}
	dest := t.b(root).Bucket([]byte(destination))
	if dest == nil {
		return nil, nil
	}
	var out []bridge.OutboxEntry
	c := dest.Cursor()
	k, v := c.First()
	if after > 0 {
		k, v = c.Seek(u64(after + 1))
	}
	for ; k != nil; k, v = c.Next() {
		e, err := decodeOutbox(v)
		if err != nil {
			return nil, fmt.Errorf("outbox: decode: %w", err)
		}
		out = append(out, e)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// PutOutbox replaces an existing entry.
func (t *tx) PutOutbox(e bridge.OutboxEntry) error {
	if err := t.writable("put outbox"); err != nil {
		return err
	}
	var dest *bolt.Bucket
	if e.Destination != "" {
		dest = t.b(bOutbox).Bucket([]byte(e.Destination))
	}
	if dest == nil || dest.Get(u64(e.ID)) == nil {
		return errNotFound("outbox entry", e.Destination+"/"+fmt.Sprint(e.ID))
	}
	if err := dest.Put(u64(e.ID), encodeOutbox(e)); err != nil {
		return fmt.Errorf("put outbox: %w", err)
	}
	return nil
}

// DeleteOutbox removes an entry; a missing one is not an error.
func (t *tx) DeleteOutbox(destination string, id uint64) error {
	if err := t.writable("delete outbox"); err != nil {
		return err
	}
	if destination == "" {
		return nil
	}
	dest := t.b(bOutbox).Bucket([]byte(destination))
	if dest == nil {
		return nil
	}
	if err := dest.Delete(u64(id)); err != nil {
		return fmt.Errorf("delete outbox: %w", err)
	}
	return nil
}

// OutboxDepth counts the entries of every destination that ever had one
// (zero for drained ones), from the page headers, without decoding.
func (t *tx) OutboxDepth() (map[string]int, error) { return t.depth(bOutbox) }

func (t *tx) depth(root []byte) (map[string]int, error) {
	out := map[string]int{}
	err := t.b(root).ForEachBucket(func(name []byte) error {
		out[string(name)] = t.b(root).Bucket(name).Stats().KeyN
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("outbox depth: %w", err)
	}
	return out, nil
}

// Dead letters: the dead bucket holds one nested bucket per destination,
// keyed by entry id, like the outbox.

// Bury moves an entry from the outbox to the dead letters.
func (t *tx) Bury(e bridge.OutboxEntry) error {
	if err := t.writable("bury"); err != nil {
		return err
	}
	return t.move("bury", bOutbox, bDead, e)
}

// Revive moves a dead letter back into the outbox.
func (t *tx) Revive(e bridge.OutboxEntry) error {
	if err := t.writable("revive"); err != nil {
		return err
	}
	return t.move("revive", bDead, bOutbox, e)
}

// move deletes e's id from the destination's bucket under from and stores e
// under to; ErrNotFound when from does not hold it.
func (t *tx) move(op string, from, to []byte, e bridge.OutboxEntry) error {
	var src *bolt.Bucket
	if e.Destination != "" {
		src = t.b(from).Bucket([]byte(e.Destination))
	}
	if src == nil || src.Get(u64(e.ID)) == nil {
		return errNotFound(op+" entry", e.Destination+"/"+fmt.Sprint(e.ID))
	}
	if err := src.Delete(u64(e.ID)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	dst, err := t.b(to).CreateBucketIfNotExists([]byte(e.Destination))
	if err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	if err := dst.Put(u64(e.ID), encodeOutbox(e)); err != nil {
		return fmt.Errorf("%s: %w", op, err)
	}
	return nil
}

// DeadLetters lists a destination's dead letters in id order.
func (t *tx) DeadLetters(destination string, after uint64, limit int) ([]bridge.OutboxEntry, error) {
	return t.entries(bDead, destination, after, limit)
}

// DeleteDead removes a dead letter.
func (t *tx) DeleteDead(destination string, id uint64) error {
	if err := t.writable("delete dead"); err != nil {
		return err
	}
	if destination == "" {
		return nil
	}
	if b := t.b(bDead).Bucket([]byte(destination)); b != nil {
		if err := b.Delete(u64(id)); err != nil {
			return fmt.Errorf("delete dead: %w", err)
		}
	}
	return nil
}

// DeadDepth counts the dead letters per destination.
func (t *tx) DeadDepth() (map[string]int, error) { return t.depth(bDead) }

// De-duplication records: seen holds key → expiry, seen_by_expiry holds
// expiry key → (empty) so that PurgeSeen reads only what expired. A record is
// live at now when its expiry is after now.

// MarkSeen records key until expires and reports whether a live record
// already existed (it is then left as it is).
func (t *tx) MarkSeen(k string, now, expires time.Time) (bool, error) {
	if err := t.writable("mark seen"); err != nil {
		return false, err
	}
	if k == "" {
		return false, fmt.Errorf("mark seen: %w: empty key", bridge.ErrInvalid)
	}
	seen, byExp := t.b(bSeen), t.b(bSeenExp)
	if v := seen.Get([]byte(k)); len(v) == 8 {
		exp := binary.BigEndian.Uint64(v)
		if exp > timeKey(now) {
			return true, nil
		}
		if err := byExp.Delete(append(bytes.Clone(v), k...)); err != nil {
			return false, fmt.Errorf("mark seen: %w", err)
		}
	}
	exp := u64(timeKey(expires))
	if err := seen.Put([]byte(k), exp); err != nil {
		return false, fmt.Errorf("mark seen: %w", err)
	}
	if err := byExp.Put(append(exp, k...), []byte{}); err != nil {
		return false, fmt.Errorf("mark seen: %w", err)
	}
	return false, nil
}

// Seen reports whether a record of k is live at now.
func (t *tx) Seen(k string, now time.Time) (bool, error) {
	v := t.b(bSeen).Get([]byte(k))
	return len(v) == 8 && binary.BigEndian.Uint64(v) > timeKey(now), nil
}

// ForgetSeen deletes the record of k and its expiry index entry.
func (t *tx) ForgetSeen(k string) error {
	if err := t.writable("forget seen"); err != nil {
		return err
	}
	seen, byExp := t.b(bSeen), t.b(bSeenExp)
	v := seen.Get([]byte(k))
	if v == nil {
		return nil
	}
	if err := byExp.Delete(append(bytes.Clone(v), k...)); err != nil {
		return fmt.Errorf("forget seen: %w", err)
	}
	if err := seen.Delete([]byte(k)); err != nil {
		return fmt.Errorf("forget seen: %w", err)
	}
	return nil
}

// PurgeSeen deletes the records that are not live at now.
func (t *tx) PurgeSeen(now time.Time) (int, error) {
	if err := t.writable("purge seen"); err != nil {
		return 0, err
	}
	seen, byExp := t.b(bSeen), t.b(bSeenExp)
	limit := timeKey(now)
	var expired [][]byte
	c := byExp.Cursor()
	for k, _ := c.First(); k != nil && len(k) >= 8 && binary.BigEndian.Uint64(k[:8]) <= limit; k, _ = c.Next() {
		expired = append(expired, bytes.Clone(k))
	}
	for _, k := range expired {
		if err := byExp.Delete(k); err != nil {
			return 0, fmt.Errorf("purge seen: %w", err)
		}
		if err := seen.Delete(k[8:]); err != nil {
			return 0, fmt.Errorf("purge seen: %w", err)
		}
	}
	return len(expired), nil
}

// Refs: refs holds adapter\0conversation → ref, refs_reverse holds
// adapter\0ref → conversation.

// PutRef maps a conversation to its thread or room on an adapter.
func (t *tx) PutRef(adapter, conversationID, ref string) error {
	if err := t.writable("put ref"); err != nil {
		return err
	}
	if err := checkParts("put ref", adapter, conversationID); err != nil {
		return err
	}
	if ref == "" {
		return fmt.Errorf("put ref: %w: empty ref", bridge.ErrInvalid)
	}
	refs, rev := t.b(bRefs), t.b(bRefsRev)
	fk, rk := key([]string{adapter, conversationID}), key([]string{adapter, ref})
	// A ref names one conversation: drop the mapping of a previous owner.
	if prev := rev.Get(rk); prev != nil && string(prev) != conversationID {
		if err := refs.Delete(key([]string{adapter, string(prev)})); err != nil {
			return fmt.Errorf("put ref: %w", err)
		}
	}
	if old := refs.Get(fk); old != nil && string(old) != ref {
		if err := rev.Delete(key([]string{adapter, string(old)})); err != nil {
			return fmt.Errorf("put ref: %w", err)
		}
	}
	if err := refs.Put(fk, []byte(ref)); err != nil {
		return fmt.Errorf("put ref: %w", err)
	}
	if err := rev.Put(rk, []byte(conversationID)); err != nil {
		return fmt.Errorf("put ref: %w", err)
	}
	return nil
}

// Ref returns a conversation's thread or room on an adapter.
func (t *tx) Ref(adapter, conversationID string) (string, error) {
	var v []byte
	if validParts(adapter, conversationID) {
		v = t.b(bRefs).Get(key([]string{adapter, conversationID}))
	}
	if v == nil {
		return "", errNotFound("ref", adapter+"/"+conversationID)
	}
	return string(v), nil
}

// ConversationByRef resolves an adapter's thread or room to a conversation.
func (t *tx) ConversationByRef(adapter, ref string) (string, error) {
	var v []byte
	if validParts(adapter) && ref != "" {
		v = t.b(bRefsRev).Get(key([]string{adapter, ref}))
	}
	if v == nil {
		return "", errNotFound("conversation of ref", adapter+"/"+ref)
	}
	return string(v), nil
}
