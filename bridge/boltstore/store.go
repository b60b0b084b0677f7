package boltstore

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"math/bits"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
	berrors "go.etcd.io/bbolt/errors"
)

// SchemaVersion is the version of the layout this package writes.
//
//   - 1: the first layout.
//   - 2: messages carry PublicSeq and conversations LastPublicSeq (the
//     numbers visitors see); migrated from 1 by numbering existing public
//     messages with their Seq, so numbers clients already hold stay valid.
//   - 3: messages, conversations, outbox entries and visitors are written
//     in the compact binary form of codec.go (JSON ones are still read, and
//     re-encoded when next written); the conversation indexes keep
//     UpdatedAt to the second; dead letters; conversations count their
//     visitor-visible revisions (LastRevision), migrated from 2 as one per
//     public message.
//   - 4: the ticket index keeps blocks of 4,096 tickets (a bitmap or an
//     array of offsets) instead of 64; migrated by regrouping the old
//     blocks.
//   - 5: tokens_by_visitor indexes token hashes by visitor, so that
//     deleting a visitor deletes its tokens; migrated by indexing the
//     existing tokens.
const SchemaVersion = 5

// ErrLocked is returned (wrapped) by Open when another process holds the
// store file: usually a running chatbridge server, which the CLI then talks
// to over its admin socket instead.
var ErrLocked = errors.New("store is locked by another process")

// Options tunes Open. The zero value is the production setting.
type Options struct {
	// Timeout is how long Open waits for the file lock (default 1 s).
	Timeout time.Duration
	// NoSync skips fsync on commit. Only for tests and benchmarks: a crash
	// loses acknowledged writes.
	NoSync bool
	// FreelistArray uses bbolt's array freelist instead of the hash map
	// (the default here: allocation does not grow with a fragmented file),
	// and NoFreelistSync leaves the freelist out of commits (opening after
	// a crash then scans the whole file to rebuild it). For the benchmarks
	// that compare them (docs/BENCHMARKS.md); the defaults are kept.
	FreelistArray, NoFreelistSync bool
}

// Store is a bridge.Store on a bbolt file. It is safe for concurrent use.
type Store struct {
	db        *bolt.DB
	path      string
	committer *committer
	closeOnce sync.Once
	closeErr  error
}

var _ bridge.Store = (*Store)(nil)

// Bucket names.
var (
	bMeta         = []byte("meta")
	bVisitors     = []byte("visitors")
	bTokens       = []byte("tokens")
	bTokensByVis  = []byte("tokens_by_visitor")
	bExternalIDs  = []byte("external_ids")
	bPageViews    = []byte("pageviews")
	bConvs        = []byte("conversations")
	bConvByVis    = []byte("conv_by_visitor")
	bConvByStatus = []byte("conv_by_status")
	bClientIDs    = []byte("client_ids")
	bOutbox       = []byte("outbox")
	bSeen         = []byte("seen")
	bSeenExp      = []byte("seen_by_expiry")
	bRefs         = []byte("refs")
	bRefsRev      = []byte("refs_reverse")
	bTickets      = []byte("tickets")
	bTicketIndex  = []byte("ticket_index")
	// bTicketTerms is the ticket index of schemas 1 to 3 (blocks of 64).
	bTicketTerms = []byte("ticket_terms")
	bLeads       = []byte("leads")
	bCanned      = []byte("canned")
	bState       = []byte("state")
	bDead        = []byte("dead")

	allBuckets = [][]byte{
		bMeta, bVisitors, bTokens, bTokensByVis, bExternalIDs, bPageViews, bConvs, bConvByVis,
		bConvByStatus, bClientIDs, bOutbox, bSeen, bSeenExp, bRefs,
		bRefsRev, bTickets, bTicketIndex, bLeads, bCanned, bState, bDead,
	}

	keySchemaVersion = []byte("schema_version")
)

// SchemaError reports a store written by a newer chatbridge. It wraps
// bridge.ErrSchemaTooNew.
type SchemaError struct {
	// Have is the version found in the file, Want the newest one supported.
	Have, Want uint64
}

// Error says what happened and what to do.
func (e *SchemaError) Error() string {
	return fmt.Sprintf("store schema version %d is newer than this chatbridge supports (%d); upgrade chatbridge", e.Have, e.Want)
}

// Unwrap returns bridge.ErrSchemaTooNew.
func (e *SchemaError) Unwrap() error { return bridge.ErrSchemaTooNew }

