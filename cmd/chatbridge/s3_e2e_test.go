package main

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/internal/fakeslack"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// s3Config is the [files] of a server keeping its files in bucket on srv,
// under the prefix "site-a/"; the credentials go through the environment,
// which the child process inherits.
func s3Config(t *testing.T, srv *testpeer.S3Server, bucket string) string {
	t.Setenv("CHATBRIDGE_S3_ACCESS_KEY_ID", srv.AccessKeyID)
	t.Setenv("CHATBRIDGE_S3_SECRET_ACCESS_KEY", srv.SecretAccessKey)
	return fmt.Sprintf(`
[files]
storage = "s3"
[files.s3]
endpoint = %q
region = %q
bucket = %q
prefix = "site-a"
path_style = true
`, srv.Endpoint, srv.Region, bucket)
}

// TestServeWithS3 runs the real binary with storage = "s3" on versitygw: it
// starts only after checking the bucket (and leaves no trace of the
// check), says where files go and reports the bucket in /healthz. A
// visitor's upload of 9 MiB (a multipart upload) and a small one land in the
// bucket under the prefix, download back byte for byte through their signed
// links, and reach the Slack thread with the same bytes (read back from the
// bucket); a file an operator shares in Slack lands in the bucket too and
// downloads back at the visitor. Nothing is kept in the data directory.
func TestServeWithS3(t *testing.T) {
	srv := testpeer.Versitygw(t)
	bucket := srv.Bucket(t)
	fake := fakeslack.New(t)
	fake.SetUser("UALICE", "Alice Martin")
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, s3Config(t, srv, bucket)+fmt.Sprintf(`
[slack]
channel = %q
api_url = %q
mode = "socket"
`, fake.Channel, fake.APIURL))
	t.Setenv("CHATBRIDGE_SLACK_BOT_TOKEN", fakeslack.BotToken)
	t.Setenv("CHATBRIDGE_SLACK_APP_TOKEN", fakeslack.AppToken)
	s := startServer(t, cfgPath)
	defer s.stop(t)
	logOnFailure(t, s)

	if want := "files:          s3 bucket " + bucket; !strings.Contains(s.out.String(), want) {
		t.Errorf("the banner does not say %q:\n%s", want, s.out.String())
	}
	if got := objects(t, srv, bucket); len(got) != 0 {
		t.Errorf("the start's write check left %v in the bucket", got)
	}
	filesHealthy := func() bool {
		resp, err := http.Get(s.ops + "/healthz")
		if err != nil {
			return false
		}
		defer resp.Body.Close()
		var health struct {
			Checks []struct {
				Name string
				OK   bool
			}
		}
		if json.NewDecoder(resp.Body).Decode(&health) != nil {
			return false
		}
		for _, c := range health.Checks {
			if c.Name == "files" {
				return c.OK
			}
		}
		return false
	}
	waitFor(t, "files ok in /healthz", filesHealthy)
	waitFor(t, "a Socket Mode connection", func() bool { return fake.Connections() > 0 })

	v := newVisitor(t, s.base, "Mona")
	v.send("m1", "Here are my photos and the log.")
	var root fakeslack.Post
	waitFor(t, "the visitor's message in the conversation's thread", func() bool {
		for _, p := range fake.Posts() {
			if !p.Ephemeral && p.Channel == fake.Channel && p.ThreadTS == "" {
				root = p
			}
		}
		for _, p := range fake.Posts() {
			if root.TS != "" && p.ThreadTS == root.TS && strings.Contains(p.Text, "my photos and the log") {
				return true
			}
		}
		return false
	})

	// The visitor's files: 9 MiB of opaque bytes (over one 8 MiB part) and
	// a short text file.
	big := make([]byte, 9<<20+5)
	if _, err := rand.Read(big); err != nil {
		t.Fatal(err)
	}
	small := []byte("2026-12-05 04:55:09 the mug's app crashed\n")
	for i, up := range []struct {
		name string
		data []byte
	}{{"backup.bin", big}, {"crash.txt", small}} {
		url := v.upload(fmt.Sprintf("f%d", i), up.name, up.data)
		if got := v.download(url); !bytes.Equal(got, up.data) {
			t.Errorf("%s downloads back as %d other bytes", up.name, len(got))
		}
		if !inBucket(t, srv, bucket, up.data) {
			t.Errorf("%s is not in the bucket under the prefix", up.name)
		}
		waitFor(t, up.name+" in the Slack thread", func() bool {
			for _, f := range fake.Files() {
				if bytes.Equal(f.Data, up.data) {
					return true
				}
			}
			return false
		})
	}

	// An operator's file shared in the thread.
	manual := bytes.Repeat([]byte("%PDF-1.4\n% the blue mug's manual, page after page\n"), 4000)
	manual = append(manual, "%%EOF\n"...)
	fake.ShareFile(fakeslack.UserMessage{Channel: fake.Channel, ThreadTS: root.TS, User: "UALICE", Text: "Here is the manual."},
		fakeslack.Upload{Name: "manual.pdf", Data: manual})
	var url string
	waitFor(t, "the operator's file at the visitor", func() bool {
		var got struct {
			Messages []struct {
				Text string
				File *struct{ URL string }
			}
		}
		v.do(http.MethodGet, "/api/v1/messages?after=0", nil, &got)
		for _, m := range got.Messages {
			if m.Text == "Here is the manual." && m.File != nil {
				url = m.File.URL
				return true
			}
		}
		return false
	})
	if got := v.download(url); !bytes.Equal(got, manual) {
		t.Errorf("the operator's file downloads as %d other bytes", len(got))
	}
	if !inBucket(t, srv, bucket, manual) {
		t.Error("the operator's file is not in the bucket under the prefix")
	}
	if got := objects(t, srv, bucket); len(got) != 3 {
		t.Errorf("the bucket holds %v, want the three files", got)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "files")); err == nil {
		t.Error("files were kept in the data directory too")
	}
}

