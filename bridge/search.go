package bridge

import (
	"errors"
	"slices"
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

// FindTickets searches tickets the way operators ask: "#12" finds ticket
// 12; other text finds the tickets that contain every word of q
// (SearchTerms) in their title, description, customer name or e-mail,
// newest first, through the store's index; a bare number ("12") finds
// ticket 12 first, then the tickets mentioning 12. Total counts every match;
// Tickets holds the first limit of them (limit 0: all).
func FindTickets(tx Tx, q string, limit int) (TicketQuery, error) {
	q = strings.TrimSpace(q)
	var (
		numbers []uint64
		byNum   *Ticket // the ticket a number names, listed first
	)
	if n, ok := ticketNumber(q); ok {
		if t, err := tx.Ticket(n); err == nil {
			numbers, byNum = append(numbers, n), &t
		} else if !errors.Is(err, ErrNotFound) {
			return TicketQuery{}, err
		}
	}
	total := len(numbers)
	if !strings.HasPrefix(q, "#") {
		if terms := SearchTerms(q); len(terms) > 0 {
			want := limit
			if want > 0 {
				want++ // room for the numbered ticket among the matches
			}
			found, n, err := tx.SearchTickets(terms, want)
			if err != nil {
				return TicketQuery{}, err
			}
			total += n
			if byNum != nil && ticketHasTerms(*byNum, terms) {
				total-- // counted by the search too
			}
			for _, n := range found {
				if byNum == nil || n != byNum.Number {
					numbers = append(numbers, n)
				}
			}
		}
	}
	res := TicketQuery{Total: total}
	if limit > 0 && len(numbers) > limit {
		numbers = numbers[:limit]
	}
	for _, n := range numbers {
		t, err := tx.Ticket(n)
		if err != nil {
			return TicketQuery{}, err
		}
		res.Tickets = append(res.Tickets, t)
	}
	return res, nil
}

// TicketTerms are the index terms of a ticket: the words of its title,
// description, customer name and e-mail.
func TicketTerms(t Ticket) []string {
	return SearchTerms(strings.Join([]string{t.Title, t.Description, t.CustomerName, t.CustomerEmail}, " "))
}

// ticketHasTerms reports whether t would be found by terms.
func ticketHasTerms(t Ticket, terms []string) bool {
	have := TicketTerms(t)
	for _, term := range terms {
		if !slices.Contains(have, term) {
			return false
		}
	}
	return true
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
