package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/dump"
	bolt "go.etcd.io/bbolt"
)

// The store as a stream of dump records (chatbridge store copy), from one
// read transaction, and back.

var _ dump.Store = (*Store)(nil)

// dumpBatch is how many records Dump hands over at a time.
const dumpBatch = 256

// batcher collects records and hands them over in batches.
type batcher struct {
	ctx context.Context
	fn  func([]dump.Record) error
	buf []dump.Record
}

func (b *batcher) add(r dump.Record) error {
	b.buf = append(b.buf, r)
	if len(b.buf) >= dumpBatch {
		return b.flush()
	}
	return nil
}

func (b *batcher) flush() error {
	if len(b.buf) == 0 {
		return nil
	}
	if err := b.ctx.Err(); err != nil {
		return err
	}
	out := b.buf
	b.buf = nil
	return b.fn(out)
}

// timeOfKey inverts timeKey.
func timeOfKey(k uint64) time.Time {
	if k == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(k^(1<<63))).UTC()
}

// Dump hands every record of the store to fn, from one read transaction:
// a conversation's record before its messages and client ids.
func (s *Store) Dump(ctx context.Context, now time.Time, fn func([]dump.Record) error) error {
	return s.db.View(func(btx *bolt.Tx) error {
		b := &batcher{ctx: ctx, fn: fn}
		if err := dumpTx(btx, now, b); err != nil {
			return err
		}
		return b.flush()
	})
}

// each calls fn for every key and value of bucket name.
func each(btx *bolt.Tx, name []byte, fn func(k, v []byte) error) error {
	return btx.Bucket(name).ForEach(fn)
}

func dumpTx(btx *bolt.Tx, now time.Time, b *batcher) error {
	err := each(btx, bVisitors, func(k, v []byte) error {
		vis, err := decodeVisitor(v)
		if err != nil {
			return fmt.Errorf("visitor %s: %w", k, err)
		}
		return b.add(dump.Record{Kind: dump.Visitor, Visitor: &vis})
	})
	if err == nil {
		err = each(btx, bTokens, func(k, v []byte) error {
			return b.add(dump.Record{Kind: dump.Token, Hash: bytes.Clone(k), VisitorID: string(v)})
		})
	}
	if err == nil {
		err = each(btx, bExternalIDs, func(k, v []byte) error {
			return b.add(dump.Record{Kind: dump.ExternalID, Key: string(k), VisitorID: string(v)})
		})
	}
	if err == nil {
		err = each(btx, bPageViews, func(k, v []byte) error {
			var pv bridge.PageView
			if err := json.Unmarshal(v, &pv); err != nil {
				return fmt.Errorf("page view: %w", err)
			}
			return b.add(dump.Record{Kind: dump.PageView, PageView: &pv})
		})
	}
	if err == nil {
		err = dumpConversations(btx, b)
	}
	if err == nil {
		err = dumpOutbox(btx, b)
	}
	if err == nil {
		err = each(btx, bSeen, func(k, v []byte) error {
			if len(v) != 8 || binary.BigEndian.Uint64(v) <= timeKey(now) {
				return nil
			}
			return b.add(dump.Record{Kind: dump.Seen, Key: string(k), Expires: timeOfKey(binary.BigEndian.Uint64(v))})
		})
	}
	if err == nil {
		err = each(btx, bTickets, func(_, v []byte) error {
			var tk bridge.Ticket
			if err := json.Unmarshal(v, &tk); err != nil {
				return fmt.Errorf("ticket: %w", err)
			}
			return b.add(dump.Record{Kind: dump.Ticket, Ticket: &tk})
		})
	}
	if err == nil {
		err = each(btx, bLeads, func(_, v []byte) error {
			var l bridge.Lead
			if err := json.Unmarshal(v, &l); err != nil {
				return fmt.Errorf("lead: %w", err)
			}
			return b.add(dump.Record{Kind: dump.Lead, Lead: &l})
		})
	}
	if err != nil {
		return err
	}
	for name, bucket := range map[string][]byte{dump.CounterTickets: bTickets, dump.CounterLeads: bLeads, dump.CounterOutbox: bOutbox} {
		if n := btx.Bucket(bucket).Sequence(); n > 0 {
			if err := b.add(dump.Record{Kind: dump.Counter, Key: name, Seq: n}); err != nil {
				return err
			}
		}
	}
	err = each(btx, bCanned, func(_, v []byte) error {
		var c bridge.CannedResponse
		if err := json.Unmarshal(v, &c); err != nil {
			return fmt.Errorf("canned response: %w", err)
		}
		return b.add(dump.Record{Kind: dump.Canned, Canned: &c})
	})
	if err == nil {
		err = each(btx, bRefs, func(k, v []byte) error {
			adapter, conv, ok := bytes.Cut(k, []byte{sep})
			if !ok {
				return nil
			}
			return b.add(dump.Record{Kind: dump.Ref, Namespace: string(adapter), ConversationID: string(conv), Key: string(v)})
		})
	}
	if err == nil {
		err = each(btx, bState, func(k, v []byte) error {
			ns, key, ok := bytes.Cut(k, []byte{sep})
			if !ok {
				return nil
			}
			return b.add(dump.Record{Kind: dump.State, Namespace: string(ns), Key: string(key), Value: bytes.Clone(v)})
		})
	}
	return err
}

