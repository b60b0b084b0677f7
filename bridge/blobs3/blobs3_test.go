package blobs3

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"net/http"
	"regexp"
	"slices"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobtest"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// config is the configuration of a store on srv's bucket.
func config(srv *testpeer.S3Server, bucket, prefix string) Config {
	path := true
	return Config{
		Endpoint: srv.Endpoint, Region: srv.Region, Bucket: bucket, Prefix: prefix,
		AccessKeyID: srv.AccessKeyID, SecretAccessKey: srv.SecretAccessKey, PathStyle: &path,
	}
}

func open(t *testing.T, cfg Config) *Store {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// The contract on versitygw: with the default part size (the 7 MiB file
// of the suite is one PUT), with 5 MiB parts (it is a multipart upload),
// and under a prefix.
func TestContract(t *testing.T) {
	srv := testpeer.Versitygw(t)
	for _, tc := range []struct {
		name     string
		prefix   string
		partSize int64
	}{
		{"single", "", 0},
		{"multipart", "", MinPartSize},
		{"prefix", "site-a/files", 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			blobtest.Run(t, func(t *testing.T) bridge.BlobStore {
				cfg := config(srv, srv.Bucket(t), tc.prefix)
				cfg.PartSize = tc.partSize
				return open(t, cfg)
			})
		})
	}
}

// Two sites share a bucket under their prefixes: each sees only its own
// objects, and a prefix delete in one leaves the other's alone.
func TestPrefixesShareABucket(t *testing.T) {
	srv := testpeer.Versitygw(t)
	bucket := srv.Bucket(t)
	a := open(t, config(srv, bucket, "site-a"))
	b := open(t, config(srv, bucket, "site-b/"))
	ctx := t.Context()
	for _, s := range []*Store{a, b} {
		for _, k := range []string{"c/1/x", "c/2/y"} {
			if err := s.Put(ctx, k, strings.NewReader(s.prefix+k), int64(len(s.prefix+k))); err != nil {
				t.Fatal(err)
			}
		}
	}
	if err := a.Delete(ctx, "c/"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Objects(t, bucket, ""); !slices.Equal(got, []string{"site-b/c/1/x", "site-b/c/2/y"}) {
		t.Fatalf("bucket holds %v after site-a deleted c/, want site-b's objects only", got)
	}
	r, _, err := b.Get(ctx, "c/1/x")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); string(got) != "site-b/c/1/x" {
		t.Fatalf("site-b reads %q", got)
	}
	if _, _, err := a.Get(ctx, "c/1/x"); !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("site-a Get after its delete = %v, want ErrNotFound", err)
	}
}

