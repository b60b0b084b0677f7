package odoo

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

var t0 = time.Date(2026, 3, 1, 10, 0, 0, 0, time.UTC)

func newTestSink(t *testing.T, cfg Config) *Sink {
	t.Helper()
	s, err := New(cfg, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func ticketDelivery() bridge.Delivery {
	return bridge.Delivery{
		Entry: bridge.OutboxEntry{ID: 5, Destination: "odoo", Kind: bridge.KindTicket, ConversationID: "c_abc", Number: 12, CreatedAt: t0},
		Ticket: &bridge.Ticket{
			Number: 12, Title: "Parcel  never   arrived", Description: "Vera: where is my parcel?\nAlice: let me check",
			CustomerName: "Vera Smith", CustomerEmail: "vera@example.com", ConversationID: "c_abc",
			Operator: bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}, CreatedAt: t0, Source: "Live Chat",
		},
	}
}

func leadDelivery() bridge.Delivery {
	return bridge.Delivery{
		Entry: bridge.OutboxEntry{ID: 6, Destination: "odoo", Kind: bridge.KindLead, ConversationID: "c_abc", Number: 3, CreatedAt: t0},
		Lead: &bridge.Lead{
			Number: 3, Title: "100 chairs", Notes: "Vera: I need 100 chairs", ContactName: "Vera Smith",
			ContactEmail: "vera@example.com", Country: "FR", Language: "fr", ConversationID: "c_abc",
			ReferredBy: bridge.Operator{Adapter: "slack", ID: "U1", Name: "Bob"}, CreatedAt: t0, Source: "Live Chat",
		},
	}
}

// normalize turns v into what a JSON decoder makes of it, for comparisons
// with what the fake server received.
func normalize(t *testing.T, v any) any {
	t.Helper()
	b, err := json.Marshal(v)
	if err != nil {
		t.Fatal(err)
	}
	var out any
	if err := json.Unmarshal(b, &out); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestNew(t *testing.T) {
	ok := Config{URL: "https://odoo.example.com", Database: "db", Login: "l", APIKey: "k", Tickets: true}
	tests := []struct {
		name string
		mod  func(*Config)
		want string
	}{
		{"ok", func(*Config) {}, ""},
		{"leads only", func(c *Config) { c.Tickets, c.Leads = false, true }, ""},
		{"no url", func(c *Config) { c.URL = "" }, "not an absolute"},
		{"relative url", func(c *Config) { c.URL = "odoo.example.com" }, "not an absolute"},
		{"missing credentials", func(c *Config) { c.Database, c.APIKey = "", "" }, "sinks.odoo.api_key: invalid input: is required"},
		{"nothing enabled", func(c *Config) { c.Tickets = false }, "neither tickets nor leads"},
		{"negative team", func(c *Config) { c.HelpdeskTeamID = -2 }, "team"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			cfg := ok
			tt.mod(&cfg)
			s, err := New(cfg, nil)
			if tt.want == "" {
				if err != nil {
					t.Fatal(err)
				}
				if s.Name() != "odoo" {
					t.Errorf("Name() = %q", s.Name())
				}
				return
			}
			if err == nil || !errors.Is(err, bridge.ErrInvalid) || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("New() = %v, want ErrInvalid containing %q", err, tt.want)
			}
		})
	}
}

func TestWants(t *testing.T) {
	cfg := Config{URL: "https://o.example.com", Database: "d", Login: "l", APIKey: "k"}
	for _, tt := range []struct{ tickets, leads bool }{{true, true}, {true, false}, {false, true}} {
		cfg.Tickets, cfg.Leads = tt.tickets, tt.leads
		s := newTestSink(t, cfg)
		if s.Wants(bridge.KindTicket) != tt.tickets || s.Wants(bridge.KindLead) != tt.leads {
			t.Errorf("tickets=%v leads=%v: Wants(ticket)=%v Wants(lead)=%v", tt.tickets, tt.leads, s.Wants(bridge.KindTicket), s.Wants(bridge.KindLead))
		}
		for _, k := range []bridge.OutboxKind{bridge.KindMessage, bridge.KindOpened, bridge.KindClosed, bridge.KindWaiting} {
			if s.Wants(k) {
				t.Errorf("Wants(%s) = true", k)
			}
		}
	}
}

