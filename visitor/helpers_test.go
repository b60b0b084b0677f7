package visitor

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// countingStore counts committed Update calls, so a test can assert that a
// refused request wrote nothing at all.
type countingStore struct {
	bridge.Store
	updates atomic.Int64
}

func (c *countingStore) Update(ctx context.Context, fn func(bridge.Tx) error) error {
	err := c.Store.Update(ctx, fn)
	if err == nil {
		c.updates.Add(1)
	}
	return err
}

// fakeClock is a settable engine clock.
type fakeClock struct {
	mu  sync.Mutex
	now time.Time
}

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	c.now = c.now.Add(d)
	c.mu.Unlock()
}

// testEnv is a visitor server on a real boltstore, on loopback.
type testEnv struct {
	t      *testing.T
	store  *countingStore
	engine *bridge.Engine
	srv    *Server
	ts     *httptest.Server
	clock  *fakeClock // nil unless requested
}

type envOption func(*Config, *bridge.Config)

func withConfig(f func(*Config)) envOption { return func(c *Config, _ *bridge.Config) { f(c) } }

func newEnv(t *testing.T, opts ...envOption) *testEnv {
	t.Helper()
	cfg := Config{AllowedOrigins: []string{"https://shop.example.com"}}
	var bcfg bridge.Config
	for _, o := range opts {
		o(&cfg, &bcfg)
	}
	e := &testEnv{t: t, store: &countingStore{Store: fixture.Store(t)}}
	t.Cleanup(e.checkStore) // runs after the engine stopped
	e.engine = fixture.Engine(t, fixture.Options{Store: e.store, Config: bcfg})
	var err error
	if e.srv, err = New(cfg, e.engine, nil); err != nil {
		t.Fatalf("new server: %v", err)
	}
	e.ts = httptest.NewServer(e.srv.Handler())
	t.Cleanup(func() {
		e.srv.Close()
		e.ts.Close()
	})
	return e
}

// withClock gives the engine (and so the rate limiters) a fake clock.
func withClock(c *fakeClock) envOption {
	return func(_ *Config, b *bridge.Config) { b.Now = c.Now }
}

var testOperator = bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}

// checkStore asserts the store's invariants: every conversation has
// messages numbered 1..LastSeq without gaps, starting with one from the
// visitor (no conversation is ever stored half-way).
func (e *testEnv) checkStore() {
	e.t.Helper()
	err := e.store.View(context.Background(), func(tx bridge.Tx) error {
		convs, err := tx.Conversations(bridge.ConversationFilter{})
		if err != nil {
			return err
		}
		for _, c := range convs {
			msgs, err := tx.Messages(c.ID, 0, 0)
			if err != nil {
				return err
			}
			if len(msgs) == 0 || uint64(len(msgs)) != c.LastSeq || msgs[0].From != bridge.FromVisitor {
				e.t.Errorf("conversation %s: %d messages, last seq %d", c.ID, len(msgs), c.LastSeq)
			}
			for i, m := range msgs {
				if m.Seq != uint64(i+1) {
					e.t.Errorf("conversation %s: message %d has seq %d", c.ID, i, m.Seq)
				}
			}
		}
		return nil
	})
	if err != nil {
		e.t.Errorf("check store: %v", err)
	}
}

// counts returns (conversations, messages) in the store.
func (e *testEnv) counts() (convs, msgs int) {
	e.t.Helper()
	err := e.store.View(context.Background(), func(tx bridge.Tx) error {
		cs, err := tx.Conversations(bridge.ConversationFilter{})
		if err != nil {
			return err
		}
		convs = len(cs)
		for _, c := range cs {
			m, err := tx.Messages(c.ID, 0, 0)
			if err != nil {
				return err
			}
			msgs += len(m)
		}
		return nil
	})
	if err != nil {
		e.t.Fatalf("count: %v", err)
	}
	return convs, msgs
}

// request describes one API call.
type request struct {
	method, path string
	token        string
	body         any // string and []byte are sent as is; anything else as JSON
	header       map[string]string
}

type response struct {
	status int
	header http.Header
	body   []byte
}

func (e *testEnv) do(r request) response {
	e.t.Helper()
	var body io.Reader
	switch b := r.body.(type) {
	case nil:
	case string:
		body = strings.NewReader(b)
	case []byte:
		body = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			e.t.Fatalf("marshal: %v", err)
		}
		body = bytes.NewReader(j)
	}
	req, err := http.NewRequest(r.method, e.ts.URL+r.path, body)
	if err != nil {
		e.t.Fatalf("new request: %v", err)
	}
	if r.body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		req.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		req.Header.Set(k, v)
	}
	resp, err := e.ts.Client().Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", r.method, r.path, err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatalf("read body: %v", err)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: b}
}

// decodeTo decodes the response body, failing on a wrong status.
func (r response) decodeTo(t *testing.T, status int, v any) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if v != nil {
		if err := json.Unmarshal(r.body, v); err != nil {
			t.Fatalf("decode %s: %v", r.body, err)
		}
	}
}

// wantError asserts the JSON error shape, status and code.
func (r response) wantError(t *testing.T, status int, code string) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
	if ct := r.header.Get("Content-Type"); !strings.HasPrefix(ct, "application/json") {
		t.Errorf("Content-Type %q, want JSON", ct)
	}
	var eb map[string]map[string]string
	if err := json.Unmarshal(r.body, &eb); err != nil {
		t.Fatalf("error body %s: %v", r.body, err)
	}
	n := 2
	if eb["error"]["reason"] != "" {
		n = 3 // a refused file's reason
	}
	if len(eb) != 1 || eb["error"]["code"] != code || eb["error"]["message"] == "" || len(eb["error"]) != n {
		t.Errorf("error body %s, want {error:{code:%q, message[, reason]}}", r.body, code)
	}
}

func (e *testEnv) session() (token, visitorID string) {
	e.t.Helper()
	var sr sessionResponse
	e.do(request{method: "POST", path: "/api/v1/sessions", body: map[string]string{"name": "Vera"}}).decodeTo(e.t, 201, &sr)
	if sr.Token == "" || !strings.HasPrefix(sr.VisitorID, "v_") {
		e.t.Fatalf("session = %+v", sr)
	}
	return sr.Token, sr.VisitorID
}

func (e *testEnv) send(token, clientID, text string) messageResponse {
	e.t.Helper()
	var mr messageResponse
	e.do(request{method: "POST", path: "/api/v1/messages", token: token,
		body: messageRequest{ClientID: clientID, Text: text}}).decodeTo(e.t, 200, &mr)
	return mr
}

func (e *testEnv) messages(token, query string) messagesResponse {
	e.t.Helper()
	var mr messagesResponse
	e.do(request{method: "GET", path: "/api/v1/messages" + query, token: token}).decodeTo(e.t, 200, &mr)
	return mr
}

// waitFor polls cond until it holds or the deadline passes.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	fixture.WaitFor(t, what, cond)
}

func texts(msgs []apiMessage) []string {
	out := make([]string, len(msgs))
	for i, m := range msgs {
		out[i] = m.Text
	}
	return out
}

func jsonUnmarshal(b []byte, v any) error { return json.Unmarshal(b, v) }

func jsonMarshal(v any) ([]byte, error) { return json.Marshal(v) }

func discardLogger() *slog.Logger { return slog.New(slog.DiscardHandler) }
