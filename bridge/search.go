package bridge

import (
	"errors"
	"strings"
	"unicode"
)

// SearchTerms splits text into lowercase index terms: runs of letters and
// digits, with '@', '.', '_' and '-' kept inside e-mail-like words split into
// their parts too. Stores index tickets with it and search with it, so both
// agree on what a word is.
func SearchTerms(text string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string) {
		if w == "" || seen[w] || len([]rune(w)) > 64 {
			return
		}
		seen[w] = true
		out = append(out, w)
	}
	for _, field := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '@' || r == '.' || r == '_' || r == '-')
	}) {
		field = strings.Trim(field, ".-_@")
		if strings.ContainsAny(field, "@._-") {
			add(field)
		}
		for _, part := range strings.FieldsFunc(field, func(r rune) bool {
			return !(unicode.IsLetter(r) || unicode.IsDigit(r))
		}) {
			add(part)
		}
	}
	return out
}

// TicketQuery is the result of FindTickets.
type TicketQuery struct {
	// Total is how many tickets matched.
	Total int
	// Tickets are the first `limit` matches, newest first.
	Tickets []Ticket
}

// FindTickets searches tickets the way operators ask: "#12" (or "12") finds
// ticket 12; anything else finds the tickets that contain every word of q
// (SearchTerms) in their title, description, customer name or email, newest
// first, through the store's index. limit caps the tickets loaded.
func FindTickets(tx Tx, q string, limit int) (TicketQuery, error) {
	q = strings.TrimSpace(q)
	if n, ok := ticketNumber(q); ok {
		t, err := tx.Ticket(n)
		if errors.Is(err, ErrNotFound) {
			return TicketQuery{}, nil
		}
		if err != nil {
			return TicketQuery{}, err
		}
		return TicketQuery{Total: 1, Tickets: []Ticket{t}}, nil
	}
	terms := SearchTerms(q)
	if len(terms) == 0 {
		return TicketQuery{}, nil
	}
	nums, err := tx.SearchTickets(terms)
	if err != nil {
		return TicketQuery{}, err
	}
	res := TicketQuery{Total: len(nums)}
	for _, n := range nums {
		if limit > 0 && len(res.Tickets) == limit {
			break
		}
		t, err := tx.Ticket(n)
		if err != nil {
			return TicketQuery{}, err
		}
		res.Tickets = append(res.Tickets, t)
	}
	return res, nil
}

// ticketNumber parses "#12" or "12".
func ticketNumber(q string) (uint64, bool) {
	q = strings.TrimPrefix(q, "#")
	if q == "" || len(q) > 19 {
		return 0, false
	}
	var n uint64
	for _, r := range q {
		if r < '0' || r > '9' {
			return 0, false
		}
		n = n*10 + uint64(r-'0')
	}
	return n, n > 0
}
