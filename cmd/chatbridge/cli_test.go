package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/internal/config"
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

func TestVersionJSON(t *testing.T) {
	out, _, code := runCLI(t, "version", "--json")
	var v versionInfo
	if code != 0 || json.Unmarshal([]byte(out), &v) != nil {
		t.Fatalf("version --json: %d %q", code, out)
	}
	if v.Version == "" || !strings.HasPrefix(v.GoVersion, "go") || !strings.Contains(v.Platform, "/") {
		t.Errorf("version --json = %+v", v)
	}
	out, _, _ = runCLI(t, "version")
	if !strings.Contains(out, v.GoVersion) || !strings.Contains(out, v.Version) {
		t.Errorf("version = %q, want the version and %s", out, v.GoVersion)
	}
}

// The configuration file: --config, else $CHATBRIDGE_CONFIG, else
// ./bridge.toml, else the defaults.
func TestConfigPrecedence(t *testing.T) {
	dir := t.TempDir()
	write := func(name, listen string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte("[server]\nlisten = \""+listen+"\"\n"), 0o600); err != nil {
			t.Fatal(err)
		}
		return p
	}
	flag := write("flag.toml", "127.0.0.1:1001")
	env := write("env.toml", "127.0.0.1:1002")
	write("bridge.toml", "127.0.0.1:1003")
	t.Chdir(dir)
	listen := func(args ...string) string {
		t.Helper()
		out, errOut, code := runCLI(t, append([]string{"config", "check", "--print"}, args...)...)
		if code != 0 {
			t.Fatalf("config check: %d %s", code, errOut)
		}
		cfg, err := config.Parse([]byte(out), nil)
		if err != nil {
			t.Fatal(err)
		}
		return cfg.Server.Listen
	}
	if got := listen(); got != "127.0.0.1:1003" {
		t.Errorf("with ./bridge.toml only: listen %s, want ./bridge.toml's", got)
	}
	t.Setenv("CHATBRIDGE_CONFIG", env)
	if got := listen(); got != "127.0.0.1:1002" {
		t.Errorf("with $CHATBRIDGE_CONFIG and ./bridge.toml: listen %s, want the environment's", got)
	}
	if got := listen("--config", flag); got != "127.0.0.1:1001" {
		t.Errorf("with --config too: listen %s, want the flag's", got)
	}
}

// A wrong command line says what is missing, shows the usage, and exits
// with 2; a failure exits with 1.
func TestUsageErrors(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		code int
		want string
	}{
		{[]string{"tickets", "show"}, exitUsage, "tickets show needs <number>"},
		{[]string{"conversations", "show", "a", "b"}, exitUsage, "takes <conversation-id>, and got 2"},
		{[]string{"tickets", "lst"}, exitUsage, `unknown command "lst" for chatbridge tickets; did you mean list?`},
		{[]string{"nosuch"}, exitUsage, `unknown command "nosuch"`},
		{[]string{"version", "--nosuch"}, exitUsage, "unknown flag: --nosuch"},
		{[]string{"tickets", "show", "1", "--data-dir", dir}, exitFailure, "no chatbridge data"},
	} {
		_, errOut, code := runCLI(t, tc.args...)
		if code != tc.code || !strings.Contains(errOut, tc.want) {
			t.Errorf("%v: exit %d, stderr %q; want %d and %q", tc.args, code, errOut, tc.code, tc.want)
		}
		if tc.code == exitUsage && !strings.Contains(errOut, "usage: chatbridge") {
			t.Errorf("%v: no usage line in %q", tc.args, errOut)
		}
	}
	if _, errOut, code := runCLI(t, "help"); code != 0 || strings.Contains(errOut, "chatbridge:") {
		t.Errorf("help: %d %q", code, errOut)
	}
	out, _, _ := runCLI(t, "--help")
	if !strings.Contains(out, "Exit status: 0") {
		t.Errorf("help does not document the exit codes:\n%s", out)
	}
}

// On an empty store: lists print [] as JSON, a missing record is named
// once, an unknown outbox destination is an error, and canned add creates
// the store before the first serve while read-only commands do not.
func TestCLIOnEmptyData(t *testing.T) {
	dir := t.TempDir()
	if _, errOut, code := runCLI(t, "conversations", "list", "--data-dir", dir); code != exitFailure || !strings.Contains(errOut, "no chatbridge data") {
		t.Fatalf("read before any data: %d %q", code, errOut)
	}
	if _, err := os.Stat(filepath.Join(dir, "chatbridge.db")); err == nil {
		t.Fatalf("a read-only command created the store")
	}
	if out, errOut, code := runCLI(t, "canned", "add", "hello", "Hello there!", "--data-dir", dir); code != 0 || !strings.Contains(out, "Added :hello") {
		t.Fatalf("canned add before the first serve: %d %q %q", code, out, errOut)
	}
	for _, args := range [][]string{{"conversations", "list"}, {"tickets", "list"}, {"leads", "list"}, {"outbox", "list"}, {"tickets", "search", "x"}} {
		out, errOut, code := runCLI(t, append(args, "--json", "--data-dir", dir)...)
		if code != 0 || strings.Contains(out, "null") {
			t.Errorf("%v --json: %d %q %q, want [] and no null", args, code, out, errOut)
		}
	}
	if _, errOut, _ := runCLI(t, "tickets", "show", "1", "--data-dir", dir); strings.TrimSpace(errOut) != "chatbridge: no ticket #1" {
		t.Errorf("tickets show 1: %q, want the missing ticket named once", errOut)
	}
	if _, errOut, _ := runCLI(t, "leads", "show", "3", "--data-dir", dir); strings.TrimSpace(errOut) != "chatbridge: no lead #3" {
		t.Errorf("leads show 3: %q", errOut)
	}
	if _, errOut, _ := runCLI(t, "canned", "remove", "nosuch", "--data-dir", dir); strings.TrimSpace(errOut) != "chatbridge: no shared canned response :nosuch" {
		t.Errorf("canned remove nosuch: %q", errOut)
	}
	if out, errOut, code := runCLI(t, "outbox", "list", "--destination", "nosuch", "--data-dir", dir); code != exitFailure || strings.Contains(out, "delivery went through") || !strings.Contains(errOut, `no destination "nosuch"`) {
		t.Errorf("outbox list --destination nosuch: %d %q %q", code, out, errOut)
	}
}

