package main

import (
	"bufio"
	"bytes"
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/cookiejar"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// Tests of issue 12 ("ready for production") on the real binary.

func TestProductionConfigServesNoDemoAndPrintsNoPassword(t *testing.T) {
	dir := t.TempDir()
	cfg := writeServerConfig(t, dir, `public_url = "https://chat.example.com"`, "")
	s := startServer(t, cfg)
	resp, err := http.Get(s.base + "/")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusNotFound {
		t.Errorf("GET / with a public_url: status %d, want 404 (no demo page)", resp.StatusCode)
	}
	s.stop(t)
	out := s.out.String()
	if strings.Contains(out, "demo page") {
		t.Errorf("the banner announces a demo page:\n%s", out)
	}
	if strings.Contains(out, "password") && !strings.Contains(out, "asks for a password") {
		t.Errorf("a password is printed although stdout is not a terminal:\n%s", out)
	}
	for _, want := range []string{
		"no operator is configured: nobody can log in",
		"chatbridge inbox add-operator",
		// Warnings for what is unsafe with this public URL.
		"key=visitor.allowed_origins",
		"key=visitor.trust_proxy_headers",
		"key=inbox.operators",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
}

// On a terminal, with no operator configured, serve makes a temporary one
// and shows its password there; the default loopback run serves the demo.
func TestTerminalRunShowsTemporaryPassword(t *testing.T) {
	dir := t.TempDir()
	cfg := writeServerConfig(t, dir, "", "")
	master, slave := openPTY(t)
	cmd := exec.Command(binPath, "serve", "--config", cfg)
	cmd.Stdout, cmd.Stdin = slave, slave
	var logs syncBuffer
	cmd.Stderr = &logs
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	slave.Close()
	t.Cleanup(func() { _ = cmd.Process.Kill(); _ = cmd.Wait() })
	var screen syncBuffer
	go func() { _, _ = io.Copy(&screen, master) }()
	pwRE := regexp.MustCompile(`with the password (\S+) \(shown once`)
	var pw, base string
	waitFor(t, "the banner on the terminal", func() bool {
		m, b := pwRE.FindStringSubmatch(screen.String()), apiLine.FindStringSubmatch(screen.String())
		if m != nil && b != nil {
			pw, base = m[1], b[1]
			return true
		}
		return false
	})
	if strings.Contains(logs.String(), pw) {
		t.Errorf("the password is in the log:\n%s", logs.String())
	}
	if !strings.Contains(screen.String(), "demo page:") {
		t.Errorf("a loopback run without public_url shows no demo page:\n%s", screen.String())
	}
	resp, err := noRedirect().PostForm(base+"/inbox/login", url.Values{"login": {"admin"}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Errorf("log in with the temporary password: status %d, want 303", resp.StatusCode)
	}
}

// writeServerConfig writes a configuration with serverKeys in [server] and
// extra tables after it.
func writeServerConfig(t *testing.T, dir, serverKeys, extra string) string {
	t.Helper()
	path := filepath.Join(dir, "bridge.toml")
	cfg := fmt.Sprintf("[server]\nlisten = \"127.0.0.1:0\"\nadmin_listen = \"127.0.0.1:0\"\ndata_dir = %q\n%s\n%s\n", filepath.Join(dir, "data"), serverKeys, extra)
	if err := os.WriteFile(path, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func noRedirect() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
}

func hashFor(t *testing.T, pw string) string {
	t.Helper()
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		t.Fatal(err)
	}
	return string(h)
}

// Failed logins slow down that login from that address only: a correct
// password from another address, or for another login from the guessing
// address, still gets in.
func TestLoginSlowedPerLoginAndAddress(t *testing.T) {
	dir := t.TempDir()
	cfg := writeServerConfig(t, dir, "", fmt.Sprintf(`
[visitor]
trust_proxy_headers = true
[[inbox.operators]]
login = "alice"
password_hash = %q
[[inbox.operators]]
login = "bob"
password_hash = %q
`, hashFor(t, "alice-password"), hashFor(t, "bob-password")))
	s := startServer(t, cfg)
	defer s.stop(t)
	login := func(from, login, pw string) *http.Response {
		t.Helper()
		req, _ := http.NewRequest("POST", s.base+"/inbox/login", strings.NewReader(url.Values{"login": {login}, "password": {pw}}.Encode()))
		req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
		req.Header.Set("X-Forwarded-For", from)
		resp, err := noRedirect().Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	for i := range 6 {
		if r := login("203.0.113.1", "alice", "guess"); r.StatusCode != http.StatusUnauthorized && r.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("guess %d: status %d", i+1, r.StatusCode)
		}
	}
	r := login("203.0.113.1", "alice", "alice-password")
	if r.StatusCode != http.StatusTooManyRequests || r.Header.Get("Retry-After") == "" {
		t.Errorf("the guessing address, right password: status %d (Retry-After %q), want 429 with Retry-After", r.StatusCode, r.Header.Get("Retry-After"))
	}
	if r := login("198.51.100.2", "alice", "alice-password"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("alice from another address: status %d, want 303", r.StatusCode)
	}
	if r := login("203.0.113.1", "bob", "bob-password"); r.StatusCode != http.StatusSeeOther {
		t.Errorf("bob from the guessing address: status %d, want 303", r.StatusCode)
	}
}

// A signed identity with a far-future expiry is refused; one within
// visitor.identity_max_lifetime is accepted.
func TestFarFutureIdentityRefused(t *testing.T) {
	const secret = "a-long-identity-secret"
	dir := t.TempDir()
	s := startServer(t, writeServerConfig(t, dir, "", "[visitor]\nidentity_secret = \""+secret+"\"\nidentity_max_lifetime = \"1h\"\n"))
	defer s.stop(t)
	for _, tc := range []struct {
		expires int64
		want    int
	}{
		{99999999999, http.StatusUnauthorized},
		{time.Now().Add(2 * time.Hour).Unix(), http.StatusUnauthorized},
		{time.Now().Add(30 * time.Minute).Unix(), http.StatusCreated},
	} {
		id := map[string]any{"user_id": "42", "expires": tc.expires}
		mac := hmac.New(sha256.New, []byte(secret))
		mac.Write([]byte("42\n\n\n" + strconv.FormatInt(tc.expires, 10)))
		id["signature"] = hex.EncodeToString(mac.Sum(nil))
		v := &visitorClient{t: t, base: s.base}
		if code := v.do("POST", "/api/v1/sessions", map[string]any{"identity": id}, nil); code != tc.want {
			t.Errorf("identity expiring at %d: status %d, want %d", tc.expires, code, tc.want)
		}
	}
}

// An offline e-mail's resume link works once; the second time it answers
// 410 resume_used.
func TestResumeLinkWorksOnce(t *testing.T) {
	sink := startSMTPSink(t)
	dir := t.TempDir()
	cfg := writeServerConfig(t, dir, "", fmt.Sprintf(`
[email]
host = "127.0.0.1"
port = %d
from = "Support <support@shop.example>"
tls = "none"
away_after = "1s"
[[inbox.operators]]
login = "alice"
password_hash = %q
`, sink.port(), hashFor(t, "alice-password")))
	s := startServer(t, cfg)
	defer s.stop(t)

	v := &visitorClient{t: t, base: s.base}
	var sess struct{ Token string }
	if code := v.do("POST", "/api/v1/sessions", map[string]string{"name": "Ann", "email": "ann@example.com"}, &sess); code != http.StatusCreated {
		t.Fatalf("session: %d", code)
	}
	v.token = sess.Token
	v.send("m1", "Where is my parcel?")
	var msgs struct {
		ConversationID string `json:"conversation_id"`
	}
	v.do("GET", "/api/v1/messages?after=0", nil, &msgs)

	op := inboxLogin(t, s.base, "alice", "alice-password")
	op.reply(msgs.ConversationID, "It left this morning.")

	var mail string
	waitFor(t, "the offline e-mail", func() bool { mail = sink.last(); return mail != "" })
	// Quoted-printable: soft line breaks and "=3D" for "=".
	unqp := strings.ReplaceAll(strings.ReplaceAll(mail, "=\r\n", ""), "=3D", "=")
	m := regexp.MustCompile(`chatbridge_resume=([A-Za-z0-9_.\-]+)`).FindStringSubmatch(unqp)
	if m == nil {
		t.Fatalf("no resume link in the e-mail:\n%s", mail)
	}
	code := m[1]
	resume := func() (int, string) {
		resp, err := http.Post(s.base+"/api/v1/sessions/resume", "application/json", strings.NewReader(`{"code":"`+code+`"}`))
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(body)
	}
	if st, body := resume(); st != http.StatusCreated {
		t.Fatalf("first use: %d %s", st, body)
	}
	if st, body := resume(); st != http.StatusGone || !strings.Contains(body, "resume_used") {
		t.Fatalf("second use: %d %s, want 410 resume_used", st, body)
	}
}

// operatorClient is a logged-in inbox session.
type operatorClient struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func inboxLogin(t *testing.T, base, login, pw string) *operatorClient {
	t.Helper()
	c := &operatorClient{t: t, base: base, hc: noRedirect()}
	resp, err := c.hc.PostForm(base+"/inbox/login", url.Values{"login": {login}, "password": {pw}})
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		t.Fatalf("inbox login: %d", resp.StatusCode)
	}
	resp, err = c.hc.Get(base + "/inbox/")
	if err != nil {
		t.Fatal(err)
	}
	page, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	m := regexp.MustCompile(`name="csrf-token" content="([^"]+)"`).FindSubmatch(page)
	if m == nil {
		t.Fatalf("no CSRF token in the inbox page")
	}
	c.csrf = string(m[1])
	return c
}

func (c *operatorClient) reply(convID, text string) {
	c.t.Helper()
	resp, err := c.hc.PostForm(c.base+"/inbox/c/"+convID+"/reply", url.Values{"csrf": {c.csrf}, "event_id": {fmt.Sprint(time.Now().UnixNano())}, "text": {text}})
	if err != nil {
		c.t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusSeeOther {
		c.t.Fatalf("reply: status %d", resp.StatusCode)
	}
}

// smtpSink is a loopback SMTP server that keeps the messages it accepts.
type smtpSink struct {
	ln   net.Listener
	mu   sync.Mutex
	msgs []string
	wg   sync.WaitGroup
}

func startSMTPSink(t *testing.T) *smtpSink {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &smtpSink{ln: ln}
	s.wg.Go(func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.wg.Go(func() { s.session(c) })
		}
	})
	t.Cleanup(func() { ln.Close(); s.wg.Wait() })
	return s
}

func (s *smtpSink) port() int { return s.ln.Addr().(*net.TCPAddr).Port }

func (s *smtpSink) last() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.msgs) == 0 {
		return ""
	}
	return s.msgs[len(s.msgs)-1]
}

