package etcdstore

import (
	"context"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strconv"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/dump"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// The store as a stream of dump records (chatbridge store copy), read at
// one revision, and back.

var _ dump.Store = (*Store)(nil)

// dumpPage is how many keys one read of Dump fetches (and hands over).
const dumpPage = 256

// Dump hands every record of the store to fn, read at one revision (the
// dump fails if etcd compacts that revision away before it ends: run it
// with the nodes stopped, or within [store] compact_keep).
func (s *Store) Dump(ctx context.Context, now time.Time, fn func([]dump.Record) error) error {
	head, err := s.cli.Get(ctx, s.p+kIDBase)
	if err != nil {
		return fmt.Errorf("dump: %w", err)
	}
	rev := head.Header.Revision
	var base uint64
	if len(head.Kvs) == 1 {
		base, _ = strconv.ParseUint(string(head.Kvs[0].Value), 10, 64)
	}
	// scan hands the records decode makes of every key of a region.
	scan := func(region string, decode func(key string, val []byte) (dump.Record, bool, error)) error {
		pfx := s.p + region
		end := prefixEnd(pfx)
		for start := pfx; ; {
			resp, err := s.cli.Get(ctx, start, clientv3.WithRange(end), clientv3.WithRev(rev), clientv3.WithLimit(dumpPage),
				clientv3.WithSort(clientv3.SortByKey, clientv3.SortAscend))
			if err != nil {
				return fmt.Errorf("dump %s: %w", region, err)
			}
			out := make([]dump.Record, 0, len(resp.Kvs))
			for _, kv := range resp.Kvs {
				r, ok, err := decode(string(kv.Key[len(pfx):]), kv.Value)
				if err != nil {
					return fmt.Errorf("dump %s%s: %w", region, kv.Key[len(pfx):], err)
				}
				if ok {
					out = append(out, r)
				}
			}
			if len(out) > 0 {
				if err := fn(out); err != nil {
					return err
				}
			}
			if !resp.More || len(resp.Kvs) == 0 {
				return nil
			}
			start = string(resp.Kvs[len(resp.Kvs)-1].Key) + "\x00"
		}
	}
	js := func(kind dump.Kind, set func(*dump.Record) any) func(string, []byte) (dump.Record, bool, error) {
		return func(_ string, v []byte) (dump.Record, bool, error) {
			r := dump.Record{Kind: kind}
			return r, true, json.Unmarshal(v, set(&r))
		}
	}
	pair := func(k string) (string, string) { a, b, _ := strings.Cut(k, sep); return a, b }
	regions := []struct {
		region string
		decode func(string, []byte) (dump.Record, bool, error)
	}{
		{rVisitor, js(dump.Visitor, func(r *dump.Record) any { r.Visitor = new(bridge.Visitor); return r.Visitor })},
		{rToken, func(k string, v []byte) (dump.Record, bool, error) {
			h, err := hex.DecodeString(k)
			return dump.Record{Kind: dump.Token, Hash: h, VisitorID: string(v)}, true, err
		}},
		{rExternal, func(k string, v []byte) (dump.Record, bool, error) {
			return dump.Record{Kind: dump.ExternalID, Key: k, VisitorID: string(v)}, true, nil
		}},
		{rPageView, js(dump.PageView, func(r *dump.Record) any { r.PageView = new(bridge.PageView); return r.PageView })},
		{rConv, js(dump.Conversation, func(r *dump.Record) any { r.Conversation = new(bridge.Conversation); return r.Conversation })},
		{rMessage, js(dump.Message, func(r *dump.Record) any { r.Message = new(bridge.Message); return r.Message })},
		{rClientID, func(k string, v []byte) (dump.Record, bool, error) {
			visitor, cid := pair(k)
			seq, err := parseNum(string(v))
			return dump.Record{Kind: dump.ClientID, VisitorID: visitor, Key: cid, ConversationID: string(v[min(len(v), hexWidth):]), Seq: seq}, true, err
		}},
		{rOutbox, js(dump.Outbox, func(r *dump.Record) any { r.Entry = new(bridge.OutboxEntry); return r.Entry })},
		{rDead, js(dump.Dead, func(r *dump.Record) any { r.Entry = new(bridge.OutboxEntry); return r.Entry })},
		{rOutboxDest, func(k string, _ []byte) (dump.Record, bool, error) {
			return dump.Record{Kind: dump.Destination, Key: k}, true, nil
		}},
		{rDeadDest, func(k string, _ []byte) (dump.Record, bool, error) {
			return dump.Record{Kind: dump.Destination, Key: k, Dead: true}, true, nil
		}},
		{rSeen, func(k string, v []byte) (dump.Record, bool, error) {
			exp, err := parseNum(string(v))
			if err != nil || exp <= timeKey(now) {
				return dump.Record{}, false, err
			}
			return dump.Record{Kind: dump.Seen, Key: k, Expires: timeOfKey(exp)}, true, nil
		}},
		{rTicket, js(dump.Ticket, func(r *dump.Record) any { r.Ticket = new(bridge.Ticket); return r.Ticket })},
		{rLead, js(dump.Lead, func(r *dump.Record) any { r.Lead = new(bridge.Lead); return r.Lead })},
		{kTicketSeq, counter(dump.CounterTickets)},
		{kLeadSeq, counter(dump.CounterLeads)},
		{rCanned, js(dump.Canned, func(r *dump.Record) any { r.Canned = new(bridge.CannedResponse); return r.Canned })},
		{rRef, func(k string, v []byte) (dump.Record, bool, error) {
			adapter, conv := pair(k)
			return dump.Record{Kind: dump.Ref, Namespace: adapter, ConversationID: conv, Key: string(v)}, true, nil
		}},
		{rState, func(k string, v []byte) (dump.Record, bool, error) {
			ns, key := pair(k)
			return dump.Record{Kind: dump.State, Namespace: ns, Key: key, Value: v}, true, nil
		}},
	}
	for _, r := range regions {
		if err := scan(r.region, r.decode); err != nil {
			return err
		}
	}
	// Every id given out so far is (base + a revision up to rev) << idShift
	// plus less than 1 << idShift.
	return fn([]dump.Record{{Kind: dump.Counter, Key: dump.CounterOutbox, Seq: (base + uint64(rev) + 1) << idShift}})
}

// counter decodes a counter key (the region is the whole key).
func counter(name string) func(string, []byte) (dump.Record, bool, error) {
	return func(k string, v []byte) (dump.Record, bool, error) {
		if k != "" { // a longer key that starts with the counter's
			return dump.Record{}, false, nil
		}
		n, err := strconv.ParseUint(string(v), 10, 64)
		return dump.Record{Kind: dump.Counter, Key: name, Seq: n}, n > 0, err
	}
}

// timeOfKey inverts timeKey.
func timeOfKey(k uint64) time.Time {
	if k == 0 {
		return time.Time{}
	}
	return time.Unix(0, int64(k^(1<<63))).UTC()
}

// Load writes a batch of dump records in one transaction (a large one
// through the redo log), then raises the outbox id base when the batch
// carries the outbox counter.
func (s *Store) Load(ctx context.Context, now time.Time, recs []dump.Record) error {
	var idBase uint64
	err := s.Update(ctx, func(btx bridge.Tx) error {
		t := btx.(*tx)
		idBase = 0
		if err := t.prefetch(loadReads(t, recs)...); err != nil {
			return err
		}
		for _, r := range recs {
			done, err := dump.LoadRole(t, now, r)
			if err == nil && !done {
				err = t.load(r, &idBase)
			}
			if err != nil {
				return fmt.Errorf("load %s: %w", r.Kind, err)
			}
		}
		return nil
	})
	if err == nil && idBase > 0 {
		err = s.SetIDBase(ctx, idBase)
	}
	return err
}

// loadReads are the keys loading recs reads, fetched in one round trip.
func loadReads(t *tx, recs []dump.Record) []string {
	var keys []string
	for _, r := range recs {
		switch r.Kind {
		case dump.Conversation:
			keys = append(keys, t.convKey(r.Conversation.ID))
		case dump.Seen:
			keys = append(keys, t.seenKey(r.Key))
		case dump.Ref:
			keys = append(keys, t.refKey(r.Namespace, r.ConversationID), t.refReverseKey(r.Namespace, r.Key))
		case dump.Ticket:
			for _, term := range bridge.TicketTerms(*r.Ticket) {
				if !strings.Contains(term, sep) {
					keys = append(keys, t.postingKey(term, r.Ticket.Number))
				}
			}
		}
	}
	return keys
}

// raise makes the counter under key at least n.
func (t *tx) raise(key string, n uint64) error {
	v, ok, err := t.get(key)
	if err != nil {
		return err
	}
	if ok {
		if cur, err := strconv.ParseUint(string(v), 10, 64); err == nil && cur >= n {
			return nil
		}
	}
	t.put(key, []byte(strconv.FormatUint(n, 10)), 0)
	return nil
}

// load writes the records whose roles would number or trim them.
func (t *tx) load(r dump.Record, idBase *uint64) error {
	p := t.s.p
	switch r.Kind {
	case dump.PageView:
		if err := checkParts("page view", r.PageView.VisitorID); err != nil {
			return err
		}
		nonce := fmt.Sprintf("%0*x", nonceWidth, rand.Uint32())
		return t.putJSON(p+rPageView+r.PageView.VisitorID+sep+num(timeKey(r.PageView.At))+nonce, r.PageView)
	case dump.Outbox, dump.Dead:
		if err := checkParts("outbox entry", r.Entry.Destination); err != nil {
			return err
		}
		k, marker := t.outboxKey(r.Entry.Destination, r.Entry.ID), rOutboxDest
		if r.Kind == dump.Dead {
			k, marker = t.deadKey(r.Entry.Destination, r.Entry.ID), rDeadDest
		}
		if err := t.markDest(marker, r.Entry.Destination); err != nil {
			return err
		}
		*idBase = max(*idBase, r.Entry.ID)
		return t.putJSON(k, r.Entry)
	case dump.Destination:
		if err := checkParts("destination", r.Key); err != nil {
			return err
		}
		if r.Dead {
			return t.markDest(rDeadDest, r.Key)
		}
		return t.markDest(rOutboxDest, r.Key)
	case dump.Ticket:
		tk := *r.Ticket
		if err := t.putJSON(t.ticketKey(tk.Number), tk); err != nil {
			return err
		}
		if err := t.index(bridge.TicketTerms(tk), tk.Number, true); err != nil {
			return err
		}
		return t.raise(p+kTicketSeq, tk.Number)
	case dump.Lead:
		if err := t.putJSON(t.leadKey(r.Lead.Number), r.Lead); err != nil {
			return err
		}
		return t.raise(p+kLeadSeq, r.Lead.Number)
	case dump.Counter:
		switch r.Key {
		case dump.CounterTickets:
			return t.raise(p+kTicketSeq, r.Seq)
		case dump.CounterLeads:
			return t.raise(p+kLeadSeq, r.Seq)
		case dump.CounterOutbox:
			*idBase = max(*idBase, r.Seq)
			return nil
		}
		return fmt.Errorf("%w: unknown counter %q", bridge.ErrInvalid, r.Key)
	}
	return fmt.Errorf("%w: unknown record kind %q", bridge.ErrInvalid, r.Kind)
}

// Wipe deletes every key under the store's prefix (stop every node
// first: their elections and presence are there too) and writes the layout
// version again.
func (s *Store) Wipe(ctx context.Context) error {
	if _, err := s.cli.Delete(ctx, s.p, clientv3.WithPrefix()); err != nil {
		return fmt.Errorf("wipe: %w", err)
	}
	s.dests.Clear()
	s.idBase = 0
	return s.initSchema(ctx)
}
