package blobs3

import (
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"sync"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"

	"github.com/chatbridge/chatbridge/bridge"
)

// maxRetries bounds the attempts of one request that fails for a passing
// reason (a reset connection, a 503 SlowDown): a few, so that an
// unreachable service is an error within seconds, not minutes.
const maxRetries = 4

// Store is a bucket (under a prefix) of blobs. It is safe for concurrent
// use.
type Store struct {
	core     *minio.Core
	bucket   string
	prefix   string
	endpoint string // for messages
	partSize int64
	log      *slog.Logger
	buffers  sync.Pool // *[]byte of partSize
}

var (
	_ bridge.BlobStore     = (*Store)(nil)
	_ bridge.HealthChecker = (*Store)(nil)
)

// New returns the store cfg describes. It validates cfg (Validate) and
// makes no request: CheckAccess tells whether the bucket is there and
// takes writes.
func New(cfg Config, log *slog.Logger) (*Store, error) {
	if errs := cfg.Validate(); len(errs) > 0 {
		return nil, errors.Join(errs...)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	u, _ := parseEndpoint(cfg.Endpoint)
	secure := u.Scheme == "https"
	tr, err := minio.DefaultTransport(secure)
	if err != nil {
		return nil, fmt.Errorf("s3 transport: %w", err)
	}
	if cfg.CAFile != "" {
		pool, err := loadCAs(cfg.CAFile)
		if err != nil {
			return nil, fmt.Errorf("files.s3.ca_file: %w", err)
		}
		if tr.TLSClientConfig == nil {
			tr.TLSClientConfig = &tls.Config{MinVersion: tls.VersionTLS12}
		}
		tr.TLSClientConfig.RootCAs = pool
	}
	lookup := minio.BucketLookupAuto
	if cfg.PathStyle != nil {
		lookup = minio.BucketLookupDNS
		if *cfg.PathStyle {
			lookup = minio.BucketLookupPath
		}
	}
	var rt http.RoundTripper = tr
	if cfg.transport != nil {
		rt = cfg.transport
	}
	core, err := minio.NewCore(u.Host, &minio.Options{
		Creds:        credentials.NewStaticV4(cfg.AccessKeyID, cfg.SecretAccessKey, ""),
		Secure:       secure,
		Transport:    rt,
		Region:       cfg.Region,
		BucketLookup: lookup,
		MaxRetries:   maxRetries,
	})
	if err != nil {
		return nil, fmt.Errorf("files.s3.endpoint: %w", err)
	}
	ps := cfg.PartSize
	if ps == 0 {
		ps = DefaultPartSize
	}
	s := &Store{
		core: core, bucket: cfg.Bucket, prefix: normPrefix(cfg.Prefix),
		endpoint: u.Scheme + "://" + u.Host, partSize: ps, log: log,
	}
	s.buffers.New = func() any { b := make([]byte, ps); return &b }
	return s, nil
}

// String names the bucket and prefix for logs and the server's banner.
func (s *Store) String() string {
	return fmt.Sprintf("s3 bucket %s on %s, prefix %q", s.bucket, s.endpoint, s.prefix)
}

// object is the object name of key; a key for one object cannot end in
// "/".
func (s *Store) object(key string) (string, error) {
	if !bridge.ValidBlobKey(key) || strings.HasSuffix(key, "/") {
		return "", fmt.Errorf("%w: %q", bridge.ErrBlobKey, key)
	}
	return s.prefix + key, nil
}

// Get opens the object. Its body streams from the service; reading it
// fails (rather than ends early) if the connection breaks.
func (s *Store) Get(ctx context.Context, key string) (io.ReadCloser, int64, error) {
	name, err := s.object(key)
	if err != nil {
		return nil, 0, fmt.Errorf("get blob: %w", err)
	}
	body, info, _, err := s.core.GetObject(ctx, s.bucket, name, minio.GetObjectOptions{})
	if err != nil {
		if notFound(err) {
			return nil, 0, fmt.Errorf("blob %s: %w", key, bridge.ErrNotFound)
		}
		return nil, 0, fmt.Errorf("get blob %s: %w", key, s.explain(err))
	}
	return body, info.Size, nil
}

// Delete removes the object, or every object under a key ending in "/".
func (s *Store) Delete(ctx context.Context, key string) error {
	if !bridge.ValidBlobKey(key) {
		return fmt.Errorf("delete blob: %w: %q", bridge.ErrBlobKey, key)
	}
	if strings.HasSuffix(key, "/") {
		return s.deletePrefix(ctx, s.prefix+key)
	}
	err := s.core.RemoveObject(ctx, s.bucket, s.prefix+key, minio.RemoveObjectOptions{})
	if err != nil && !notFound(err) {
		return fmt.Errorf("delete blob %s: %w", key, s.explain(err))
	}
	return nil
}

// deletePrefix lists the objects under prefix and removes them in batches
// (DeleteObjects, up to 1,000 a request).
func (s *Store) deletePrefix(ctx context.Context, prefix string) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	listed := s.core.Client.ListObjects(ctx, s.bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true})
	doomed := make(chan minio.ObjectInfo)
	var listErr error
	var wg sync.WaitGroup
	wg.Go(func() {
		defer close(doomed)
		for o := range listed {
			if o.Err != nil {
				listErr = o.Err
				cancel() // stops the listing, and the removals after this batch
				return
			}
			select {
			case doomed <- o:
			case <-ctx.Done():
				return
			}
		}
	})
	var removeErr error
	for e := range s.core.RemoveObjects(ctx, s.bucket, doomed, minio.RemoveObjectsOptions{}) {
		if e.Err != nil && !notFound(e.Err) && removeErr == nil {
			removeErr = fmt.Errorf("%s: %w", strings.TrimPrefix(e.ObjectName, s.prefix), e.Err)
		}
	}
	cancel()
	wg.Wait()
	if err := errors.Join(listErr, removeErr); err != nil {
		return fmt.Errorf("delete blobs under %s: %w", strings.TrimPrefix(prefix, s.prefix), s.explain(err))
	}
	return nil
}

