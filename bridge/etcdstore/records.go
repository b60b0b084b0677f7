package etcdstore

import (
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

var _ bridge.Tx = (*tx)(nil)

// getJSON reads key into v; false when missing.
func (t *tx) getJSON(key string, v any) (bool, error) {
	b, ok, err := t.get(key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", strings.TrimPrefix(key, t.s.p), err)
	}
	return true, nil
}

func (t *tx) putJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	t.put(key, b, 0)
	return nil
}

// ---- visitors

func (t *tx) visitorKey(id string) string { return t.s.p + rVisitor + id }

// Visitor returns a visitor by id.
func (t *tx) Visitor(id string) (bridge.Visitor, error) {
	var v bridge.Visitor
	if !validParts(id) {
		return v, errNotFound("visitor", id)
	}
	// A visitor's record is usually read with their conversations.
	if err := t.prefetch(t.visitorKey(id)); err != nil {
		return v, err
	}
	ok, err := t.getJSON(t.visitorKey(id), &v)
	if err != nil {
		return bridge.Visitor{}, err
	}
	if !ok {
		return v, errNotFound("visitor", id)
	}
	return v, nil
}

// PutVisitor creates or replaces v.
func (t *tx) PutVisitor(v bridge.Visitor) error {
	if err := t.writable("put visitor"); err != nil {
		return err
	}
	if err := checkParts("put visitor", v.ID); err != nil {
		return err
	}
	return t.putJSON(t.visitorKey(v.ID), v)
}

// VisitorByToken resolves a token hash.
func (t *tx) VisitorByToken(h []byte) (string, error) {
	if len(h) == 0 {
		return "", errNotFound("token", "")
	}
	v, ok, err := t.get(t.s.p + rToken + hex.EncodeToString(h))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotFound("token", "")
	}
	return string(v), nil
}

// PutToken maps a token hash to a visitor.
func (t *tx) PutToken(h []byte, visitorID string) error {
	if err := t.writable("put token"); err != nil {
		return err
	}
	if len(h) == 0 {
		return fmt.Errorf("put token: %w: empty hash", bridge.ErrInvalid)
	}
	if err := checkParts("put token", visitorID); err != nil {
		return err
	}
	hx := hex.EncodeToString(h)
	t.put(t.s.p+rToken+hx, []byte(visitorID), 0)
	// A blind put: a token hash is random and never moves to another
	// visitor (DeleteVisitor checks the mapping before deleting it).
	t.put(t.s.p+rTokenByVis+visitorID+sep+hx, nil, 0)
	return nil
}

// VisitorByExternalID resolves a site user id.
func (t *tx) VisitorByExternalID(ext string) (string, error) {
	if !validParts(ext) {
		return "", errNotFound("external id", ext)
	}
	v, ok, err := t.get(t.s.p + rExternal + ext)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotFound("external id", ext)
	}
	return string(v), nil
}

// PutExternalID maps a site user id to a visitor.
func (t *tx) PutExternalID(ext, visitorID string) error {
	if err := t.writable("put external id"); err != nil {
		return err
	}
	if err := checkParts("put external id", ext, visitorID); err != nil {
		return err
	}
	t.put(t.s.p+rExternal+ext, []byte(visitorID), 0)
	return nil
}

// pageViewsKept is how many page views a visitor keeps at least; they are
// trimmed back to it once they pass pageViewsTrim.
const (
	pageViewsKept = 100
	pageViewsTrim = 150
)

// AddPageView records a page view, trimming the oldest beyond the kept
// ones.
func (t *tx) AddPageView(pv bridge.PageView) error {
	if err := t.writable("add page view"); err != nil {
		return err
	}
	if err := checkParts("add page view", pv.VisitorID); err != nil {
		return err
	}
	pfx := t.s.p + rPageView + pv.VisitorID + sep
	nonce := fmt.Sprintf("%0*x", nonceWidth, rand.Uint32())
	if err := t.putJSON(pfx+num(timeKey(pv.At))+nonce, pv); err != nil {
		return fmt.Errorf("add page view: %w", err)
	}
	n, err := t.counts(keyRange{pfx, prefixEnd(pfx)})
	if err != nil {
		return err
	}
	if n[0] <= pageViewsTrim {
		return nil
	}
	old, err := t.scan1(scan{start: pfx, end: prefixEnd(pfx), limit: n[0] - pageViewsKept, keysOnly: true})
	if err != nil {
		return err
	}
	for _, e := range old {
		t.del(e.key)
	}
	return nil
}

