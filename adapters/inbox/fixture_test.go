package inbox

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	fx "github.com/chatbridge/chatbridge/internal/fixture"
	"golang.org/x/crypto/bcrypt"
)

// clock is a settable test clock for the engine (and so the inbox).
type clock struct {
	mu sync.Mutex
	t  time.Time
}

func (c *clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.t
}

func (c *clock) Add(d time.Duration) {
	c.mu.Lock()
	c.t = c.t.Add(d)
	c.mu.Unlock()
}

// fixture is an engine on a real bolt store, an inbox and a loopback server.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	clock  *clock
	store  bridge.Store // what the engine uses (maybe wrapped)
	engine *bridge.Engine
	inbox  *Inbox
	srv    *httptest.Server
}

// Test operators; hashes use bcrypt.MinCost to keep the tests fast.
var (
	alice = testAccount("alice", "Alice Martin", "alice-pw")
	bob   = testAccount("bob", "Bob Stone", "bob-pw")
)

type account struct {
	OperatorAccount
	password string
}

func testAccount(login, name, pw string) account {
	h, err := bcrypt.GenerateFromPassword([]byte(pw), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return account{OperatorAccount{Login: login, Name: name, PasswordHash: string(h)}, pw}
}

func newFixture(t *testing.T, cfg Config) *fixture {
	t.Helper()
	return newFixtureWith(t, cfg, nil)
}

// newFixtureWith is newFixture with the store passed through wrap (when not
// nil) before the engine and the inbox use it.
func newFixtureWith(t *testing.T, cfg Config, wrap func(bridge.Store) bridge.Store) *fixture {
	t.Helper()
	var st bridge.Store = fx.Store(t)
	if wrap != nil {
		st = wrap(st)
	}
	clk := &clock{t: time.Now()}
	eng := fx.Engine(t, fx.Options{Store: st, Config: bridge.Config{Now: clk.Now}, NoRun: true})
	if cfg.Operators == nil {
		cfg.Operators = []OperatorAccount{alice.OperatorAccount, bob.OperatorAccount}
	}
	in, err := New(cfg, eng, nil)
	if err != nil {
		t.Fatalf("new inbox: %v", err)
	}
	if err := eng.Register(in); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(in.Handler())
	t.Cleanup(srv.Close) // after Run closed the live streams, so it does not wait on them
	fx.Run(t, eng.Run)
	fx.Run(t, in.Run)
	return &fixture{t: t, ctx: context.Background(), clock: clk, store: st, engine: eng, inbox: in, srv: srv}
}

// visitorSays starts a visitor session (when name is not "") and sends text;
// it returns the visitor id and the message.
func (f *fixture) visitorSays(visitorID, name, text string) (string, bridge.Message) {
	f.t.Helper()
	if visitorID == "" {
		_, v, err := f.engine.StartSession(f.ctx, bridge.SessionInput{Name: name, Email: strings.ToLower(name) + "@example.com", Locale: "fr-FR",
			UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0"})
		if err != nil {
			f.t.Fatalf("start session: %v", err)
		}
		visitorID = v.ID
	}
	m, err := f.engine.VisitorMessage(f.ctx, visitorID, bridge.NewID("cl_"), text)
	if err != nil {
		f.t.Fatalf("visitor message: %v", err)
	}
	return visitorID, m
}

// client is an HTTP client that does not follow redirects.
type client struct {
	t    *testing.T
	base string
	hc   *http.Client
	csrf string
}

func (f *fixture) anonymous() *client {
	jar, _ := cookiejar.New(nil)
	return &client{t: f.t, base: f.srv.URL, hc: &http.Client{
		Jar: jar, Timeout: 10 * time.Second,
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}}
}

var csrfRE = regexp.MustCompile(`<meta name="csrf-token" content="([^"]+)">`)

// login logs a in and reads the CSRF token of the session.
func (f *fixture) login(a account) *client {
	f.t.Helper()
	c := f.anonymous()
	res := c.post("/inbox/login", url.Values{"login": {a.Login}, "password": {a.password}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		f.t.Fatalf("login %s: status %d, want 303", a.Login, res.StatusCode)
	}
	status, body, _ := c.get("/inbox/")
	m := csrfRE.FindStringSubmatch(body)
	if status != http.StatusOK || m == nil {
		f.t.Fatalf("inbox page after login: status %d, csrf token found: %v", status, m != nil)
	}
	c.csrf = m[1]
	return c
}

func (c *client) do(req *http.Request) *http.Response {
	c.t.Helper()
	res, err := c.hc.Do(req)
	if err != nil {
		c.t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	return res
}

func (c *client) get(path string) (int, string, http.Header) {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	res := c.do(req)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header
}

func (c *client) getJSON(path string, v any) int {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodGet, c.base+path, nil)
	req.Header.Set("Accept", "application/json")
	res := c.do(req)
	defer res.Body.Close()
	if res.StatusCode == http.StatusOK {
		if err := json.NewDecoder(res.Body).Decode(v); err != nil {
			c.t.Fatalf("GET %s: decode: %v", path, err)
		}
	}
	return res.StatusCode
}

// post sends a form; hdr adds headers. The body is read and closed.
func (c *client) post(path string, form url.Values, hdr map[string]string) *http.Response {
	c.t.Helper()
	req, _ := http.NewRequest(http.MethodPost, c.base+path, strings.NewReader(form.Encode()))
	req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res := c.do(req)
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	return res
}

// reply posts text to a conversation as a plain form with a fresh event id.
func (c *client) reply(convID, text string) *http.Response {
	c.t.Helper()
	return c.post("/inbox/c/"+convID+"/reply", url.Values{"csrf": {c.csrf}, "event_id": {randomString(16)}, "text": {text}}, nil)
}

type listJSON struct {
	Conversations []listItem `json:"conversations"`
}

func (c *client) list(status string) []listItem {
	c.t.Helper()
	var l listJSON
	if code := c.getJSON("/inbox/api/conversations?status="+status, &l); code != http.StatusOK {
		c.t.Fatalf("list: status %d", code)
	}
	return l.Conversations
}

func (c *client) conversation(id string) convView {
	c.t.Helper()
	var cv convView
	if code := c.getJSON("/inbox/api/conversations/"+id, &cv); code != http.StatusOK {
		c.t.Fatalf("conversation %s: status %d", id, code)
	}
	return cv
}

func findItem(items []listItem, id string) (listItem, bool) {
	for _, it := range items {
		if it.ID == id {
			return it, true
		}
	}
	return listItem{}, false
}
