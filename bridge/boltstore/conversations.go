package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
)

// A conversation C keeps everything written per message next to each other
// in the conversations bucket, so that accepting a message dirties few pages:
//
//	C\0 seq               → message (8 bytes big-endian; seq < 2^56, so
//	                        the byte after \0 is 0)
//	C\0 \xfe visitor\0 id → seq of the message a client id produced
//	C\0 \xff              → the conversation (header + record)
//
// The newest message, the conversation's client ids and its record sort
// together at the end of its range. Two indexes end with updatedAt
// (big-endian, to the second) + id, so that a reverse scan is newest first;
// a conversation that gets several messages within a second does not move
// in them (the record's UpdatedAt stays exact):
//
//	conv_by_visitor: visitor\0 updated id → status
//	conv_by_status:  status\0 updated id  → (empty)
//
// and meta holds a counter per status (count\0status).

const (
	markClient = 0xfe
	markRecord = 0xff
	// maxSeq keeps message keys below the client id and record keys.
	maxSeq = 1<<56 - 1
)

var countPrefix = []byte("count\x00")

func recordKey(conv string) []byte { return append(prefix(conv), markRecord) }

func msgKey(conv string, seq uint64) []byte { return append(prefix(conv), u64(seq)...) }

func clientKey(conv, visitor, clientID string) []byte {
	k := append(prefix(conv), markClient)
	k = append(k, visitor...)
	k = append(k, sep)
	return append(k, clientID...)
}

// convHead is the part of a stored conversation the indexes need; it is
// read without decoding the JSON.
type convHead struct {
	updated         uint64
	visitor, status string
}

// indexTime is a conversation's position in the indexes: UpdatedAt to the
// second.
func indexTime(c bridge.Conversation) uint64 {
	if c.UpdatedAt.IsZero() {
		return 0
	}
	return timeKey(c.UpdatedAt.Truncate(time.Second))
}

// encodeConv stores c as: index time (8 bytes), uvarint length + visitor
// id, uvarint length + status, then the record (codec.go; JSON before
// schema 3).
func encodeConv(c bridge.Conversation) ([]byte, error) {
	data := encodeConversationBody(c)
	b := make([]byte, 0, 8+2*binary.MaxVarintLen64+len(c.VisitorID)+len(c.Status)+len(data))
	b = binary.BigEndian.AppendUint64(b, indexTime(c))
	b = binary.AppendUvarint(b, uint64(len(c.VisitorID)))
	b = append(b, c.VisitorID...)
	b = binary.AppendUvarint(b, uint64(len(c.Status)))
	b = append(b, c.Status...)
	return append(b, data...), nil
}

// decodeHead splits a stored conversation into its header and JSON.
func decodeHead(v []byte) (convHead, []byte, error) {
	var h convHead
	bad := fmt.Errorf("decode conversation: malformed header")
	if len(v) < 8 {
		return h, nil, bad
	}
	h.updated, v = binary.BigEndian.Uint64(v), v[8:]
	for _, f := range []*string{&h.visitor, &h.status} {
		n, w := binary.Uvarint(v)
		if w <= 0 || uint64(len(v)-w) < n {
			return h, nil, bad
		}
		*f, v = string(v[w:w+int(n)]), v[w+int(n):]
	}
	return h, v, nil
}

// Conversation returns a conversation by id.
func (t *tx) Conversation(id string) (bridge.Conversation, error) {
	var v []byte
	if validParts(id) {
		v = t.b(bConvs).Get(recordKey(id))
	}
	if v == nil {
		return bridge.Conversation{}, errNotFound("conversation", id)
	}
	_, data, err := decodeHead(v)
	var c bridge.Conversation
	if err == nil {
		c, err = decodeConversationBody(data)
	}
	if err != nil {
		return bridge.Conversation{}, fmt.Errorf("conversation %s: %w", id, err)
	}
	return c, nil
}

// convSuffix is the ordering tail of both index keys.
func convSuffix(updated uint64, id string) []byte {
	return append(u64(updated), id...)
}

// PutConversation stores c and moves its index entries when its place in
// them changed (status, visitor, or UpdatedAt's second).
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
	rk := recordKey(c.ID)
	now := convHead{updated: indexTime(c), visitor: c.VisitorID, status: string(c.Status)}
	var old convHead
	had := false
	if v := convs.Get(rk); v != nil {
		var err error
		if old, _, err = decodeHead(v); err != nil {
			return fmt.Errorf("put conversation: %w", err)
		}
		had = true
	}
	data, err := encodeConv(c)
	if err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	if err := convs.Put(rk, data); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	if had && old == now {
		return nil // same place in the indexes and the counters
	}
	if had {
		oldSuffix := convSuffix(old.updated, c.ID)
		if err := byVis.Delete(key([]string{old.visitor}, oldSuffix)); err != nil {
			return fmt.Errorf("put conversation: %w", err)
		}
		if err := byStatus.Delete(key([]string{old.status}, oldSuffix)); err != nil {
			return fmt.Errorf("put conversation: %w", err)
		}
	}
	suffix := convSuffix(now.updated, c.ID)
	if err := byVis.Put(key([]string{c.VisitorID}, suffix), []byte(c.Status)); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	if err := byStatus.Put(key([]string{string(c.Status)}, suffix), []byte{}); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	if had && old.status == now.status {
		return nil
	}
	if had {
		if err := addCount(meta, old.status, -1); err != nil {
			return fmt.Errorf("put conversation: %w", err)
		}
	}
	if err := addCount(meta, now.status, 1); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	return nil
}