// PageViews returns a visitor's page views, newest first.
func (t *tx) PageViews(visitorID string, limit int) ([]bridge.PageView, error) {
	if !validParts(visitorID) {
		return nil, nil
	}
	pfx := t.s.p + rPageView + visitorID + sep
	kvs, err := t.scan1(scan{start: pfx, end: prefixEnd(pfx), limit: max(limit, 0), desc: true})
	if err != nil {
		return nil, err
	}
	out := make([]bridge.PageView, 0, len(kvs))
	for _, e := range kvs {
		var pv bridge.PageView
		if err := json.Unmarshal(e.val, &pv); err != nil {
			return nil, fmt.Errorf("page views: %w", err)
		}
		out = append(out, pv)
	}
	return out, nil
}

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

// ---- outbox

func (t *tx) outboxKey(dest string, id uint64) string {
	return t.s.p + rOutbox + dest + sep + num(id)
}

func (t *tx) deadKey(dest string, id uint64) string {
	return t.s.p + rDead + dest + sep + num(id)
}

// newID returns the next outbox id of the transaction: ids are made of the
// snapshot revision (a transaction that starts after another committed has
// a later one) and a counter within the transaction, so that transactions
// do not contend for a shared counter. Two transactions on the same
// snapshot may pick the same id: the commit compares the new key's
// absence, so one of them runs again.
func (t *tx) newID() (uint64, error) {
	if t.rev == 0 {
		if err := t.fetch(nil, nil); err != nil {
			return 0, err
		}
	}
	if t.nextID == 0 {
		t.nextID = (t.s.idBase+uint64(t.rev))<<idShift | uint64(rand.IntN(idMask/2)+1)
	}
	id := t.nextID
	t.nextID++
	return id, nil
}

// markDest records that dest has (or had) entries under marker prefix mp.
func (t *tx) markDest(mp, dest string) error {
	k := t.s.p + mp + dest
	if _, ok := t.s.dests.Load(k); ok {
		return nil
	}
	_, ok, err := t.get(k)
	if err != nil {
		return err
	}
	if !ok {
		t.put(k, nil, 0)
	} else {
		t.s.dests.Store(k, struct{}{})
	}
	return nil
}

// Enqueue adds e to its destination's outbox.
func (t *tx) Enqueue(e bridge.OutboxEntry) (uint64, error) {
	if err := t.writable("enqueue"); err != nil {
		return 0, err
	}
	if err := checkParts("enqueue", e.Destination); err != nil {
		return 0, err
	}
	id, err := t.newID()
	if err != nil {
		return 0, err
	}
	e.ID = id
	k := t.outboxKey(e.Destination, id)
	t.reads[k] = 0 // created here: absent at commit
	if err := t.markDest(rOutboxDest, e.Destination); err != nil {
		return 0, err
	}
	if err := t.putJSON(k, e); err != nil {
		return 0, fmt.Errorf("enqueue: %w", err)
	}
	return id, nil
}

func decodeEntries(kvs []kv) ([]bridge.OutboxEntry, error) {
	out := make([]bridge.OutboxEntry, 0, len(kvs))
	for _, e := range kvs {
		var en bridge.OutboxEntry
		if err := json.Unmarshal(e.val, &en); err != nil {
			return nil, fmt.Errorf("outbox entry: %w", err)
		}
		out = append(out, en)
	}
	return out, nil
}

func (t *tx) entries(region, dest string, after uint64, limit int) ([]bridge.OutboxEntry, error) {
	if !validParts(dest) || after == ^uint64(0) {
		return nil, nil
	}
	pfx := t.s.p + region + dest + sep
	kvs, err := t.scan1(scan{start: pfx + num(after+1), end: prefixEnd(pfx), limit: max(limit, 0)})
	if err != nil {
		return nil, err
	}
	return decodeEntries(kvs)
}

// Outbox returns a destination's entries after an id, in id order.
func (t *tx) Outbox(dest string, after uint64, limit int) ([]bridge.OutboxEntry, error) {
	return t.entries(rOutbox, dest, after, limit)
}

