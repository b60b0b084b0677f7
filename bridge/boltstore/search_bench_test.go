package boltstore_test

import (
	"context"
	"fmt"
	"math/rand/v2"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
)

// BenchmarkSearchTickets searches 100,000 tickets whose words follow a Zipf
// distribution over a 5,000-word vocabulary (a few words are in most
// tickets, most words in few), with one- to three-word queries drawn from
// the same distribution, and reports the p50/p95/p99 latency of a View
// running SearchTickets and loading the first 20 tickets found.
func BenchmarkSearchTickets(b *testing.B) {
	const tickets, vocabulary = 100_000, 5_000
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(b.TempDir(), "search.db"), boltstore.Options{NoSync: true})
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
	for done := 0; done < tickets; {
		n := min(2000, tickets-done)
		batch := make([]bridge.Ticket, n)
		for i := range batch {
			batch[i] = bridge.Ticket{Title: words(6), Description: words(40), CustomerName: "Customer " + word(),
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
	var lat []time.Duration
	found := 0
	b.ResetTimer()
	for range b.N {
		q := bridge.SearchTerms(words(1 + rng.IntN(3)))
		start := time.Now()
		err := s.View(ctx, func(tx bridge.Tx) error {
			nums, err := tx.SearchTickets(q)
			if err != nil {
				return err
			}
			found += len(nums)
			for _, n := range nums[:min(20, len(nums))] {
				if _, err := tx.Ticket(n); err != nil {
					return err
				}
			}
			return nil
		})
		lat = append(lat, time.Since(start))
		if err != nil {
			b.Fatal(err)
		}
	}
	b.StopTimer()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(pct(0.50), "p50-ms")
	b.ReportMetric(pct(0.95), "p95-ms")
	b.ReportMetric(pct(0.99), "p99-ms")
	b.ReportMetric(float64(found)/float64(b.N), "hits/search")
}