// upload sends a file as the visitor and returns its signed link.
func (v *visitorClient) upload(clientID, name string, data []byte) string {
	v.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, v.base+"/api/v1/files?client_id="+clientID+"&name="+name, bytes.NewReader(data))
	req.Header.Set("Authorization", "Bearer "+v.token)
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatalf("upload %s: %v", name, err)
	}
	defer resp.Body.Close()
	body, _ := io.ReadAll(resp.Body)
	var r struct{ File struct{ URL string } }
	if resp.StatusCode != http.StatusOK || json.Unmarshal(body, &r) != nil || r.File.URL == "" {
		v.t.Fatalf("upload %s: %s %s", name, resp.Status, body)
	}
	return r.File.URL
}

// download fetches a file's link (relative to the server).
func (v *visitorClient) download(url string) []byte {
	v.t.Helper()
	resp, err := http.Get(v.base + url)
	if err != nil {
		v.t.Fatalf("download %s: %v", url, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if resp.StatusCode != http.StatusOK || err != nil {
		v.t.Fatalf("download %s: %s %v", url, resp.Status, err)
	}
	return data
}

// inBucket reports whether data is in bucket under its content address and
// the prefix "site-a/" (versitygw keeps each object as a file under its
// bucket's directory).
func inBucket(t *testing.T, srv *testpeer.S3Server, bucket string, data []byte) bool {
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	stored, err := os.ReadFile(filepath.Join(srv.Dir, bucket, "site-a", "sha256", hash[:2], hash))
	return err == nil && bytes.Equal(stored, data)
}

// logOnFailure shows the server's output when the test fails.
func logOnFailure(t *testing.T, s *server) {
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", s.out.String())
		}
	})
}

// objects lists the bucket, the write check's directory markers aside.
func objects(t *testing.T, srv *testpeer.S3Server, bucket string) []string {
	var out []string
	for _, k := range srv.Objects(t, bucket, "") {
		if !strings.HasSuffix(k, "/") {
			out = append(out, k)
		}
	}
	return out
}

// serve refuses to start, with what to fix, when the bucket is missing or
// the credentials are wrong; `config check` (which makes no request)
// passes both.
func TestServeRefusesAnUnusableBucket(t *testing.T) {
	srv := testpeer.Versitygw(t)
	for _, tc := range []struct {
		name, bucket, secret, want string
	}{
		{"missing bucket", "no-such-bucket", srv.SecretAccessKey, `s3 bucket no-such-bucket does not exist on ` + srv.Endpoint},
		{"wrong secret", srv.Bucket(t), "wrong-secret", "check files.s3.access_key_id and files.s3.secret_access_key"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dir := t.TempDir()
			cfgPath := writeConfig(t, dir, s3Config(t, srv, tc.bucket))
			t.Setenv("CHATBRIDGE_S3_SECRET_ACCESS_KEY", tc.secret)
			if out, err := exec.Command(binPath, "config", "check", "--config", cfgPath).CombinedOutput(); err != nil {
				t.Errorf("config check: %v\n%s", err, out)
			}
			out, err := exec.Command(binPath, "serve", "--config", cfgPath).CombinedOutput()
			if err == nil || strings.Contains(string(out), "ready in") {
				t.Fatalf("serve started:\n%s", out)
			}
			if !strings.Contains(string(out), `files.storage = "s3": `) || !strings.Contains(string(out), tc.want) {
				t.Errorf("serve says:\n%s\nwant %q", out, tc.want)
			}
			if strings.Contains(string(out), "panic") || strings.Contains(string(out), tc.secret) {
				t.Errorf("serve panicked or showed the secret:\n%s", out)
			}
		})
	}
}
