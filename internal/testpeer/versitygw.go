package testpeer

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/hex"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// versitygwStartTimeout bounds how long versitygw may take to answer a
// signed request (well under a second on a quiet machine).
const versitygwStartTimeout = 30 * time.Second

// S3Region is the region of the S3 services Versitygw starts.
const S3Region = "us-east-1"

// S3Server is a real S3 service on loopback: versitygw serving a
// temporary directory, started for one test by Versitygw.
type S3Server struct {
	// Endpoint is the service's URL ("http://127.0.0.1:PORT"); buckets are
	// addressed path-style.
	Endpoint string
	// Region is S3Region.
	Region string
	// AccessKeyID and SecretAccessKey are the root account's credentials.
	AccessKeyID, SecretAccessKey string
	// Dir is the directory served: each bucket is a subdirectory, each
	// object a file.
	Dir string
	// CAFile is the PEM certificate to trust, with WithTLS.
	CAFile string

	client *minio.Client
}

// VersitygwOption changes how versitygw starts.
type VersitygwOption func(*versitygwOptions)

type versitygwOptions struct {
	tls bool
}

// WithTLS serves https with a certificate for 127.0.0.1 from a CA of the
// test's own (S3Server.CAFile), which no system trusts.
func WithTLS() VersitygwOption {
	return func(o *versitygwOptions) { o.tls = true }
}

// Versitygw starts versitygw (the posix backend) on 127.0.0.1 with a free
// port, serving a fresh t.TempDir() with random root credentials, waits
// until it answers a signed request, and stops it when the test ends.
//
// The binary is $CHATBRIDGE_VERSITYGW, else
// $HOME/.cache/chatbridge/bin/versitygw (where scripts/install-test-deps
// puts it), else "versitygw" on PATH. When there is none the test is
// skipped with a message saying how to install it, except when the
// environment variable CI is set (and not "false"): then the test fails,
// because real-peer tests must never be skipped silently in CI.
func Versitygw(t testing.TB, opts ...VersitygwOption) *S3Server {
	t.Helper()
	var o versitygwOptions
	for _, opt := range opts {
		opt(&o)
	}
	bin := findVersitygw()
	if bin == "" {
		msg := "no versitygw binary found ($CHATBRIDGE_VERSITYGW, $HOME/.cache/chatbridge/bin/versitygw, PATH); run scripts/install-test-deps to build it"
		if InCI() {
			t.Fatal(msg)
		}
		t.Skip(msg)
	}
	dir := t.TempDir()
	root := filepath.Join(dir, "root")
	if err := os.Mkdir(root, 0o700); err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	port, err := freePort()
	if err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	s := &S3Server{
		Endpoint:        fmt.Sprintf("http://127.0.0.1:%d", port),
		Region:          S3Region,
		AccessKeyID:     "test" + hex.EncodeToString(randomBytes(t, 8)),
		SecretAccessKey: hex.EncodeToString(randomBytes(t, 20)),
		Dir:             root,
	}
	logPath := filepath.Join(dir, "versitygw.log")
	logFile, err := os.Create(logPath)
	if err != nil {
		t.Fatalf("versitygw: %v", err)
	}
	args := []string{"--port", fmt.Sprintf("127.0.0.1:%d", port), "--region", S3Region, "--quiet"}
	var tr http.RoundTripper
	if o.tls {
		certFile, keyFile := filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
		pool, err := writeCert(certFile, keyFile)
		if err != nil {
			t.Fatalf("versitygw: %v", err)
		}
		args = append(args, "--cert", certFile, "--key", keyFile)
		s.Endpoint, s.CAFile = "https"+strings.TrimPrefix(s.Endpoint, "http"), certFile
		tr = &http.Transport{TLSClientConfig: &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}}
	}
	cmd := exec.Command(bin, append(args, "posix", root)...)
	// Credentials through the environment, not the command line (which
	// every local user can read in /proc).
	cmd.Env = append(os.Environ(), "ROOT_ACCESS_KEY_ID="+s.AccessKeyID, "ROOT_SECRET_ACCESS_KEY="+s.SecretAccessKey)
	cmd.Dir = dir
	cmd.Stdout, cmd.Stderr = logFile, logFile
	if err := cmd.Start(); err != nil {
		logFile.Close()
		t.Fatalf("start versitygw %s: %v", bin, err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait(); logFile.Close() }()
	// Registered after t.TempDir, so it runs before the directory is removed.
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})

	s.client, err = minio.New(fmt.Sprintf("127.0.0.1:%d", port), &minio.Options{
		Creds:        credentials.NewStaticV4(s.AccessKeyID, s.SecretAccessKey, ""),
		Region:       S3Region,
		BucketLookup: minio.BucketLookupPath,
		MaxRetries:   1,
		Secure:       o.tls,
		Transport:    tr,
	})
	if err != nil {
		t.Fatalf("versitygw client: %v", err)
	}
	deadline := time.Now().Add(versitygwStartTimeout)
	tick := time.NewTicker(50 * time.Millisecond)
	defer tick.Stop()
	for !s.ready() {
		select {
		case err := <-exited:
			exited <- err // for the cleanup
			t.Fatalf("versitygw exited before it was ready (%v); log:\n%s", err, tail(logPath))
		case <-tick.C:
		}
		if time.Now().After(deadline) {
			t.Fatalf("versitygw not ready on %s after %s; log:\n%s", s.Endpoint, versitygwStartTimeout, tail(logPath))
		}
	}
	return s
}

