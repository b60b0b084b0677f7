package etcdstore

import (
	"encoding/json"
	"fmt"
	"math/rand/v2"

	"github.com/chatbridge/chatbridge/bridge"
)

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
	return t.move("bury", "outbox entry", e, t.outboxKey, t.deadKey, rDeadDest)
}

// DeadLetters returns a destination's dead letters after an id.
func (t *tx) DeadLetters(dest string, after uint64, limit int) ([]bridge.OutboxEntry, error) {
	return t.entries(rDead, dest, after, limit)
}

// Revive moves a dead letter back into its destination's outbox.
func (t *tx) Revive(e bridge.OutboxEntry) error {
	return t.move("revive", "dead letter", e, t.deadKey, t.outboxKey, rOutboxDest)
}

// move moves entry e, which must exist under from, to the key to gives
// it, marking its destination under marker (what names it in errors).
func (t *tx) move(op, what string, e bridge.OutboxEntry, from, to func(string, uint64) string, marker string) error {
	if err := t.writable(op); err != nil {
		return err
	}
	if !validParts(e.Destination) {
		return errNotFound(what, e.ID)
	}
	k := from(e.Destination, e.ID)
	_, ok, err := t.get(k)
	if err != nil {
		return err
	}
	if !ok {
		return errNotFound(what, e.ID)
	}
	if err := t.markDest(marker, e.Destination); err != nil {
		return err
	}
	t.del(k)
	return t.putJSON(to(e.Destination, e.ID), e)
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