// A prefix delete removes more objects than one DeleteObjects request
// takes (1,000).
func TestDeleteManyUnderPrefix(t *testing.T) {
	if testing.Short() {
		t.Skip("puts 1,010 objects")
	}
	srv := testpeer.Versitygw(t)
	bucket := srv.Bucket(t)
	s := open(t, config(srv, bucket, ""))
	ctx := t.Context()
	var wg sync.WaitGroup
	errs := make(chan error, 1010)
	sem := make(chan struct{}, 16)
	for i := range 1010 {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			k := "c/9/" + strings.Repeat("x", i%7) + string(rune('a'+i%26)) + "-" + itoa(i)
			errs <- s.Put(ctx, k, strings.NewReader("x"), 1)
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if err := s.Put(ctx, "c/90/keep", strings.NewReader("k"), 1); err != nil {
		t.Fatal(err)
	}
	if err := s.Delete(ctx, "c/9/"); err != nil {
		t.Fatal(err)
	}
	if got := srv.Objects(t, bucket, ""); !slices.Equal(got, []string{"c/90/keep"}) {
		t.Fatalf("after deleting c/9/ the bucket holds %d objects (%.3v…), want only c/90/keep", len(got), got)
	}
}

func itoa(i int) string {
	b := []byte{}
	for {
		b = append([]byte{byte('0' + i%10)}, b...)
		if i /= 10; i == 0 {
			return string(b)
		}
	}
}

// A multipart upload that fails at any step is aborted: no object, and no
// incomplete upload left in the bucket.
func TestMultipartFailuresLeaveNothing(t *testing.T) {
	srv := testpeer.Versitygw(t)
	data := make([]byte, 2*MinPartSize+1000)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name string
		put  func(ctx context.Context, s *Store) error
	}{
		{"reader fails in the second part", func(ctx context.Context, s *Store) error {
			r := io.MultiReader(bytes.NewReader(data[:MinPartSize+100]), iotest.ErrReader(errors.New("connection reset")))
			return s.Put(ctx, "k/big", r, int64(len(data)))
		}},
		{"stream ends in the last part", func(ctx context.Context, s *Store) error {
			return s.Put(ctx, "k/big", io.MultiReader(bytes.NewReader(data[:len(data)-1])), int64(len(data)))
		}},
		{"stream has a byte more", func(ctx context.Context, s *Store) error {
			return s.Put(ctx, "k/big", io.MultiReader(bytes.NewReader(data), strings.NewReader("!")), int64(len(data)))
		}},
		{"file is a byte short", func(ctx context.Context, s *Store) error {
			return s.Put(ctx, "k/big", bytes.NewReader(data[:len(data)-1]), int64(len(data)))
		}},
		{"file has a byte more", func(ctx context.Context, s *Store) error {
			return s.Put(ctx, "k/big", bytes.NewReader(append(slices.Clip(data), '!')), int64(len(data)))
		}},
		{"file fails to read in the second part", func(ctx context.Context, s *Store) error {
			return s.Put(ctx, "k/big", &failingFile{ReadSeeker: bytes.NewReader(data), ra: bytes.NewReader(data), failAt: MinPartSize + 100}, int64(len(data)))
		}},
		{"context cancelled while a file is read", func(ctx context.Context, s *Store) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			return s.Put(ctx, "k/big", &failingFile{ReadSeeker: bytes.NewReader(data), ra: bytes.NewReader(data), failAt: MinPartSize + 100, cancel: cancel}, int64(len(data)))
		}},
		{"context cancelled after the first part", func(ctx context.Context, s *Store) error {
			ctx, cancel := context.WithCancel(ctx)
			defer cancel()
			r := io.MultiReader(bytes.NewReader(data[:MinPartSize+100]), readFunc(func([]byte) (int, error) {
				cancel()
				return 0, nil
			}), bytes.NewReader(data[MinPartSize+100:]))
			return s.Put(ctx, "k/big", r, int64(len(data)))
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			bucket := srv.Bucket(t)
			cfg := config(srv, bucket, "")
			cfg.PartSize = MinPartSize
			s := open(t, cfg)
			if err := tc.put(t.Context(), s); err == nil {
				t.Fatal("Put succeeded")
			}
			if got := srv.Objects(t, bucket, ""); len(got) != 0 {
				t.Errorf("objects left: %v", got)
			}
			if got := srv.Uploads(t, bucket); len(got) != 0 {
				t.Errorf("incomplete multipart uploads left: %v", got)
			}
		})
	}
}

type readFunc func([]byte) (int, error)

// failingFile is a file whose reads at offsets fail from failAt on (a disk
// error), or cancel the Put's context there.
type failingFile struct {
	io.ReadSeeker
	ra     io.ReaderAt
	failAt int64
	cancel context.CancelFunc
}

func (f *failingFile) ReadAt(p []byte, off int64) (int, error) {
	if off+int64(len(p)) > f.failAt {
		if f.cancel != nil {
			f.cancel()
			return f.ra.ReadAt(p, off)
		}
		return 0, errors.New("input/output error")
	}
	return f.ra.ReadAt(p, off)
}

func (f readFunc) Read(p []byte) (int, error) { return f(p) }

// recorder records the requests the store sends and can damage the bodies
// of uploads, as a faulty network or proxy would.
type recorder struct {
	mu      sync.Mutex
	reqs    []http.Header
	methods []string
	damage  bool
}

func (r *recorder) RoundTrip(req *http.Request) (*http.Response, error) {
	r.mu.Lock()
	r.reqs = append(r.reqs, req.Header.Clone())
	r.methods = append(r.methods, req.Method+" "+req.URL.RawQuery)
	damage := r.damage
	r.mu.Unlock()
	if damage && req.Method == http.MethodPut && req.Body != nil && req.ContentLength > 10 {
		req.Body = &flipper{ReadCloser: req.Body, at: req.ContentLength / 2}
	}
	return http.DefaultTransport.RoundTrip(req)
}

// flipper changes one bit at offset at.
type flipper struct {
	io.ReadCloser
	off, at int64
}

func (f *flipper) Read(p []byte) (int, error) {
	n, err := f.ReadCloser.Read(p)
	if f.at >= f.off && f.at < f.off+int64(n) {
		p[f.at-f.off] ^= 0x20
	}
	f.off += int64(n)
	return n, err
}

var sha256Hex = regexp.MustCompile(`^[0-9a-f]{64}$`)

