package bridge_test

import (
	"context"
	"fmt"
	"path/filepath"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// stampDest records when each visitor message reached the adapter.
type stampDest struct {
	mu      sync.Mutex
	arrived map[string]time.Time // "conv/seq" → arrival
}

func (s *stampDest) Name() string                   { return "stamp" }
func (s *stampDest) Wants(k bridge.OutboxKind) bool { return k == bridge.KindMessage }
func (s *stampDest) Deliver(_ context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	now := time.Now()
	s.mu.Lock()
	s.arrived[fmt.Sprintf("%s/%d", d.Entry.ConversationID, d.Entry.Seq)] = now
	s.mu.Unlock()
	return bridge.Receipt{}, nil
}

func percentile(ds []time.Duration, p float64) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	slices.Sort(ds)
	return ds[min(len(ds)-1, int(float64(len(ds))*p))]
}

// BenchmarkLatencyAt500PerSecond sends b.N visitor messages at 500/s, open
// loop, spread over 1,000 conversations, with durable commits, and one
// operator reply for every visitor message. It reports the p50/p99 latency
// from the visitor's call to the adapter's Deliver (visitor→operator) and
// from the operator's Reply call to the visitor's live event (operator→
// visitor). Run with -benchtime=5000x for 10 s of load.
func BenchmarkLatencyAt500PerSecond(b *testing.B) {
	const (
		rate  = 500
		convs = 1000
	)
	st := fixture.StoreAt(b, filepath.Join(b.TempDir(), "lat.db"), boltstore.Options{})
	dest := &stampDest{arrived: map[string]time.Time{}}
	eng := fixture.Engine(b, fixture.Options{Store: st, Components: []any{dest}, Config: bridge.Config{RetryMin: time.Second, RetryMax: 5 * time.Minute}})
	ctx := context.Background()

	visitors := make([]bridge.Visitor, convs)
	convIDs := make([]string, convs)
	for i := range visitors {
		_, v, err := eng.StartSession(ctx, bridge.SessionInput{Name: fmt.Sprint("v", i)})
		if err != nil {
			b.Fatal(err)
		}
		visitors[i] = v
		m, err := eng.VisitorMessage(ctx, v.ID, "warm", "hello")
		if err != nil {
			b.Fatal(err)
		}
		convIDs[i] = m.ConversationID
	}
	op := bridge.Operator{Adapter: "bench", ID: "op", Name: "Op"}

	var (
		mu       sync.Mutex
		sent     = map[string]time.Time{}
		toOp     []time.Duration
		toVis    []time.Duration
		wg       sync.WaitGroup
		interval = time.Second / rate
	)
	b.ResetTimer()
	start := time.Now()
	for i := range b.N {
		// Open loop: message i starts at start + i*interval, whatever the
		// latency of the ones before.
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d)
		}
		wg.Add(1)
		go func(i int) {
			defer wg.Done()
			c := i % convs
			t0 := time.Now()
			m, err := eng.VisitorMessage(ctx, visitors[c].ID, fmt.Sprint("b", i), "how much is shipping?")
			if err != nil {
				b.Error(err)
				return
			}
			mu.Lock()
			sent[fmt.Sprintf("%s/%d", m.ConversationID, m.Seq)] = t0
			mu.Unlock()
			// Operator reply → the visitor's live event.
			sub := eng.Hub().SubscribeVisitor(visitors[c].ID)
			defer sub.Close()
			t1 := time.Now()
			r, err := eng.Reply(ctx, convIDs[c], op, "about 5 euros", "")
			if err != nil {
				b.Error(err)
				return
			}
			for ev := range sub.C {
				if ev.Kind == bridge.EventMessage && ev.Seq == r.Seq {
					break
				}
			}
			d := time.Since(t1)
			mu.Lock()
			toVis = append(toVis, d)
			mu.Unlock()
		}(i)
	}
	wg.Wait()
	elapsed := time.Since(start)
	// Wait for the adapter to have every visitor message.
	deadline := time.Now().Add(30 * time.Second)
	for {
		dest.mu.Lock()
		n := 0
		for k := range sent {
			if _, ok := dest.arrived[k]; ok {
				n++
			}
		}
		dest.mu.Unlock()
		if n == len(sent) || time.Now().After(deadline) {
			break
		}
		time.Sleep(5 * time.Millisecond)
	}
	b.StopTimer()
	dest.mu.Lock()
	for k, t0 := range sent {
		if t1, ok := dest.arrived[k]; ok {
			toOp = append(toOp, t1.Sub(t0))
		}
	}
	dest.mu.Unlock()
	if len(toOp) != len(sent) {
		b.Fatalf("%d of %d messages reached the adapter", len(toOp), len(sent))
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(percentile(toOp, .50).Microseconds())/1000, "v2o-p50-ms")
	b.ReportMetric(float64(percentile(toOp, .99).Microseconds())/1000, "v2o-p99-ms")
	b.ReportMetric(float64(percentile(toVis, .50).Microseconds())/1000, "o2v-p50-ms")
	b.ReportMetric(float64(percentile(toVis, .99).Microseconds())/1000, "o2v-p99-ms")
}
