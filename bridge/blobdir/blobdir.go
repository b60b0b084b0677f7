// Package blobdir is a bridge.BlobStore on a directory: each key is a file
// under the root (the key's "/" are directories). Puts write a temporary
// file in the same directory, sync it and rename it into place, so an
// object is whole or absent, even after a crash.
package blobdir

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// Store is a directory of blobs. It is safe for concurrent use.
type Store struct {
	root string
}

var _ bridge.BlobStore = (*Store)(nil)

// Open returns the store rooted at dir, creating it (mode 0700).
func Open(dir string) (*Store, error) {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, fmt.Errorf("open blob directory: %w", err)
	}
	return &Store{root: dir}, nil
}

func (s *Store) path(key string) (string, error) {
	if !bridge.ValidBlobKey(key) {
		return "", fmt.Errorf("%w: %q", bridge.ErrBlobKey, key)
	}
	return filepath.Join(s.root, filepath.FromSlash(strings.TrimSuffix(key, "/"))), nil
}

// Put stores the object atomically (temporary file, fsync, rename).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) (err error) {
	p, err := s.path(key)
	if err != nil || strings.HasSuffix(key, "/") {
		return fmt.Errorf("put blob: %w", errors.Join(err, errIf(strings.HasSuffix(key, "/"), bridge.ErrBlobKey)))
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := os.MkdirAll(filepath.Dir(p), 0o700); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	f, err := os.CreateTemp(filepath.Dir(p), ".put-*")
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	defer func() {
		if err != nil {
			_ = f.Close()
			_ = os.Remove(f.Name())
		}
	}()
	n, err := io.Copy(f, &ctxReader{ctx: ctx, r: io.LimitReader(r, size+1)})
	switch {
	case err != nil:
		return fmt.Errorf("put blob: %w", err)
	case n != size:
		return fmt.Errorf("put blob: read %d bytes, want %d", n, size)
	}
	if err := f.Sync(); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if err := os.Rename(f.Name(), p); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	return syncDir(filepath.Dir(p))
}

func errIf(cond bool, err error) error {
	if cond {
		return err
	}
	return nil
}

// ctxReader stops reading when ctx ends.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}

// syncDir makes a rename in dir durable.
func syncDir(dir string) error {
	d, err := os.Open(dir)
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	defer d.Close()
	if err := d.Sync(); err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	return nil
}

// Get opens the object.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	p, err := s.path(key)
	if err != nil {
		return nil, 0, fmt.Errorf("get blob: %w", err)
	}
	f, err := os.Open(p)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, 0, fmt.Errorf("blob %s: %w", key, bridge.ErrNotFound)
	}
	if err != nil {
		return nil, 0, fmt.Errorf("get blob: %w", err)
	}
	st, err := f.Stat()
	if err != nil || !st.Mode().IsRegular() {
		f.Close()
		return nil, 0, fmt.Errorf("blob %s: %w", key, bridge.ErrNotFound)
	}
	return f, st.Size(), nil
}

// Delete removes the object, or every object under a key ending in "/".
func (s *Store) Delete(ctx context.Context, key string) error {
	p, err := s.path(key)
	if err != nil {
		return fmt.Errorf("delete blob: %w", err)
	}
	if strings.HasSuffix(key, "/") {
		err = os.RemoveAll(p)
	} else {
		err = os.Remove(p)
	}
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("delete blob: %w", err)
	}
	return nil
}