// The exact JSON-RPC calls for a ticket: authenticate, then
// helpdesk.ticket create with the documented fields.
func TestTicketCalls(t *testing.T) {
	f := newFakeOdoo(t)
	cfg := f.config()
	cfg.HelpdeskTeamID = 4
	s := newTestSink(t, cfg)
	d := ticketDelivery()
	rc, err := s.Deliver(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if want := f.URL + "/web#id=1&model=helpdesk.ticket&view_type=form"; rc.Link != want {
		t.Errorf("link = %q, want %q", rc.Link, want)
	}
	ref := reference("ticket", 12, "c_abc", t0)
	wantDesc := "<p>Vera: where is my parcel?</p><p>Alice: let me check</p>" +
		"<p>Customer: Vera Smith &lt;vera@example.com&gt;<br>Conversation: c_abc<br>Operator: Alice<br>Source: Live Chat</p>" +
		"<p><small>chatbridge ticket #12 · ref " + ref + "</small></p>"
	want := []call{
		{"common", "authenticate", []any{"shopdb", "bot@example.com", "0123456789abcdef", map[string]any{}}},
		{"object", "execute_kw", []any{"shopdb", 7, "0123456789abcdef", "helpdesk.ticket", "create", []any{map[string]any{
			"name":          "Parcel never arrived",
			"description":   wantDesc,
			"partner_name":  "Vera Smith",
			"partner_email": "vera@example.com",
			"team_id":       4,
		}}}},
	}
	got := f.callList()
	if !reflect.DeepEqual(normalize(t, got), normalize(t, want)) {
		gb, _ := json.MarshalIndent(got, "", " ")
		wb, _ := json.MarshalIndent(want, "", " ")
		t.Errorf("calls:\n%s\nwant:\n%s", gb, wb)
	}
}

func TestLeadCalls(t *testing.T) {
	f := newFakeOdoo(t)
	s := newTestSink(t, f.config())
	rc, err := s.Deliver(context.Background(), leadDelivery())
	if err != nil {
		t.Fatal(err)
	}
	if want := f.URL + "/web#id=1&model=crm.lead&view_type=form"; rc.Link != want {
		t.Errorf("link = %q, want %q", rc.Link, want)
	}
	calls := f.callList()
	if len(calls) != 2 {
		t.Fatalf("got %d calls, want authenticate + create: %v", len(calls), calls)
	}
	ref := reference("lead", 3, "c_abc", t0)
	want := []any{"shopdb", 7, "0123456789abcdef", "crm.lead", "create", []any{map[string]any{
		"name": "100 chairs",
		"description": "<p>Vera: I need 100 chairs</p>" +
			"<p>Contact: Vera Smith &lt;vera@example.com&gt;<br>Country: FR<br>Language: fr<br>Conversation: c_abc<br>Source: Live Chat</p>" +
			"<p><small>chatbridge lead #3 · ref " + ref + "</small></p>",
		"contact_name": "Vera Smith",
		"email_from":   "vera@example.com",
		"referred":     "Bob",
	}}}
	if !reflect.DeepEqual(normalize(t, calls[1].Args), normalize(t, want)) {
		t.Errorf("create args:\n%v\nwant:\n%v", calls[1].Args, want)
	}
}

// Optional fields are left out when unknown; an empty title gets a name.
func TestSparseRecords(t *testing.T) {
	f := newFakeOdoo(t)
	s := newTestSink(t, f.config())
	d := ticketDelivery()
	d.Ticket.Title, d.Ticket.CustomerName, d.Ticket.CustomerEmail = "  ", "", ""
	if _, err := s.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	l := leadDelivery()
	l.Lead.ContactName, l.Lead.ContactEmail, l.Lead.ReferredBy = "", "", bridge.Operator{}
	if _, err := s.Deliver(context.Background(), l); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	defer f.mu.Unlock()
	tk, ld := f.records["helpdesk.ticket"][0], f.records["crm.lead"][0]
	if tk["name"] != "Chat ticket #12" {
		t.Errorf("ticket name = %v", tk["name"])
	}
	for _, k := range []string{"partner_name", "partner_email", "team_id"} {
		if _, ok := tk[k]; ok {
			t.Errorf("ticket sets %s without a value", k)
		}
	}
	for _, k := range []string{"contact_name", "email_from", "referred"} {
		if _, ok := ld[k]; ok {
			t.Errorf("lead sets %s without a value", k)
		}
	}
}

// Visitor text is escaped: Odoo's description is HTML.
func TestDescriptionEscaped(t *testing.T) {
	f := newFakeOdoo(t)
	s := newTestSink(t, f.config())
	d := ticketDelivery()
	d.Ticket.Title = "<b>bold</b>"
	d.Ticket.Description = "Eve: <script>alert(1)</script>\nEve: <img src=x onerror=alert(2)> & \"quotes\""
	d.Ticket.CustomerName = "<i>Eve</i>"
	if _, err := s.Deliver(context.Background(), d); err != nil {
		t.Fatal(err)
	}
	f.mu.Lock()
	desc := f.records["helpdesk.ticket"][0]["description"].(string)
	name := f.records["helpdesk.ticket"][0]["name"].(string)
	f.mu.Unlock()
	for _, bad := range []string{"<script", "<img", "<i>"} {
		if strings.Contains(desc, bad) {
			t.Errorf("description contains %q: %s", bad, desc)
		}
	}
	for _, good := range []string{"&lt;script&gt;alert(1)&lt;/script&gt;", "&lt;img src=x onerror=alert(2)&gt; &amp; &#34;quotes&#34;", "&lt;i&gt;Eve&lt;/i&gt;"} {
		if !strings.Contains(desc, good) {
			t.Errorf("description lacks %q: %s", good, desc)
		}
	}
	if name != "<b>bold</b>" {
		t.Errorf("name (a plain char field) = %q, want the title as typed", name)
	}
}

func TestUIDCached(t *testing.T) {
	f := newFakeOdoo(t)
	s := newTestSink(t, f.config())
	for range 3 {
		if _, err := s.Deliver(context.Background(), ticketDelivery()); err != nil {
			t.Fatal(err)
		}
	}
	if n := f.count("common", "authenticate"); n != 1 {
		t.Errorf("authenticate called %d times, want 1", n)
	}
	if n := f.count("object", "execute_kw"); n != 3 {
		t.Errorf("execute_kw called %d times, want 3", n)
	}
}

func TestAuthRefused(t *testing.T) {
	f := newFakeOdoo(t)
	f.set(func(f *fakeOdoo) { f.refuse = true })
	s := newTestSink(t, f.config())
	_, err := s.Deliver(context.Background(), ticketDelivery())
	if err == nil {
		t.Fatal("delivered with refused credentials")
	}
	want := `odoo refused the login or API key for database "shopdb" (check [sinks.odoo] login and api_key)`
	if !strings.Contains(err.Error(), want) {
		t.Errorf("error = %q, want it to contain %q", err, want)
	}
	if !errors.Is(err, ErrAuth) || errors.Is(err, bridge.ErrPermanent) {
		t.Errorf("error %v: want ErrAuth, retryable", err)
	}
	if n := f.count("object", "execute_kw"); n != 0 {
		t.Errorf("execute_kw called %d times without a login", n)
	}
}

// An object call denied after a good login (the key was revoked, the
// session expired) logs in again once.
func TestReauthenticateOnce(t *testing.T) {
	tests := []struct {
		name    string
		deny    int
		wantErr bool
		auths   int
	}{
		{"denied once", 1, false, 2},
		{"denied twice", 2, true, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			f := newFakeOdoo(t)
			s := newTestSink(t, f.config())
			if _, err := s.Deliver(context.Background(), ticketDelivery()); err != nil {
				t.Fatal(err)
			}
			f.set(func(f *fakeOdoo) { f.deny = tt.deny })
			_, err := s.Deliver(context.Background(), ticketDelivery())
			if tt.wantErr != (err != nil) {
				t.Fatalf("err = %v, want error %v", err, tt.wantErr)
			}
			if err != nil && (!errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "Access Denied")) {
				t.Errorf("err = %v, want ErrAuth with Odoo's message", err)
			}
			if n := f.count("common", "authenticate"); n != tt.auths {
				t.Errorf("authenticate called %d times, want %d", n, tt.auths)
			}
		})
	}
}