func addCount(meta *bolt.Bucket, status string, d int64) error {
	k := append(bytes.Clone(countPrefix), status...)
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
	var ids []string
	want := func() bool { return f.Limit <= 0 || len(ids) < f.Limit }
	// rev iterates an index's keys with prefix pfx, newest first, from
	// below UpdatedBefore when it is set.
	rev := func(b *bolt.Bucket, pfx []byte) *revPrefix {
		if f.UpdatedBefore.IsZero() {
			return newRevPrefix(b, pfx)
		}
		return newRevBelow(b, pfx, append(bytes.Clone(pfx), u64(timeKey(f.UpdatedBefore.Truncate(time.Second)))...))
	}
	switch {
	case f.VisitorID != "":
		if !validParts(f.VisitorID) {
			return nil, nil
		}
		for it := rev(t.b(bConvByVis), prefix(f.VisitorID)); it.k != nil && want(); it.prev() {
			if f.Status == "" || string(it.v) == string(f.Status) {
				ids = append(ids, string(it.rest()[8:]))
			}
		}
	case f.Status != "":
		if !validParts(string(f.Status)) {
			return nil, nil
		}
		for it := rev(t.b(bConvByStatus), prefix(string(f.Status))); it.k != nil && want(); it.prev() {
			ids = append(ids, string(it.rest()[8:]))
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
			its = append(its, rev(b, bytes.Clone(pfx)))
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
			ids = append(ids, string(best.rest()[8:]))
			best.prev()
		}
	}
	out := make([]bridge.Conversation, 0, len(ids))
	for _, id := range ids {
		c, err := t.Conversation(id)
		if err != nil {
			return nil, fmt.Errorf("conversations: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// PutMessage stores m under its conversation and Seq.
func (t *tx) PutMessage(m bridge.Message) error {
	if err := t.writable("put message"); err != nil {
		return err
	}
	if err := checkParts("put message", m.ConversationID); err != nil {
		return err
	}
	if m.Seq == 0 || m.Seq > maxSeq {
		return fmt.Errorf("put message: %w: seq %d out of range", bridge.ErrInvalid, m.Seq)
	}
	if err := t.b(bConvs).Put(msgKey(m.ConversationID, m.Seq), encodeMessage(m)); err != nil {
		return fmt.Errorf("put message: %w", err)
	}
	return nil
}

// Message returns one message.
func (t *tx) Message(conversationID string, seq uint64) (bridge.Message, error) {
	var data []byte
	if validParts(conversationID) && seq <= maxSeq {
		data = t.b(bConvs).Get(msgKey(conversationID, seq))
	}
	if data == nil {
		return bridge.Message{}, errNotFound("message", fmt.Sprintf("%s/%d", conversationID, seq))
	}
	m, err := decodeMessage(data)
	if err != nil {
		return bridge.Message{}, fmt.Errorf("message: decode: %w", err)
	}
	return m, nil
}

// Messages returns up to limit messages with Seq > after, in Seq order.
func (t *tx) Messages(conversationID string, after uint64, limit int) ([]bridge.Message, error) {
	if !validParts(conversationID) || after >= maxSeq {
		return nil, nil
	}
	pfx := prefix(conversationID)
	c := t.b(bConvs).Cursor()
	var out []bridge.Message
	for k, v := c.Seek(msgKey(conversationID, after+1)); isMsgKey(k, pfx); k, v = c.Next() {
		m, err := decodeMessage(v)
		if err != nil {
			return nil, fmt.Errorf("messages: decode: %w", err)
		}
		out = append(out, m)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

func isMsgKey(k, pfx []byte) bool {
	return len(k) == len(pfx)+8 && k[len(pfx)] == 0 && bytes.HasPrefix(k, pfx)
}

// PutClientID records which message a visitor's idempotency key produced.
// The record goes next to the conversation when it is the visitor's (the
// usual case), else to the client_ids bucket.
func (t *tx) PutClientID(visitorID, clientID, conversationID string, seq uint64) error {
	if err := t.writable("put client id"); err != nil {
		return err
	}
	if err := checkParts("put client id", visitorID, conversationID); err != nil {
		return err
	}
	if clientID == "" {
		return fmt.Errorf("put client id: %w: empty client id", bridge.ErrInvalid)
	}
	convs := t.b(bConvs)
	if v := convs.Get(recordKey(conversationID)); v != nil {
		h, _, err := decodeHead(v)
		if err != nil {
			return fmt.Errorf("put client id: %w", err)
		}
		if h.visitor == visitorID {
			if err := convs.Put(clientKey(conversationID, visitorID, clientID), u64(seq)); err != nil {
				return fmt.Errorf("put client id: %w", err)
			}
			return nil
		}
	}
	v := append(u64(seq), conversationID...)
	if err := t.b(bClientIDs).Put(key([]string{visitorID, clientID}), v); err != nil {
		return fmt.Errorf("put client id: %w", err)
	}
	return nil
}

// ClientID looks up the message produced by a visitor's idempotency key: in
// the client_ids bucket, then in the visitor's conversations, newest first
// (where a retry finds it at once; a new key costs one lookup per
// conversation of the visitor).
func (t *tx) ClientID(visitorID, clientID string) (string, uint64, error) {
	if !validParts(visitorID) || clientID == "" {
		return "", 0, errNotFound("client id", clientID)
	}
	if v := t.b(bClientIDs).Get(key([]string{visitorID, clientID})); len(v) >= 8 {
		return string(v[8:]), binary.BigEndian.Uint64(v[:8]), nil
	}
	convs := t.b(bConvs)
	for it := newRevPrefix(t.b(bConvByVis), prefix(visitorID)); it.k != nil; it.prev() {
		conv := string(it.rest()[8:])
		if v := convs.Get(clientKey(conv, visitorID, clientID)); len(v) == 8 {
			return conv, binary.BigEndian.Uint64(v), nil
		}
	}
	return "", 0, errNotFound("client id", clientID)
}
