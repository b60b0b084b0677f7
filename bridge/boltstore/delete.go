package boltstore

import (
	"bytes"
	"encoding/binary"
	"fmt"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
)

// Deleting what retention removes: visitors, conversations (in parts),
// refs, and listing adapter state by prefix.

// keysWithPrefix returns copies of the keys of b that start with pfx.
func keysWithPrefix(b *bolt.Bucket, pfx []byte) [][]byte {
	var out [][]byte
	c := b.Cursor()
	for k, _ := c.Seek(pfx); k != nil && bytes.HasPrefix(k, pfx); k, _ = c.Next() {
		out = append(out, bytes.Clone(k))
	}
	return out
}

func deleteKeys(b *bolt.Bucket, keys [][]byte) error {
	for _, k := range keys {
		if err := b.Delete(k); err != nil {
			return err
		}
	}
	return nil
}

// DeleteVisitor deletes a visitor, its tokens, its external id and its page
// views.
func (t *tx) DeleteVisitor(id string) error {
	if err := t.writable("delete visitor"); err != nil {
		return err
	}
	if !validParts(id) {
		return nil
	}
	visitors := t.b(bVisitors)
	if data := visitors.Get([]byte(id)); data != nil {
		v, err := decodeVisitor(data)
		if err != nil {
			return fmt.Errorf("delete visitor %s: decode: %w", id, err)
		}
		ext := t.b(bExternalIDs)
		if v.ExternalID != "" && string(ext.Get([]byte(v.ExternalID))) == id {
			if err := ext.Delete([]byte(v.ExternalID)); err != nil {
				return fmt.Errorf("delete visitor: %w", err)
			}
		}
		if err := visitors.Delete([]byte(id)); err != nil {
			return fmt.Errorf("delete visitor: %w", err)
		}
	}
	tokens, byVis := t.b(bTokens), t.b(bTokensByVis)
	pfx := prefix(id)
	for _, k := range keysWithPrefix(byVis, pfx) {
		hash := k[len(pfx):]
		if string(tokens.Get(hash)) == id {
			if err := tokens.Delete(hash); err != nil {
				return fmt.Errorf("delete visitor: %w", err)
			}
		}
		if err := byVis.Delete(k); err != nil {
			return fmt.Errorf("delete visitor: %w", err)
		}
	}
	pv := t.b(bPageViews)
	if err := deleteKeys(pv, keysWithPrefix(pv, pfx)); err != nil {
		return fmt.Errorf("delete visitor: %w", err)
	}
	return nil
}

// convVisitor is the visitor of a stored conversation ("" when there is no
// record).
func (t *tx) convVisitor(conv string) (string, error) {
	v := t.b(bConvs).Get(recordKey(conv))
	if v == nil {
		return "", nil
	}
	h, _, err := decodeHead(v)
	return h.visitor, err
}

// deleteMessages deletes the messages of conv with through >= Seq, the
// client ids kept next to them and those in the client_ids bucket that
// name them.
func (t *tx) deleteMessages(conv string, through uint64) error {
	convs, side := t.b(bConvs), t.b(bClientIDs)
	visitor, err := t.convVisitor(conv)
	if err != nil {
		return err
	}
	// The client_ids bucket holds the keys of messages stored in another
	// visitor's conversation: rare, usually empty.
	sideUsed := visitor != ""
	if sideUsed {
		k, _ := side.Cursor().First()
		sideUsed = k != nil
	}
	pfx := prefix(conv)
	var keys [][]byte
	c := convs.Cursor()
	for k, v := c.Seek(msgKey(conv, 1)); isMsgKey(k, pfx) && binary.BigEndian.Uint64(k[len(pfx):]) <= through; k, v = c.Next() {
		keys = append(keys, bytes.Clone(k))
		if !sideUsed {
			continue
		}
		m, err := decodeMessage(v)
		if err != nil {
			return fmt.Errorf("decode message: %w", err)
		}
		if m.ClientID == "" {
			continue
		}
		sk := key([]string{visitor, m.ClientID})
		if sv := side.Get(sk); len(sv) >= 8 && string(sv[8:]) == conv {
			if err := side.Delete(sk); err != nil {
				return err
			}
		}
	}
	// Client ids next to the conversation: C\0 \xfe visitor\0 id → seq.
	cpfx := append(bytes.Clone(pfx), markClient)
	for k, v := c.Seek(cpfx); k != nil && bytes.HasPrefix(k, cpfx); k, v = c.Next() {
		if len(v) == 8 && binary.BigEndian.Uint64(v) <= through {
			keys = append(keys, bytes.Clone(k))
		}
	}
	return deleteKeys(convs, keys)
}