func (s *smtpSink) session(c net.Conn) {
	defer c.Close()
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	r := bufio.NewReader(c)
	say := func(l string) { _, _ = io.WriteString(c, l+"\r\n") }
	say("220 sink ready")
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return
		}
		switch verb := strings.ToUpper(strings.Fields(line + " x")[0]); verb {
		case "EHLO", "HELO":
			say("250 sink")
		case "DATA":
			say("354 go on")
			var b strings.Builder
			for {
				l, err := r.ReadString('\n')
				if err != nil {
					return
				}
				if l == ".\r\n" {
					break
				}
				b.WriteString(l)
			}
			s.mu.Lock()
			s.msgs = append(s.msgs, b.String())
			s.mu.Unlock()
			say("250 accepted")
		case "QUIT":
			say("221 bye")
			return
		default:
			say("250 ok")
		}
	}
}

// A visitor's hostile name and text reach the terminal with every control
// and bidi character shown, never raw.
func TestCLIOutputIsTerminalSafe(t *testing.T) {
	dir := t.TempDir()
	cfg := writeServerConfig(t, dir, "", "")
	s := startServer(t, cfg)
	// Names refuse control characters (the API), not bidi controls; texts
	// may hold anything.
	const name = "Eve\u202eevil\u2066x"
	const hostile = "\x1b]0;pwned\x07\x1b[2J\rX\u202eevil\u0085\u009b31m"
	v := newVisitor(t, s.base, name)
	v.send("h1", "hi "+hostile+"\nfake line\x1b[1A")
	s.stop(t)
	var convs []struct{ Conversation struct{ ID string } }
	out, err := exec.Command(binPath, "conversations", "list", "--json", "--config", cfg).Output()
	if err != nil || json.Unmarshal(out, &convs) != nil || len(convs) != 1 {
		t.Fatalf("conversations list --json: %v\n%s", err, out)
	}
	id := convs[0].Conversation.ID
	for _, args := range [][]string{
		{"conversations", "list"},
		{"conversations", "list", "--json"},
		{"conversations", "show", id},
		{"conversations", "show", id, "--json"},
		{"conversations", "export", id},
	} {
		out, err := exec.Command(binPath, append(args, "--config", cfg)...).Output()
		if err != nil {
			t.Fatalf("%v: %v", args, err)
		}
		text := string(out)
		if i := strings.IndexFunc(text, func(r rune) bool {
			return (r < 0x20 && r != '\n' && r != '\t') || r == 0x7f || (r >= 0x80 && r <= 0x9f) || r == 0x202e
		}); i >= 0 {
			t.Errorf("%v prints a raw %U:\n%q", args, []rune(text[i:])[0], text)
		}
		if !strings.Contains(args[len(args)-1], "json") && !strings.Contains(text, `\x1b]0;pwned\x07\x1b[2J`) {
			t.Errorf("%v does not show the escapes visibly:\n%s", args, text)
		}
		if args[1] != "export" && !strings.Contains(args[len(args)-1], "json") && !strings.Contains(text, "Eve<U+202E>evil<U+2066>x") {
			t.Errorf("%v does not show the name's bidi controls visibly:\n%s", args, text)
		}
		if strings.Contains(text, "\nfake line") {
			t.Errorf("%v lets a message start a line of its own:\n%s", args, text)
		}
	}
}

