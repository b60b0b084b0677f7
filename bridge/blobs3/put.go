package blobs3

import (
	"bytes"
	"context"
	"crypto/md5"
	"crypto/sha256"
	"encoding/base64"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/minio/minio-go/v7"
)

// abortTimeout bounds the abort of a failed multipart upload, which runs
// even when the Put's context has ended.
const abortTimeout = 30 * time.Second

// Put stores exactly size bytes from r under key, all or nothing (see the
// package documentation).
func (s *Store) Put(ctx context.Context, key string, r io.Reader, size int64) error {
	name, err := s.object(key)
	if err != nil {
		return fmt.Errorf("put blob: %w", err)
	}
	if size < 0 {
		return fmt.Errorf("put blob %s: negative size %d", key, size)
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	src, err := newSource(ctx, r, size)
	if err != nil {
		return fmt.Errorf("put blob %s: %w", key, err)
	}
	if size <= s.partSize {
		err = s.putSingle(ctx, name, src)
	} else {
		if src.at == nil {
			bp := s.buffers.Get().(*[]byte)
			defer s.buffers.Put(bp)
			src.buf = *bp
		}
		err = s.putMultipart(ctx, name, src)
	}
	if err != nil {
		return fmt.Errorf("put blob %s: %w", key, s.explain(err))
	}
	return nil
}

// putSingle sends the object in one PUT, once all of it was read (or, from
// a file, hashed) and the reader is known to hold no more.
func (s *Store) putSingle(ctx context.Context, name string, src *source) error {
	if src.at == nil {
		src.buf = make([]byte, src.size)
	}
	body, md5b64, sha, err := src.next(src.size)
	if err != nil {
		return err
	}
	if err := src.end(); err != nil {
		return err
	}
	_, err = s.core.PutObject(ctx, s.bucket, name, body, src.size, md5b64, sha,
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true})
	return err
}

// putMultipart sends the object in parts of equal size (the last
// shorter), completing the upload only when all of it was read, and
// aborting it on any error.
func (s *Store) putMultipart(ctx context.Context, name string, src *source) (err error) {
	partSize := s.partSize
	if n := (src.size + maxParts - 1) / maxParts; n > partSize {
		// A file over 10,000 parts (80 GB with 8 MiB parts): larger parts.
		partSize = n
		if src.at == nil {
			src.buf = make([]byte, partSize)
		}
	}
	opts := minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true}
	id, err := s.core.NewMultipartUpload(ctx, s.bucket, name, opts)
	if err != nil {
		return fmt.Errorf("start multipart upload: %w", err)
	}
	defer func() {
		if err == nil {
			return
		}
		actx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
		defer cancel()
		if aerr := s.core.AbortMultipartUpload(actx, s.bucket, name, id); aerr != nil {
			// Invisible under the key, but it keeps its parts until a
			// lifecycle rule or a person aborts it.
			s.log.Warn("cannot abort a failed multipart upload", "bucket", s.bucket, "object", name, "upload", id, "err", aerr)
		}
	}()
	var parts []minio.CompletePart
	for n := 1; src.read < src.size; n++ {
		body, md5b64, sha, err := src.next(min(partSize, src.size-src.read))
		if err != nil {
			return err
		}
		p, err := s.core.PutObjectPart(ctx, s.bucket, name, id, n, body, body.Size(),
			minio.PutObjectPartOptions{Md5Base64: md5b64, Sha256Hex: sha, DisableContentSha256: true})
		if err != nil {
			return fmt.Errorf("upload part %d: %w", n, err)
		}
		parts = append(parts, minio.CompletePart{PartNumber: n, ETag: p.ETag})
	}
	if err := src.end(); err != nil {
		return err
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if _, err := s.core.CompleteMultipartUpload(ctx, s.bucket, name, id, parts, minio.PutObjectOptions{}); err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	return nil
}

