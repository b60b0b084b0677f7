package app

import (
	"errors"
	"fmt"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/internal/config"
)

// Check passes exactly when Open builds everything: a configuration that
// passes `config check` starts, and one that serve refuses is refused by
// the check with the same key paths.
func TestCheckIsWhatOpenChecks(t *testing.T) {
	hash := "$2a$04$" + strings.Repeat("a", 53)
	for _, tc := range []struct {
		name string
		toml string
		want []string // key paths reported; none: valid
	}{
		{"defaults", ``, nil},
		{"slack with a bad token and channel", `
[slack]
bot_token = "not-a-bot-token"
app_token = "xapp-1-A1-1-abc"
channel = "general"`, []string{"slack.bot_token", "slack.channel"}},
		{"slack valid", `
[slack]
bot_token = "xoxb-1-2-abc"
app_token = "xapp-1-A1-1-abc"
channel = "C0123456789"`, nil},
		{"matrix with a bad user id", `
[matrix]
homeserver_url = "https://matrix.example.org"
user_id = "chatbridge"
access_token = "syt_abc"
operators = ["@alice:example.org"]`, []string{"matrix.user_id"}},
		{"inbox operator with a bad hash", `
[[inbox.operators]]
login = "alice"
password_hash = "plain"`, []string{"inbox.operators[0].password_hash"}},
		{"s3 without bucket and credentials", `
[files]
storage = "s3"
[files.s3]
endpoint = "https://s3.eu-west-1.amazonaws.com"`, []string{"files.s3.bucket", "files.s3.access_key_id", "files.s3.secret_access_key"}},
		{"s3 with a path in the endpoint, a bad bucket, prefix and CA file", `
[files]
storage = "s3"
[files.s3]
endpoint = "https://s3.example.com/chat"
bucket = "Chat_Files!"
prefix = "/abs/../x"
access_key_id = "AKIA1"
secret_access_key = "secret"
ca_file = "/nonexistent/ca.pem"`, []string{"files.s3.endpoint", "files.s3.bucket", "files.s3.prefix", "files.s3.ca_file"}},
		{"s3 with a CA file for a plain http endpoint", `
[files]
storage = "s3"
[files.s3]
endpoint = "http://127.0.0.1:9000"
bucket = "chat"
access_key_id = "AKIA1"
secret_access_key = "secret"
ca_file = "../../README.md"`, []string{"files.s3.ca_file"}},
		{"s3 valid (Open makes no request)", `
[files]
storage = "s3"
[files.s3]
endpoint = "http://127.0.0.1:1"
region = "us-east-1"
bucket = "chat"
prefix = "site-a"
access_key_id = "AKIA1"
secret_access_key = "secret"
path_style = true`, nil},
		{"etcd store with unreadable TLS files", `
[store]
backend = "etcd"
endpoints = ["https://127.0.0.1:1"]
ca_file = "/nonexistent/ca.pem"
cert_file = "/nonexistent/client.pem"
key_file = "/nonexistent/client-key.pem"`, []string{"store.ca_file", "store.cert_file"}},
		{"inbox operator valid", fmt.Sprintf(`
[[inbox.operators]]
login = "alice"
password_hash = %q`, hash), nil},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg, checkErr := config.Parse([]byte(tc.toml), func(string) string { return "" })
			if checkErr == nil { // the file's own rules pass: the components' remain
				cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
				checkErr = Check(cfg)
				a, openErr := Open(cfg, nil, Options{})
				if openErr == nil {
					defer a.Close()
				}
				if (checkErr == nil) != (openErr == nil) {
					t.Fatalf("Check = %v but Open = %v", checkErr, openErr)
				}
			}
			if len(tc.want) == 0 {
				if checkErr != nil {
					t.Fatalf("Check = %v, want nil", checkErr)
				}
				return
			}
			var ce *config.Errors
			if !errors.As(checkErr, &ce) {
				t.Fatalf("Check = %v, want *config.Errors", checkErr)
			}
			for _, key := range tc.want {
				found := false
				for _, f := range ce.Fields {
					found = found || f.Path == key
				}
				if !found {
					t.Errorf("Check does not name %s: %v", key, checkErr)
				}
			}
		})
	}
}

// The example configuration passes the check and opens.
func TestExampleConfigOpens(t *testing.T) {
	cfg, err := config.Load("../../bridge.example.toml")
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
	a, err := Open(cfg, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	if len(a.Runners()) < 2 || len(a.Closers()) < 1 {
		t.Fatalf("runners %d, closers %d", len(a.Runners()), len(a.Closers()))
	}
}

// The etcd store opens from [store] on a real member, and the app built on
// it is the same as on bbolt.
func TestOpenEtcd(t *testing.T) {
	c := testpeer.Etcd(t, 1)
	cfg, err := config.Parse([]byte(fmt.Sprintf(`
[store]
backend = "etcd"
endpoints = [%q]
prefix = "/app-test/"`, c.Endpoints()[0])), func(string) string { return "" })
	if err != nil {
		t.Fatal(err)
	}
	cfg.Server.DataDir = filepath.Join(t.TempDir(), "data")
	if err := Check(cfg); err != nil {
		t.Fatalf("Check: %v", err)
	}
	a, err := Open(cfg, nil, Options{})
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	defer a.Close()
	if _, ok := a.Store.(*etcdstore.Store); !ok {
		t.Fatalf("store is %T, want the etcd store", a.Store)
	}
	for _, h := range a.Engine.Health(t.Context()) {
		if h.Err != nil {
			t.Errorf("health %s: %v", h.Name, h.Err)
		}
	}
}
