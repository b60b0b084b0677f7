package visitor

import (
	"context"
	"encoding/json"
	"fmt"
	"net/http/httptest"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/coder/websocket"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// BenchmarkReplyToFrame measures what a visitor waits for an operator's
// reply: from the call of Engine.Reply to the WebSocket frame read by the
// visitor's client, over real loopback WebSockets, with durable commits
// (fsync), at 500 replies/s open loop across 1,000 connected visitors.
//
//	go test -run '^$' -bench ReplyToFrame -benchtime 2500x ./visitor/
func BenchmarkReplyToFrame(b *testing.B) {
	const (
		rate     = 500
		visitors = 1000
	)
	st := fixture.StoreAt(b, filepath.Join(b.TempDir(), "lat.db"), boltstore.Options{})
	eng := fixture.Engine(b, fixture.Options{Store: st, NoRun: true})
	srv, err := New(Config{MaxConnsPerIP: visitors * 2}, eng, nil)
	if err != nil {
		b.Fatal(err)
	}
	ts := httptest.NewServer(srv.Handler())
	defer ts.Close()
	defer srv.Close()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	type frame struct {
		Type string `json:"type"`
		Seq  uint64 `json:"seq"`
		Text string `json:"text"`
	}
	var (
		mu       sync.Mutex
		sentAt   = map[string]time.Time{} // reply text → when Reply was called
		lat      []time.Duration
		received = make(chan struct{}, b.N+visitors)
	)
	convs := make([]string, visitors)
	var readers sync.WaitGroup
	for i := range visitors {
		token, v, err := eng.StartSession(ctx, bridge.SessionInput{Name: fmt.Sprint("v", i)})
		if err != nil {
			b.Fatal(err)
		}
		m, err := eng.VisitorMessage(ctx, v.ID, "hello", "hello")
		if err != nil {
			b.Fatal(err)
		}
		convs[i] = m.ConversationID
		c, _, err := websocket.Dial(ctx, strings.Replace(ts.URL, "http", "ws", 1)+"/api/v1/stream?after=1", nil)
		if err != nil {
			b.Fatal(err)
		}
		hello, _ := json.Marshal(map[string]string{"type": "hello", "token": token})
		if err := c.Write(ctx, websocket.MessageText, hello); err != nil {
			b.Fatal(err)
		}
		readers.Add(1)
		go func() {
			defer readers.Done()
			defer c.CloseNow()
			for {
				_, data, err := c.Read(ctx)
				if err != nil {
					return
				}
				now := time.Now()
				var f frame
				if json.Unmarshal(data, &f) != nil || f.Type != "message" {
					continue
				}
				mu.Lock()
				if t0, ok := sentAt[f.Text]; ok {
					lat = append(lat, now.Sub(t0))
					delete(sentAt, f.Text)
				}
				mu.Unlock()
				received <- struct{}{}
			}
		}()
	}
	op := bridge.Operator{Adapter: "bench", ID: "op", Name: "Op"}
	interval := time.Second / rate
	b.ResetTimer()
	start := time.Now()
	var wg sync.WaitGroup
	for i := range b.N {
		if d := time.Until(start.Add(time.Duration(i) * interval)); d > 0 {
			time.Sleep(d) // open-loop pacing of the load, not synchronisation
		}
		text := fmt.Sprint("reply ", i)
		wg.Add(1)
		go func() {
			defer wg.Done()
			mu.Lock()
			sentAt[text] = time.Now()
			mu.Unlock()
			if _, err := eng.Reply(ctx, convs[i%visitors], op, text, ""); err != nil {
				b.Error(err)
			}
		}()
	}
	wg.Wait()
	deadline := time.After(30 * time.Second)
	for n := 0; n < b.N; n++ {
		select {
		case <-received:
		case <-deadline:
			b.Fatalf("only %d of %d replies reached their visitor", n, b.N)
		}
	}
	elapsed := time.Since(start)
	b.StopTimer()
	cancel()
	readers.Wait()
	mu.Lock()
	defer mu.Unlock()
	slices.Sort(lat)
	pct := func(p float64) float64 {
		return float64(lat[min(len(lat)-1, int(float64(len(lat))*p))].Microseconds()) / 1000
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "replies/s")
	b.ReportMetric(pct(.50), "p50-ms")
	b.ReportMetric(pct(.99), "p99-ms")
}