func TestOdooErrorMessage(t *testing.T) {
	f := newFakeOdoo(t)
	f.set(func(f *fakeOdoo) { f.createError = "Helpdesk team 99 does not exist" })
	s := newTestSink(t, f.config())
	_, err := s.Deliver(context.Background(), ticketDelivery())
	var rerr *RPCError
	if !errors.As(err, &rerr) || rerr.Name != "odoo.exceptions.ValidationError" || rerr.Message != "Helpdesk team 99 does not exist" {
		t.Fatalf("err = %#v, want Odoo's ValidationError", err)
	}
	if want := "helpdesk.ticket create: odoo says: Helpdesk team 99 does not exist (odoo.exceptions.ValidationError)"; err.Error() != want {
		t.Errorf("err = %q, want %q", err, want)
	}
	if errors.Is(err, bridge.ErrPermanent) {
		t.Errorf("Odoo errors must be retried")
	}
}

// A retry first looks for the record an earlier attempt created.
func TestRetryIsIdempotent(t *testing.T) {
	f := newFakeOdoo(t)
	s := newTestSink(t, f.config())
	d := ticketDelivery()
	first, err := s.Deliver(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	d.Entry.Attempts = 1 // as if the answer had been lost
	again, err := s.Deliver(context.Background(), d)
	if err != nil {
		t.Fatal(err)
	}
	if again.Link != first.Link {
		t.Errorf("retry link %q, want the first record's %q", again.Link, first.Link)
	}
	other := ticketDelivery()
	other.Ticket.Number, other.Entry.Number, other.Entry.Attempts = 13, 13, 2
	rc, err := s.Deliver(context.Background(), other)
	if err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(rc.Link, "id=2&") {
		t.Errorf("retry of a record never created: link %q, want a new record", rc.Link)
	}
	f.mu.Lock()
	n := len(f.records["helpdesk.ticket"])
	f.mu.Unlock()
	if n != 2 {
		t.Errorf("Odoo has %d tickets, want 2", n)
	}
	if s := f.count("object", "execute_kw"); s != 4 {
		t.Errorf("execute_kw called %d times, want create, search, search, create", s)
	}
}

func TestHTTPErrors(t *testing.T) {
	tests := []struct {
		name       string
		handler    http.HandlerFunc
		want       string
		retryAfter time.Duration
	}{
		{"404", func(w http.ResponseWriter, r *http.Request) { http.NotFound(w, r) }, "answered 404: check sinks.odoo.url", 0},
		{"500", func(w http.ResponseWriter, r *http.Request) { w.WriteHeader(500) }, "answered 500 Internal Server Error", 0},
		{"429", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Retry-After", "30")
			w.WriteHeader(429)
		}, "answered 429", 30 * time.Second},
		{"html page", func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Content-Type", "text/html")
			io.WriteString(w, "<html>login</html>")
		}, "did not answer JSON-RPC", 0},
		{"redirect", func(w http.ResponseWriter, r *http.Request) {
			http.Redirect(w, r, "https://elsewhere.example.com/jsonrpc", http.StatusMovedPermanently)
		}, `redirects to "https://elsewhere.example.com/jsonrpc"`, 0},
		{"no result", func(w http.ResponseWriter, r *http.Request) {
			io.WriteString(w, `{"jsonrpc":"2.0","id":1}`)
		}, "without a result", 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			srv := httptest.NewServer(tt.handler)
			defer srv.Close()
			s := newTestSink(t, Config{URL: srv.URL, Database: "d", Login: "l", APIKey: "k", Tickets: true})
			_, err := s.Deliver(context.Background(), ticketDelivery())
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("err = %v, want %q", err, tt.want)
			}
			if errors.Is(err, bridge.ErrPermanent) {
				t.Errorf("transport errors must be retried")
			}
			var ra *bridge.RetryAfterError
			var got time.Duration
			if errors.As(err, &ra) {
				got = ra.After
			}
			if got != tt.retryAfter {
				t.Errorf("retry after %v, want %v", got, tt.retryAfter)
			}
		})
	}
}

