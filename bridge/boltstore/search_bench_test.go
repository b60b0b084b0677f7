package boltstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
)

// BenchmarkSearchTickets runs the operators' ticket search
// (bridge.FindTickets with the 5 results helpdesk_search shows, as the
// engine runs it in one View) on 100,000 tickets, and with
// CHATBRIDGE_SEARCH_1M=1 on 1,000,000. Ticket words follow a Zipf
// distribution over a 5,000-word vocabulary (a few words are in most
// tickets, most in few), and every ticket says "ticket". Each query class
// reports its p50/p95/p99:
//
//   - rare: one word from the distribution's tail;
//
//   - zipf: one to three words drawn from the distribution;
//
//   - common: the most frequent word and "ticket" (in nearly every ticket);
//
//   - every: "ticket", which is in every ticket;
//
//   - email: a customer's address;
//
//   - number: "#N" and a bare number "N".
//
//     go test -run '^$' -bench SearchTickets -benchtime 2000x ./bridge/boltstore/
//     CHATBRIDGE_SEARCH_1M=1 CHATBRIDGE_SEARCH_CACHE=$HOME/.cache/chatbridge go test -run '^$' -bench SearchTickets/1M -benchtime 2000x -timeout 60m ./bridge/boltstore/
func BenchmarkSearchTickets(b *testing.B) {
	b.Run("100k", func(b *testing.B) { searchTickets(b, 100_000) })
	b.Run("1M", func(b *testing.B) {
		if os.Getenv("CHATBRIDGE_SEARCH_1M") == "" {
			b.Skip("set CHATBRIDGE_SEARCH_1M=1 to build and search 1,000,000 tickets")
		}
		searchTickets(b, 1_000_000)
	})
}

func searchTickets(b *testing.B, tickets int) {
	const vocabulary = 5_000
	ctx := context.Background()
	// CHATBRIDGE_SEARCH_CACHE=dir keeps the built store there for the next
	// run (building 1,000,000 tickets takes minutes).
	path, built := filepath.Join(b.TempDir(), "search.db"), false
	if dir := os.Getenv("CHATBRIDGE_SEARCH_CACHE"); dir != "" {
		path = filepath.Join(dir, fmt.Sprintf("search-%d.db", tickets))
		_, err := os.Stat(path + ".done")
		built = err == nil
	}
	s, err := boltstore.Open(path, boltstore.Options{NoSync: true})
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	rng := rand.New(rand.NewPCG(1, 2))
	zipf := rand.NewZipf(rng, 1.1, 2, vocabulary-1)
	word := func() string { return fmt.Sprintf("w%d", zipf.Uint64()) }
	words := func(n int) string {
		ws := make([]string, n)
		for i := range ws {
			ws[i] = word()
		}
		return strings.Join(ws, " ")
	}
	for done := 0; done < tickets && !built; {
		n := min(5000, tickets-done)
		batch := make([]bridge.Ticket, n)
		for i := range batch {
			batch[i] = bridge.Ticket{Title: "ticket " + words(6), Description: words(40), CustomerName: "Customer " + word(),
				CustomerEmail: fmt.Sprintf("user%d@example.org", rng.IntN(20000))}
		}
		err := s.Update(ctx, func(tx bridge.Tx) error {
			for _, t := range batch {
				if _, err := tx.CreateTicket(t); err != nil {
					return err
				}
			}
			return nil
		})
		if err != nil {
			b.Fatal(err)
		}
		done += n
	}
	if !built && os.Getenv("CHATBRIDGE_SEARCH_CACHE") != "" {
		if err := os.WriteFile(path+".done", nil, 0o644); err != nil {
			b.Fatal(err)
		}
	}
	classes := []struct {
		name  string
		query func() string
	}{
		{"rare", func() string { return fmt.Sprintf("w%d", 4000+rng.IntN(999)) }},
		{"zipf", func() string { return words(1 + rng.IntN(3)) }},
		{"common", func() string { return "w0 ticket" }},
		{"every", func() string { return "ticket" }},
		{"email", func() string { return fmt.Sprintf("user%d@example.org", rng.IntN(20000)) }},
		{"number", func() string {
			if rng.IntN(2) == 0 {
				return fmt.Sprintf("#%d", 1+rng.IntN(tickets))
			}
			return fmt.Sprint(1 + rng.IntN(tickets))
		}},
	}
	lat := make([][]time.Duration, len(classes))
	b.ResetTimer()
	for i := range b.N {
		c := i % len(classes)
		q := classes[c].query()
		start := time.Now()
		err := s.View(ctx, func(tx bridge.Tx) error {
			res, err := bridge.FindTickets(tx, q, 5)
			if err == nil && res.Total == 0 && (classes[c].name == "every" || classes[c].name == "common") {
				return fmt.Errorf("%s query %q found nothing", classes[c].name, q)
			}
			return err
		})
		lat[c] = append(lat[c], time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	for c, l := range lat {
		if len(l) == 0 {
			continue
		}
		slices.Sort(l)
		pct := func(p float64) float64 {
			return float64(l[min(len(l)-1, int(float64(len(l))*p))].Microseconds()) / 1000
		}
		name := classes[c].name
		b.ReportMetric(pct(0.50), name+"-p50-ms")
		b.ReportMetric(pct(0.95), name+"-p95-ms")
		b.ReportMetric(pct(0.99), name+"-p99-ms")
	}
}
