package etcdstore

import (
	"encoding/json"
	"fmt"
	"math/bits"
	"slices"
	"strconv"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

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