// source hands out the size bytes of a Put one body at a time, and tells
// apart a reader that ends early, one that has more, one that fails and a
// context that ends.
//
// A reader that can be read at offsets (a file, a bytes.Reader: what
// files.Ingest gives) is measured first and then sent from where it is,
// never copied; any other is read into buf, one body at a time.
type source struct {
	ctx  context.Context
	r    io.Reader
	at   io.ReaderAt // r at its offset, when it can be read at offsets
	off  int64       // where the size bytes start in at
	buf  []byte      // holds one body when at is nil
	size int64
	read int64
}

// newSource checks a reader that can be read at offsets for exactly size
// bytes left.
func newSource(ctx context.Context, r io.Reader, size int64) (*source, error) {
	s := &source{ctx: ctx, r: r, size: size}
	ra, okAt := r.(io.ReaderAt)
	sk, okSeek := r.(io.Seeker)
	if !okAt || !okSeek {
		return s, nil
	}
	off, err := sk.Seek(0, io.SeekCurrent)
	if err != nil {
		return s, nil // a pipe or a terminal: read it as a stream
	}
	end, err := sk.Seek(0, io.SeekEnd)
	if err != nil {
		return nil, fmt.Errorf("measure the file: %w", err)
	}
	if _, err := sk.Seek(off, io.SeekStart); err != nil {
		return nil, fmt.Errorf("measure the file: %w", err)
	}
	switch left := end - off; {
	case left < size:
		return nil, fmt.Errorf("the file has %d bytes, want %d: %w", left, size, io.ErrUnexpectedEOF)
	case left > size:
		return nil, fmt.Errorf("the file has more than %d bytes", size)
	}
	s.at, s.off = ra, off
	return s, nil
}

// next returns the next n bytes as a request body (seekable, so that a
// request can be tried again) with their base64 MD5 (Content-MD5) and hex
// SHA-256 (x-amz-content-sha256).
func (s *source) next(n int64) (*io.SectionReader, string, string, error) {
	m, h := md5.New(), sha256.New()
	var body *io.SectionReader
	if s.at != nil {
		body = io.NewSectionReader(s.at, s.off+s.read, n)
		k, err := io.Copy(io.MultiWriter(m, h), &ctxReader{ctx: s.ctx, r: body})
		if err == nil && k != n {
			err = fmt.Errorf("read %d bytes, want %d: %w", s.read+k, s.size, io.ErrUnexpectedEOF)
		}
		if err != nil {
			return nil, "", "", fmt.Errorf("read the file: %w", err)
		}
		if _, err := body.Seek(0, io.SeekStart); err != nil {
			return nil, "", "", err
		}
	} else {
		p := s.buf[:n]
		if err := s.fill(p); err != nil {
			return nil, "", "", err
		}
		m.Write(p)
		h.Write(p)
		body = io.NewSectionReader(bytes.NewReader(p), 0, n)
	}
	s.read += n
	return body, base64.StdEncoding.EncodeToString(m.Sum(nil)), hex.EncodeToString(h.Sum(nil)), nil
}

// fill reads len(p) bytes from the stream.
func (s *source) fill(p []byte) error {
	read := s.read
	for len(p) > 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		n, err := s.r.Read(p)
		read += int64(n)
		p = p[n:]
		switch {
		case errors.Is(err, io.EOF) && len(p) > 0:
			return fmt.Errorf("read %d bytes, want %d: %w", read, s.size, io.ErrUnexpectedEOF)
		case err != nil && !errors.Is(err, io.EOF):
			return fmt.Errorf("read the file: %w", err)
		}
	}
	return nil
}

// end checks, once size bytes were read, that the stream has no more (a
// reader read at offsets was measured already).
func (s *source) end() error {
	if s.at != nil {
		return s.ctx.Err()
	}
	var one [1]byte
	for range 100 { // io.ReadFull's patience with a reader that returns 0, nil
		if err := s.ctx.Err(); err != nil {
			return err
		}
		n, err := s.r.Read(one[:])
		switch {
		case n > 0:
			return fmt.Errorf("the reader has more than %d bytes", s.size)
		case errors.Is(err, io.EOF):
			return nil
		case err != nil:
			return fmt.Errorf("read the file: %w", err)
		}
	}
	return fmt.Errorf("read the file: %w", io.ErrNoProgress)
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
