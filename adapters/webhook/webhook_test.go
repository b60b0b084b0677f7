package webhook

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

const secret = "webhook-test-secret"

// request is what a test receiver saw.
type request struct {
	header http.Header
	body   []byte
}

// receiver is a loopback webhook endpoint; answer decides the response.
type receiver struct {
	*httptest.Server
	mu     sync.Mutex
	got    []request
	answer func(w http.ResponseWriter, r *http.Request)
}

func newReceiver(t *testing.T, answer func(w http.ResponseWriter, r *http.Request)) *receiver {
	t.Helper()
	rv := &receiver{answer: answer}
	rv.Server = httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		rv.mu.Lock()
		rv.got = append(rv.got, request{header: r.Header.Clone(), body: body})
		rv.mu.Unlock()
		if rv.answer != nil {
			rv.answer(w, r)
		}
	}))
	t.Cleanup(rv.Close)
	return rv
}

func (rv *receiver) requests() []request {
	rv.mu.Lock()
	defer rv.mu.Unlock()
	return append([]request(nil), rv.got...)
}

func newSink(t *testing.T, url string, mod func(*Config)) *Sink {
	t.Helper()
	cfg := Config{URL: url, Secret: secret, Events: Types, Timeout: 2 * time.Second}
	if mod != nil {
		mod(&cfg)
	}
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func delivery(kind bridge.OutboxKind) bridge.Delivery {
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	d := bridge.Delivery{
		Entry:        bridge.OutboxEntry{ID: 42, Destination: "webhook", Kind: kind, ConversationID: "c_1", CreatedAt: t0},
		Conversation: bridge.Conversation{ID: "c_1", VisitorID: "v_1", Status: bridge.StatusOpen},
		Visitor:      bridge.Visitor{ID: "v_1", Name: "Vera", Email: "vera@example.com"},
	}
	switch kind {
	case bridge.KindTicket:
		d.Entry.Number = 3
		d.Ticket = &bridge.Ticket{Number: 3, Title: "Broken cart", Description: "Vera: it broke", CustomerName: "Vera", ConversationID: "c_1", Operator: op, CreatedAt: t0}
	case bridge.KindLead:
		d.Entry.Number = 4
		d.Lead = &bridge.Lead{Number: 4, Title: "Wants 100 units", Notes: "Vera: 100 please", ContactEmail: "vera@example.com", ReferredBy: op, CreatedAt: t0}
	case bridge.KindMessage, bridge.KindClosed:
		d.Entry.Seq = 5
		d.Message = &bridge.Message{ConversationID: "c_1", Seq: 5, From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Vera", Text: "hello <b>", At: t0, ClientID: "client-1"}
	}
	return d
}

func TestNew(t *testing.T) {
	tests := []struct {
		name string
		cfg  Config
		ok   bool
	}{
		{"defaults", Config{URL: "https://h.example.com/hook", Secret: "s"}, true},
		{"all events", Config{URL: "http://127.0.0.1:9/x", Secret: "s", Events: Types}, true},
		{"no url", Config{Secret: "s"}, false},
		{"relative url", Config{URL: "/hook", Secret: "s"}, false},
		{"ftp url", Config{URL: "ftp://h.example.com/", Secret: "s"}, false},
		{"no secret", Config{URL: "https://h.example.com/hook"}, false},
		{"unknown event", Config{URL: "https://h.example.com/hook", Secret: "s", Events: []string{"ticket", "note"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s, err := New(tt.cfg, nil)
			if tt.ok != (err == nil) {
				t.Fatalf("New() error = %v, want ok=%v", err, tt.ok)
			}
			if err != nil && !errors.Is(err, bridge.ErrInvalid) {
				t.Errorf("error %v does not wrap ErrInvalid", err)
			}
			if err == nil && s.Name() != "webhook" {
				t.Errorf("Name() = %q", s.Name())
			}
		})
	}
}

func TestWants(t *testing.T) {
	s := newSink(t, "https://h.example.com/", func(c *Config) { c.Events = nil })
	for k, want := range map[bridge.OutboxKind]bool{
		bridge.KindTicket: true, bridge.KindLead: true, bridge.KindMessage: false,
		bridge.KindOpened: false, bridge.KindClosed: false, bridge.KindWaiting: false,
	} {
		if got := s.Wants(k); got != want {
			t.Errorf("default Wants(%s) = %v, want %v", k, got, want)
		}
	}
	s = newSink(t, "https://h.example.com/", func(c *Config) { c.Events = []string{"message"} })
	if !s.Wants(bridge.KindMessage) || s.Wants(bridge.KindTicket) {
		t.Errorf("Events [message]: Wants(message)=%v Wants(ticket)=%v", s.Wants(bridge.KindMessage), s.Wants(bridge.KindTicket))
	}
}

// Every event type: headers, a signature a receiver can verify, and the
// body's shape.
func TestDeliverRequest(t *testing.T) {
	rv := newReceiver(t, nil)
	s := newSink(t, rv.URL, nil)
	tests := []struct {
		kind  bridge.OutboxKind
		check func(t *testing.T, ev Event)
	}{
		{bridge.KindTicket, func(t *testing.T, ev Event) {
			if ev.Ticket == nil || ev.Ticket.Number != 3 || ev.Ticket.Title != "Broken cart" || ev.Ticket.Description != "Vera: it broke" {
				t.Errorf("ticket = %+v", ev.Ticket)
			}
		}},
		{bridge.KindLead, func(t *testing.T, ev Event) {
			if ev.Lead == nil || ev.Lead.Number != 4 || ev.Lead.ReferredBy.Name != "Alice" {
				t.Errorf("lead = %+v", ev.Lead)
			}
		}},
		{bridge.KindMessage, func(t *testing.T, ev Event) {
			if ev.Message == nil || ev.Message.Text != "hello <b>" || ev.Message.Seq != 5 || ev.Message.ClientID != "" {
				t.Errorf("message = %+v", ev.Message)
			}
		}},
		{bridge.KindClosed, func(t *testing.T, ev Event) {
			if ev.Message == nil {
				t.Errorf("closed event without its line")
			}
		}},
		{bridge.KindOpened, func(t *testing.T, ev Event) {
			if ev.Message != nil || ev.Ticket != nil {
				t.Errorf("opened event carries %+v", ev)
			}
		}},
		{bridge.KindWaiting, func(t *testing.T, ev Event) {}},
	}
	for i, tt := range tests {
		t.Run(string(tt.kind), func(t *testing.T) {
			d := delivery(tt.kind)
			if _, err := s.Deliver(context.Background(), d); err != nil {
				t.Fatal(err)
			}
			reqs := rv.requests()
			if len(reqs) != i+1 {
				t.Fatalf("receiver got %d requests, want %d", len(reqs), i+1)
			}
			r := reqs[i]
			for h, want := range map[string]string{
				"Content-Type":          "application/json",
				"X-Chatbridge-Event":    string(tt.kind),
				"X-Chatbridge-Event-Id": d.Entry.EventID(),
			} {
				if got := r.header.Get(h); got != want {
					t.Errorf("%s = %q, want %q", h, got, want)
				}
			}
			sig := r.header.Get("X-Chatbridge-Signature")
			if !Verify(secret, r.body, sig) {
				t.Errorf("signature %q does not verify", sig)
			}
			if Verify("other-secret", r.body, sig) {
				t.Errorf("signature verifies with another secret")
			}
			var ev Event
			if err := json.Unmarshal(r.body, &ev); err != nil {
				t.Fatalf("body is not an Event: %v\n%s", err, r.body)
			}
			if ev.ID != d.Entry.EventID() || ev.Type != string(tt.kind) || !ev.CreatedAt.Equal(t0) {
				t.Errorf("id/type/created_at = %q %q %v", ev.ID, ev.Type, ev.CreatedAt)
			}
			if ev.Conversation == nil || ev.Conversation.ID != "c_1" || ev.Visitor == nil || ev.Visitor.Email != "vera@example.com" {
				t.Errorf("conversation/visitor = %+v %+v", ev.Conversation, ev.Visitor)
			}
			tt.check(t, ev)
		})
	}
}

// Notes and whispers never leave the operators, whatever the events.
func TestOperatorOnlyNeverSent(t *testing.T) {
	rv := newReceiver(t, nil)
	s := newSink(t, rv.URL, nil)
	for _, vis := range []bridge.Visibility{bridge.VisibilityNote, bridge.VisibilityWhisper, ""} {
		for _, kind := range []bridge.OutboxKind{bridge.KindMessage, bridge.KindClosed} {
			d := delivery(kind)
			d.Message.Visibility = vis
			d.Message.Text = "secret operator note"
			if _, err := s.Deliver(context.Background(), d); err != nil {
				t.Errorf("%s %q: %v", kind, vis, err)
			}
		}
	}
	d := delivery(bridge.KindMessage)
	d.Message = nil
	if _, err := s.Deliver(context.Background(), d); err != nil {
		t.Errorf("message without message: %v", err)
	}
	if n := len(rv.requests()); n != 0 {
		t.Errorf("receiver got %d requests for operator-only content: %s", n, rv.requests()[0].body)
	}
}

func TestStatusHandling(t *testing.T) {
	tests := []struct {
		name       string
		status     int
		header     map[string]string
		body       string
		wantErr    bool
		permanent  bool
		retryAfter time.Duration
		errHas     string
	}{
		{name: "200", status: 200},
		{name: "202", status: 202},
		{name: "204", status: 204},
		{name: "500 retried", status: 500, body: "boom\n\x1b[31m", wantErr: true, errHas: `500 Internal Server Error: "boom`},
		{name: "400 retried, tickets are never lost", status: 400, wantErr: true},
		{name: "401 retried", status: 401, wantErr: true},
		{name: "404 retried", status: 404, wantErr: true},
		{name: "408 retried", status: 408, wantErr: true},
		{name: "410 permanent", status: 410, wantErr: true, permanent: true},
		{name: "429 retry-after seconds", status: 429, header: map[string]string{"Retry-After": "7"}, wantErr: true, retryAfter: 7 * time.Second},
		{name: "503 retry-after date", status: 503, header: map[string]string{"Retry-After": t0.Add(90 * time.Second).Format(http.TimeFormat)}, wantErr: true, retryAfter: 90 * time.Second},
		{name: "429 retry-after capped", status: 429, header: map[string]string{"Retry-After": "999999"}, wantErr: true, retryAfter: time.Hour},
		{name: "429 without retry-after", status: 429, wantErr: true},
		{name: "429 bad retry-after", status: 429, header: map[string]string{"Retry-After": "soon"}, wantErr: true},
		{name: "500 retry-after ignored", status: 500, header: map[string]string{"Retry-After": "7"}, wantErr: true},
		{name: "302 not followed", status: 302, header: map[string]string{"Location": "/elsewhere"}, wantErr: true, errHas: "redirects"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				if r.URL.Path == "/elsewhere" {
					t.Errorf("redirect followed with %s", r.Method)
				}
				for k, v := range tt.header {
					w.Header().Set(k, v)
				}
				w.WriteHeader(tt.status)
				io.WriteString(w, tt.body)
			})
			s := newSink(t, rv.URL+"/hook", func(c *Config) { c.Now = func() time.Time { return t0 } })
			_, err := s.Deliver(context.Background(), delivery(bridge.KindTicket))
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err == nil {
				return
			}
			if got := errors.Is(err, bridge.ErrPermanent); got != tt.permanent {
				t.Errorf("permanent = %v, want %v (%v)", got, tt.permanent, err)
			}
			var ra *bridge.RetryAfterError
			gotAfter := time.Duration(0)
			if errors.As(err, &ra) {
				gotAfter = ra.After
			}
			if gotAfter != tt.retryAfter {
				t.Errorf("retry after = %v, want %v (%v)", gotAfter, tt.retryAfter, err)
			}
			if !strings.Contains(err.Error(), tt.errHas) {
				t.Errorf("error %q does not contain %q", err, tt.errHas)
			}
			if strings.ContainsRune(err.Error(), '\x1b') {
				t.Errorf("error carries control characters: %q", err)
			}
		})
	}
}

