package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
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
// check), says where files go, reports the bucket in /healthz, and a file
// an operator shares in Slack lands in the bucket under the prefix, byte
// for byte, while its caption reaches the visitor.
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
	v.send("m1", "Do you have the manual of the blue mug?")
	var root fakeslack.Post
	waitFor(t, "the visitor's message in the conversation's thread", func() bool {
		for _, p := range fake.Posts() {
			if !p.Ephemeral && p.Channel == fake.Channel && p.ThreadTS == "" {
				root = p
			}
		}
		for _, p := range fake.Posts() {
			if root.TS != "" && p.ThreadTS == root.TS && strings.Contains(p.Text, "manual of the blue mug") {
				return true
			}
		}
		return false
	})

	data := bytes.Repeat([]byte("%PDF-1.4\n% the blue mug's manual, page after page\n"), 4000)
	data = append(data, "%%EOF\n"...)
	fake.ShareFile(fakeslack.UserMessage{Channel: fake.Channel, ThreadTS: root.TS, User: "UALICE", Text: "Here is the manual."},
		fakeslack.Upload{Name: "manual.pdf", Data: data})
	waitForLogged(t, "the file's caption at the visitor", func() bool {
		var got struct{ Messages []struct{ From, Text string } }
		v.do(http.MethodGet, "/api/v1/messages?after=0", nil, &got)
		n := len(got.Messages)
		return n > 0 && got.Messages[n-1].Text == "Here is the manual."
	}, s)
	sum := sha256.Sum256(data)
	hash := hex.EncodeToString(sum[:])
	key := "site-a/sha256/" + hash[:2] + "/" + hash
	if got := objects(t, srv, bucket); len(got) != 1 || got[0] != key {
		t.Fatalf("the bucket holds %v, want only %s", got, key)
	}
	// versitygw keeps each object as a file under its bucket's directory.
	stored, err := os.ReadFile(filepath.Join(srv.Dir, bucket, filepath.FromSlash(key)))
	if err != nil || !bytes.Equal(stored, data) {
		t.Errorf("the object is not the shared file's bytes (%d bytes, %v)", len(stored), err)
	}
	if _, err := os.Stat(filepath.Join(dir, "data", "files")); err == nil {
		t.Error("files were kept in the data directory too")
	}
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

// waitForLogged is waitFor that shows the server's output when it times
// out.
func waitForLogged(t *testing.T, what string, cond func() bool, s *server) {
	t.Helper()
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("server output:\n%s", s.out.String())
		}
	})
	waitFor(t, what, cond)
}
