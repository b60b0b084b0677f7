package boltstore

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"slices"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
)

// Tickets and leads are stored under their number (big-endian), numbered by
// their bucket's sequence. The ticket word index holds term\0^number →
// (empty): the number is inverted so that a forward scan of a term's posting
// list is newest first, and the intersection of several terms is a
// leapfrog join of forward cursors.

func ticketTerms(t bridge.Ticket) []string {
	return bridge.SearchTerms(strings.Join([]string{t.Title, t.Description, t.CustomerName, t.CustomerEmail}, " "))
}

func postingKey(term string, number uint64) []byte {
	return key([]string{term}, u64(^number))
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
		if err := idx.Put(postingKey(term, n), []byte{}); err != nil {
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
			if err := idx.Delete(postingKey(term, tk.Number)); err != nil {
				return fmt.Errorf("put ticket: index: %w", err)
			}
		}
	}
	for _, term := range newTerms {
		if !slices.Contains(oldTerms, term) {
			if err := idx.Put(postingKey(term, tk.Number), []byte{}); err != nil {
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

// SearchTickets returns the numbers of the tickets indexed under every term,
// newest first. It walks the posting lists together: each cursor seeks to
// the current candidate, and a cursor that lands past it proposes the next
// candidate, so the cost follows the shortest list, not the longest.
func (t *tx) SearchTickets(terms []string) ([]uint64, error) {
	var prefixes [][]byte
	for _, term := range terms {
		term = strings.ToLower(term)
		if term == "" {
			continue
		}
		if strings.IndexByte(term, sep) >= 0 {
			return nil, nil
		}
		prefixes = append(prefixes, prefix(term))
	}
	if len(prefixes) == 0 {
		return nil, nil
	}
	idx := t.b(bTicketTerms)
	cursors := make([]*bolt.Cursor, len(prefixes))
	for i := range cursors {
		cursors[i] = idx.Cursor()
	}
	// seek positions cursor i on the first posting ≥ cand (an inverted
	// number); it returns nil when the list is exhausted.
	seek := func(i int, cand []byte) []byte {
		k, _ := cursors[i].Seek(append(bytes.Clone(prefixes[i]), cand...))
		if k == nil || !bytes.HasPrefix(k, prefixes[i]) || len(k) != len(prefixes[i])+8 {
			return nil
		}
		return k[len(prefixes[i]):]
	}
	var out []uint64
	for cand := seek(0, nil); cand != nil; {
		match := true
		for i := 1; i < len(prefixes); i++ {
			got := seek(i, cand)
			if got == nil {
				return out, nil
			}
			if !bytes.Equal(got, cand) {
				cand, match = seek(0, got), false
				break
			}
		}
		if match {
			inv := binary.BigEndian.Uint64(cand)
			out = append(out, ^inv)
			if inv == ^uint64(0) {
				break
			}
			cand = seek(0, u64(inv+1))
		}
	}
	return out, nil
}

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