// DeleteMessages deletes the messages with Seq <= through and their
// client ids.
func (t *tx) DeleteMessages(conv string, through uint64) error {
	if err := t.writable("delete messages"); err != nil {
		return err
	}
	if !validParts(conv) || through == 0 {
		return nil
	}
	if err := t.deleteMessages(conv, min(through, maxSeq)); err != nil {
		return fmt.Errorf("delete messages of %s: %w", conv, err)
	}
	return nil
}

// DeleteConversation deletes a conversation's record, index entries,
// counter share, messages and client ids.
func (t *tx) DeleteConversation(id string) error {
	if err := t.writable("delete conversation"); err != nil {
		return err
	}
	if !validParts(id) {
		return nil
	}
	if err := t.deleteMessages(id, maxSeq); err != nil {
		return fmt.Errorf("delete conversation %s: %w", id, err)
	}
	convs := t.b(bConvs)
	if v := convs.Get(recordKey(id)); v != nil {
		h, _, err := decodeHead(v)
		if err != nil {
			return fmt.Errorf("delete conversation %s: %w", id, err)
		}
		suffix := convSuffix(h.updated, id)
		if err := t.b(bConvByVis).Delete(key([]string{h.visitor}, suffix)); err != nil {
			return fmt.Errorf("delete conversation: %w", err)
		}
		if err := t.b(bConvByStatus).Delete(key([]string{h.status}, suffix)); err != nil {
			return fmt.Errorf("delete conversation: %w", err)
		}
		if err := addCount(t.b(bMeta), h.status, -1); err != nil {
			return fmt.Errorf("delete conversation: %w", err)
		}
	}
	// Whatever else is left in the conversation's range (its record,
	// client ids of another visitor).
	if err := deleteKeys(convs, keysWithPrefix(convs, prefix(id))); err != nil {
		return fmt.Errorf("delete conversation: %w", err)
	}
	return nil
}

// DeleteRefs deletes the conversation's refs on every adapter: refs keys
// start with the adapter, so the adapters are found by skipping from one
// to the next.
func (t *tx) DeleteRefs(conv string) error {
	if err := t.writable("delete refs"); err != nil {
		return err
	}
	if !validParts(conv) {
		return nil
	}
	refs, rev := t.b(bRefs), t.b(bRefsRev)
	var adapters []string
	c := refs.Cursor()
	for k, _ := c.First(); k != nil; {
		i := bytes.IndexByte(k, sep)
		if i < 0 {
			k, _ = c.Next()
			continue
		}
		adapters = append(adapters, string(k[:i]))
		next := append(bytes.Clone(k[:i]), sep+1)
		k, _ = c.Seek(next)
	}
	for _, a := range adapters {
		fk := key([]string{a, conv})
		ref := refs.Get(fk)
		if ref == nil {
			continue
		}
		rk := key([]string{a, string(ref)})
		if string(rev.Get(rk)) == conv {
			if err := rev.Delete(rk); err != nil {
				return fmt.Errorf("delete refs: %w", err)
			}
		}
		if err := refs.Delete(fk); err != nil {
			return fmt.Errorf("delete refs: %w", err)
		}
	}
	return nil
}

// StateKeys lists keys of a namespace by prefix.
func (t *tx) StateKeys(namespace, pfx string, limit int) ([]string, error) {
	if !validParts(namespace) {
		return nil, nil
	}
	start := append(prefix(namespace), pfx...)
	var out []string
	c := t.b(bState).Cursor()
	for k, _ := c.Seek(start); k != nil && bytes.HasPrefix(k, start); k, _ = c.Next() {
		out = append(out, string(k[len(namespace)+1:]))
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}

// migrateTokenIndex indexes the tokens of schemas 1 to 4 by visitor.
func migrateTokenIndex(btx *bolt.Tx) error {
	byVis := btx.Bucket(bTokensByVis)
	return btx.Bucket(bTokens).ForEach(func(hash, visitor []byte) error {
		return byVis.Put(key([]string{string(visitor)}, hash), []byte{})
	})
}

var _ bridge.Tx = (*tx)(nil)