// Open opens (creating if needed) the store at path. The parent directory is
// created with mode 0700 and the file with mode 0600. When another process
// holds the file, Open gives up after opts.Timeout with an error wrapping
// ErrLocked. A store written by a newer chatbridge is refused with an error
// wrapping bridge.ErrSchemaTooNew; an older one is migrated.
func Open(path string, opts Options) (*Store, error) {
	if opts.Timeout <= 0 {
		opts.Timeout = time.Second
	}
	if err := os.MkdirAll(filepath.Dir(path), 0o700); err != nil {
		return nil, fmt.Errorf("open store: %w", err)
	}
	freelist := bolt.FreelistMapType
	if opts.FreelistArray {
		freelist = bolt.FreelistArrayType
	}
	db, err := bolt.Open(path, 0o600, &bolt.Options{
		Timeout:        opts.Timeout,
		NoSync:         opts.NoSync,
		FreelistType:   freelist,
		NoFreelistSync: opts.NoFreelistSync,
	})
	if errors.Is(err, berrors.ErrTimeout) {
		return nil, fmt.Errorf("open store %s: %w (a running chatbridge server?)", path, ErrLocked)
	}
	if err != nil {
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	if err := db.Update(initSchema); err != nil {
		_ = db.Close()
		return nil, fmt.Errorf("open store %s: %w", path, err)
	}
	return &Store{db: db, path: path, committer: newCommitter(db, maxBatch)}, nil
}

// initSchema checks the schema version, migrates older stores and creates
// missing buckets.
func initSchema(btx *bolt.Tx) error {
	meta := btx.Bucket(bMeta)
	var have uint64
	if meta != nil {
		if v := meta.Get(keySchemaVersion); v != nil {
			if len(v) != 8 {
				return fmt.Errorf("read schema version: malformed value %x", v)
			}
			have = binary.BigEndian.Uint64(v)
		}
	}
	if have > SchemaVersion {
		return &SchemaError{Have: have, Want: SchemaVersion}
	}
	for _, name := range allBuckets {
		if _, err := btx.CreateBucketIfNotExists(name); err != nil {
			return fmt.Errorf("create bucket %s: %w", name, err)
		}
	}
	// Migrations from have to SchemaVersion (0 means a new file).
	if have == 1 {
		if err := migratePublicSeq(&tx{tx: btx}); err != nil {
			return fmt.Errorf("migrate schema 1 to 2: %w", err)
		}
	}
	if have >= 1 && have <= 2 {
		if err := migrateRevisions(&tx{tx: btx}); err != nil {
			return fmt.Errorf("migrate schema 2 to 3: %w", err)
		}
	}
	if have >= 1 && have <= 3 {
		if err := migrateTicketIndex(btx); err != nil {
			return fmt.Errorf("migrate schema 3 to 4: %w", err)
		}
	}
	if have >= 1 && have <= 4 {
		if err := migrateTokenIndex(btx); err != nil {
			return fmt.Errorf("migrate schema 4 to 5: %w", err)
		}
	}
	if have != SchemaVersion {
		if err := btx.Bucket(bMeta).Put(keySchemaVersion, u64(SchemaVersion)); err != nil {
			return fmt.Errorf("write schema version: %w", err)
		}
	}
	return nil
}

// WriteStats are what the store's Updates have cost so far, for benchmarks
// and metrics.
type WriteStats struct {
	Commits int64 // group commits (each one fsync of data and one of meta)
	Updates int64 // Updates committed in them
	Pages   int64 // pages written (4 KiB each on most systems)
	Bytes   int64 // bytes of those pages
}

// WriteStats returns the costs of the Updates committed since Open.
func (s *Store) WriteStats() WriteStats {
	st := s.db.Stats()
	return WriteStats{
		Commits: s.committer.commits.Load(), Updates: s.committer.updates.Load(),
		Pages: st.TxStats.GetPageCount(), Bytes: st.TxStats.GetPageAlloc(),
	}
}

// Path is the file the store was opened on.
func (s *Store) Path() string { return s.path }

// maxBatch bounds the Updates of one commit.
const maxBatch = 1024

// Update runs fn in a read-write transaction, in the next group commit with
// the Updates that arrived meanwhile (see committer): fn may run more than
// once, and when it fails it is re-run alone so that its error does not
// abort the others. An error returned by fn is returned unchanged; nothing
// fn wrote is kept. A cancelled ctx stops Update only before fn is queued:
// once queued, Update waits for the commit.
func (s *Store) Update(ctx context.Context, fn func(bridge.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("update: %w", err)
	}
	var fnErr error
	err := s.committer.update(func(btx *bolt.Tx) error {
		fnErr = fn(&tx{tx: btx})
		return fnErr
	})
	if err != nil && !errors.Is(err, fnErr) {
		return fmt.Errorf("commit: %w", err)
	}
	return err
}

// View runs fn in a read-only transaction; write methods fail in it.
func (s *Store) View(ctx context.Context, fn func(bridge.Tx) error) error {
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("view: %w", err)
	}
	return s.db.View(func(btx *bolt.Tx) error { return fn(&tx{tx: btx}) })
}