// PutOutbox replaces an existing entry.
func (t *tx) PutOutbox(e bridge.OutboxEntry) error {
	if err := t.writable("put outbox entry"); err != nil {
		return err
	}
	if !validParts(e.Destination) {
		return errNotFound("outbox entry", e.ID)
	}
	k := t.outboxKey(e.Destination, e.ID)
	_, ok, err := t.get(k)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound("outbox entry", e.ID)
	}
	return t.putJSON(k, e)
}

// DeleteOutbox removes an entry.
func (t *tx) DeleteOutbox(dest string, id uint64) error {
	if err := t.writable("delete outbox entry"); err != nil {
		return err
	}
	if !validParts(dest) {
		return nil
	}
	t.del(t.outboxKey(dest, id))
	return nil
}

// depths counts the entries per destination under a marker prefix.
func (t *tx) depths(marker, region string) (map[string]int, error) {
	mp := t.s.p + marker
	kvs, err := t.scan1(scan{start: mp, end: prefixEnd(mp), keysOnly: true})
	if err != nil {
		return nil, err
	}
	out := map[string]int{}
	rs := make([]keyRange, len(kvs))
	for i, e := range kvs {
		pfx := t.s.p + region + e.key[len(mp):] + sep
		rs[i] = keyRange{pfx, prefixEnd(pfx)}
	}
	n, err := t.counts(rs...)
	if err != nil {
		return nil, err
	}
	for i, e := range kvs {
		out[e.key[len(mp):]] = n[i]
	}
	return out, nil
}

// OutboxDepth counts the entries of every destination that has or had some.
func (t *tx) OutboxDepth() (map[string]int, error) { return t.depths(rOutboxDest, rOutbox) }

// Bury moves an entry to its destination's dead letters.
func (t *tx) Bury(e bridge.OutboxEntry) error {
	if err := t.writable("bury"); err != nil {
		return err
	}
	if !validParts(e.Destination) {
		return errNotFound("outbox entry", e.ID)
	}
	k := t.outboxKey(e.Destination, e.ID)
	_, ok, err := t.get(k)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound("outbox entry", e.ID)
	}
	if err := t.markDest(rDeadDest, e.Destination); err != nil {
		return err
	}
	t.del(k)
	return t.putJSON(t.deadKey(e.Destination, e.ID), e)
}

// DeadLetters returns a destination's dead letters after an id.
func (t *tx) DeadLetters(dest string, after uint64, limit int) ([]bridge.OutboxEntry, error) {
	return t.entries(rDead, dest, after, limit)
}

// Revive moves a dead letter back into its destination's outbox.
func (t *tx) Revive(e bridge.OutboxEntry) error {
	if err := t.writable("revive"); err != nil {
		return err
	}
	if !validParts(e.Destination) {
		return errNotFound("dead letter", e.ID)
	}
	k := t.deadKey(e.Destination, e.ID)
	_, ok, err := t.get(k)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound("dead letter", e.ID)
	}
	if err := t.markDest(rOutboxDest, e.Destination); err != nil {
		return err
	}
	t.del(k)
	return t.putJSON(t.outboxKey(e.Destination, e.ID), e)
}

// DeleteDead removes a dead letter.
func (t *tx) DeleteDead(dest string, id uint64) error {
	if err := t.writable("delete dead letter"); err != nil {
		return err
	}
	if !validParts(dest) {
		return nil
	}
	t.del(t.deadKey(dest, id))
	return nil
}

// DeadDepth counts the dead letters per destination.
func (t *tx) DeadDepth() (map[string]int, error) { return t.depths(rDeadDest, rDead) }

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

// ---- tickets and leads

// nextNumber increments a counter by compare-and-swap (the read is
// compared at commit).
func (t *tx) nextNumber(key string) (uint64, error) {
	v, ok, err := t.get(key)
	if err != nil {
		return 0, err
	}
	var n uint64
	if ok {
		if n, err = strconv.ParseUint(string(v), 10, 64); err != nil {
			return 0, fmt.Errorf("counter %s: %w", key, err)
		}
	}
	n++
	t.put(key, []byte(strconv.FormatUint(n, 10)), 0)
	return n, nil
}

func (t *tx) ticketKey(n uint64) string { return t.s.p + rTicket + num(n) }

func (t *tx) postingKey(term string, n uint64) string {
	return t.s.p + rTicketTerm + term + sep + num(^(n >> 6))
}

