package bridge

import (
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"strings"
	"sync"
)

// Attachment is a file carried by a message. The bytes are in the blob
// store under Key; the metadata travels with the message.
type Attachment struct {
	// Key names the bytes in the blob store (BlobKey: content-addressed).
	Key string `json:"key"`
	// Name is the file name, cleaned of paths and control characters.
	Name string `json:"name"`
	// Type is the MIME type, decided from the bytes, not from the name.
	Type string `json:"type"`
	// Size is the length in bytes.
	Size int64 `json:"size"`
	// Width and Height are an image's dimensions (0 for other files).
	Width  int `json:"width,omitempty"`
	Height int `json:"height,omitempty"`
	// SHA256 is the hex digest of the bytes.
	SHA256 string `json:"sha256"`
}

// IsImage reports whether the file is an image the widget and the inbox
// show inline (never SVG: it can carry script).
func (a Attachment) IsImage() bool {
	switch a.Type {
	case "image/png", "image/jpeg", "image/gif", "image/webp":
		return true
	}
	return false
}

// BlobKey is the key of the bytes whose SHA-256 is sha256hex (lowercase
// hex): the same bytes are stored once, whoever sends them. The store
// counts the messages that refer to each key (blobRefs), so that deleting
// conversations can delete the bytes no other message needs.
func BlobKey(sha256hex string) string {
	return "sha256/" + sha256hex[:2] + "/" + sha256hex
}

// blobRefs is the adapter-state namespace of the reference counts.
const blobRefs = "blobrefs"

// refBlob counts one more message referring to a.Key.
func (t *txn) refBlob(a *Attachment) error {
	if a == nil {
		return nil
	}
	var n uint64
	b, err := t.tx.GetState(blobRefs, a.Key)
	switch {
	case err == nil && len(b) == 8:
		n = binary.BigEndian.Uint64(b)
	case err != nil && !errors.Is(err, ErrNotFound):
		return err
	}
	return t.tx.PutState(blobRefs, a.Key, binary.BigEndian.AppendUint64(nil, n+1))
}

// CheckAttachment validates what a message's file claims before it is
// stored with the message.
func CheckAttachment(a Attachment) error {
	switch {
	case !ValidBlobKey(a.Key):
		return fmt.Errorf("%w: %w: %q", ErrInvalid, ErrBlobKey, a.Key)
	case a.Size <= 0:
		return fmt.Errorf("%w: the file is empty", ErrInvalid)
	case a.Name == "" || a.Type == "":
		return fmt.Errorf("%w: the file has no name or type", ErrInvalid)
	}
	return nil
}

// BlobStore keeps the bytes of files. Keys are "/"-separated paths of
// [A-Za-z0-9_.-] segments (BlobKey). Implementations: a directory under
// data_dir (bridge/blobdir) and S3-compatible object storage
// (bridge/blobs3); both pass the contract suite in bridge/blobtest.
type BlobStore interface {
	// Put stores size bytes read from r under key, all or nothing: an
	// error (a short read included) leaves no object behind. Putting an
	// existing key replaces it.
	Put(ctx context.Context, key string, r io.Reader, size int64) error
	// Get opens the object under key; the caller closes it. A missing key
	// is an error wrapping ErrNotFound.
	Get(ctx context.Context, key string) (io.ReadCloser, int64, error)
	// Delete removes the objects under key and, when key ends with "/",
	// every object whose key starts with it (a conversation's files).
	// Missing objects are not an error.
	Delete(ctx context.Context, key string) error
}

// ErrBlobKey: a key that is not a valid blob path.
var ErrBlobKey = errors.New("invalid blob key")

// ValidBlobKey reports whether key is "/"-separated segments of
// [A-Za-z0-9_.-], none empty, "." or "..", optionally ending in "/".
func ValidBlobKey(key string) bool {
	if key == "" || len(key) > 512 {
		return false
	}
	segs := strings.Split(strings.TrimSuffix(key, "/"), "/")
	for _, s := range segs {
		if s == "" || s == "." || s == ".." {
			return false
		}
		for i := 0; i < len(s); i++ {
			c := s[i]
			if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '_' || c == '-' || c == '.') {
				return false
			}
		}
	}
	return true
}

// blobHolds counts the uploads of this process that stored a blob and have
// not yet stored (or given up) the message that refers to it.
type blobHolds struct {
	mu sync.Mutex
	n  map[string]int
}

// HoldBlob says that bytes stored under key are about to be referred to by
// a message: until release is called, DropUnusedBlob keeps them. Call it
// before storing the bytes (files.Options.Hold), release once the message is
// stored or refused. Two visitors uploading the same bytes at once then
// cannot lose them when one of the uploads fails. Holds are per process.
func (e *Engine) HoldBlob(key string) (release func()) {
	e.blobs.mu.Lock()
	if e.blobs.n == nil {
		e.blobs.n = map[string]int{}
	}
	e.blobs.n[key]++
	e.blobs.mu.Unlock()
	var once sync.Once
	return func() {
		once.Do(func() {
			e.blobs.mu.Lock()
			if e.blobs.n[key]--; e.blobs.n[key] <= 0 {
				delete(e.blobs.n, key)
			}
			e.blobs.mu.Unlock()
		})
	}
}

// DropUnusedBlob deletes key from blobs unless a stored message refers to
// it or an upload holds it (HoldBlob): the clean-up after an upload whose
// message was not stored. It reports whether the bytes were deleted.
func (e *Engine) DropUnusedBlob(ctx context.Context, blobs BlobStore, key string) (bool, error) {
	e.blobs.mu.Lock()
	defer e.blobs.mu.Unlock()
	if e.blobs.n[key] > 0 {
		return false, nil
	}
	var used bool
	err := e.store.View(ctx, func(tx Tx) error {
		_, err := tx.GetState(blobRefs, key)
		switch {
		case err == nil:
			used = true
		case !errors.Is(err, ErrNotFound):
			return err
		}
		return nil
	})
	if err != nil || used {
		return false, err
	}
	if err := blobs.Delete(ctx, key); err != nil {
		return false, err
	}
	return true, nil
}
