package boltstore_test

import (
	"context"
	"encoding/binary"
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	bolt "go.etcd.io/bbolt"
)

// benchWriters is the number of concurrent writers of both benchmarks, so
// that BenchmarkDurableAccept compares with BenchmarkRawBatch on equal terms.
const benchWriters = 64

// bboltDefaultDelay is bbolt's own MaxBatchDelay (checked by rawBatch).
const bboltDefaultDelay = 10 * time.Millisecond

// benchDir is where the benchmark files go: $CHATBRIDGE_BENCH_DIR (to pick a
// disk) or a temporary directory. Both benchmarks fsync every commit.
func benchDir(b *testing.B) string {
	if d := os.Getenv("CHATBRIDGE_BENCH_DIR"); d != "" {
		dir, err := os.MkdirTemp(d, "bench")
		if err != nil {
			b.Fatal(err)
		}
		b.Cleanup(func() { os.RemoveAll(dir) })
		return dir
	}
	return b.TempDir()
}

// runWriters runs op b.N times in total from benchWriters goroutines and
// reports the rate. op gets the writer number and a unique operation number.
func runWriters(b *testing.B, op func(writer int, n uint64) error) {
	b.Helper()
	var next atomic.Uint64
	var wg sync.WaitGroup
	errs := make(chan error, benchWriters)
	b.ResetTimer()
	cpu0 := cpuTime()
	start := time.Now()
	for w := range benchWriters {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				n := next.Add(1)
				if n > uint64(b.N) {
					return
				}
				if err := op(w, n); err != nil {
					errs <- err
					return
				}
			}
		}()
	}
	wg.Wait()
	elapsed := time.Since(start)
	cpu := cpuTime() - cpu0
	b.StopTimer()
	close(errs)
	for err := range errs {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/elapsed.Seconds(), "msgs/s")
	b.ReportMetric(float64(cpu.Microseconds())/float64(b.N), "cpu-µs/msg")
}

// cpuTime is the CPU time (user and system) the process has used: per
// message it does not depend on what else the machine runs, as the rate
// does.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

// BenchmarkRawBatch is the baseline: each operation is one bbolt Batch with
// one small Put, fsynced, from benchWriters goroutines, with bbolt's default
// batch delay (10 ms: raw bbolt as shipped) and with 1 ms (its fastest
// useful setting on this disk).
func BenchmarkRawBatch(b *testing.B) {
	for _, c := range []struct {
		name  string
		delay time.Duration
	}{
		{"bbolt-default-delay", bboltDefaultDelay},
		{"1ms-delay", time.Millisecond},
	} {
		b.Run(c.name, func(b *testing.B) { rawBatch(b, c.delay) })
	}
}

// rawBatch runs the baseline with a batch delay.
func rawBatch(b *testing.B, delay time.Duration) {
	db, err := bolt.Open(filepath.Join(benchDir(b), "raw.db"), 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if db.MaxBatchDelay != bboltDefaultDelay {
		b.Fatalf("bbolt's default MaxBatchDelay is %v: update bboltDefaultDelay", db.MaxBatchDelay)
	}
	db.MaxBatchDelay = delay
	name := []byte("raw")
	if err := db.Update(func(tx *bolt.Tx) error { _, err := tx.CreateBucket(name); return err }); err != nil {
		b.Fatal(err)
	}
	value := []byte(`{"conversation_id":"c_abcdefghijklmnop","seq":1,"from":"visitor","text":"Hello, I have a question about my order"}`)
	runWriters(b, func(_ int, n uint64) error {
		return db.Batch(func(tx *bolt.Tx) error {
			var k [8]byte
			binary.BigEndian.PutUint64(k[:], n)
			return tx.Bucket(name).Put(k[:], value)
		})
	})
}

// fakeDeliverer wants every kind; the engine's Run is not started, so its
// outbox only accumulates (one entry per message, one per conversation).
type fakeDeliverer struct{}

func (fakeDeliverer) Name() string                 { return "fake" }
func (fakeDeliverer) Wants(bridge.OutboxKind) bool { return true }
func (fakeDeliverer) Deliver(context.Context, bridge.Delivery) (bridge.Receipt, error) {
	return bridge.Receipt{}, nil
}

// BenchmarkDurableAccept measures Engine.VisitorMessage on a boltstore:
// benchWriters visitors write at the same time, each message is committed
// (fsynced, by the store's group commit) with its conversation update,
// idempotency key and outbox entry. The engine's Run is not started: the
// outbox only accumulates.
//
// The sub-benchmarks compare bbolt's options: the shipped ones (hash-map
// freelist, written on every commit), the array freelist, and no freelist
// in commits.
func BenchmarkDurableAccept(b *testing.B) {
	for _, v := range []struct {
		name string
		opts boltstore.Options
	}{
		{"shipped", boltstore.Options{}},
		{"freelist-array", boltstore.Options{FreelistArray: true}},
		{"no-freelist-sync", boltstore.Options{NoFreelistSync: true}},
	} {
		b.Run(v.name, func(b *testing.B) { benchDurableAccept(b, v.opts) })
	}
}

func benchDurableAccept(b *testing.B, opts boltstore.Options) {
	ctx := context.Background()
	s, err := boltstore.Open(filepath.Join(benchDir(b), "chatbridge.db"), opts)
	if err != nil {
		b.Fatal(err)
	}
	defer s.Close()
	e, err := bridge.New(bridge.Config{}, s, nil)
	if err != nil {
		b.Fatal(err)
	}
	if err := e.Register(fakeDeliverer{}); err != nil {
		b.Fatal(err)
	}
	visitors := make([]string, benchWriters)
	for i := range visitors {
		_, v, err := e.StartSession(ctx, bridge.SessionInput{Name: fmt.Sprint("Visitor ", i), Locale: "en"})
		if err != nil {
			b.Fatal(err)
		}
		visitors[i] = v.ID
	}
	before := s.WriteStats()
	runWriters(b, func(w int, n uint64) error {
		_, err := e.VisitorMessage(ctx, visitors[w], fmt.Sprint("m", n), "Hello, I have a question about my order")
		return err
	})
	reportWrites(b, before, s.WriteStats())
}

// reportWrites reports what the messages cost the disk: pages and KiB
// written per message, and messages per group commit.
func reportWrites(b *testing.B, before, after boltstore.WriteStats) {
	n := float64(b.N)
	b.ReportMetric(float64(after.Pages-before.Pages)/n, "pages/msg")
	b.ReportMetric(float64(after.Bytes-before.Bytes)/1024/n, "KiB/msg")
	if c := after.Commits - before.Commits; c > 0 {
		b.ReportMetric(float64(after.Updates-before.Updates)/float64(c), "msgs/commit")
	}
}
