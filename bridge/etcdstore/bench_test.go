package etcdstore_test

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	clientv3 "go.etcd.io/etcd/client/v3"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// benchWriters is the number of concurrent writers, as in the bbolt
// store's benchmarks.
const benchWriters = 64

// BenchmarkAccept compares, on a three-member etcd cluster on this
// machine (separate processes, fsync on), what etcd itself accepts from
// 64 writers with what the store does per visitor message:
//
//   - raw-put: one 115-byte Put per operation;
//   - raw-read-txn: one read of two keys, then one transaction comparing
//     their revisions and putting four keys (the shape of a visitor
//     message: 1 read round trip + 1 commit);
//   - visitor-message: Engine.VisitorMessage on the etcd store.
func BenchmarkAccept(b *testing.B) {
	c := testpeer.Etcd(b, 3)
	cli, err := clientv3.New(clientv3.Config{Endpoints: c.Endpoints(), DialTimeout: 5 * time.Second})
	if err != nil {
		b.Fatal(err)
	}
	defer cli.Close()
	ctx := context.Background()
	value := strings.Repeat("x", 115)

	b.Run("raw-put", func(b *testing.B) {
		runWriters(b, func(w int, n uint64) error {
			_, err := cli.Put(ctx, fmt.Sprintf("/bench/put/%d/%d", w, n), value)
			return err
		})
	})
	b.Run("raw-read-txn", func(b *testing.B) {
		runWriters(b, func(w int, n uint64) error {
			k1, k2 := fmt.Sprintf("/bench/txn/%d/conv", w), fmt.Sprintf("/bench/txn/%d/visitor", w)
			resp, err := cli.Txn(ctx).Then(clientv3.OpGet(k1), clientv3.OpGet(k2)).Commit()
			if err != nil {
				return err
			}
			var cmps []clientv3.Cmp
			for i, k := range []string{k1, k2} {
				var rev int64
				if kvs := resp.Responses[i].GetResponseRange().Kvs; len(kvs) == 1 {
					rev = kvs[0].ModRevision
				}
				cmps = append(cmps, clientv3.Compare(clientv3.ModRevision(k), "=", rev))
			}
			_, err = cli.Txn(ctx).If(cmps...).Then(
				clientv3.OpPut(k1, value), clientv3.OpPut(fmt.Sprintf("/bench/txn/%d/msg/%d", w, n), value),
				clientv3.OpPut(fmt.Sprintf("/bench/txn/out/%d/%d", w, n), value), clientv3.OpPut(fmt.Sprintf("/bench/txn/%d/cid/%d", w, n), value),
			).Commit()
			return err
		})
	})
	b.Run("visitor-message", func(b *testing.B) {
		s, err := etcdstore.Open(ctx, etcdstore.Config{Endpoints: c.Endpoints(), Prefix: fmt.Sprintf("/bench-%d/", time.Now().UnixNano())}, nil)
		if err != nil {
			b.Fatal(err)
		}
		defer s.Close()
		e, err := bridge.New(bridge.Config{}, s, nil)
		if err != nil {
			b.Fatal(err)
		}
		visitors := make([]string, benchWriters)
		for i := range visitors {
			_, v, err := e.StartSession(ctx, bridge.SessionInput{Name: fmt.Sprint("Visitor ", i)})
			if err != nil {
				b.Fatal(err)
			}
			visitors[i] = v.ID
		}
		runWriters(b, func(w int, n uint64) error {
			_, err := e.VisitorMessage(ctx, visitors[w], fmt.Sprint("m", n), "Hello, I have a question about my order")
			return err
		})
	})
}

// runWriters runs op b.N times in total from benchWriters goroutines and
// reports msgs/s.
func runWriters(b *testing.B, op func(writer int, n uint64) error) {
	var next atomic.Uint64
	var wg sync.WaitGroup
	var failed atomic.Value
	b.ResetTimer()
	start := time.Now()
	for w := range benchWriters {
		wg.Go(func() {
			for {
				n := next.Add(1)
				if n > uint64(b.N) {
					return
				}
				if err := op(w, n); err != nil {
					failed.Store(err)
					return
				}
			}
		})
	}
	wg.Wait()
	b.StopTimer()
	if err, _ := failed.Load().(error); err != nil {
		b.Fatal(err)
	}
	b.ReportMetric(float64(b.N)/time.Since(start).Seconds(), "msgs/s")
}