// dumpConversations emits the conversations' records, then their messages
// and client ids (see conversations.go for the layout).
func dumpConversations(btx *bolt.Tx, b *batcher) error {
	convs := btx.Bucket(bConvs)
	err := convs.ForEach(func(k, v []byte) error {
		if i := bytes.IndexByte(k, sep); i < 0 || i != len(k)-2 || k[i+1] != markRecord {
			return nil
		}
		_, data, err := decodeHead(v)
		var c bridge.Conversation
		if err == nil {
			c, err = decodeConversationBody(data)
		}
		if err != nil {
			return fmt.Errorf("conversation %q: %w", k, err)
		}
		return b.add(dump.Record{Kind: dump.Conversation, Conversation: &c})
	})
	if err != nil {
		return err
	}
	err = convs.ForEach(func(k, v []byte) error {
		i := bytes.IndexByte(k, sep)
		if i < 0 || i+1 >= len(k) {
			return nil
		}
		conv, rest := string(k[:i]), k[i+1:]
		switch {
		case len(rest) == 8 && rest[0] == 0:
			m, err := decodeMessage(v)
			if err != nil {
				return fmt.Errorf("message of %s: %w", conv, err)
			}
			return b.add(dump.Record{Kind: dump.Message, Message: &m})
		case rest[0] == markClient && len(v) == 8:
			visitor, cid, ok := bytes.Cut(rest[1:], []byte{sep})
			if !ok {
				return nil
			}
			return b.add(dump.Record{Kind: dump.ClientID, VisitorID: string(visitor), Key: string(cid), ConversationID: conv, Seq: binary.BigEndian.Uint64(v)})
		}
		return nil
	})
	if err != nil {
		return err
	}
	return each(btx, bClientIDs, func(k, v []byte) error {
		visitor, cid, ok := bytes.Cut(k, []byte{sep})
		if !ok || len(v) < 8 {
			return nil
		}
		return b.add(dump.Record{Kind: dump.ClientID, VisitorID: string(visitor), Key: string(cid), ConversationID: string(v[8:]), Seq: binary.BigEndian.Uint64(v[:8])})
	})
}

// dumpOutbox emits the outbox entries, the dead letters, and the
// destinations of both (empty ones too: OutboxDepth lists them).
func dumpOutbox(btx *bolt.Tx, b *batcher) error {
	var dests []dump.Record
	for _, root := range []struct {
		name []byte
		kind dump.Kind
	}{{bOutbox, dump.Outbox}, {bDead, dump.Dead}} {
		rb := btx.Bucket(root.name)
		err := rb.ForEachBucket(func(name []byte) error {
			dests = append(dests, dump.Record{Kind: dump.Destination, Key: string(name), Dead: root.kind == dump.Dead})
			return rb.Bucket(name).ForEach(func(_, v []byte) error {
				e, err := decodeOutbox(v)
				if err != nil {
					return fmt.Errorf("outbox entry of %s: %w", name, err)
				}
				return b.add(dump.Record{Kind: root.kind, Entry: &e})
			})
		})
		if err != nil {
			return err
		}
	}
	for _, d := range dests {
		if err := b.add(d); err != nil {
			return err
		}
	}
	return nil
}

