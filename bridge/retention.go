package bridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"time"
)

// Retention: Purge deletes closed conversations that nobody touched for a
// while, with everything that names them:
//
//   - the conversation store's records (DeleteMessages, then
//     DeleteConversation): the conversation, its indexes and counters, its
//     messages and the visitor's idempotency keys;
//   - its refs on every adapter, both ways (DeleteRefs);
//   - the engine's own adapter state about it: the platform ids of
//     operators' replies ("msgref:<adapter>", found through the messages'
//     PlatformID) and one reference per file in "blobrefs";
//   - the adapters' state about it, as each adapter declares it
//     (Config.ConversationState: Slack's post records, Matrix's sent
//     events and welcome steps, e-mail's offline state, the inbox's last
//     viewed marks);
//   - its outbox entries and dead letters (which could never be delivered
//     again: a delivery needs its conversation);
//   - its visitor, once the visitor has no conversation left and was not
//     seen since the cutoff: the record, tokens, site user id and page
//     views (DeleteVisitor).
//
// Tickets and leads are kept: they are records of their own, with their
// copy of the transcript. De-duplication records expire by themselves.
//
// A conversation is deleted in transactions of at most purgeBudget
// messages or state keys, its record last, so that a crash half-way leaves
// a shorter closed conversation that the next purge finishes. Files whose
// last reference went are remembered ("blobdrop") in the same transaction;
// DropPurgedBlobs deletes their bytes, so that a crash between the two
// deletes them on the next run.

// ConversationState says where an adapter keeps state about a conversation
// in its namespace, so that Purge deletes it with the conversation.
type ConversationState struct {
	// Namespace is the adapter state's namespace.
	Namespace string
	// Keys returns the keys (exact) and key prefixes (every key that starts
	// with one) of conversation c's state. ref returns c's thread or room
	// on an adapter ("" when it has none).
	Keys func(c Conversation, ref func(adapter string) string) (keys, prefixes []string)
}

// Adapter-state namespaces of the engine's retention.
const (
	// blobDrops holds the keys of files whose last message was purged and
	// whose bytes are still to be deleted (DropPurgedBlobs).
	blobDrops = "blobdrop"
)

// purgeBudget bounds the messages and state keys one transaction of Purge
// deletes.
const purgeBudget = 200

// PurgeOptions selects what Purge deletes.
type PurgeOptions struct {
	// ClosedBefore: closed conversations last updated before it (to the
	// second) are deleted. Required.
	ClosedBefore time.Time
	// Limit caps the conversations one call deletes (0: all of them).
	Limit int
	// DryRun counts what would be deleted and deletes nothing.
	DryRun bool
}

// PurgeResult says what Purge deleted (or, in a dry run, would delete).
type PurgeResult struct {
	Conversations int `json:"conversations"`
	Messages      int `json:"messages"`
	Visitors      int `json:"visitors"`
	// Outbox counts the outbox entries and dead letters deleted with their
	// conversations.
	Outbox int `json:"outbox"`
	// Blobs are the files that no message refers to any more. Purge does
	// not delete their bytes: DropPurgedBlobs does.
	Blobs []string `json:"blobs,omitempty"`
	// More: Limit stopped the purge with conversations left to delete.
	More bool `json:"more,omitempty"`
}