// ready reports whether the service answers a signed ListBuckets.
func (s *S3Server) ready() bool {
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	_, err := s.client.ListBuckets(ctx)
	return err == nil
}

// Bucket creates a new, empty bucket and returns its name.
func (s *S3Server) Bucket(t testing.TB) string {
	t.Helper()
	name := "test-" + hex.EncodeToString(randomBytes(t, 6))
	if err := s.client.MakeBucket(t.Context(), name, minio.MakeBucketOptions{Region: s.Region}); err != nil {
		t.Fatalf("versitygw: make bucket %s: %v", name, err)
	}
	return name
}

// Objects lists the names of the objects in bucket under prefix.
func (s *S3Server) Objects(t testing.TB, bucket, prefix string) []string {
	t.Helper()
	var out []string
	for o := range s.client.ListObjects(t.Context(), bucket, minio.ListObjectsOptions{Prefix: prefix, Recursive: true}) {
		if o.Err != nil {
			t.Fatalf("versitygw: list %s/%s: %v", bucket, prefix, o.Err)
		}
		out = append(out, o.Key)
	}
	return out
}

// Uploads lists the object names of the multipart uploads in bucket that
// were neither completed nor aborted.
func (s *S3Server) Uploads(t testing.TB, bucket string) []string {
	t.Helper()
	var out []string
	for u := range s.client.ListIncompleteUploads(t.Context(), bucket, "", true) {
		if u.Err != nil {
			t.Fatalf("versitygw: list uploads in %s: %v", bucket, u.Err)
		}
		out = append(out, u.Key)
	}
	return out
}

func findVersitygw() string {
	if p := os.Getenv("CHATBRIDGE_VERSITYGW"); p != "" {
		return p
	}
	if home, err := os.UserHomeDir(); err == nil {
		p := filepath.Join(home, ".cache", "chatbridge", "bin", "versitygw")
		if fi, err := os.Stat(p); err == nil && !fi.IsDir() {
			return p
		}
	}
	if p, err := exec.LookPath("versitygw"); err == nil {
		return p
	}
	return ""
}

// writeCert writes a self-signed certificate for 127.0.0.1 and its key,
// and returns a pool that trusts it.
func writeCert(certFile, keyFile string) (*x509.CertPool, error) {
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "chatbridge test CA"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.IPv4(127, 0, 0, 1)},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		return nil, err
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		return nil, err
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	pool := x509.NewCertPool()
	pool.AddCert(cert)
	return pool, nil
}