func TestAddOperator(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	run := func(stdin string, args ...string) (string, string, int) {
		t.Helper()
		var o, e bytes.Buffer
		root := newRootCmd(&o, &e)
		root.SetIn(strings.NewReader(stdin))
		root.SetArgs(args)
		err := root.Execute()
		switch {
		case err == nil:
			return o.String(), e.String(), 0
		case errors.As(err, new(usageError)):
			return o.String(), err.Error(), exitUsage
		}
		return o.String(), err.Error(), exitFailure
	}
	// No configuration yet: ./bridge.toml is created, mode 0600.
	out, errOut, code := run("alice-password\n", "inbox", "add-operator", "alice", "--name", "Alice Martin")
	if code != 0 || !strings.Contains(out, "Created bridge.toml") {
		t.Fatalf("first operator: %d %q %q", code, out, errOut)
	}
	if fi, err := os.Stat("bridge.toml"); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("bridge.toml: %v %v", fi, err)
	}
	// A second one is appended; the file keeps its comments.
	data, _ := os.ReadFile("bridge.toml")
	os.WriteFile("bridge.toml", append(data, "\n# my own comment\n[widget]\ntitle = \"Help\""...), 0o600)
	if out, errOut, code := run("bob-password\n", "inbox", "add-operator", "bob"); code != 0 || !strings.Contains(out, "Added the operator bob") {
		t.Fatalf("second operator: %d %q %q", code, out, errOut)
	}
	cfg, err := config.Load("bridge.toml")
	if err != nil {
		t.Fatal(err)
	}
	ops := cfg.Inbox.Operators
	if len(ops) != 2 || ops[0].Login != "alice" || ops[0].Name != "Alice Martin" || ops[1].Login != "bob" || cfg.Widget.Title != "Help" {
		t.Fatalf("operators %+v, widget title %q", ops, cfg.Widget.Title)
	}
	if bcrypt.CompareHashAndPassword([]byte(ops[1].PasswordHash), []byte("bob-password")) != nil {
		t.Errorf("bob's hash does not match his password")
	}
	data, _ = os.ReadFile("bridge.toml")
	if !strings.Contains(string(data), "# my own comment") {
		t.Errorf("the file lost its comment:\n%s", data)
	}
	// Refused, changing nothing.
	for _, tc := range []struct {
		name, stdin string
		args        []string
		file        string // replaces bridge.toml first, when set
		want        string
	}{
		{"same login", "x-password\n", []string{"inbox", "add-operator", "ALICE"}, "", `already has an operator "alice"`},
		{"short password", "short\n", []string{"inbox", "add-operator", "carol"}, "", "at least 8 characters"},
		{"login with a space", "x-password\n", []string{"inbox", "add-operator", "carol smith"}, "", "white space"},
		{"operators as an inline array", "x-password\n", []string{"inbox", "add-operator", "carol"}, "[inbox]\noperators = []\n", "add this block by hand"},
		{"invalid file", "x-password\n", []string{"inbox", "add-operator", "carol"}, "[server]\nlisten = 5\n", "fix them first"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if tc.file != "" {
				os.WriteFile("bridge.toml", []byte(tc.file), 0o600)
			}
			before, _ := os.ReadFile("bridge.toml")
			_, errOut, code := run(tc.stdin, tc.args...)
			after, _ := os.ReadFile("bridge.toml")
			if code == 0 || !strings.Contains(errOut, tc.want) {
				t.Errorf("exit %d, error %q; want a refusal saying %q", code, errOut, tc.want)
			}
			if !bytes.Equal(before, after) {
				t.Errorf("the file changed:\n%s", after)
			}
		})
	}
	// A symbolic link is not edited through.
	os.WriteFile("real.toml", nil, 0o600)
	os.Symlink("real.toml", "link.toml")
	if _, errOut, code := run("x-password\n", "inbox", "add-operator", "dave", "--config", "link.toml"); code == 0 || !strings.Contains(errOut, "not a regular file") {
		t.Errorf("through a symlink: %d %q", code, errOut)
	}
}