func TestEntryWithoutRecordIsPermanent(t *testing.T) {
	s := newTestSink(t, Config{URL: "http://127.0.0.1:1", Database: "d", Login: "l", APIKey: "k", Tickets: true})
	d := ticketDelivery()
	d.Ticket = nil
	if _, err := s.Deliver(context.Background(), d); !errors.Is(err, bridge.ErrPermanent) {
		t.Errorf("err = %v, want ErrPermanent", err)
	}
}

func TestHealth(t *testing.T) {
	f := newFakeOdoo(t)
	var mu sync.Mutex
	now := t0
	cfg := f.config()
	cfg.HealthTTL = time.Minute
	cfg.Now = func() time.Time { mu.Lock(); defer mu.Unlock(); return now }
	advance := func(d time.Duration) { mu.Lock(); now = now.Add(d); mu.Unlock() }
	s := newTestSink(t, cfg)
	ctx := context.Background()
	if err := s.Health(ctx); err != nil {
		t.Fatalf("Health() = %v", err)
	}
	if err := s.Health(ctx); err != nil || f.count("common", "authenticate") != 1 {
		t.Errorf("within the TTL: Health() = %v after %d logins, want the cached result", err, f.count("common", "authenticate"))
	}
	f.set(func(f *fakeOdoo) { f.refuse = true })
	advance(2 * time.Minute)
	err := s.Health(ctx)
	if err == nil || !errors.Is(err, ErrAuth) || !strings.Contains(err.Error(), "check [sinks.odoo] login and api_key") {
		t.Errorf("refused: Health() = %v", err)
	}
	if f.count("common", "authenticate") != 2 {
		t.Errorf("after the TTL: %d logins, want 2", f.count("common", "authenticate"))
	}
}