// Purge deletes the closed conversations last updated before
// o.ClosedBefore with everything that names them, and the visitors left
// with no conversation and not seen since then (see the list above). It
// may run while the engine serves, on any node of a cluster (runs on
// several nodes at once do the same work twice, not wrong work). The
// caller deletes the bytes of the files it reports (DropPurgedBlobs).
func (e *Engine) Purge(ctx context.Context, o PurgeOptions) (PurgeResult, error) {
	if o.ClosedBefore.IsZero() {
		return PurgeResult{}, fmt.Errorf("purge: %w: no cutoff time", ErrInvalid)
	}
	if o.DryRun {
		return e.purgeDry(ctx, o)
	}
	var res PurgeResult
	tried := map[string]bool{}
	for {
		batch := 64
		if o.Limit > 0 {
			if res.Conversations >= o.Limit {
				break
			}
			batch = min(batch, o.Limit-res.Conversations)
		}
		var ids []string
		err := e.view(ctx, func(tx Tx) error {
			cs, err := tx.Conversations(ConversationFilter{Status: StatusClosed, UpdatedBefore: o.ClosedBefore, Limit: batch + len(tried)})
			ids = ids[:0]
			for _, c := range cs {
				if !tried[c.ID] {
					ids = append(ids, c.ID)
				}
			}
			return err
		})
		if err != nil {
			return res, fmt.Errorf("purge: %w", err)
		}
		if len(ids) == 0 {
			break
		}
		for _, id := range ids[:min(len(ids), batch)] {
			tried[id] = true
			if err := e.purgeConversation(ctx, id, o.ClosedBefore, &res); err != nil {
				return res, fmt.Errorf("purge conversation %s: %w", id, err)
			}
		}
	}
	if o.Limit > 0 && res.Conversations >= o.Limit {
		err := e.view(ctx, func(tx Tx) error {
			cs, err := tx.Conversations(ConversationFilter{Status: StatusClosed, UpdatedBefore: o.ClosedBefore, Limit: 1})
			res.More = len(cs) > 0
			return err
		})
		if err != nil {
			return res, fmt.Errorf("purge: %w", err)
		}
	}
	n, err := e.purgeOutbox(ctx, o.ClosedBefore, false, nil)
	res.Outbox = n
	if err != nil {
		return res, fmt.Errorf("purge outbox: %w", err)
	}
	return res, nil
}

// purgeConversation deletes conversation id in transactions of at most
// purgeBudget messages or keys, unless it is no longer closed and older
// than cutoff.
func (e *Engine) purgeConversation(ctx context.Context, id string, cutoff time.Time, res *PurgeResult) error {
	for {
		var (
			done      bool
			conv, vis int
			msgs      int
			blobs     []string
		)
		err := e.update(ctx, func(t *txn) error {
			done, conv, vis, msgs, blobs = false, 0, 0, 0, nil
			c, err := t.tx.Conversation(id)
			if errors.Is(err, ErrNotFound) {
				done = true
				return nil
			}
			if err != nil {
				return err
			}
			if c.Status != StatusClosed || !c.UpdatedAt.Before(cutoff) {
				done = true // reopened or written to meanwhile: kept
				return nil
			}
			budget := purgeBudget
			ms, err := t.tx.Messages(id, 0, budget)
			if err != nil {
				return err
			}
			for _, m := range ms {
				gone, err := t.forgetMessage(m)
				if err != nil {
					return err
				}
				if gone != "" {
					blobs = append(blobs, gone)
				}
			}
			if len(ms) > 0 {
				if err := t.tx.DeleteMessages(id, ms[len(ms)-1].Seq); err != nil {
					return err
				}
			}
			msgs, budget = len(ms), budget-len(ms)
			if budget <= 0 {
				return nil // more messages, maybe: the next transaction
			}
			left, err := t.forgetAdapterState(c, budget)
			if err != nil || !left {
				return err
			}
			if err := t.tx.DeleteRefs(id); err != nil {
				return err
			}
			if err := t.tx.DeleteConversation(id); err != nil {
				return err
			}
			conv, done = 1, true
			gone, err := t.forgetVisitor(c.VisitorID, cutoff)
			if gone {
				vis = 1
			}
			return err
		})
		if err != nil {
			return err
		}
		res.Conversations += conv
		res.Visitors += vis
		res.Messages += msgs
		res.Blobs = append(res.Blobs, blobs...)
		if done {
			return nil
		}
	}
}

// forgetMessage drops what the engine keeps about message m besides the
// message itself: its file's reference (returning the file's key when it
// was the last one) and its platform id.
func (t *txn) forgetMessage(m Message) (string, error) {
	if m.PlatformID != "" && m.Operator != nil {
		ns := msgRefNamespace(m.Operator.Adapter)
		b, err := t.tx.GetState(ns, m.PlatformID)
		switch {
		case errors.Is(err, ErrNotFound):
		case err != nil:
			return "", err
		default:
			if c, seq, ok := parseMsgRef(b); ok && c == m.ConversationID && seq == m.Seq {
				if err := t.tx.DeleteState(ns, m.PlatformID); err != nil {
					return "", err
				}
			}
		}
	}
	if m.File == nil {
		return "", nil
	}
	return t.unrefBlob(m.File.Key)
}