// The read timeout closes a connection that sends its headers or its body
// too slowly, but does not cut a long poll that waits longer than it.
func TestReadTimeouts(t *testing.T) {
	dir := t.TempDir()
	cfg := writeServerConfig(t, dir, `read_timeout = "1s"`, "")
	s := startServer(t, cfg)
	defer s.stop(t)
	addr := strings.TrimPrefix(s.base, "http://")
	closedWithin := func(what, send string) {
		t.Helper()
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		start := time.Now()
		if _, err := io.WriteString(c, send); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		_, _ = io.ReadAll(c) // until the server closes
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: the connection stayed open %s", what, d)
		}
	}
	closedWithin("slow headers", "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\n")
	closedWithin("slow body", "POST /api/v1/sessions HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"na")

	v := newVisitor(t, s.base, "Patient")
	v.send("p1", "hello")
	start := time.Now()
	if code := v.do("GET", "/api/v1/messages?after=1&wait=3", nil, nil); code != http.StatusOK {
		t.Errorf("a 3 s long poll with a 1 s read timeout: status %d", code)
	}
	if d := time.Since(start); d < 2500*time.Millisecond {
		t.Errorf("the long poll returned after %s, before its wait", d)
	}
}

// An existing data directory open to others is tightened to 0700 at
// start, with a log line.
func TestDataDirTightened(t *testing.T) {
	dir := t.TempDir()
	data := filepath.Join(dir, "data")
	if err := os.Mkdir(data, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(data, 0o755); err != nil { // whatever the umask
		t.Fatal(err)
	}
	s := startServer(t, writeServerConfig(t, dir, "", ""))
	s.stop(t)
	fi, err := os.Stat(data)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o700 {
		t.Errorf("data directory mode %v, want 0700", fi.Mode().Perm())
	}
	if !strings.Contains(s.out.String(), "tightened permissions") {
		t.Errorf("no log line about the change:\n%s", s.out.String())
	}
	db, _ := os.Stat(filepath.Join(data, "chatbridge.db"))
	if db == nil || db.Mode().Perm() != 0o600 {
		t.Errorf("store file mode %v, want 0600", db)
	}
}

// config check prints the warnings of a production configuration, without
// failing.
func TestConfigCheckWarns(t *testing.T) {
	dir := t.TempDir()
	cfg := writeServerConfig(t, dir, `public_url = "http://chat.example.com"
demo_page = true`, "")
	cmd := exec.Command(binPath, "config", "check", "--config", cfg)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("config check: %v\n%s", err, stderr.String())
	}
	for _, want := range []string{"warning: server.public_url", "warning: server.demo_page", "warning: visitor.allowed_origins", "warning: inbox.operators"} {
		if !strings.Contains(stderr.String(), want) {
			t.Errorf("config check does not say %q:\n%s", want, stderr.String())
		}
	}
	if !strings.Contains(stdout.String(), "OK") {
		t.Errorf("stdout %q, want OK", stdout.String())
	}
}
