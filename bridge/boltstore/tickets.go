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
// The ticket word index holds, per term, a posting list cut in blocks of
// 4,096 ticket numbers: term\0 ^block → a container of the block's tickets
// (block n/4096, offset n%4096). A container is a bitmap of 512 bytes when
// the term is in many of the block's tickets, else the sorted offsets as
// big-endian uint16 (at most maxArray, so at most 510 bytes: the length
// tells them apart). The block number is inverted so that a forward scan is
// newest first. A word found in every ticket costs one key per 4,096
// tickets (245 at 1,000,000), a rare one a few bytes per ticket; intersecting
// terms is a join on block keys and an AND of their containers.

const (
	blockShift  = 12
	blockSize   = 1 << blockShift
	bitmapBytes = blockSize / 8
	bitmapWords = bitmapBytes / 8
	// maxArray is the most offsets kept as an array; one more makes it a
	// bitmap.
	maxArray = bitmapBytes/2 - 1
)

func ticketTerms(t bridge.Ticket) []string { return bridge.TicketTerms(t) }

func postingKey(term string, number uint64) []byte {
	return key([]string{term}, u64(^(number >> blockShift)))
}

// bitmap is a block's tickets as bits, offset i at bit i%64 of word i/64.
type bitmap [bitmapWords]uint64

// load sets b to container c's tickets.
func (b *bitmap) load(c []byte) {
	if len(c) == bitmapBytes {
		for i := range b {
			b[i] = binary.BigEndian.Uint64(c[8*i:])
		}
		return
	}
	*b = bitmap{}
	for i := 0; i+1 < len(c); i += 2 {
		off := binary.BigEndian.Uint16(c[i:])
		b[off/64] |= 1 << (off % 64)
	}
}

// and keeps in b only the tickets of container c.
func (b *bitmap) and(c []byte) {
	if len(c) == bitmapBytes {
		for i := range b {
			b[i] &= binary.BigEndian.Uint64(c[8*i:])
		}
		return
	}
	var o bitmap
	o.load(c)
	for i := range b {
		b[i] &= o[i]
	}
}

func (b *bitmap) count() int {
	n := 0
	for _, w := range b {
		n += bits.OnesCount64(w)
	}
	return n
}

// container encodes b: an array of offsets when it has few, else the bitmap.
func (b *bitmap) container() []byte {
	n := b.count()
	if n > maxArray {
		out := make([]byte, bitmapBytes)
		for i, w := range b {
			binary.BigEndian.PutUint64(out[8*i:], w)
		}
		return out
	}
	out := make([]byte, 0, 2*n)
	for i, w := range b {
		for w != 0 {
			bit := bits.TrailingZeros64(w)
			out = binary.BigEndian.AppendUint16(out, uint16(i*64+bit))
			w &^= 1 << bit
		}
	}
	return out
}

// index adds (on) or removes ticket number from term's posting list.
func index(idx *bolt.Bucket, term string, number uint64, on bool) error {
	k := postingKey(term, number)
	var b bitmap
	b.load(idx.Get(k))
	off := number % blockSize
	if on {
		b[off/64] |= 1 << (off % 64)
	} else {
		b[off/64] &^= 1 << (off % 64)
	}
	if b.count() == 0 {
		return idx.Delete(k)
	}
	return idx.Put(k, b.container())
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
	idx := t.b(bTicketIndex)
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
	idx := t.b(bTicketIndex)
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
// block lists together, a leapfrog join: each cursor behind the largest
// current block seeks to it, and a block all cursors agree on holds the
// tickets in the AND of their containers. Past limit it only counts (a
// popcount per block), so the cost follows the blocks of the rarest term,
// not the number of matches.
func (t *tx) SearchTickets(terms []string, limit int) ([]uint64, int, error) {
	idx := t.b(bTicketIndex)
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
	var set bitmap
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
		set.load(ps[0].val)
		for _, p := range ps[1:] {
			set.and(p.val)
		}
		total += set.count()
		base := ^binary.BigEndian.Uint64(hi) << blockShift
		for w := bitmapWords - 1; w >= 0 && (limit <= 0 || len(out) < limit); w-- {
			for word := set[w]; word != 0 && (limit <= 0 || len(out) < limit); {
				bit := 63 - bits.LeadingZeros64(word)
				out = append(out, base|uint64(w*64+bit))
				word &^= 1 << bit
			}
		}
		if ps[0].next(); ps[0].cur == nil {
			return out, total, nil
		}
	}
}

// posting is a cursor on one term's block list: cur is the current block
// key (an inverted block number), nil past the end of the list, and val its
// container.
type posting struct {
	c   *bolt.Cursor
	pfx []byte
	cur []byte
	val []byte
	buf []byte
}

func (p *posting) position(k, v []byte) {
	if len(k) == len(p.pfx)+8 && bytes.HasPrefix(k, p.pfx) {
		p.cur, p.val = k[len(p.pfx):], v
	} else {
		p.cur, p.val = nil, nil
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