// Load writes a batch of dump records in one transaction.
func (s *Store) Load(ctx context.Context, now time.Time, recs []dump.Record) error {
	return s.Update(ctx, func(btx bridge.Tx) error {
		t := btx.(*tx)
		for _, r := range recs {
			done, err := dump.LoadRole(t, now, r)
			if err == nil && !done {
				err = t.load(r)
			}
			if err != nil {
				return fmt.Errorf("load %s: %w", r.Kind, err)
			}
		}
		return nil
	})
}

// raise makes bucket b's sequence at least n.
func raise(b *bolt.Bucket, n uint64) error {
	if b.Sequence() >= n {
		return nil
	}
	return b.SetSequence(n)
}

// load writes the records whose roles would number or trim them.
func (t *tx) load(r dump.Record) error {
	switch r.Kind {
	case dump.PageView:
		b := t.b(bPageViews)
		seq, err := b.NextSequence()
		if err != nil {
			return err
		}
		if err := checkParts("page view", r.PageView.VisitorID); err != nil {
			return err
		}
		return putJSON(b, key([]string{r.PageView.VisitorID}, u64(timeKey(r.PageView.At)), u64(seq)), r.PageView)
	case dump.Outbox, dump.Dead:
		root := bOutbox
		if r.Kind == dump.Dead {
			root = bDead
		}
		if err := checkParts("outbox entry", r.Entry.Destination); err != nil {
			return err
		}
		dest, err := t.b(root).CreateBucketIfNotExists([]byte(r.Entry.Destination))
		if err != nil {
			return err
		}
		if err := dest.Put(u64(r.Entry.ID), encodeOutbox(*r.Entry)); err != nil {
			return err
		}
		return raise(t.b(bOutbox), r.Entry.ID)
	case dump.Destination:
		root := bOutbox
		if r.Dead {
			root = bDead
		}
		if err := checkParts("destination", r.Key); err != nil {
			return err
		}
		_, err := t.b(root).CreateBucketIfNotExists([]byte(r.Key))
		return err
	case dump.Ticket:
		tk := *r.Ticket
		if err := putJSON(t.b(bTickets), u64(tk.Number), tk); err != nil {
			return err
		}
		idx := t.b(bTicketIndex)
		for _, term := range ticketTerms(tk) {
			if err := index(idx, term, tk.Number, true); err != nil {
				return err
			}
		}
		return raise(t.b(bTickets), tk.Number)
	case dump.Lead:
		if err := putJSON(t.b(bLeads), u64(r.Lead.Number), r.Lead); err != nil {
			return err
		}
		return raise(t.b(bLeads), r.Lead.Number)
	case dump.Counter:
		switch r.Key {
		case dump.CounterTickets:
			return raise(t.b(bTickets), r.Seq)
		case dump.CounterLeads:
			return raise(t.b(bLeads), r.Seq)
		case dump.CounterOutbox:
			return raise(t.b(bOutbox), r.Seq)
		}
		return fmt.Errorf("%w: unknown counter %q", bridge.ErrInvalid, r.Key)
	}
	return fmt.Errorf("%w: unknown record kind %q", bridge.ErrInvalid, r.Kind)
}

// Wipe deletes every record: every bucket is emptied, the schema version
// stays.
func (s *Store) Wipe(ctx context.Context) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return s.db.Update(func(btx *bolt.Tx) error {
		for _, name := range allBuckets {
			if bytes.Equal(name, bMeta) {
				continue
			}
			if err := btx.DeleteBucket(name); err != nil {
				return err
			}
			if _, err := btx.CreateBucket(name); err != nil {
				return err
			}
		}
		meta := btx.Bucket(bMeta)
		var keys [][]byte
		_ = meta.ForEach(func(k, _ []byte) error {
			if !bytes.Equal(k, keySchemaVersion) {
				keys = append(keys, bytes.Clone(k))
			}
			return nil
		})
		return deleteKeys(meta, keys)
	})
}
