package storetest

import (
	"fmt"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func createTickets(t *testing.T, s bridge.Store, ts ...bridge.Ticket) []bridge.Ticket {
	t.Helper()
	var out []bridge.Ticket
	update(t, s, func(tx bridge.Tx) error {
		out = out[:0]
		for _, tk := range ts {
			got, err := tx.CreateTicket(tk)
			if err != nil {
				return err
			}
			out = append(out, got)
		}
		return nil
	})
	return out
}

func testTickets(t *testing.T, s bridge.Store) {
	op := bridge.Operator{Adapter: "slack", ID: "U1", Name: "Bob"}
	in := []bridge.Ticket{
		{Title: "first", Description: "d1", Operator: op, CreatedAt: at(1), Source: "slack", ConversationID: "c_1"},
		{Title: "second", Description: "d2", Operator: op, CreatedAt: at(2), Source: "cli"},
	}
	got := createTickets(t, s, in...)
	got = append(got, createTickets(t, s, bridge.Ticket{Number: 99, Title: "third", CreatedAt: at(3)})...)
	for i, tk := range got {
		if tk.Number != uint64(i+1) {
			t.Errorf("ticket %d numbered %d, want %d (from 1, in order, ignoring the input's)", i, tk.Number, i+1)
		}
	}
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.Ticket(4)
		wantNotFound(t, "Ticket(missing)", err)
		tk, err := tx.Ticket(1)
		wantNoErr(t, "Ticket", err)
		want := in[0]
		want.Number = 1
		wantSame(t, "Ticket", tk, want)
		all, err := tx.Tickets(0)
		wantNoErr(t, "Tickets", err)
		if n := ticketNumbers(all); !equalU64(n, []uint64{3, 2, 1}) {
			t.Errorf("Tickets(0) = %v, want newest first", n)
		}
		two, err := tx.Tickets(2)
		wantNoErr(t, "Tickets", err)
		if n := ticketNumbers(two); !equalU64(n, []uint64{3, 2}) {
			t.Errorf("Tickets(2) = %v", n)
		}
		return nil
	})
	update(t, s, func(tx bridge.Tx) error {
		tk, err := tx.Ticket(2)
		if err != nil {
			return err
		}
		tk.Links = map[string]string{"odoo": "https://odoo.example.org/ticket/7"}
		if err := tx.PutTicket(tk); err != nil {
			return err
		}
		wantNotFound(t, "PutTicket(missing)", tx.PutTicket(bridge.Ticket{Number: 12, Title: "x"}))
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		tk, err := tx.Ticket(2)
		wantNoErr(t, "Ticket", err)
		if tk.Links["odoo"] == "" || tk.Title != "second" {
			t.Errorf("Ticket after PutTicket = %+v", tk)
		}
		_, err = tx.Ticket(12)
		wantNotFound(t, "Ticket put while missing", err)
		return nil
	})
}

func ticketNumbers(ts []bridge.Ticket) []uint64 {
	var out []uint64
	for _, tk := range ts {
		out = append(out, tk.Number)
	}
	return out
}

// search returns every match of query; the total must count them.
func search(t *testing.T, s bridge.Store, query string) []uint64 {
	t.Helper()
	got, total := searchLimit(t, s, query, 0)
	if total != len(got) {
		t.Errorf("SearchTickets(%q, 0): %d numbers but a total of %d", query, len(got), total)
	}
	return got
}

func searchLimit(t *testing.T, s bridge.Store, query string, limit int) ([]uint64, int) {
	t.Helper()
	var (
		got   []uint64
		total int
	)
	view(t, s, func(tx bridge.Tx) error {
		var err error
		got, total, err = tx.SearchTickets(bridge.SearchTerms(query), limit)
		return err
	})
	return got, total
}

