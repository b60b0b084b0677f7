package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/internal/fixture"
)

// binPath is the chatbridge binary built once for the process tests.
var binPath string

func TestMain(m *testing.M) {
	dir, err := os.MkdirTemp("", "chatbridge-bin")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	binPath = filepath.Join(dir, "chatbridge")
	build := exec.Command("go", "build", "-o", binPath, ".")
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "build chatbridge:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// server is a chatbridge child process.
type server struct {
	cmd  *exec.Cmd
	base string // the public listener
	ops  string // the operations listener (server.admin_listen), "" when off
	out  *syncBuffer
}

type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var (
	apiLine = regexp.MustCompile(`visitor API:\s+(https?://\S+)/api/v1/`)
	opsLine = regexp.MustCompile(`operations:\s+(http://\S+)/metrics`)
	// listenLine is the listener itself, also when server.public_url is
	// another address.
	listenLine = regexp.MustCompile(`listening on:\s+(http://\S+)`)
)

// startServer runs `chatbridge serve` with cfgPath and waits until it prints
// its URLs.
func startServer(t *testing.T, cfgPath string) *server {
	t.Helper()
	return startServerCmd(t, exec.Command(binPath, "serve", "--config", cfgPath))
}

// startServerCmd starts a prepared `chatbridge serve` command.
func startServerCmd(t *testing.T, cmd *exec.Cmd) *server {
	t.Helper()
	stdout, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	cmd.Stderr = logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s := &server{cmd: cmd, out: logs}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			_ = cmd.Process.Kill()
			_ = cmd.Wait()
		}
	})
	found := make(chan string, 1)
	ops, listen := make(chan string, 1), make(chan string, 1)
	go func() {
		sc := bufio.NewScanner(stdout)
		for sc.Scan() {
			logs.Write([]byte(sc.Text() + "\n"))
			if m := apiLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case found <- m[1]:
				default:
				}
			}
			if m := listenLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case listen <- m[1]:
				default:
				}
			}
			if m := opsLine.FindStringSubmatch(sc.Text()); m != nil {
				select {
				case ops <- m[1]:
				default:
				}
			}
		}
	}()
	select {
	case s.base = <-found:
	case <-time.After(20 * time.Second):
		t.Fatalf("server did not start; output:\n%s", logs.String())
	}
	// The listening and operations lines come before the visitor API's,
	// so they were read already.
	select {
	case s.ops = <-ops:
	default:
	}
	select {
	case s.base = <-listen:
	default:
	}
	return s
}

// stop sends SIGTERM and waits for a clean exit.
func (s *server) stop(t *testing.T) {
	t.Helper()
	_ = s.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan error, 1)
	go func() { done <- s.cmd.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("server exited with %v; output:\n%s", err, s.out.String())
		}
	case <-time.After(15 * time.Second):
		t.Fatalf("server did not stop on SIGTERM; output:\n%s", s.out.String())
	}
}

