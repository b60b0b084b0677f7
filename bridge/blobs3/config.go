package blobs3

import (
	"crypto/x509"
	"encoding/pem"
	"fmt"
	"net/http"
	"net/url"
	"os"
	"strings"

	"github.com/minio/minio-go/v7/pkg/s3utils"

	"github.com/chatbridge/chatbridge/bridge"
)

// Part sizes of multipart uploads. S3 refuses parts under 5 MiB (but the
// last) and uploads of more than 10,000 parts.
const (
	DefaultPartSize = 8 << 20
	MinPartSize     = 5 << 20
	maxParts        = 10000
)

// Config says where the objects are and how to reach them. The error keys
// of Validate are those of chatbridge's [files.s3].
type Config struct {
	// Endpoint is the service's base URL, scheme and host only:
	// "https://s3.eu-west-1.amazonaws.com",
	// "https://<account>.r2.cloudflarestorage.com", "http://127.0.0.1:9000".
	Endpoint string
	// Region is the bucket's region ("eu-west-1"; "auto" for R2). Empty:
	// the client asks the service where the bucket is.
	Region string
	// Bucket holds the objects; it must exist.
	Bucket string
	// Prefix is put before every key ("site-a/"), so that one bucket can
	// host several sites. A missing final "/" is added.
	Prefix string
	// AccessKeyID and SecretAccessKey sign the requests.
	AccessKeyID     string
	SecretAccessKey string
	// PathStyle addresses the bucket as https://endpoint/bucket/key (true)
	// or as https://bucket.endpoint/key (false); nil: virtual-host style
	// for AWS and Google, path style for every other endpoint.
	PathStyle *bool
	// CAFile is a PEM file of certificates to trust besides the system's,
	// for a service with a private CA (https endpoints only).
	CAFile string
	// PartSize is the size of the parts of multipart uploads, and the
	// largest file sent in one PUT (0: DefaultPartSize; at least
	// MinPartSize). A Put holds up to one part in memory.
	PartSize int64

	// transport, set by tests, carries the requests instead of minio's
	// default transport.
	transport http.RoundTripper
}

// Validate reports every problem of c, each as "files.s3.<key>: what is
// wrong". New refuses exactly these.
func (c Config) Validate() []error {
	var errs []error
	bad := func(key, format string, args ...any) {
		errs = append(errs, fmt.Errorf("files.s3.%s: %s", key, fmt.Sprintf(format, args...)))
	}
	u, msg := parseEndpoint(c.Endpoint)
	if msg != "" {
		bad("endpoint", "%s", msg)
	}
	switch {
	case c.Bucket == "":
		bad("bucket", "is required with files.storage = \"s3\" (the bucket's name; create the bucket first)")
	case s3utils.CheckValidBucketName(c.Bucket) != nil:
		bad("bucket", "%q is not a bucket name: 3 to 63 lowercase letters, digits, dots and hyphens", c.Bucket)
	}
	if c.Prefix != "" && !validPrefix(c.Prefix) {
		bad("prefix", "%q must be \"/\"-separated names of letters, digits, '_', '.' and '-' (like \"site-a/\"), without a leading \"/\"", c.Prefix)
	}
	if strings.ContainsAny(c.Region, " /:") {
		bad("region", "%q is not a region name (like \"eu-west-1\", or \"auto\" for R2)", c.Region)
	}
	if c.AccessKeyID == "" {
		bad("access_key_id", "is required with files.storage = \"s3\" (or set CHATBRIDGE_S3_ACCESS_KEY_ID)")
	}
	if c.SecretAccessKey == "" {
		bad("secret_access_key", "is required with files.storage = \"s3\" (or set CHATBRIDGE_S3_SECRET_ACCESS_KEY)")
	}
	if c.CAFile != "" {
		if u != nil && u.Scheme != "https" {
			bad("ca_file", "is set but files.s3.endpoint is plain http: use an https endpoint, or remove ca_file")
		} else if _, err := loadCAs(c.CAFile); err != nil {
			bad("ca_file", "%v", err)
		}
	}
	if c.PartSize != 0 && c.PartSize < MinPartSize {
		errs = append(errs, fmt.Errorf("blobs3: part size %d is under S3's smallest part (%d bytes)", c.PartSize, MinPartSize))
	}
	return errs
}

// parseEndpoint checks an endpoint URL; the message says what is wrong.
func parseEndpoint(raw string) (*url.URL, string) {
	if raw == "" {
		return nil, `is required with files.storage = "s3" (the service's URL, like "https://s3.eu-west-1.amazonaws.com")`
	}
	u, err := url.Parse(raw)
	switch {
	case err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "":
		return nil, `must be an absolute http:// or https:// URL, like "https://s3.eu-west-1.amazonaws.com"`
	case u.User != nil:
		return nil, "must not contain a user name or password (use access_key_id and secret_access_key)"
	case (u.Path != "" && u.Path != "/") || u.RawQuery != "" || u.Fragment != "":
		return nil, "must be a scheme and host only, without a path (the bucket is files.s3.bucket, the path files.s3.prefix)"
	}
	return u, ""
}

// validPrefix reports whether p is blob-key segments, with or without a
// final "/".
func validPrefix(p string) bool {
	return !strings.HasPrefix(p, "/") && bridge.ValidBlobKey(strings.TrimSuffix(p, "/")+"/")
}

// normPrefix is p with exactly one final "/" ("" stays "").
func normPrefix(p string) string {
	if p == "" {
		return ""
	}
	return strings.TrimSuffix(p, "/") + "/"
}

// loadCAs reads the system's certificates plus those of a PEM file.
func loadCAs(path string) (*x509.CertPool, error) {
	data, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("cannot read it: %w", err)
	}
	pool, err := x509.SystemCertPool()
	if err != nil {
		pool = x509.NewCertPool()
	}
	n := 0
	for rest := data; ; {
		var b *pem.Block
		b, rest = pem.Decode(rest)
		if b == nil {
			break
		}
		if b.Type != "CERTIFICATE" {
			continue
		}
		cert, err := x509.ParseCertificate(b.Bytes)
		if err != nil {
			return nil, fmt.Errorf("%s holds a certificate that does not parse: %w", path, err)
		}
		pool.AddCert(cert)
		n++
	}
	if n == 0 {
		return nil, fmt.Errorf("%s holds no PEM certificate (-----BEGIN CERTIFICATE-----)", path)
	}
	return pool, nil
}