func testSearchTickets(t *testing.T, s bridge.Store) {
	createTickets(t, s,
		bridge.Ticket{Title: "Invoice is wrong", Description: "The March invoice has a bad VAT number", CustomerName: "Ada Lovelace", CustomerEmail: "ada@example.org"},
		bridge.Ticket{Title: "Cannot log in", Description: "Password reset mail never arrives", CustomerName: "Alan Turing", CustomerEmail: "alan@example.com"},
		bridge.Ticket{Title: "VAT invoice copy", Description: "Needs a copy of the invoice", CustomerName: "Grace Hopper"},
		bridge.Ticket{Title: "Refund", Description: "Wants a refund for March", CustomerEmail: "ada@example.org"},
	)
	for _, c := range []struct {
		query string
		want  []uint64
	}{
		{"invoice", []uint64{3, 1}},
		{"INVOICE vat", []uint64{3, 1}},
		{"invoice march", []uint64{1}},
		{"march", []uint64{4, 1}},
		{"ada@example.org", []uint64{4, 1}},
		{"lovelace", []uint64{1}},
		{"turing password", []uint64{2}},
		{"grace invoice copy", []uint64{3}},
		{"invoice refund", nil},
		{"nothing", nil},
		{"invoic", nil}, // whole words only
		{"", nil},
	} {
		if got := search(t, s, c.query); !equalU64(got, c.want) {
			t.Errorf("SearchTickets(%q) = %v, want %v", c.query, got, c.want)
		}
	}
	view(t, s, func(tx bridge.Tx) error {
		got, total, err := tx.SearchTickets(nil, 0)
		wantNoErr(t, "SearchTickets(nil)", err)
		if len(got) != 0 || total != 0 {
			t.Errorf("SearchTickets(nil) = %v (%d), want none", got, total)
		}
		return nil
	})
	// Many tickets sharing a word: all of them, newest first.
	var many []bridge.Ticket
	for i := range 300 {
		many = append(many, bridge.Ticket{Title: fmt.Sprintf("bulk item %d", i), Description: map[bool]string{true: "even", false: "odd"}[i%2 == 0]})
	}
	createTickets(t, s, many...)
	got := search(t, s, "bulk")
	if len(got) != 300 || got[0] != 304 || got[299] != 5 {
		t.Errorf("SearchTickets(bulk) returned %d numbers from %v, want 304 down to 5", len(got), got[:min(3, len(got))])
	}
	for i := 1; i < len(got); i++ {
		if got[i] >= got[i-1] {
			t.Fatalf("SearchTickets(bulk) not newest first at %d: %v", i, got[i-1:i+1])
		}
	}
	if got := search(t, s, "bulk even 42"); !equalU64(got, []uint64{5 + 42}) {
		t.Errorf("SearchTickets(bulk even 42) = %v, want [47]", got)
	}
	if got := search(t, s, "odd 42"); len(got) != 0 {
		t.Errorf("SearchTickets(odd 42) = %v, want none", got)
	}
	// A limit keeps the newest and still counts them all.
	for _, c := range []struct {
		query string
		limit int
		want  []uint64
		total int
	}{
		{"bulk", 3, []uint64{304, 303, 302}, 300},
		{"bulk even", 2, []uint64{303, 301}, 150},
		{"invoice", 1, []uint64{3}, 2},
		{"invoice refund", 5, nil, 0},
	} {
		got, total := searchLimit(t, s, c.query, c.limit)
		if !equalU64(got, c.want) || total != c.total {
			t.Errorf("SearchTickets(%q, %d) = %v, %d; want %v, %d", c.query, c.limit, got, total, c.want, c.total)
		}
	}
}

func testSearchTicketsReindex(t *testing.T, s bridge.Store) {
	createTickets(t, s, bridge.Ticket{Title: "Printer jam", Description: "paper stuck", CustomerName: "Ada"})
	update(t, s, func(tx bridge.Tx) error {
		tk, err := tx.Ticket(1)
		if err != nil {
			return err
		}
		tk.Title = "Scanner jam"
		tk.CustomerEmail = "ada@example.org"
		return tx.PutTicket(tk)
	})
	for _, c := range []struct {
		query string
		want  []uint64
	}{
		{"printer", nil},
		{"scanner", []uint64{1}},
		{"jam", []uint64{1}},
		{"paper", []uint64{1}},
		{"ada@example.org", []uint64{1}},
	} {
		if got := search(t, s, c.query); !equalU64(got, c.want) {
			t.Errorf("after PutTicket, SearchTickets(%q) = %v, want %v", c.query, got, c.want)
		}
	}
}

func testLeads(t *testing.T, s bridge.Store) {
	var got []bridge.Lead
	update(t, s, func(tx bridge.Tx) error {
		got = got[:0]
		for i := range 3 {
			l, err := tx.CreateLead(bridge.Lead{Number: 50, Title: fmt.Sprint("lead ", i), ContactEmail: "x@example.org", CreatedAt: at(i)})
			if err != nil {
				return err
			}
			got = append(got, l)
		}
		return nil
	})
	for i, l := range got {
		if l.Number != uint64(i+1) {
			t.Errorf("lead %d numbered %d, want %d", i, l.Number, i+1)
		}
	}
	update(t, s, func(tx bridge.Tx) error {
		l := got[0]
		l.Links = map[string]string{"crm": "https://crm.example.org/1"}
		if err := tx.PutLead(l); err != nil {
			return err
		}
		wantNotFound(t, "PutLead(missing)", tx.PutLead(bridge.Lead{Number: 9}))
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.Lead(9)
		wantNotFound(t, "Lead(missing)", err)
		l, err := tx.Lead(1)
		wantNoErr(t, "Lead", err)
		want := got[0]
		want.Links = map[string]string{"crm": "https://crm.example.org/1"}
		wantSame(t, "Lead", l, want)
		all, err := tx.Leads(0)
		wantNoErr(t, "Leads", err)
		var n []uint64
		for _, l := range all {
			n = append(n, l.Number)
		}
		if !equalU64(n, []uint64{3, 2, 1}) {
			t.Errorf("Leads(0) = %v, want newest first", n)
		}
		two, err := tx.Leads(2)
		wantNoErr(t, "Leads", err)
		if len(two) != 2 || two[0].Number != 3 {
			t.Errorf("Leads(2) = %v", two)
		}
		return nil
	})
}
