package etcdstore

import (
	"encoding/json"
	"fmt"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// ---- conversations and messages

func (t *tx) convKey(id string) string { return t.s.p + rConv + id }

func convSuffix(c bridge.Conversation) string { return num(indexTime(c)) + c.ID }

// Conversation returns a conversation by id.
func (t *tx) Conversation(id string) (bridge.Conversation, error) {
	var c bridge.Conversation
	if !validParts(id) {
		return c, errNotFound("conversation", id)
	}
	ok, err := t.getJSON(t.convKey(id), &c)
	if err != nil {
		return bridge.Conversation{}, err
	}
	if !ok {
		return bridge.Conversation{}, errNotFound("conversation", id)
	}
	return c, nil
}

// PutConversation stores c and moves its index entries when its place in
// them changed.
func (t *tx) PutConversation(c bridge.Conversation) error {
	if err := t.writable("put conversation"); err != nil {
		return err
	}
	if err := checkParts("put conversation", c.ID, c.VisitorID); err != nil {
		return err
	}
	if strings.Contains(string(c.Status), sep) {
		return fmt.Errorf("put conversation: %w: status contains a NUL byte", bridge.ErrInvalid)
	}
	var old bridge.Conversation
	had, err := t.getJSON(t.convKey(c.ID), &old)
	if err != nil {
		return err
	}
	if err := t.putJSON(t.convKey(c.ID), c); err != nil {
		return fmt.Errorf("put conversation: %w", err)
	}
	p := t.s.p
	if had {
		if old.VisitorID == c.VisitorID && old.Status == c.Status && indexTime(old) == indexTime(c) {
			return nil
		}
		os := convSuffix(old)
		t.del(p + rConvVisitor + join(old.VisitorID, os))
		t.del(p + rConvStatus + join(string(old.Status), os))
		t.del(p + rConvAll + os)
	}
	ns := convSuffix(c)
	t.put(p+rConvVisitor+join(c.VisitorID, ns), []byte(c.Status), 0)
	t.put(p+rConvStatus+join(string(c.Status), ns), nil, 0)
	t.put(p+rConvAll+ns, nil, 0)
	return nil
}

// idOf is the conversation id at the end of an index key.
func idOf(key, pfx string) string {
	rest := key[len(pfx):]
	if len(rest) < hexWidth {
		return ""
	}
	return rest[hexWidth:]
}

// visitorPage is how many of a visitor's conversations one read fetches.
const visitorPage = 64

// Conversations lists conversations matching f, newest first.
func (t *tx) Conversations(f bridge.ConversationFilter) ([]bridge.Conversation, error) {
	p := t.s.p
	var pfx string
	limit := max(f.Limit, 0)
	filterStatus := false
	switch {
	case f.VisitorID != "":
		if !validParts(f.VisitorID) {
			return nil, nil
		}
		pfx = p + rConvVisitor + f.VisitorID + sep
		filterStatus = f.Status != ""
	case f.Status != "":
		if strings.Contains(string(f.Status), sep) {
			return nil, nil
		}
		pfx = p + rConvStatus + string(f.Status) + sep
	default:
		pfx = p + rConvAll
	}
	top := prefixEnd(pfx)
	if !f.UpdatedBefore.IsZero() {
		top = pfx + num(timeKey(f.UpdatedBefore.Truncate(time.Second)))
	}
	var ids []string
	for after := ""; ; {
		end := top
		if after != "" {
			end = after
		}
		page := 0
		if filterStatus || limit > 0 {
			page = limit
			if filterStatus {
				page = max(limit, visitorPage)
			}
		}
		kvs, err := t.scan1(scan{start: pfx, end: end, limit: page, desc: true})
		if err != nil {
			return nil, err
		}
		for _, e := range kvs {
			if filterStatus && string(e.val) != string(f.Status) {
				continue
			}
			ids = append(ids, idOf(e.key, pfx))
			if limit > 0 && len(ids) == limit {
				break
			}
		}
		if page == 0 || len(kvs) < page || (limit > 0 && len(ids) >= limit) {
			break
		}
		after = kvs[len(kvs)-1].key
	}
	keys := make([]string, len(ids))
	for i, id := range ids {
		keys[i] = t.convKey(id)
	}
	vals, oks, err := t.getMany(keys)
	if err != nil {
		return nil, err
	}
	out := make([]bridge.Conversation, 0, len(ids))
	for i := range ids {
		if !oks[i] {
			continue
		}
		var c bridge.Conversation
		if err := json.Unmarshal(vals[i], &c); err != nil {
			return nil, fmt.Errorf("conversation %s: %w", ids[i], err)
		}
		out = append(out, c)
	}
	return out, nil
}

// CountConversations counts conversations by status ("" for all).
func (t *tx) CountConversations(status bridge.Status) (int, error) {
	pfx := t.s.p + rConvAll
	if status != "" {
		if strings.Contains(string(status), sep) {
			return 0, nil
		}
		pfx = t.s.p + rConvStatus + string(status) + sep
	}
	n, err := t.counts(keyRange{pfx, prefixEnd(pfx)})
	if err != nil {
		return 0, err
	}
	return n[0], nil
}

func (t *tx) msgKey(conv string, seq uint64) string {
	return t.s.p + rMessage + conv + sep + num(seq)
}

// PutMessage stores m under (conversation, seq).
func (t *tx) PutMessage(m bridge.Message) error {
	if err := t.writable("put message"); err != nil {
		return err
	}
	if err := checkParts("put message", m.ConversationID); err != nil {
		return err
	}
	if m.Seq == 0 {
		return fmt.Errorf("put message: %w: seq 0", bridge.ErrInvalid)
	}
	return t.putJSON(t.msgKey(m.ConversationID, m.Seq), m)
}

// Message returns one message.
func (t *tx) Message(conv string, seq uint64) (bridge.Message, error) {
	var m bridge.Message
	if !validParts(conv) || seq == 0 {
		return m, errNotFound("message", fmt.Sprintf("%s/%d", conv, seq))
	}
	ok, err := t.getJSON(t.msgKey(conv, seq), &m)
	if err != nil {
		return bridge.Message{}, err
	}
	if !ok {
		return bridge.Message{}, errNotFound("message", fmt.Sprintf("%s/%d", conv, seq))
	}
	return m, nil
}

// Messages returns messages with Seq > after, in order.
func (t *tx) Messages(conv string, after uint64, limit int) ([]bridge.Message, error) {
	if !validParts(conv) || after == ^uint64(0) {
		return nil, nil
	}
	pfx := t.s.p + rMessage + conv + sep
	kvs, err := t.scan1(scan{start: pfx + num(after+1), end: prefixEnd(pfx), limit: max(limit, 0)})
	if err != nil {
		return nil, err
	}
	out := make([]bridge.Message, 0, len(kvs))
	for _, e := range kvs {
		var m bridge.Message
		if err := json.Unmarshal(e.val, &m); err != nil {
			return nil, fmt.Errorf("messages of %s: %w", conv, err)
		}
		out = append(out, m)
	}
	return out, nil
}

func (t *tx) clientKey(visitor, clientID string) string {
	return t.s.p + rClientID + visitor + sep + clientID
}

// PutClientID records what a visitor's idempotency key produced.
func (t *tx) PutClientID(visitorID, clientID, conv string, seq uint64) error {
	if err := t.writable("put client id"); err != nil {
		return err
	}
	if err := checkParts("put client id", visitorID, clientID, conv); err != nil {
		return err
	}
	t.put(t.clientKey(visitorID, clientID), []byte(num(seq)+conv), 0)
	return nil
}

// ClientID looks up what PutClientID recorded.
func (t *tx) ClientID(visitorID, clientID string) (string, uint64, error) {
	if !validParts(visitorID, clientID) {
		return "", 0, errNotFound("client id", clientID)
	}
	// The visitor's record and open conversation are read next when the
	// key is new: fetch them in the same round trip.
	cvis := t.s.p + rConvVisitor + visitorID + sep
	if t.rev == 0 {
		req := &rangeReq{start: cvis, end: prefixEnd(cvis), limit: visitorPage, desc: true}
		if err := t.fetch([]string{t.clientKey(visitorID, clientID), t.visitorKey(visitorID)}, []*rangeReq{req}); err != nil {
			return "", 0, err
		}
		t.prefetched = append(t.prefetched, req)
	}
	v, ok, err := t.get(t.clientKey(visitorID, clientID))
	if err != nil {
		return "", 0, err
	}
	if !ok {
		return "", 0, errNotFound("client id", clientID)
	}
	s := string(v)
	seq, err := parseNum(s)
	if err != nil {
		return "", 0, fmt.Errorf("client id %s: %w", clientID, err)
	}
	return s[hexWidth:], seq, nil
}