// Close commits the queued Updates, waits for running transactions and
// closes the file. Closing twice is not an error.
func (s *Store) Close() error {
	s.closeOnce.Do(func() {
		s.committer.close()
		if err := s.db.Close(); err != nil {
			s.closeErr = fmt.Errorf("close store: %w", err)
		}
	})
	return s.closeErr
}

// migratePublicSeq gives the public messages of schema-1 stores a public
// sequence number equal to their Seq (gaps and all: clients hold those
// numbers), and each conversation the matching LastPublicSeq. New public
// messages continue from there, so numbers only grow.
func migratePublicSeq(t *tx) error {
	convs, err := t.Conversations(bridge.ConversationFilter{})
	if err != nil {
		return err
	}
	for _, c := range convs {
		msgs, err := t.Messages(c.ID, 0, 0)
		if err != nil {
			return err
		}
		var last uint64
		for _, m := range msgs {
			if m.Visibility != bridge.VisibilityPublic {
				continue
			}
			if m.PublicSeq == 0 {
				m.PublicSeq = m.Seq
				if err := t.PutMessage(m); err != nil {
					return err
				}
			}
			last = m.PublicSeq
		}
		if c.LastPublicSeq < last {
			c.LastPublicSeq = last
			if err := t.PutConversation(c); err != nil {
				return err
			}
		}
	}
	return nil
}

// migrateRevisions gives conversations written before schema 3 a
// LastRevision: one per public message (no message was edited then), so
// that clients' revision numbers start in step with the new messages.
// Records are re-encoded in the binary form on the way.
func migrateRevisions(t *tx) error {
	convs, err := t.Conversations(bridge.ConversationFilter{})
	if err != nil {
		return err
	}
	for _, c := range convs {
		if c.LastRevision >= c.LastPublicSeq {
			continue
		}
		c.LastRevision = c.LastPublicSeq
		if err := t.PutConversation(c); err != nil {
			return err
		}
	}
	return nil
}

// migrateTicketIndex regroups the ticket index of schemas 1 to 3 (term\0
// ^(n/64) → a 64-bit set) into blocks of 4,096 and drops it. The old keys
// come term by term, so one term's blocks are held at a time.
func migrateTicketIndex(btx *bolt.Tx) error {
	old := btx.Bucket(bTicketTerms)
	if old == nil {
		return nil
	}
	idx := btx.Bucket(bTicketIndex)
	var (
		term   []byte
		blocks = map[uint64]*bitmap{}
	)
	flush := func() error {
		for blk, b := range blocks {
			if err := idx.Put(key([]string{string(term)}, u64(^blk)), b.container()); err != nil {
				return err
			}
		}
		clear(blocks)
		return nil
	}
	c := old.Cursor()
	for k, v := c.First(); k != nil; k, v = c.Next() {
		if len(k) < 9 || k[len(k)-9] != sep || len(v) != 8 {
			continue // not an index entry
		}
		if t := k[:len(k)-9]; !bytes.Equal(t, term) {
			if err := flush(); err != nil {
				return err
			}
			term = append(term[:0], t...)
		}
		base := ^binary.BigEndian.Uint64(k[len(k)-8:]) << 6
		for set := binary.BigEndian.Uint64(v); set != 0; set &= set - 1 {
			n := base | uint64(bits.TrailingZeros64(set))
			b := blocks[n>>blockShift]
			if b == nil {
				b = new(bitmap)
				blocks[n>>blockShift] = b
			}
			b[n%blockSize/64] |= 1 << (n % 64)
		}
	}
	if err := flush(); err != nil {
		return err
	}
	return btx.DeleteBucket(bTicketTerms)
}