func (s *server) kill(t *testing.T) {
	t.Helper()
	if err := s.cmd.Process.Signal(syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	_ = s.cmd.Wait()
}

// visitorClient talks to the visitor API like a widget would.
type visitorClient struct {
	t     *testing.T
	base  string
	token string
}

func (v *visitorClient) do(method, path string, body any, out any) int {
	v.t.Helper()
	var rd io.Reader
	if body != nil {
		b, _ := json.Marshal(body)
		rd = bytes.NewReader(b)
	}
	req, _ := http.NewRequest(method, v.base+path, rd)
	if v.token != "" {
		req.Header.Set("Authorization", "Bearer "+v.token)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		v.t.Fatalf("%s %s: %v", method, path, err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	if out != nil && resp.StatusCode < 300 {
		if err := json.Unmarshal(data, out); err != nil {
			v.t.Fatalf("%s %s: decode %q: %v", method, path, data, err)
		}
	}
	return resp.StatusCode
}

func newVisitor(t *testing.T, base, name string) *visitorClient {
	v := &visitorClient{t: t, base: base}
	var s struct{ Token string }
	if code := v.do("POST", "/api/v1/sessions", map[string]string{"name": name}, &s); code != http.StatusCreated {
		t.Fatalf("create session: status %d", code)
	}
	v.token = s.Token
	return v
}

func (v *visitorClient) send(clientID, text string) uint64 {
	v.t.Helper()
	var r struct{ Seq uint64 }
	if code := v.do("POST", "/api/v1/messages", map[string]string{"client_id": clientID, "text": text}, &r); code != http.StatusOK {
		v.t.Fatalf("send %q: status %d", text, code)
	}
	return r.Seq
}

// receiver is a webhook endpoint that records conversation messages and can
// be told to fail.
type receiver struct {
	mu       sync.Mutex
	failing  bool
	attempts map[string]int // event id → attempts seen
	accepted []string       // texts of accepted message events, in order
	ids      []string       // their event ids
}

func (r *receiver) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	var ev struct {
		ID      string `json:"id"`
		Type    string `json:"type"`
		Message *struct {
			Text string `json:"text"`
			From string `json:"from"`
		} `json:"message"`
	}
	body, _ := io.ReadAll(req.Body)
	_ = json.Unmarshal(body, &ev)
	r.mu.Lock()
	defer r.mu.Unlock()
	if ev.Type != "message" || ev.Message == nil || ev.Message.From != "visitor" {
		w.WriteHeader(http.StatusNoContent)
		return
	}
	if r.attempts == nil {
		r.attempts = map[string]int{}
	}
	r.attempts[ev.ID]++
	if r.failing {
		http.Error(w, "down for maintenance", http.StatusServiceUnavailable)
		return
	}
	r.accepted = append(r.accepted, ev.Message.Text)
	r.ids = append(r.ids, ev.ID)
	w.WriteHeader(http.StatusNoContent)
}

func (r *receiver) snapshot() (accepted []string, attempts int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	for _, n := range r.attempts {
		attempts += n
	}
	return append([]string(nil), r.accepted...), attempts
}

func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	fixture.WaitWithin(t, 30*time.Second, what, cond) // a process starts slower than a goroutine
}

func writeConfig(t testing.TB, dir, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "bridge.toml")
	cfg := fmt.Sprintf(`
[server]
listen = "127.0.0.1:0"
admin_listen = "127.0.0.1:0"
data_dir = %q
[log]
level = "debug"
%s
`, filepath.Join(dir, "data"), extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestKillDuringDelivery kills the server (SIGKILL) after it accepted a
// visitor message that the operator side has not received yet: after a
// restart the message is delivered exactly once, in order with the messages
// before and after it.
func TestKillDuringDelivery(t *testing.T) {
	rcv := &receiver{}
	hook := httptest.NewServer(rcv)
	defer hook.Close()
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
[sinks.webhook]
url = %q
secret = "test-secret"
events = ["message"]
`, hook.URL))

	s := startServer(t, cfgPath)
	v := newVisitor(t, s.base, "Alice")
	v.send("m1", "first")
	waitFor(t, "first message delivered", func() bool { a, _ := rcv.snapshot(); return len(a) == 1 })

	rcv.mu.Lock()
	rcv.failing = true
	rcv.mu.Unlock()
	v.send("m2", "second") // acknowledged: committed with its outbox entry
	waitFor(t, "a failed delivery attempt of the second message", func() bool { _, n := rcv.snapshot(); return n >= 2 })
	// The site owner can see what is stuck, and why.
	waitFor(t, "the failed attempt recorded in the outbox", func() bool {
		out, err := exec.Command(binPath, "outbox", "list", "--json", "--config", cfgPath).Output()
		var rows []struct {
			Destination string `json:"destination"`
			Attempts    int    `json:"attempts"`
			LastError   string `json:"last_error"`
		}
		if err != nil || json.Unmarshal(out, &rows) != nil {
			return false
		}
		return len(rows) == 1 && rows[0].Destination == "webhook" && rows[0].Attempts >= 1 && strings.Contains(rows[0].LastError, "503")
	})
	resp, err := http.Get(s.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	metrics, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`chatbridge_outbox_oldest_seconds{destination="webhook"}`, `chatbridge_outbox_depth{destination="webhook"} 1`} {
		if !strings.Contains(string(metrics), want) {
			t.Errorf("metrics lack %s while the webhook is down", want)
		}
	}
	s.kill(t)

	rcv.mu.Lock()
	rcv.failing = false
	rcv.mu.Unlock()
	s = startServer(t, cfgPath)
	v.base = s.base
	// The widget retries the same client_id after a failure: idempotent.
	if seq := v.send("m2", "second"); seq != 2 {
		t.Errorf("retried m2 got seq %d, want 2", seq)
	}
	v.send("m3", "third")
	waitFor(t, "all messages delivered", func() bool { a, _ := rcv.snapshot(); return len(a) >= 3 })
	s.stop(t)

	got, _ := rcv.snapshot()
	want := []string{"first", "second", "third"}
	if strings.Join(got, "|") != strings.Join(want, "|") {
		t.Fatalf("delivered %q, want %q exactly once each, in order", got, want)
	}
	rcv.mu.Lock()
	ids := map[string]bool{}
	for _, id := range rcv.ids {
		if ids[id] {
			t.Errorf("event %s accepted twice", id)
		}
		ids[id] = true
	}
	rcv.mu.Unlock()
}

// TestConversationsListSameAnswer: `conversations list --json` answers the
// same through the admin socket of a running server and from the file.
func TestConversationsListSameAnswer(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "")
	s := startServer(t, cfgPath)
	for i, name := range []string{"Ann", "Bob"} {
		v := newVisitor(t, s.base, name)
		v.send(fmt.Sprint("c", i), "hello from "+name)
	}
	list := func() string {
		t.Helper()
		out, err := exec.Command(binPath, "conversations", "list", "--json", "--config", cfgPath).CombinedOutput()
		if err != nil {
			t.Fatalf("conversations list: %v\n%s", err, out)
		}
		return string(out)
	}
	running := list()
	if _, err := os.Stat(filepath.Join(dir, "data", "admin.sock")); err != nil {
		t.Fatalf("admin socket missing while serving: %v", err)
	}
	if fi, _ := os.Stat(filepath.Join(dir, "data", "admin.sock")); fi.Mode().Perm() != 0o600 {
		t.Errorf("admin socket mode %v, want 0600", fi.Mode().Perm())
	}
	s.stop(t)
	stopped := list()
	if running != stopped {
		t.Fatalf("answers differ:\nwhile serving:\n%s\nafter stop:\n%s", running, stopped)
	}
	var rows []struct {
		Visitor struct{ Name string }
	}
	if err := json.Unmarshal([]byte(stopped), &rows); err != nil || len(rows) != 2 {
		t.Fatalf("want 2 conversations, got %d (%v):\n%s", len(rows), err, stopped)
	}
}

// TestHealthAndMetrics: the public listener says only whether the server
// is healthy and serves no metrics; the operations listener has both, with
// the checks by name.
func TestHealthAndMetrics(t *testing.T) {
	dir := t.TempDir()
	s := startServer(t, writeConfig(t, dir, ""))
	defer s.stop(t)
	if s.ops == "" {
		t.Fatalf("no operations listener in the banner:\n%s", s.out.String())
	}
	v := newVisitor(t, s.base, "Carol")
	v.send("x1", "hi")
	get := func(url string) (int, string) {
		t.Helper()
		resp, err := http.Get(url)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		return resp.StatusCode, string(body)
	}
	if code, body := get(s.base + "/healthz"); code != 200 || strings.TrimSpace(body) != "{\n  \"ok\": true\n}" {
		t.Errorf("public healthz: %d %s, want 200 and only {\"ok\": true}", code, body)
	}
	if code, body := get(s.base + "/metrics"); code != http.StatusNotFound || strings.Contains(body, "chatbridge_") {
		t.Errorf("public /metrics: %d, want 404 without metrics:\n%.200s", code, body)
	}
	if code, body := get(s.ops + "/healthz"); code != 200 || !strings.Contains(body, `"store"`) {
		t.Errorf("operations healthz: %d %s", code, body)
	}
	_, body := get(s.ops + "/metrics")
	for _, want := range []string{`chatbridge_messages_in_total{from="visitor"} 1`, `chatbridge_conversations{status="open"} 1`} {
		if !strings.Contains(body, want) {
			t.Errorf("metrics lack %q", want)
		}
	}
	// `chatbridge health` asks the operations listener.
	out, err := exec.Command(binPath, "health", "--url", s.ops+"/healthz").CombinedOutput()
	if err != nil || !strings.Contains(string(out), `"store"`) {
		t.Errorf("chatbridge health: %v\n%s", err, out)
	}
}

// TestLongDataDir: a data directory whose admin socket path would be too
// long for a unix socket still serves, and the CLI still reaches it (the
// socket is bound relative to the working directory).
func TestLongDataDir(t *testing.T) {
	dir := t.TempDir()
	long := filepath.Join(dir, strings.Repeat("d", 45), strings.Repeat("e", 45)) // > 107 bytes with dir, < 107 relative
	cfg := filepath.Join(dir, "bridge.toml")
	os.WriteFile(cfg, []byte(fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = %q\n", long)), 0o600)
	cmd := exec.Command(binPath, "serve", "--config", cfg)
	cmd.Dir = dir
	s := startServerCmd(t, cmd)
	v := newVisitor(t, s.base, "Long")
	v.send("l1", "hello")
	list := exec.Command(binPath, "conversations", "list", "--json", "--config", cfg)
	list.Dir = dir
	out, err := list.CombinedOutput()
	if err != nil || !strings.Contains(string(out), "Long") {
		t.Fatalf("conversations list: %v\n%s", err, out)
	}
	s.stop(t)
}

// `config check` refuses what `serve` refuses: the binary, on a
// configuration whose file rules pass but whose Slack settings the adapter
// refuses, reports the same problems both ways, and serve does not start.
func TestConfigCheckRefusesWhatServeRefuses(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, `
[slack]
bot_token = "not-a-bot-token"
app_token = "xapp-1-A1-1-abc"
channel = "general"
`)
	check := exec.Command(binPath, "config", "check", "--config", cfgPath)
	checkOut, err := check.CombinedOutput()
	if err == nil {
		t.Fatalf("config check passed:\n%s", checkOut)
	}
	serve := exec.Command(binPath, "serve", "--config", cfgPath)
	serveOut, err := serve.CombinedOutput()
	if err == nil {
		t.Fatalf("serve started:\n%s", serveOut)
	}
	for _, key := range []string{"slack.bot_token", "slack.channel"} {
		if !strings.Contains(string(checkOut), key) || !strings.Contains(string(serveOut), key) {
			t.Errorf("%s is not reported by both:\nconfig check:\n%s\nserve:\n%s", key, checkOut, serveOut)
		}
	}
	if strings.Contains(string(serveOut), "ready in") {
		t.Errorf("serve got ready with a configuration config check refuses:\n%s", serveOut)
	}
}

// A delivery the destination refuses for good is a dead letter: the CLI
// lists it and the metric counts it; once the destination is fixed,
// `outbox retry` delivers it, and `outbox drop` deletes another for good.
func TestDeadLettersThroughTheCLI(t *testing.T) {
	var gone atomic.Bool
	gone.Store(true)
	rcv := &receiver{}
	hook := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if gone.Load() {
			http.Error(w, "this endpoint is gone", http.StatusGone)
			return
		}
		rcv.ServeHTTP(w, r)
	}))
	defer hook.Close()
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf(`
[sinks.webhook]
url = %q
secret = "test-secret"
events = ["message"]
`, hook.URL))
	s := startServer(t, cfgPath)
	defer s.stop(t)
	v := newVisitor(t, s.base, "Dora")
	v.send("d1", "first")
	v.send("d2", "second")

	type row struct {
		ID          uint64 `json:"id"`
		Destination string `json:"destination"`
		LastError   string `json:"last_error"`
	}
	deadRows := func() []row {
		out, err := exec.Command(binPath, "outbox", "list", "--dead", "--json", "--config", cfgPath).Output()
		var rows []row
		if err != nil || json.Unmarshal(out, &rows) != nil {
			return nil
		}
		return rows
	}
	var rows []row
	waitFor(t, "two dead letters", func() bool { rows = deadRows(); return len(rows) == 2 })
	if rows[0].Destination != "webhook" || !strings.Contains(rows[0].LastError, "410") {
		t.Fatalf("dead letters %+v", rows)
	}
	resp, err := http.Get(s.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if !strings.Contains(string(body), `chatbridge_outbox_dead{destination="webhook"} 2`) {
		t.Errorf("metrics lack the dead letters:\n%s", body)
	}

	gone.Store(false)
	out, err := exec.Command(binPath, "outbox", "retry", fmt.Sprint(rows[0].ID), "--config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "back in the outbox of webhook") {
		t.Fatalf("outbox retry: %v\n%s", err, out)
	}
	waitFor(t, "the retried letter delivered", func() bool { a, _ := rcv.snapshot(); return slices.Contains(a, "first") })
	out, err = exec.Command(binPath, "outbox", "drop", fmt.Sprint(rows[1].ID), "--config", cfgPath).CombinedOutput()
	if err != nil || !strings.Contains(string(out), "deleted") {
		t.Fatalf("outbox drop: %v\n%s", err, out)
	}
	if rows := deadRows(); len(rows) != 0 {
		t.Fatalf("dead letters left: %+v", rows)
	}
	if a, _ := rcv.snapshot(); slices.Contains(a, "second") {
		t.Fatal("the dropped letter was delivered")
	}
	out, err = exec.Command(binPath, "outbox", "retry", "999999", "--config", cfgPath).CombinedOutput()
	if err == nil || !strings.Contains(string(out), "no dead letter 999999") {
		t.Fatalf("retry of an unknown id: %v\n%s", err, out)
	}
}
