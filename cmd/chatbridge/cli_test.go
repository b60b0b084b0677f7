package main

import (
	"bytes"
		"os"
	"path/filepath"
	"strings"
	"testing"

	"golang.org/x/crypto/bcrypt"
)

func runCLI(t *testing.T, args ...string) (stdout, stderr string, code int) {
	t.Helper()
	var o, e bytes.Buffer
	code = execute(args, &o, &e)
	return o.String(), e.String(), code
}

func TestConfigCheckReportsEveryProblem(t *testing.T) {
	path := filepath.Join(t.TempDir(), "bad.toml")
	bad := `
[server]
listen = "127.0.0.1:8080"
[visitor]
max_mesage_bytes = 500
long_poll_max = "forever"
[widget]
position = "middle"
`
	if err := os.WriteFile(path, []byte(bad), 0o600); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := runCLI(t, "config", "check", path)
	if code == 0 {
		t.Fatalf("config check exited 0 on a bad config; stderr:\n%s", stderr)
	}
	for _, key := range []string{"visitor.max_mesage_bytes", "visitor.long_poll_max", "widget.position"} {
		if !strings.Contains(stderr, key) {
			t.Errorf("config check output lacks %s:\n%s", key, stderr)
		}
	}
	if !strings.Contains(stderr, "3 problem") {
		t.Errorf("want 3 problems counted:\n%s", stderr)
	}
}

func TestConfigCheckExample(t *testing.T) {
	out, stderr, code := runCLI(t, "config", "check", "../../bridge.example.toml")
	if code != 0 || !strings.Contains(out, "OK") {
		t.Fatalf("example config: code %d\n%s%s", code, out, stderr)
	}
}

func TestVersion(t *testing.T) {
	out, _, code := runCLI(t, "version")
	if code != 0 || !strings.HasPrefix(out, "chatbridge ") {
		t.Fatalf("version: %d %q", code, out)
	}
}

func TestInboxHashPassword(t *testing.T) {
	root := newRootCmd(&bytes.Buffer{}, &bytes.Buffer{})
	var out bytes.Buffer
	root.SetOut(&out)
	root.SetIn(strings.NewReader("correct horse battery\n"))
	root.SetArgs([]string{"inbox", "hash-password"})
	if err := root.Execute(); err != nil {
		t.Fatal(err)
	}
	h := strings.TrimSpace(out.String())
	if !strings.HasPrefix(h, "$2a$") || len(h) != 60 {
		t.Fatalf("hash %q", h)
	}
	if err := bcrypt.CompareHashAndPassword([]byte(h), []byte("correct horse battery")); err != nil {
		t.Fatal(err)
	}
	root.SetIn(strings.NewReader("short\n"))
	if err := root.Execute(); err == nil {
		t.Fatal("a 5-character password was accepted")
	}
}

func TestSlackManifest(t *testing.T) {
	out, errOut, code := runCLI(t, "slack", "manifest", "--config", "../../bridge.example.toml")
	if code != 0 {
		t.Fatalf("slack manifest: %d %s", code, errOut)
	}
	for _, want := range []string{`"chat:write"`, `"chat:write.customize"`, `"channels:history"`, `"message.channels"`, `"socket_mode_enabled": true`} {
		if !strings.Contains(out, want) {
			t.Errorf("manifest lacks %s:\n%s", want, out)
		}
	}
}