// Every upload carries Content-MD5 and is signed with its SHA-256, so that
// bytes damaged on the way are refused by the server, not stored.
func TestChecksumsCatchDamage(t *testing.T) {
	srv := testpeer.Versitygw(t)
	for _, size := range []int{1000, 2*MinPartSize + 16} {
		bucket := srv.Bucket(t)
		rec := &recorder{}
		cfg := config(srv, bucket, "")
		cfg.PartSize = MinPartSize
		cfg.transport = rec
		s := open(t, cfg)
		data := bytes.Repeat([]byte("0123456789abcdef"), size/16)
		if err := s.Put(t.Context(), "k/good", bytes.NewReader(data), int64(len(data))); err != nil {
			t.Fatal(err)
		}
		puts := 0
		for i, h := range rec.reqs {
			if !strings.HasPrefix(rec.methods[i], "PUT") {
				continue
			}
			puts++
			if h.Get("Content-Md5") == "" || !sha256Hex.MatchString(h.Get("X-Amz-Content-Sha256")) {
				t.Errorf("%s without Content-MD5 or a signed SHA-256: %v", rec.methods[i], h)
			}
		}
		if want := 1 + (len(data)-1)/MinPartSize; puts != want {
			t.Errorf("%d bytes: %d PUTs, want %d", size, puts, want)
		}
		rec.damage = true
		if err := s.Put(t.Context(), "k/damaged", bytes.NewReader(data), int64(len(data))); err == nil {
			t.Fatalf("%d bytes: a Put damaged on the way succeeded", size)
		}
		if got := srv.Objects(t, bucket, ""); !slices.Equal(got, []string{"k/good"}) {
			t.Errorf("%d bytes: after a damaged Put the bucket holds %v", size, got)
		}
		if got := srv.Uploads(t, bucket); len(got) != 0 {
			t.Errorf("%d bytes: incomplete uploads left: %v", size, got)
		}
	}
}

// CheckAccess and Health pass on a bucket that takes writes, and say what
// is wrong otherwise; the check leaves nothing behind.
func TestCheckAccess(t *testing.T) {
	srv := testpeer.Versitygw(t)
	bucket := srv.Bucket(t)
	ctx := t.Context()
	good := open(t, config(srv, bucket, "site"))
	if err := good.CheckAccess(ctx); err != nil {
		t.Fatalf("CheckAccess = %v", err)
	}
	if err := good.Health(ctx); err != nil {
		t.Fatalf("Health = %v", err)
	}
	if got := srv.Objects(t, bucket, ""); len(got) != 0 {
		t.Errorf("the check left %v", got)
	}

	// Without a region the client asks the service where the bucket is.
	cfg := config(srv, bucket, "")
	cfg.Region = ""
	if err := open(t, cfg).CheckAccess(ctx); err != nil {
		t.Errorf("CheckAccess without a region = %v", err)
	}

	missing := open(t, config(srv, "no-such-bucket", ""))
	if err := missing.CheckAccess(ctx); err == nil || !strings.Contains(err.Error(), "does not exist") {
		t.Errorf("CheckAccess on a missing bucket = %v", err)
	}
	if _, _, err := missing.Get(ctx, "k/x"); err == nil || errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("Get in a missing bucket = %v, want an error that is not ErrNotFound", err)
	}

	cfg = config(srv, bucket, "")
	cfg.SecretAccessKey = "wrong-secret"
	if err := open(t, cfg).CheckAccess(ctx); err == nil || !strings.Contains(err.Error(), "secret_access_key") {
		t.Errorf("CheckAccess with a wrong secret = %v", err)
	}

	cfg = config(srv, bucket, "")
	cfg.Endpoint = "http://127.0.0.1:1"
	if err := open(t, cfg).CheckAccess(ctx); err == nil {
		t.Error("CheckAccess on a closed port succeeded")
	}
}

// A service whose certificate comes from a private CA is reached with
// ca_file, and refused without it.
func TestPrivateCA(t *testing.T) {
	srv := testpeer.Versitygw(t, testpeer.WithTLS())
	bucket := srv.Bucket(t)
	cfg := config(srv, bucket, "")
	if err := open(t, cfg).CheckAccess(t.Context()); err == nil || !strings.Contains(err.Error(), "certificate") {
		t.Errorf("CheckAccess without the CA = %v, want a certificate error", err)
	}
	cfg.CAFile = srv.CAFile
	s := open(t, cfg)
	if err := s.CheckAccess(t.Context()); err != nil {
		t.Fatalf("CheckAccess with the CA = %v", err)
	}
	data := bytes.Repeat([]byte("over tls "), 1000)
	if err := s.Put(t.Context(), "k/tls", bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatal(err)
	}
	r, n, err := s.Get(t.Context(), "k/tls")
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	if got, _ := io.ReadAll(r); n != int64(len(data)) || !bytes.Equal(got, data) {
		t.Errorf("read back %d bytes (said %d)", len(got), n)
	}
}