// index sets (on) or clears ticket n in the posting blocks of terms, in
// one round trip.
func (t *tx) index(terms []string, n uint64, on bool) error {
	keys := make([]string, 0, len(terms))
	for _, term := range terms {
		if strings.Contains(term, sep) {
			continue
		}
		keys = append(keys, t.postingKey(term, n))
	}
	vals, oks, err := t.getMany(keys)
	if err != nil {
		return err
	}
	for i, k := range keys {
		var set uint64
		if oks[i] {
			if set, err = strconv.ParseUint(string(vals[i]), 16, 64); err != nil {
				return fmt.Errorf("ticket index: %w", err)
			}
		}
		if on {
			set |= 1 << (n & 63)
		} else {
			set &^= 1 << (n & 63)
		}
		if set == 0 {
			t.del(k)
		} else {
			t.put(k, []byte(num(set)), 0)
		}
	}
	return nil
}

// CreateTicket numbers, stores and indexes tk.
func (t *tx) CreateTicket(tk bridge.Ticket) (bridge.Ticket, error) {
	if err := t.writable("create ticket"); err != nil {
		return bridge.Ticket{}, err
	}
	n, err := t.nextNumber(t.s.p + kTicketSeq)
	if err != nil {
		return bridge.Ticket{}, err
	}
	tk.Number = n
	if err := t.putJSON(t.ticketKey(n), tk); err != nil {
		return bridge.Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	if err := t.index(bridge.TicketTerms(tk), n, true); err != nil {
		return bridge.Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	return tk, nil
}

// Ticket returns a ticket by number.
func (t *tx) Ticket(n uint64) (bridge.Ticket, error) {
	var tk bridge.Ticket
	ok, err := t.getJSON(t.ticketKey(n), &tk)
	if err != nil {
		return bridge.Ticket{}, err
	}
	if !ok {
		return bridge.Ticket{}, errNotFound("ticket", n)
	}
	return tk, nil
}

// PutTicket replaces an existing ticket and re-indexes it.
func (t *tx) PutTicket(tk bridge.Ticket) error {
	old, err := t.Ticket(tk.Number)
	if err != nil {
		return fmt.Errorf("put ticket: %w", err)
	}
	if err := t.writable("put ticket"); err != nil {
		return err
	}
	if err := t.putJSON(t.ticketKey(tk.Number), tk); err != nil {
		return fmt.Errorf("put ticket: %w", err)
	}
	oldTerms, newTerms := bridge.TicketTerms(old), bridge.TicketTerms(tk)
	var gone, added []string
	for _, term := range oldTerms {
		if !slices.Contains(newTerms, term) {
			gone = append(gone, term)
		}
	}
	for _, term := range newTerms {
		if !slices.Contains(oldTerms, term) {
			added = append(added, term)
		}
	}
	if err := t.index(gone, tk.Number, false); err != nil {
		return fmt.Errorf("put ticket: %w", err)
	}
	if err := t.index(added, tk.Number, true); err != nil {
		return fmt.Errorf("put ticket: %w", err)
	}
	return nil
}

// newest lists up to limit JSON records of a region, last key first.
func (t *tx) newest(region string, limit int, each func([]byte) error) error {
	pfx := t.s.p + region
	kvs, err := t.scan1(scan{start: pfx, end: prefixEnd(pfx), limit: max(limit, 0), desc: true})
	if err != nil {
		return err
	}
	for _, e := range kvs {
		if err := each(e.val); err != nil {
			return err
		}
	}
	return nil
}

// Tickets lists tickets, newest first.
func (t *tx) Tickets(limit int) ([]bridge.Ticket, error) {
	var out []bridge.Ticket
	err := t.newest(rTicket, limit, func(b []byte) error {
		var tk bridge.Ticket
		if err := json.Unmarshal(b, &tk); err != nil {
			return fmt.Errorf("tickets: %w", err)
		}
		out = append(out, tk)
		return nil
	})
	return out, err
}

// SearchTickets intersects the terms' posting blocks (64 tickets a block).
func (t *tx) SearchTickets(terms []string, limit int) ([]uint64, int, error) {
	if len(terms) == 0 {
		return nil, 0, nil
	}
	scans := make([]scan, 0, len(terms))
	var pfxs []string
	for _, term := range terms {
		if term == "" || strings.Contains(term, sep) {
			return nil, 0, nil
		}
		pfx := t.s.p + rTicketTerm + term + sep
		pfxs = append(pfxs, pfx)
		scans = append(scans, scan{start: pfx, end: prefixEnd(pfx)})
	}
	res, err := t.scanMany(scans...)
	if err != nil {
		return nil, 0, err
	}
	// Blocks of the first term, narrowed by the others (keys sort newest
	// block first).
	type block struct {
		key string
		set uint64
	}
	parse := func(i int) (map[string]uint64, []block, error) {
		m := map[string]uint64{}
		var order []block
		for _, e := range res[i] {
			set, err := strconv.ParseUint(string(e.val), 16, 64)
			if err != nil {
				return nil, nil, fmt.Errorf("ticket index: %w", err)
			}
			bk := e.key[len(pfxs[i]):]
			m[bk] = set
			order = append(order, block{bk, set})
		}
		return m, order, nil
	}
	_, blocks, err := parse(0)
	if err != nil {
		return nil, 0, err
	}
	for i := 1; i < len(res); i++ {
		m, _, err := parse(i)
		if err != nil {
			return nil, 0, err
		}
		for j := range blocks {
			blocks[j].set &= m[blocks[j].key]
		}
	}
	var out []uint64
	total := 0
	for _, b := range blocks {
		if b.set == 0 {
			continue
		}
		total += bits.OnesCount64(b.set)
		if limit > 0 && len(out) >= limit {
			continue
		}
		inv, err := parseNum(b.key)
		if err != nil {
			return nil, 0, err
		}
		base := (^inv) << 6
		for bit := 63; bit >= 0; bit-- {
			if b.set&(1<<bit) != 0 && (limit <= 0 || len(out) < limit) {
				out = append(out, base+uint64(bit))
			}
		}
	}
	return out, total, nil
}

func (t *tx) leadKey(n uint64) string { return t.s.p + rLead + num(n) }

// CreateLead numbers and stores l.
func (t *tx) CreateLead(l bridge.Lead) (bridge.Lead, error) {
	if err := t.writable("create lead"); err != nil {
		return bridge.Lead{}, err
	}
	n, err := t.nextNumber(t.s.p + kLeadSeq)
	if err != nil {
		return bridge.Lead{}, err
	}
	l.Number = n
	if err := t.putJSON(t.leadKey(n), l); err != nil {
		return bridge.Lead{}, fmt.Errorf("create lead: %w", err)
	}
	return l, nil
}

// Lead returns a lead by number.
func (t *tx) Lead(n uint64) (bridge.Lead, error) {
	var l bridge.Lead
	ok, err := t.getJSON(t.leadKey(n), &l)
	if err != nil {
		return bridge.Lead{}, err
	}
	if !ok {
		return bridge.Lead{}, errNotFound("lead", n)
	}
	return l, nil
}

// PutLead replaces an existing lead.
func (t *tx) PutLead(l bridge.Lead) error {
	if _, err := t.Lead(l.Number); err != nil {
		return fmt.Errorf("put lead: %w", err)
	}
	if err := t.writable("put lead"); err != nil {
		return err
	}
	return t.putJSON(t.leadKey(l.Number), l)
}

// Leads lists leads, newest first.
func (t *tx) Leads(limit int) ([]bridge.Lead, error) {
	var out []bridge.Lead
	err := t.newest(rLead, limit, func(b []byte) error {
		var l bridge.Lead
		if err := json.Unmarshal(b, &l); err != nil {
			return fmt.Errorf("leads: %w", err)
		}
		out = append(out, l)
		return nil
	})
	return out, err
}

// ---- canned responses

func (t *tx) cannedKey(owner, shortcut string) string {
	return t.s.p + rCanned + shortcut + sep + owner
}

// PutCanned creates or replaces c.
func (t *tx) PutCanned(c bridge.CannedResponse) error {
	if err := t.writable("put canned response"); err != nil {
		return err
	}
	if err := checkParts("put canned response", c.Shortcut); err != nil {
		return err
	}
	if strings.Contains(c.Owner, sep) {
		return fmt.Errorf("put canned response: %w: owner contains a NUL byte", bridge.ErrInvalid)
	}
	return t.putJSON(t.cannedKey(c.Owner, c.Shortcut), c)
}

// Canned returns one response.
func (t *tx) Canned(owner, shortcut string) (bridge.CannedResponse, error) {
	var c bridge.CannedResponse
	if !validParts(shortcut) || strings.Contains(owner, sep) {
		return c, errNotFound("canned response", shortcut)
	}
	ok, err := t.getJSON(t.cannedKey(owner, shortcut), &c)
	if err != nil {
		return bridge.CannedResponse{}, err
	}
	if !ok {
		return bridge.CannedResponse{}, errNotFound("canned response", shortcut)
	}
	return c, nil
}

// DeleteCanned removes one response.
func (t *tx) DeleteCanned(owner, shortcut string) error {
	if _, err := t.Canned(owner, shortcut); err != nil {
		return fmt.Errorf("delete canned response: %w", err)
	}
	if err := t.writable("delete canned response"); err != nil {
		return err
	}
	t.del(t.cannedKey(owner, shortcut))
	return nil
}

// AllCanned lists every response by shortcut, then owner.
func (t *tx) AllCanned() ([]bridge.CannedResponse, error) {
	pfx := t.s.p + rCanned
	kvs, err := t.scan1(scan{start: pfx, end: prefixEnd(pfx)})
	if err != nil {
		return nil, err
	}
	out := make([]bridge.CannedResponse, 0, len(kvs))
	for _, e := range kvs {
		var c bridge.CannedResponse
		if err := json.Unmarshal(e.val, &c); err != nil {
			return nil, fmt.Errorf("canned responses: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}

// ---- adapters' refs and state

func (t *tx) refKey(adapter, conv string) string { return t.s.p + rRef + adapter + sep + conv }

func (t *tx) refReverseKey(adapter, ref string) string {
	return t.s.p + rRefReverse + adapter + sep + ref
}

// PutRef maps a conversation to its thread or room, both ways, dropping
// the mappings it replaces.
func (t *tx) PutRef(adapter, conv, ref string) error {
	if err := t.writable("put ref"); err != nil {
		return err
	}
	if err := checkParts("put ref", adapter, conv); err != nil {
		return err
	}
	if ref == "" {
		return fmt.Errorf("put ref: %w: empty ref", bridge.ErrInvalid)
	}
	vals, oks, err := t.getMany([]string{t.refKey(adapter, conv), t.refReverseKey(adapter, ref)})
	if err != nil {
		return err
	}
	if oks[0] && string(vals[0]) != ref {
		t.del(t.refReverseKey(adapter, string(vals[0])))
	}
	if oks[1] && string(vals[1]) != conv {
		t.del(t.refKey(adapter, string(vals[1])))
	}
	t.put(t.refKey(adapter, conv), []byte(ref), 0)
	t.put(t.refReverseKey(adapter, ref), []byte(conv), 0)
	return nil
}

// Ref returns a conversation's thread or room on an adapter.
func (t *tx) Ref(adapter, conv string) (string, error) {
	if !validParts(adapter, conv) {
		return "", errNotFound("ref", conv)
	}
	v, ok, err := t.get(t.refKey(adapter, conv))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotFound("ref", conv)
	}
	return string(v), nil
}

// ConversationByRef resolves a thread or room.
func (t *tx) ConversationByRef(adapter, ref string) (string, error) {
	if !validParts(adapter) || ref == "" {
		return "", errNotFound("conversation of ref", ref)
	}
	v, ok, err := t.get(t.refReverseKey(adapter, ref))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotFound("conversation of ref", ref)
	}
	return string(v), nil
}

func (t *tx) stateKey(ns, key string) string { return t.s.p + rState + ns + sep + key }

// GetState returns the value under (namespace, key).
func (t *tx) GetState(ns, key string) ([]byte, error) {
	if !validParts(ns) || key == "" {
		return nil, errNotFound("state", key)
	}
	v, ok, err := t.get(t.stateKey(ns, key))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNotFound("state", key)
	}
	return bytes.Clone(v), nil
}

// PutState stores value under (namespace, key).
func (t *tx) PutState(ns, key string, value []byte) error {
	if err := t.writable("put state"); err != nil {
		return err
	}
	if err := checkParts("put state", ns); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("put state: %w: empty key", bridge.ErrInvalid)
	}
	t.put(t.stateKey(ns, key), bytes.Clone(value), 0)
	return nil
}

// DeleteState removes the key.
func (t *tx) DeleteState(ns, key string) error {
	if err := t.writable("delete state"); err != nil {
		return err
	}
	if !validParts(ns) || key == "" {
		return nil
	}
	t.del(t.stateKey(ns, key))
	return nil
}
