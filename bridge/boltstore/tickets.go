package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
)

// Tickets and leads are stored under their number (big-endian), numbered by
// their bucket's sequence.
//
// The ticket word index holds, per term, a posting list cut in blocks of 64
// ticket numbers: term\0 ^block → a 64-bit set of the block's tickets
// (bit n%64 of block n/64). The block number is inverted so that a forward
// scan is newest first. A word found in most tickets costs one key per 64
// tickets, and intersecting terms is a join on block keys and an AND of
// their sets.

func ticketTerms(t bridge.Ticket) []string { return bridge.TicketTerms(t) }

func postingKey(term string, number uint64) []byte {
	return key([]string{term}, u64(^(number >> 6)))
}

// index adds (on) or removes ticket number from term's posting list.
func index(idx *bolt.Bucket, term string, number uint64, on bool) error {
	k := postingKey(term, number)
	var set uint64
	if v := idx.Get(k); len(v) == 8 {
		set = binary.BigEndian.Uint64(v)
	}
	if on {
		set |= 1 << (number & 63)
	} else {
		set &^= 1 << (number & 63)
	}
	if set == 0 {
		return idx.Delete(k)
	}
	return idx.Put(k, u64(set))
}

// CreateTicket numbers, stores and indexes t.
func (t *tx) CreateTicket(tk bridge.Ticket) (bridge.Ticket, error) {
	if err := t.writable("create ticket"); err != nil {
		return bridge.Ticket{}, err
	}
	b := t.b(bTickets)
	n, err := b.NextSequence()
	if err != nil {
		return bridge.Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	tk.Number = n
	if err := putJSON(b, u64(n), tk); err != nil {
		return bridge.Ticket{}, fmt.Errorf("create ticket: %w", err)
	}
	idx := t.b(bTicketTerms)
	for _, term := range ticketTerms(tk) {
		if err := index(idx, term, n, true); err != nil {
			return bridge.Ticket{}, fmt.Errorf("create ticket: index: %w", err)
		}
	}
	return tk, nil
}

// Ticket returns a ticket by number.
func (t *tx) Ticket(number uint64) (bridge.Ticket, error) {
	var tk bridge.Ticket
	ok, err := getJSON(t.b(bTickets), u64(number), &tk)
	if err != nil {
		return bridge.Ticket{}, fmt.Errorf("ticket %d: %w", number, err)
	}
	if !ok {
		return bridge.Ticket{}, errNotFound("ticket", number)
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
	if err := putJSON(t.b(bTickets), u64(tk.Number), tk); err != nil {
		return fmt.Errorf("put ticket: %w", err)
	}
	idx := t.b(bTicketTerms)
	oldTerms, newTerms := ticketTerms(old), ticketTerms(tk)
	for _, term := range oldTerms {
		if !slices.Contains(newTerms, term) {
			if err := index(idx, term, tk.Number, false); err != nil {
				return fmt.Errorf("put ticket: index: %w", err)
			}
		}
	}
	for _, term := range newTerms {
		if !slices.Contains(oldTerms, term) {
			if err := index(idx, term, tk.Number, true); err != nil {
				return fmt.Errorf("put ticket: index: %w", err)
			}
		}
	}
	return nil
}

// Tickets lists up to limit tickets, newest first (limit <= 0: all).
func (t *tx) Tickets(limit int) ([]bridge.Ticket, error) {
	var out []bridge.Ticket
	err := eachNewest(t.b(bTickets), limit, func(v []byte) error {
		var tk bridge.Ticket
		if err := json.Unmarshal(v, &tk); err != nil {
			return err
		}
		out = append(out, tk)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("tickets: %w", err)
	}
	return out, nil
}

// eachNewest calls fn on up to limit values of b, last key first.
func eachNewest(b *bolt.Bucket, limit int, fn func(v []byte) error) error {
	c := b.Cursor()
	n := 0
	for k, v := c.Last(); k != nil; k, v = c.Prev() {
		if err := fn(v); err != nil {
			return err
		}
		if n++; limit > 0 && n == limit {
			break
		}
	}
	return nil
}

// SearchTickets returns the numbers of the first limit tickets indexed
// under every term, newest first, and how many are. It walks the terms'
// block lists (64 tickets a block, as a bit set) together, a leapfrog
// join: each cursor behind the largest current block seeks to it, and a
// block all cursors agree on holds the tickets in the AND of their sets.
// Past limit it only counts (a popcount per block), so the cost follows the
// shortest list, not the number of matches.
func (t *tx) SearchTickets(terms []string, limit int) ([]uint64, int, error) {
	idx := t.b(bTicketTerms)
	var ps []*posting
	for _, term := range terms {
		term = strings.ToLower(term)
		if term == "" {
			continue
		}
		if strings.IndexByte(term, sep) >= 0 {
			return nil, 0, nil
		}
		p := &posting{c: idx.Cursor(), pfx: prefix(term)}
		if p.seek(nil); p.cur == nil {
			return nil, 0, nil
		}
		ps = append(ps, p)
	}
	if len(ps) == 0 {
		return nil, 0, nil
	}
	var out []uint64
	total := 0
	for {
		hi := ps[0].cur
		for _, p := range ps[1:] {
			if bytes.Compare(p.cur, hi) > 0 {
				hi = p.cur
			}
		}
		match := true
		for _, p := range ps {
			if bytes.Equal(p.cur, hi) {
				continue
			}
			match = false
			if p.seek(hi); p.cur == nil {
				return out, total, nil
			}
		}
		if !match {
			continue
		}
		set := ^uint64(0)
		for _, p := range ps {
			set &= p.set
		}
		total += bits.OnesCount64(set)
		base := ^binary.BigEndian.Uint64(hi) << 6
		for set != 0 && (limit <= 0 || len(out) < limit) {
			b := 63 - bits.LeadingZeros64(set)
			out = append(out, base|uint64(b))
			set &^= 1 << b
		}
		if ps[0].next(); ps[0].cur == nil {
			return out, total, nil
		}
	}
}

// posting is a cursor on one term's block list: cur is the current block
// key (an inverted block number), nil past the end of the list, and set its
// tickets.
type posting struct {
	c   *bolt.Cursor
	pfx []byte
	cur []byte
	set uint64
	buf []byte
}

func (p *posting) position(k, v []byte) {
	if len(k) == len(p.pfx)+8 && len(v) == 8 && bytes.HasPrefix(k, p.pfx) {
		p.cur, p.set = k[len(p.pfx):], binary.BigEndian.Uint64(v)
	} else {
		p.cur, p.set = nil, 0
	}
}

// seek moves to the first block at or after target. Lists of frequent
// words are dense, so the block sought is usually one of the next few: it
// steps forward a few times before it pays for a seek from the root.
func (p *posting) seek(target []byte) {
	if p.cur != nil {
		for range 4 {
			if p.next(); p.cur == nil || bytes.Compare(p.cur, target) >= 0 {
				return
			}
		}
	}
	p.buf = append(append(p.buf[:0], p.pfx...), target...)
	p.position(p.c.Seek(p.buf))
}

func (p *posting) next() { p.position(p.c.Next()) }

// CreateLead numbers and stores l.
func (t *tx) CreateLead(l bridge.Lead) (bridge.Lead, error) {
	if err := t.writable("create lead"); err != nil {
		return bridge.Lead{}, err
	}
	b := t.b(bLeads)
	n, err := b.NextSequence()
	if err != nil {
		return bridge.Lead{}, fmt.Errorf("create lead: %w", err)
	}
	l.Number = n
	if err := putJSON(b, u64(n), l); err != nil {
		return bridge.Lead{}, fmt.Errorf("create lead: %w", err)
	}
	return l, nil
}

// Lead returns a lead by number.
func (t *tx) Lead(number uint64) (bridge.Lead, error) {
	var l bridge.Lead
	ok, err := getJSON(t.b(bLeads), u64(number), &l)
	if err != nil {
		return bridge.Lead{}, fmt.Errorf("lead %d: %w", number, err)
	}
	if !ok {
		return bridge.Lead{}, errNotFound("lead", number)
	}
	return l, nil
}

// PutLead replaces an existing lead.
func (t *tx) PutLead(l bridge.Lead) error {
	if err := t.writable("put lead"); err != nil {
		return err
	}
	b := t.b(bLeads)
	if b.Get(u64(l.Number)) == nil {
		return fmt.Errorf("put lead: %w", errNotFound("lead", l.Number))
	}
	if err := putJSON(b, u64(l.Number), l); err != nil {
		return fmt.Errorf("put lead: %w", err)
	}
	return nil
}

// Leads lists up to limit leads, newest first (limit <= 0: all).
func (t *tx) Leads(limit int) ([]bridge.Lead, error) {
	var out []bridge.Lead
	err := eachNewest(t.b(bLeads), limit, func(v []byte) error {
		var l bridge.Lead
		if err := json.Unmarshal(v, &l); err != nil {
			return err
		}
		out = append(out, l)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("leads: %w", err)
	}
	return out, nil
}