// Name names the store in /healthz.
func (s *Store) Name() string { return "files" }

// Health reports whether the bucket answers (a HEAD request).
func (s *Store) Health(ctx context.Context) error {
	ok, err := s.core.BucketExists(ctx, s.bucket)
	switch {
	case err != nil:
		return fmt.Errorf("s3 bucket %s on %s: %w", s.bucket, s.endpoint, s.explain(err))
	case !ok:
		return fmt.Errorf("s3 bucket %s does not exist on %s", s.bucket, s.endpoint)
	}
	return nil
}

// CheckAccess tells, before a server starts, whether the bucket exists and
// takes writes: it puts a small object under the prefix (".chatbridge-check/"
// and a random name), reads it back and deletes it. The error says what
// to fix.
func (s *Store) CheckAccess(ctx context.Context) error {
	if err := s.Health(ctx); err != nil {
		return err
	}
	var rnd [8]byte
	_, _ = rand.Read(rnd[:])
	key := ".chatbridge-check/" + hex.EncodeToString(rnd[:])
	data := "chatbridge checks that it can write here; this object is deleted at once\n"
	if err := s.Put(ctx, key, strings.NewReader(data), int64(len(data))); err != nil {
		return fmt.Errorf("s3 bucket %s on %s does not take writes (the credentials need s3:PutObject, s3:GetObject, s3:DeleteObject and s3:ListBucket on it): %w", s.bucket, s.endpoint, err)
	}
	defer func() {
		if err := s.Delete(context.WithoutCancel(ctx), key); err != nil {
			s.log.Warn("cannot delete the write check's object", "key", s.prefix+key, "err", err)
		}
	}()
	r, n, err := s.Get(ctx, key)
	if err != nil {
		return fmt.Errorf("s3 bucket %s on %s: cannot read back what was written: %w", s.bucket, s.endpoint, err)
	}
	defer r.Close()
	got, err := io.ReadAll(io.LimitReader(r, int64(len(data))+1))
	if err != nil || n != int64(len(data)) || string(got) != data {
		return fmt.Errorf("s3 bucket %s on %s: the object written does not read back the same (%d bytes, %v)", s.bucket, s.endpoint, len(got), err)
	}
	return nil
}

// notFound reports whether err is the service's "no such key".
func notFound(err error) bool {
	r := minio.ToErrorResponse(err)
	return r.Code == "NoSuchKey" || (r.StatusCode == http.StatusNotFound && r.Code != "NoSuchBucket" && r.Code != "NoSuchUpload")
}

// explain adds what to check to the service's errors that are about the
// configuration rather than the request.
func (s *Store) explain(err error) error {
	switch minio.ToErrorResponse(err).Code {
	case "NoSuchBucket":
		return fmt.Errorf("%w (does bucket %s exist on %s? check files.s3.bucket and files.s3.endpoint)", err, s.bucket, s.endpoint)
	case "InvalidAccessKeyId", "SignatureDoesNotMatch":
		return fmt.Errorf("%w (check files.s3.access_key_id and files.s3.secret_access_key)", err)
	case "AccessDenied":
		return fmt.Errorf("%w (check files.s3.access_key_id and files.s3.secret_access_key, and that they may put, get, delete and list objects in bucket %s)", err, s.bucket)
	case "AuthorizationHeaderMalformed", "InvalidRegion":
		return fmt.Errorf("%w (check files.s3.region)", err)
	}
	return err
}
