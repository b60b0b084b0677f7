package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
)

// Conversations are stored under their id, with two indexes whose keys end
// with updatedAt (big-endian) + id, so that a reverse scan is newest first:
//
//	conv_by_visitor: visitor\0 updated id → status
//	conv_by_status:  status\0 updated id  → (empty)
//
// and a counter per status in meta (count\0status) for CountConversations.

var countPrefix = []byte("count\x00")

// Conversation returns a conversation by id.
func (t *tx) Conversation(id string) (bridge.Conversation, error) {
	var c bridge.Conversation
	ok, err := getJSON(t.b(bConvs), []byte(id), &c)
	if err != nil {
		return bridge.Conversation{}, fmt.Errorf("conversation %s: %w", id, err)
	}
	if !ok {
		return bridge.Conversation{}, errNotFound("conversation", id)
	}
	return c, nil
}

// convSuffix is the ordering tail of both index keys.
func convSuffix(c bridge.Conversation) []byte {
	return append(u64(timeKey(c.UpdatedAt)), c.ID...)
}

// PutConversation stores c and moves its index entries.
func (t *tx) PutConversation(c bridge.Conversation) error {
	if err := t.writable("put conversation"); err != nil {
		return err
	}
	if err := checkParts("put conversation", c.ID, c.VisitorID); err != nil {
		return err
	}
	if bytes.IndexByte([]byte(c.Status), sep) >= 0 {
		return fmt.Errorf("put conversation: %w: status contains a NUL byte", bridge.ErrInvalid)
	}
	convs, byVis, byStatus, meta := t.b(bConvs), t.b(bConvByVis), t.b(bConvByStatus), t.b(bMeta)
	var old bridge.Conversation
	had, err := getJSON(convs, []byte(c.ID), &old)
	if err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	if had {
		if err := byVis.Delete(key([]string{old.VisitorID}, convSuffix(old))); err != nil {
			return fmt.Errorf("put conversation: %w", err)
		}
		if err := byStatus.Delete(key([]string{string(old.Status)}, convSuffix(old))); err != nil {
			return fmt.Errorf("put conversation: %w", err)
		}
	}
	if err := putJSON(convs, []byte(c.ID), c); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	suffix := convSuffix(c)
	if err := byVis.Put(key([]string{c.VisitorID}, suffix), []byte(c.Status)); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	if err := byStatus.Put(key([]string{string(c.Status)}, suffix), []byte{}); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	if had && old.Status == c.Status {
		return nil
	}
	if had {
		if err := addCount(meta, old.Status, -1); err != nil {
			return fmt.Errorf("put conversation: %w", err)
		}
	}
	if err := addCount(meta, c.Status, 1); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	return nil
}

func addCount(meta *bolt.Bucket, s bridge.Status, d int64) error {
	k := append(bytes.Clone(countPrefix), s...)
	var n int64
	if v := meta.Get(k); len(v) == 8 {
		n = int64(binary.BigEndian.Uint64(v))
	}
	n += d
	if n <= 0 {
		return meta.Delete(k)
	}
	return meta.Put(k, u64(uint64(n)))
}

// CountConversations reads the per-status counters.
func (t *tx) CountConversations(status bridge.Status) (int, error) {
	meta := t.b(bMeta)
	if status != "" {
		v := meta.Get(append(bytes.Clone(countPrefix), status...))
		if len(v) != 8 {
			return 0, nil
		}
		return int(binary.BigEndian.Uint64(v)), nil
	}
	total := 0
	c := meta.Cursor()
	for k, v := c.Seek(countPrefix); k != nil && bytes.HasPrefix(k, countPrefix); k, v = c.Next() {
		if len(v) == 8 {
			total += int(binary.BigEndian.Uint64(v))
		}
	}
	return total, nil
}

// Conversations lists conversations newest UpdatedAt first.
func (t *tx) Conversations(f bridge.ConversationFilter) ([]bridge.Conversation, error) {
	var ids [][]byte
	want := func() bool { return f.Limit <= 0 || len(ids) < f.Limit }
	switch {
	case f.VisitorID != "":
		if !validParts(f.VisitorID) {
			return nil, nil
		}
		for it := newRevPrefix(t.b(bConvByVis), prefix(f.VisitorID)); it.k != nil && want(); it.prev() {
			if f.Status == "" || string(it.v) == string(f.Status) {
				ids = append(ids, it.rest()[8:])
			}
		}
	case f.Status != "":
		for it := newRevPrefix(t.b(bConvByStatus), prefix(string(f.Status))); it.k != nil && want(); it.prev() {
			ids = append(ids, it.rest()[8:])
		}
	default:
		// Merge the per-status lists, newest first.
		b := t.b(bConvByStatus)
		var its []*revPrefix
		c := b.Cursor()
		for k, _ := c.First(); k != nil; {
			i := bytes.IndexByte(k, sep)
			if i < 0 {
				return nil, fmt.Errorf("conversations: malformed index key %q", k)
			}
			pfx := bytes.Clone(k[:i+1])
			its = append(its, newRevPrefix(b, bytes.Clone(pfx)))
			pfx[i]++
			k, _ = c.Seek(pfx)
		}
		for want() {
			var best *revPrefix
			for _, it := range its {
				if it.k != nil && (best == nil || bytes.Compare(it.rest(), best.rest()) > 0) {
					best = it
				}
			}
			if best == nil {
				break
			}
			ids = append(ids, best.rest()[8:])
			best.prev()
		}
	}
	out := make([]bridge.Conversation, 0, len(ids))
	for _, id := range ids {
		c, err := t.Conversation(string(id))
		if err != nil {
			return nil, fmt.Errorf("conversations: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}