func TestTimeout(t *testing.T) {
	release := make(chan struct{})
	rv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
		case <-release:
		}
	})
	defer close(release)
	s := newSink(t, rv.URL, func(c *Config) { c.Timeout = 50 * time.Millisecond })
	if _, err := s.Deliver(context.Background(), delivery(bridge.KindTicket)); err == nil || errors.Is(err, bridge.ErrPermanent) {
		t.Errorf("slow receiver: err = %v, want a retryable error", err)
	}
}

func TestReceiptLink(t *testing.T) {
	tests := []struct {
		name, contentType, body string
		kind                    bridge.OutboxKind
		want                    string
	}{
		{"ticket link", "application/json", `{"link":"https://desk.example.com/t/9"}`, bridge.KindTicket, "https://desk.example.com/t/9"},
		{"lead link with charset", "application/json; charset=utf-8", `{"link":"http://crm.example.com/9"}`, bridge.KindLead, "http://crm.example.com/9"},
		{"not json", "text/plain", `{"link":"https://desk.example.com/t/9"}`, bridge.KindTicket, ""},
		{"javascript link", "application/json", `{"link":"javascript:alert(1)"}`, bridge.KindTicket, ""},
		{"no link", "application/json", `{"ok":true}`, bridge.KindTicket, ""},
		{"message events have no link", "application/json", `{"link":"https://desk.example.com/t/9"}`, bridge.KindMessage, ""},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			rv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
				w.Header().Set("Content-Type", tt.contentType)
				io.WriteString(w, tt.body)
			})
			rc, err := newSink(t, rv.URL, nil).Deliver(context.Background(), delivery(tt.kind))
			if err != nil {
				t.Fatal(err)
			}
			if rc.Link != tt.want {
				t.Errorf("link = %q, want %q", rc.Link, tt.want)
			}
		})
	}
}

