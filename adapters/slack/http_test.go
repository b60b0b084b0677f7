package slack

import (
	"crypto/hmac"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fakeslack"
)

// sign returns Slack's v0 signature headers for body at t.
func sign(secret string, body []byte, t time.Time) http.Header {
	ts := strconv.FormatInt(t.Unix(), 10)
	mac := hmac.New(sha256.New, []byte(secret))
	mac.Write([]byte("v0:" + ts + ":"))
	mac.Write(body)
	h := http.Header{}
	h.Set("X-Slack-Request-Timestamp", ts)
	h.Set("X-Slack-Signature", "v0="+hex.EncodeToString(mac.Sum(nil)))
	h.Set("Content-Type", "application/json")
	return h
}

func postEvent(t *testing.T, url string, body []byte, h http.Header) (int, string) {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, url, strings.NewReader(string(body)))
	if err != nil {
		t.Fatal(err)
	}
	req.Header = h
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	b, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b)
}

// HTTP Events mode: only correctly signed, fresh requests are accepted;
// url_verification is answered; a good event reaches the visitor.
func TestHTTPEvents(t *testing.T) {
	const secret = "test-signing-secret"
	f := newFixture(t, ModeHTTP, nil)
	srv := httptest.NewServer(f.a.Handler())
	defer srv.Close()
	now := time.Now()

	challenge := []byte(`{"token":"x","challenge":"c-3f2a","type":"url_verification"}`)
	event := func(id, text string, root string) []byte {
		b, err := json.Marshal(map[string]any{"type": "event_callback", "event_id": id, "team_id": "T1",
			"event": map[string]any{"type": "message", "channel": testChannel, "user": "UALICE", "text": text,
				"ts": strconv.FormatInt(now.Unix(), 10) + ".000100", "thread_ts": root}})
		if err != nil {
			t.Fatal(err)
		}
		return b
	}

	tests := []struct {
		name   string
		body   []byte
		header http.Header
		status int
		resp   string
	}{
		{"no signature", challenge, http.Header{}, http.StatusUnauthorized, ""},
		{"wrong secret", challenge, sign("other-secret", challenge, now), http.StatusUnauthorized, ""},
		{"body changed", challenge, sign(secret, []byte(`{"type":"url_verification","challenge":"other"}`), now), http.StatusUnauthorized, ""},
		{"too old", challenge, sign(secret, challenge, now.Add(-6*time.Minute)), http.StatusUnauthorized, ""},
		{"url verification", challenge, sign(secret, challenge, now), http.StatusOK, "c-3f2a"},
		{"not json", []byte("nope"), sign(secret, []byte("nope"), now), http.StatusBadRequest, ""},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			status, body := postEvent(t, srv.URL, tc.body, tc.header)
			if status != tc.status || (tc.resp != "" && body != tc.resp) {
				t.Errorf("got %d %q, want %d %q", status, body, tc.status, tc.resp)
			}
		})
	}

	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	root := f.threadRoot(m.ConversationID)
	good := event("EvHTTP1", "Hello from <@U123>'s team", root)
	if status, _ := postEvent(t, srv.URL, good, sign(secret, good, now)); status != http.StatusOK {
		t.Fatalf("signed event: %d", status)
	}
	// Slack's retry of the same event.
	if status, _ := postEvent(t, srv.URL, good, sign(secret, good, now)); status != http.StatusOK {
		t.Fatalf("signed retry: %d", status)
	}
	forged := event("EvHTTP2", "forged", root)
	if status, _ := postEvent(t, srv.URL, forged, sign("other-secret", forged, now)); status != http.StatusUnauthorized {
		t.Errorf("forged event: %d", status)
	}
	marker := event("EvHTTP3", "marker", root)
	postEvent(t, srv.URL, marker, sign(secret, marker, now))
	f.waitPublic(v, "marker", func(m bridge.Message) bool { return m.Text == "marker" })
	count := 0
	for _, m := range f.public(v) {
		if m.Text == "forged" {
			t.Errorf("a forged event reached the visitor")
		}
		if m.Text == "Hello from @Bob Stone's team" && m.Author == "Alice Martin" {
			count++
		}
	}
	if count != 1 {
		t.Errorf("signed event relayed %d times, want 1", count)
	}
}

// Without a signing secret the handler refuses everything.
func TestHTTPEventsWithoutSecret(t *testing.T) {
	f := newFixture(t, ModeSocket, func(_ *fakeslack.Server, c *Config) { c.SigningSecret = "" })
	srv := httptest.NewServer(f.a.Handler())
	defer srv.Close()
	body := []byte(`{"type":"url_verification","challenge":"c"}`)
	if status, _ := postEvent(t, srv.URL, body, sign("", body, time.Now())); status != http.StatusUnauthorized {
		t.Errorf("status %d, want 401", status)
	}
	resp, err := http.Get(srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusMethodNotAllowed {
		t.Errorf("GET: %d", resp.StatusCode)
	}
}

// A full inbound queue answers 503 so that Slack retries later.
func TestHTTPEventsBackpressure(t *testing.T) {
	fake := fakeslack.New(t)
	eng, err := bridge.New(bridge.Config{}, nopStore{}, slog.New(slog.DiscardHandler))
	if err != nil {
		t.Fatal(err)
	}
	a, err := New(Config{BotToken: "xoxb-test", SigningSecret: "s", Channel: testChannel, Mode: ModeHTTP, APIURL: fake.APIURL}, eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(a.Handler()) // Run is not running: nothing drains the queue
	defer srv.Close()
	body := []byte(`{"type":"event_callback","event_id":"Ev1","event":{"type":"message"}}`)
	var last int
	for range inboundQueue + 1 {
		last, _ = postEvent(t, srv.URL, body, sign("s", body, time.Now()))
	}
	if last != http.StatusServiceUnavailable {
		t.Errorf("status after %d queued events: %d, want 503", inboundQueue, last)
	}
}

// nopStore is a Store that is never used (the handler test does not reach
// the engine).
type nopStore struct{ bridge.Store }
