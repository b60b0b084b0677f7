package boltstore

import (
	"errors"
	"fmt"
	"sync"
	"sync/atomic"

	bolt "go.etcd.io/bbolt"
)

// committer is the store's group commit: one goroutine runs every Update.
// It starts a commit as soon as the previous one returned from fsync, with
// every Update that arrived meanwhile in one bbolt transaction, and answers
// each caller only after that commit. There is no fixed delay: an idle
// store commits a lone Update at once, a busy one commits whatever
// accumulated during the last fsync.
type committer struct {
	db       *bolt.DB
	reqs     chan *request
	maxBatch int
	done     chan struct{}

	mu     sync.RWMutex // held (read) while sending on reqs; Close takes it to close reqs
	closed bool

	commits, updates atomic.Int64 // committed transactions and the Updates in them
}

// request is one Update waiting for its commit.
type request struct {
	fn  func(*bolt.Tx) error
	err chan error
}

// errBatchFn aborts a batch whose function failed (see commit).
var errBatchFn = errors.New("a function of the batch failed")

// errClosed: Update after Close.
var errClosed = errors.New("store is closed")

func newCommitter(db *bolt.DB, maxBatch int) *committer {
	c := &committer{db: db, reqs: make(chan *request, 4*maxBatch), maxBatch: maxBatch, done: make(chan struct{})}
	go c.run()
	return c
}

// update runs fn in the next commit and returns its result.
func (c *committer) update(fn func(*bolt.Tx) error) error {
	r := &request{fn: fn, err: make(chan error, 1)}
	c.mu.RLock()
	if c.closed {
		c.mu.RUnlock()
		return errClosed
	}
	c.reqs <- r
	c.mu.RUnlock()
	return <-r.err
}

// close stops taking Updates, commits those queued and waits.
func (c *committer) close() {
	c.mu.Lock()
	if !c.closed {
		c.closed = true
		close(c.reqs)
	}
	c.mu.Unlock()
	<-c.done
}

func (c *committer) run() {
	defer close(c.done)
	batch := make([]*request, 0, c.maxBatch)
	for r := range c.reqs {
		batch = append(batch[:0], r)
	gather:
		for len(batch) < c.maxBatch {
			select {
			case r, ok := <-c.reqs:
				if !ok {
					break gather
				}
				batch = append(batch, r)
			default:
				break gather
			}
		}
		c.commit(batch)
	}
}

// commit runs the functions of batch in one transaction. When one fails,
// the transaction is rolled back; the failed function then runs alone, in
// a transaction of its own, and its result is its caller's answer (its
// error may have come from an earlier function's writes), and the others
// are committed again without it. Functions may so run more than once, as
// bridge.Store allows.
func (c *committer) commit(batch []*request) {
	for len(batch) > 0 {
		failed := -1
		err := c.db.Update(func(tx *bolt.Tx) error {
			for i, r := range batch {
				if err := safeCall(r.fn, tx); err != nil {
					failed = i
					return errBatchFn
				}
			}
			return nil
		})
		if failed < 0 {
			if err == nil {
				c.commits.Add(1)
				c.updates.Add(int64(len(batch)))
			}
			for _, r := range batch {
				r.err <- err
			}
			return
		}
		r := batch[failed]
		batch = append(batch[:failed:failed], batch[failed+1:]...)
		r.err <- c.db.Update(func(tx *bolt.Tx) error { return safeCall(r.fn, tx) })
	}
}

// safeCall runs fn, turning a panic into an error: one caller's bug must
// not stop every other writer.
func safeCall(fn func(*bolt.Tx) error, tx *bolt.Tx) (err error) {
	defer func() {
		if p := recover(); p != nil {
			err = fmt.Errorf("update panicked: %v", p)
		}
	}()
	return fn(tx)
}