func TestHealth(t *testing.T) {
	var mu sync.Mutex
	now := t0
	clock := func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	status := 500
	rv := newReceiver(t, func(w http.ResponseWriter, r *http.Request) {
		mu.Lock()
		code := status
		mu.Unlock()
		w.WriteHeader(code)
	})
	s := newSink(t, rv.URL, func(c *Config) { c.Now = clock; c.HealthWindow = 5 * time.Minute })
	ctx := context.Background()
	if err := s.Health(ctx); err != nil {
		t.Fatalf("fresh sink unhealthy: %v", err)
	}
	if _, err := s.Deliver(ctx, delivery(bridge.KindTicket)); err == nil {
		t.Fatal("500 delivered")
	}
	advance(time.Minute)
	if err := s.Health(ctx); err == nil || !strings.Contains(err.Error(), "500") || !strings.Contains(err.Error(), "1m0s ago") {
		t.Errorf("after a failure: Health() = %v, want the reason", err)
	}
	advance(5 * time.Minute)
	if err := s.Health(ctx); err != nil {
		t.Errorf("failure older than the window: Health() = %v", err)
	}
	if _, err := s.Deliver(ctx, delivery(bridge.KindTicket)); err == nil {
		t.Fatal("500 delivered")
	}
	mu.Lock()
	status = 200
	mu.Unlock()
	if _, err := s.Deliver(ctx, delivery(bridge.KindTicket)); err != nil {
		t.Fatal(err)
	}
	if err := s.Health(ctx); err != nil {
		t.Errorf("after a success: Health() = %v", err)
	}
}

func TestVerify(t *testing.T) {
	body := []byte(`{"id":"cb-webhook-1"}`)
	good := Sign(secret, body)
	tests := []struct {
		name, secret, header string
		body                 []byte
		want                 bool
	}{
		{"good", secret, good, body, true},
		{"surrounding space", secret, " " + good + " ", body, true},
		{"tampered body", secret, good, []byte(`{"id":"cb-webhook-2"}`), false},
		{"wrong secret", "nope", good, body, false},
		{"empty secret", "", Sign("", body), body, false},
		{"no prefix", secret, strings.TrimPrefix(good, "sha256="), body, false},
		{"sha1 prefix", secret, "sha1=" + strings.TrimPrefix(good, "sha256="), body, false},
		{"not hex", secret, "sha256=zz", body, false},
		{"truncated", secret, good[:len(good)-2], body, false},
		{"empty", secret, "", body, false},
	}
	for _, tt := range tests {
		if got := Verify(tt.secret, tt.body, tt.header); got != tt.want {
			t.Errorf("%s: Verify() = %v, want %v", tt.name, got, tt.want)
		}
	}
}