// unrefBlob counts one message fewer referring to key; at zero the count
// goes and the key is returned (and remembered for DropPurgedBlobs).
func (t *txn) unrefBlob(key string) (string, error) {
	b, err := t.tx.GetState(blobRefs, key)
	if errors.Is(err, ErrNotFound) {
		return "", nil // never counted (an older store): nothing to drop
	}
	if err != nil {
		return "", err
	}
	var n uint64
	if len(b) == 8 {
		n = binary.BigEndian.Uint64(b)
	}
	if n > 1 {
		return "", t.tx.PutState(blobRefs, key, binary.BigEndian.AppendUint64(nil, n-1))
	}
	if err := t.tx.DeleteState(blobRefs, key); err != nil {
		return "", err
	}
	return key, t.tx.PutState(blobDrops, key, nil)
}

// forgetAdapterState deletes up to budget keys of the adapters' state
// about c (Config.ConversationState); it reports whether it got through
// all of them.
func (t *txn) forgetAdapterState(c Conversation, budget int) (bool, error) {
	var refErr error
	ref := func(adapter string) string {
		r, err := t.tx.Ref(adapter, c.ID)
		if err != nil && !errors.Is(err, ErrNotFound) && refErr == nil {
			refErr = err
		}
		return r
	}
	for _, cs := range t.e.cfg.ConversationState {
		keys, prefixes := cs.Keys(c, ref)
		if refErr != nil {
			return false, refErr
		}
		for _, p := range prefixes {
			ks, err := t.tx.StateKeys(cs.Namespace, p, budget+1)
			if err != nil {
				return false, err
			}
			for i, k := range ks {
				if i == budget {
					return false, nil
				}
				if err := t.tx.DeleteState(cs.Namespace, k); err != nil {
					return false, err
				}
			}
			budget -= len(ks)
		}
		for _, k := range keys {
			if err := t.tx.DeleteState(cs.Namespace, k); err != nil {
				return false, err
			}
		}
	}
	return true, nil
}

// forgetVisitor deletes visitor id when no conversation of theirs is left
// and they were not seen since cutoff.
func (t *txn) forgetVisitor(id string, cutoff time.Time) (bool, error) {
	v, err := t.tx.Visitor(id)
	if errors.Is(err, ErrNotFound) {
		return false, nil
	}
	if err != nil || !v.LastSeenAt.Before(cutoff) {
		return false, err
	}
	cs, err := t.tx.Conversations(ConversationFilter{VisitorID: id, Limit: 1})
	if err != nil || len(cs) > 0 {
		return false, err
	}
	return true, t.tx.DeleteVisitor(id)
}

