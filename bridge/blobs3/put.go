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
	src := &source{ctx: ctx, r: r, size: size}
	if size <= s.partSize {
		err = s.putSingle(ctx, name, src, make([]byte, size))
	} else {
		bp := s.buffers.Get().(*[]byte)
		err = s.putMultipart(ctx, name, src, *bp)
		s.buffers.Put(bp)
	}
	if err != nil {
		return fmt.Errorf("put blob %s: %w", key, s.explain(err))
	}
	return nil
}

// putSingle reads the whole object into buf, checks that the reader is at
// its end, and sends it in one PUT.
func (s *Store) putSingle(ctx context.Context, name string, src *source, buf []byte) error {
	if err := src.fill(buf); err != nil {
		return err
	}
	if err := src.end(); err != nil {
		return err
	}
	md5b64, sha := sums(buf)
	_, err := s.core.PutObject(ctx, s.bucket, name, bytes.NewReader(buf), int64(len(buf)), md5b64, sha,
		minio.PutObjectOptions{ContentType: "application/octet-stream", DisableContentSha256: true})
	return err
}

// putMultipart sends the object in parts of equal size (the last
// shorter), completing the upload only when all of it was read, and
// aborting it on any error.
func (s *Store) putMultipart(ctx context.Context, name string, src *source, buf []byte) (err error) {
	partSize := s.partSize
	if n := (src.size + maxParts - 1) / maxParts; n > partSize {
		// A file over 10,000 parts (80 GB with 8 MiB parts): larger parts.
		partSize = n
		buf = make([]byte, partSize)
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
		part := buf[:min(partSize, src.size-src.read)]
		if err := src.fill(part); err != nil {
			return err
		}
		md5b64, sha := sums(part)
		p, err := s.core.PutObjectPart(ctx, s.bucket, name, id, n, bytes.NewReader(part), int64(len(part)),
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
	if _, err := s.core.CompleteMultipartUpload(ctx, s.bucket, name, id, parts, opts); err != nil {
		return fmt.Errorf("complete multipart upload: %w", err)
	}
	return nil
}

// sums returns the base64 MD5 (Content-MD5) and the hex SHA-256
// (x-amz-content-sha256) of b.
func sums(b []byte) (md5b64, sha256hex string) {
	m := md5.Sum(b)
	h := sha256.Sum256(b)
	return base64.StdEncoding.EncodeToString(m[:]), hex.EncodeToString(h[:])
}

// source reads the size bytes of a Put and tells apart a reader that
// ends early, one that has more, one that fails and a context that ends.
type source struct {
	ctx  context.Context
	r    io.Reader
	size int64
	read int64
}

// fill reads len(p) bytes, all of them within size.
func (s *source) fill(p []byte) error {
	for len(p) > 0 {
		if err := s.ctx.Err(); err != nil {
			return err
		}
		n, err := s.r.Read(p)
		s.read += int64(n)
		p = p[n:]
		switch {
		case errors.Is(err, io.EOF) && len(p) > 0:
			return fmt.Errorf("read %d bytes, want %d: %w", s.read, s.size, io.ErrUnexpectedEOF)
		case err != nil && !errors.Is(err, io.EOF):
			return fmt.Errorf("read the file: %w", err)
		}
	}
	return nil
}

// end checks, once size bytes were read, that the reader has no more.
func (s *source) end() error {
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
