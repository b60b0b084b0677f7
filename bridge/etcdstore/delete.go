package etcdstore

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// Deleting what retention removes: visitors, conversations (in parts),
// refs, and listing adapter state by prefix. Every key is deleted one by
// one (a transaction's writes are per key), so a large deletion goes
// through the redo log like any large transaction and is applied whole.

// DeleteVisitor deletes a visitor, its tokens, its external id and its
// page views.
func (t *tx) DeleteVisitor(id string) error {
	if err := t.writable("delete visitor"); err != nil {
		return err
	}
	if !validParts(id) {
		return nil
	}
	p := t.s.p
	var v bridge.Visitor
	ok, err := t.getJSON(t.visitorKey(id), &v)
	if err != nil {
		return err
	}
	if ok {
		t.del(t.visitorKey(id))
		if v.ExternalID != "" && validParts(v.ExternalID) {
			cur, ok, err := t.get(p + rExternal + v.ExternalID)
			if err != nil {
				return err
			}
			if ok && string(cur) == id {
				t.del(p + rExternal + v.ExternalID)
			}
		}
	}
	tpfx := p + rTokenByVis + id + sep
	pvpfx := p + rPageView + id + sep
	res, err := t.scanMany(scan{start: tpfx, end: prefixEnd(tpfx), keysOnly: true}, scan{start: pvpfx, end: prefixEnd(pvpfx), keysOnly: true})
	if err != nil {
		return err
	}
	keys := make([]string, len(res[0]))
	for i, e := range res[0] {
		keys[i] = p + rToken + e.key[len(tpfx):]
	}
	vals, oks, err := t.getMany(keys)
	if err != nil {
		return err
	}
	for i, e := range res[0] {
		if oks[i] && string(vals[i]) == id {
			t.del(keys[i])
		}
		t.del(e.key)
	}
	for _, e := range res[1] {
		t.del(e.key)
	}
	return nil
}

// deleteMessages deletes the messages of conv with Seq <= through and the
// client ids that name them.
func (t *tx) deleteMessages(conv string, through uint64) error {
	var c bridge.Conversation
	ok, err := t.getJSON(t.convKey(conv), &c)
	if err != nil {
		return err
	}
	pfx := t.s.p + rMessage + conv + sep
	end := prefixEnd(pfx)
	if through < maxSeq {
		end = pfx + num(through+1)
	}
	kvs, err := t.scan1(scan{start: pfx, end: end})
	if err != nil {
		return err
	}
	var cids []string
	for _, e := range kvs {
		t.del(e.key)
		if !ok {
			continue
		}
		var m struct {
			ClientID string `json:"client_id"`
		}
		if err := json.Unmarshal(e.val, &m); err != nil {
			return fmt.Errorf("message %s: %w", e.key[len(t.s.p):], err)
		}
		if m.ClientID != "" && validParts(m.ClientID) {
			cids = append(cids, t.clientKey(c.VisitorID, m.ClientID))
		}
	}
	vals, oks, err := t.getMany(cids)
	if err != nil {
		return err
	}
	for i, k := range cids {
		// SEQ CONV: only the key that names this conversation.
		if oks[i] && len(vals[i]) >= hexWidth && string(vals[i][hexWidth:]) == conv {
			t.del(k)
		}
	}
	return nil
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
	if err := t.deleteMessages(conv, through); err != nil {
		return fmt.Errorf("delete messages of %s: %w", conv, err)
	}
	return nil
}

// DeleteConversation deletes a conversation's record, index entries,
// messages and client ids.
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
	var c bridge.Conversation
	ok, err := t.getJSON(t.convKey(id), &c)
	if err != nil || !ok {
		return err
	}
	p := t.s.p
	suffix := convSuffix(c)
	t.del(t.convKey(id))
	t.del(p + rConvVisitor + join(c.VisitorID, suffix))
	t.del(p + rConvStatus + join(string(c.Status), suffix))
	t.del(p + rConvAll + suffix)
	return nil
}

// DeleteRefs deletes a conversation's refs on every adapter. Refs keys
// start with the adapter: the adapters are found one read each, skipping
// from one to the next.
func (t *tx) DeleteRefs(conv string) error {
	if err := t.writable("delete refs"); err != nil {
		return err
	}
	if !validParts(conv) {
		return nil
	}
	pfx := t.s.p + rRef
	for start := pfx; ; {
		kvs, err := t.scan1(scan{start: start, end: prefixEnd(pfx), limit: 1, keysOnly: true})
		if err != nil {
			return err
		}
		if len(kvs) == 0 {
			return nil
		}
		rest := kvs[0].key[len(pfx):]
		adapter, _, found := strings.Cut(rest, sep)
		if !found {
			start = kvs[0].key + "\x00"
			continue
		}
		ref, ok, err := t.get(t.refKey(adapter, conv))
		if err != nil {
			return err
		}
		if ok {
			rk := t.refReverseKey(adapter, string(ref))
			cur, ok, err := t.get(rk)
			if err != nil {
				return err
			}
			if ok && string(cur) == conv {
				t.del(rk)
			}
			t.del(t.refKey(adapter, conv))
		}
		start = prefixEnd(pfx + adapter + sep)
	}
}

// StateKeys lists keys of a namespace by prefix.
func (t *tx) StateKeys(ns, prefix string, limit int) ([]string, error) {
	if !validParts(ns) {
		return nil, nil
	}
	nspfx := t.s.p + rState + ns + sep
	start := nspfx + prefix
	kvs, err := t.scan1(scan{start: start, end: prefixEnd(start), limit: max(limit, 0), keysOnly: true})
	if err != nil {
		return nil, err
	}
	out := make([]string, len(kvs))
	for i, e := range kvs {
		out[i] = e.key[len(nspfx):]
	}
	return out, nil
}
