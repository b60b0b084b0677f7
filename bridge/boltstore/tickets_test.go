package boltstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
)

// The ticket index agrees with a scan of the tickets, for words in every
// ticket, in many (a block's container turns into a bitmap and back as
// tickets are edited), and in few, across several blocks of 4,096.
func TestSearchMatchesScan(t *testing.T) {
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(t.TempDir(), "c.db"), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(7, 8))
	// Word i is in a ticket with probability freq[i].
	freq := []float64{1, 0.5, 0.08, 0.06, 0.01, 0.002}
	words := func() string {
		var ws []string
		for i, f := range freq {
			if rng.Float64() < f {
				ws = append(ws, fmt.Sprintf("word%d", i))
			}
		}
		return strings.Join(ws, " ")
	}
	const n = 9000 // three blocks
	for done := 0; done < n; done += 1000 {
		err := s.Update(ctx, func(tx bridge.Tx) error {
			for range 1000 {
				if _, err := tx.CreateTicket(bridge.Ticket{Title: words()}); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check := func(stage string) {
		t.Helper()
		err := s.View(ctx, func(tx bridge.Tx) error {
			all, err := tx.Tickets(0) // newest first
			if err != nil {
				return err
			}
			queries := [][]string{{"word0"}, {"word1"}, {"word2"}, {"word5"}, {"word0", "word1"}, {"word1", "word2"},
				{"word2", "word3"}, {"word1", "word2", "word4"}, {"word3", "word5"}, {"nothing"}, {"word1", "nothing"}}
			for _, q := range queries {
				var want []uint64
				for _, tk := range all {
					have := bridge.TicketTerms(tk)
					if !slices.ContainsFunc(q, func(w string) bool { return !slices.Contains(have, w) }) {
						want = append(want, tk.Number)
					}
				}
				got, total, err := tx.SearchTickets(q, 0)
				if err != nil {
					return err
				}
				if total != len(want) || !slices.Equal(got, want) {
					t.Errorf("%s: search %v: %d found (total %d), want %d", stage, q, len(got), total, len(want))
				}
				first, total5, err := tx.SearchTickets(q, 5)
				if err != nil {
					return err
				}
				if total5 != len(want) || !slices.Equal(first, want[:min(5, len(want))]) {
					t.Errorf("%s: search %v limit 5: %v (total %d), want %v (%d)", stage, q, first, total5, want[:min(5, len(want))], len(want))
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
	}
	check("created")
	// Edit a third of the tickets: words come and go, so containers cross
	// the array/bitmap line both ways.
	for round := range 3 {
		err := s.Update(ctx, func(tx bridge.Tx) error {
			for num := uint64(1 + round); num <= n; num += 3 {
				tk, err := tx.Ticket(num)
				if err != nil {
					return err
				}
				tk.Title = words()
				if round == 1 && num < 4096 {
					tk.Title = "word1 word2 " + tk.Title // many in block 0
				}
				if err := tx.PutTicket(tk); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			t.Fatal(err)
		}
		check(fmt.Sprintf("edit round %d", round))
	}
}
