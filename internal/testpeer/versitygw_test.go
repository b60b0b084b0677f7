package testpeer

import (
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/minio/minio-go/v7"
	"github.com/minio/minio-go/v7/pkg/credentials"
)

// Versitygw serves its directory as S3 to its own credentials only, gives
// fresh buckets, and is gone when the test that started it ends.
func TestVersitygw(t *testing.T) {
	var addr string
	t.Run("serve", func(t *testing.T) {
		s3 := Versitygw(t)
		addr = strings.TrimPrefix(s3.Endpoint, "http://")
		a, b := s3.Bucket(t), s3.Bucket(t)
		if a == b {
			t.Fatalf("two buckets named %s", a)
		}
		if _, err := s3.client.PutObject(t.Context(), a, "x/y", strings.NewReader("hello"), 5, minio.PutObjectOptions{}); err != nil {
			t.Fatal(err)
		}
		if got := s3.Objects(t, a, ""); len(got) != 1 || got[0] != "x/y" {
			t.Errorf("objects of %s: %v", a, got)
		}
		if got := s3.Objects(t, b, ""); len(got) != 0 {
			t.Errorf("objects of the new bucket %s: %v", b, got)
		}
		if data, err := os.ReadFile(filepath.Join(s3.Dir, a, "x", "y")); err != nil || string(data) != "hello" {
			t.Errorf("the object on disk: %q, %v", data, err)
		}
		if got := s3.Uploads(t, a); len(got) != 0 {
			t.Errorf("incomplete uploads: %v", got)
		}

		// Unsigned and wrongly signed requests are refused.
		resp, err := http.Get(s3.Endpoint + "/" + a + "/x/y")
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusForbidden {
			t.Errorf("anonymous GET: %s, want 403", resp.Status)
		}
		other, err := minio.New(addr, &minio.Options{Creds: credentials.NewStaticV4(s3.AccessKeyID, "not-the-secret", ""),
			Region: s3.Region, BucketLookup: minio.BucketLookupPath, MaxRetries: 1})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := other.ListBuckets(t.Context()); err == nil {
			t.Error("a wrong secret lists the buckets")
		}
	})
	if c, err := net.Dial("tcp", addr); err == nil {
		c.Close()
		t.Errorf("versitygw still listens on %s after its test ended", addr)
	}
}