// purgeOutbox deletes (or, in a dry run, counts) the outbox entries and
// dead letters created before cutoff whose conversation is gone, or in
// gone (a dry run's conversations to be purged). Entries of a purged
// conversation were all created before cutoff (the conversation was last
// updated before it, and every entry of a conversation is made with a
// write that updates it), so newer entries need no look.
func (e *Engine) purgeOutbox(ctx context.Context, cutoff time.Time, dry bool, gone map[string]bool) (int, error) {
	type key struct {
		dest string
		id   uint64
		dead bool
	}
	var doomed []key
	err := e.view(ctx, func(tx Tx) error {
		doomed = doomed[:0]
		exists := map[string]bool{}
		for _, dead := range []bool{false, true} {
			depth, err := tx.OutboxDepth()
			if dead {
				depth, err = tx.DeadDepth()
			}
			if err != nil {
				return err
			}
			for dest, n := range depth {
				if n == 0 {
					continue
				}
				list := tx.Outbox
				if dead {
					list = tx.DeadLetters
				}
				entries, err := list(dest, 0, 0)
				if err != nil {
					return err
				}
				for _, en := range entries {
					if en.ConversationID == "" || !en.CreatedAt.Before(cutoff) {
						continue
					}
					ok, seen := exists[en.ConversationID]
					if !seen {
						_, err := tx.Conversation(en.ConversationID)
						if err != nil && !errors.Is(err, ErrNotFound) {
							return err
						}
						ok = err == nil && !gone[en.ConversationID]
						exists[en.ConversationID] = ok
					}
					if !ok {
						doomed = append(doomed, key{dest, en.ID, dead})
					}
				}
			}
		}
		return nil
	})
	if err != nil || dry || len(doomed) == 0 {
		return len(doomed), err
	}
	n := len(doomed)
	for len(doomed) > 0 {
		part := doomed[:min(len(doomed), purgeBudget)]
		err := e.update(ctx, func(t *txn) error {
			for _, k := range part {
				var err error
				if k.dead {
					err = t.tx.DeleteDead(k.dest, k.id)
				} else {
					err = t.tx.DeleteOutbox(k.dest, k.id)
				}
				if err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			return 0, err
		}
		doomed = doomed[len(part):]
	}
	return n, nil
}

// purgeDry is Purge counting instead of deleting, in one read.
func (e *Engine) purgeDry(ctx context.Context, o PurgeOptions) (PurgeResult, error) {
	var res PurgeResult
	gone := map[string]bool{}
	err := e.view(ctx, func(tx Tx) error {
		res = PurgeResult{}
		clear(gone)
		f := ConversationFilter{Status: StatusClosed, UpdatedBefore: o.ClosedBefore}
		if o.Limit > 0 {
			f.Limit = o.Limit + 1
		}
		cs, err := tx.Conversations(f)
		if err != nil {
			return err
		}
		if o.Limit > 0 && len(cs) > o.Limit {
			res.More, cs = true, cs[:o.Limit]
		}
		refs := map[string]uint64{}
		var keys []string
		visitors := map[string]bool{}
		for _, c := range cs {
			gone[c.ID] = true
			visitors[c.VisitorID] = true
			ms, err := tx.Messages(c.ID, 0, 0)
			if err != nil {
				return err
			}
			res.Messages += len(ms)
			for _, m := range ms {
				if m.File != nil {
					if refs[m.File.Key] == 0 {
						keys = append(keys, m.File.Key)
					}
					refs[m.File.Key]++
				}
			}
		}
		res.Conversations = len(cs)
		for _, k := range keys {
			b, err := tx.GetState(blobRefs, k)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if len(b) != 8 || binary.BigEndian.Uint64(b) <= refs[k] {
				res.Blobs = append(res.Blobs, k)
			}
		}
		for id := range visitors {
			v, err := tx.Visitor(id)
			if errors.Is(err, ErrNotFound) {
				continue
			}
			if err != nil {
				return err
			}
			if !v.LastSeenAt.Before(o.ClosedBefore) {
				continue
			}
			all, err := tx.Conversations(ConversationFilter{VisitorID: id})
			if err != nil {
				return err
			}
			left := false
			for _, c := range all {
				left = left || !gone[c.ID]
			}
			if !left {
				res.Visitors++
			}
		}
		return nil
	})
	if err != nil {
		return res, fmt.Errorf("purge (dry run): %w", err)
	}
	n, err := e.purgeOutbox(ctx, o.ClosedBefore, true, gone)
	res.Outbox = n
	if err != nil {
		return res, fmt.Errorf("purge (dry run): %w", err)
	}
	return res, nil
}

// DropPurgedBlobs deletes from blobs the bytes of the files whose last
// message Purge deleted, unless a message refers to them again or an
// upload of this process holds them (DropUnusedBlob), and reports how many
// it deleted. The files to drop are kept in the store until their bytes
// are gone, so a crash between Purge and DropPurgedBlobs only delays them
// to the next call.
func (e *Engine) DropPurgedBlobs(ctx context.Context, blobs BlobStore) (int, error) {
	var keys []string
	err := e.view(ctx, func(tx Tx) error {
		var err error
		keys, err = tx.StateKeys(blobDrops, "", 0)
		return err
	})
	if err != nil {
		return 0, fmt.Errorf("drop purged files: %w", err)
	}
	n := 0
	var errs []error
	var done []string
	for _, k := range keys {
		dropped, err := e.DropUnusedBlob(ctx, blobs, k)
		if err != nil {
			errs = append(errs, fmt.Errorf("drop purged file %s: %w", k, err))
			continue
		}
		if dropped {
			n++
		}
		done = append(done, k)
	}
	for len(done) > 0 {
		part := done[:min(len(done), purgeBudget)]
		err := e.update(ctx, func(t *txn) error {
			for _, k := range part {
				if err := t.tx.DeleteState(blobDrops, k); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			errs = append(errs, fmt.Errorf("drop purged files: %w", err))
			break
		}
		done = done[len(part):]
	}
	return n, errors.Join(errs...)
}
