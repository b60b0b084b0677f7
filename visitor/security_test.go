package visitor

import (
	"context"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"testing"
	"time"
)

func TestBadInputStoresNothing(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.MaxMessageBytes = 100 }))
	token, _ := e.session()
	e.send(token, "c0", "existing")
	long := strings.Repeat("x", 101)
	huge := `{"client_id":"c","text":"` + strings.Repeat("y", 2*100+4096) + `"}`
	forged := strings.Repeat("A", 43)
	for _, tc := range []struct {
		name   string
		req    request
		status int
		code   string
	}{
		{"text over max_message_bytes", request{method: "POST", path: "/api/v1/messages", token: token, body: messageRequest{ClientID: "c1", Text: long}}, 413, CodeTooLarge},
		{"body over the limit", request{method: "POST", path: "/api/v1/messages", token: token, body: huge}, 413, CodeTooLarge},
		{"invalid UTF-8", request{method: "POST", path: "/api/v1/messages", token: token, body: []byte("{\"client_id\":\"c1\",\"text\":\"caf\xe9\"}")}, 400, CodeBadRequest},
		{"empty text", request{method: "POST", path: "/api/v1/messages", token: token, body: messageRequest{ClientID: "c1", Text: ""}}, 400, CodeBadRequest},
		{"blank text", request{method: "POST", path: "/api/v1/messages", token: token, body: messageRequest{ClientID: "c1", Text: " \n\t "}}, 400, CodeBadRequest},
		{"NUL in text", request{method: "POST", path: "/api/v1/messages", token: token, body: messageRequest{ClientID: "c1", Text: "a\x00b"}}, 400, CodeBadRequest},
		{"missing client_id", request{method: "POST", path: "/api/v1/messages", token: token, body: messageRequest{Text: "hi"}}, 400, CodeBadRequest},
		{"long client_id", request{method: "POST", path: "/api/v1/messages", token: token, body: messageRequest{ClientID: strings.Repeat("k", 129), Text: "hi"}}, 400, CodeBadRequest},
		{"not JSON", request{method: "POST", path: "/api/v1/messages", token: token, body: "client_id=c1&text=hi"}, 400, CodeBadRequest},
		{"JSON array", request{method: "POST", path: "/api/v1/messages", token: token, body: `[{"client_id":"c1","text":"hi"}]`}, 400, CodeBadRequest},
		{"trailing data", request{method: "POST", path: "/api/v1/messages", token: token, body: `{"client_id":"c1","text":"hi"} {}`}, 400, CodeBadRequest},
		{"wrong type", request{method: "POST", path: "/api/v1/messages", token: token, body: `{"client_id":"c1","text":42}`}, 400, CodeBadRequest},
		{"empty body", request{method: "POST", path: "/api/v1/messages", token: token, body: ""}, 400, CodeBadRequest},
		{"missing token", request{method: "POST", path: "/api/v1/messages", body: messageRequest{ClientID: "c1", Text: "hi"}}, 401, CodeUnauthorized},
		{"forged token", request{method: "POST", path: "/api/v1/messages", token: forged, body: messageRequest{ClientID: "c1", Text: "hi"}}, 401, CodeUnauthorized},
		{"basic auth", request{method: "POST", path: "/api/v1/messages", header: map[string]string{"Authorization": "Basic " + token}, body: messageRequest{ClientID: "c1", Text: "hi"}}, 401, CodeUnauthorized},
		{"forged token read", request{method: "GET", path: "/api/v1/messages", token: forged}, 401, CodeUnauthorized},
		{"forged token close", request{method: "POST", path: "/api/v1/conversation/close", token: forged}, 401, CodeUnauthorized},
		{"missing token pageview", request{method: "POST", path: "/api/v1/pageviews", body: pageViewRequest{URL: "https://shop.example.com/"}}, 401, CodeUnauthorized},
		{"disallowed origin", request{method: "POST", path: "/api/v1/messages", token: token, header: map[string]string{"Origin": "https://evil.example"}, body: messageRequest{ClientID: "c1", Text: "hi"}}, 403, CodeForbidden},
		{"disallowed origin session", request{method: "POST", path: "/api/v1/sessions", header: map[string]string{"Origin": "https://shop.example.com.evil.example"}, body: "{}"}, 403, CodeForbidden},
		{"null origin", request{method: "GET", path: "/api/v1/messages", token: token, header: map[string]string{"Origin": "null"}}, 403, CodeForbidden},
		{"bad after", request{method: "GET", path: "/api/v1/messages?after=-1", token: token}, 400, CodeBadRequest},
		{"bad wait", request{method: "GET", path: "/api/v1/messages?wait=NaN", token: token}, 400, CodeBadRequest},
		{"pageview javascript url", request{method: "POST", path: "/api/v1/pageviews", token: token, body: pageViewRequest{URL: "javascript:alert(1)"}}, 400, CodeBadRequest},
		{"pageview no url", request{method: "POST", path: "/api/v1/pageviews", token: token, body: pageViewRequest{Title: "x"}}, 400, CodeBadRequest},
		{"session bad email", request{method: "POST", path: "/api/v1/sessions", body: sessionRequest{Email: "not an email"}}, 400, CodeBadRequest},
		{"session bad locale", request{method: "POST", path: "/api/v1/sessions", body: sessionRequest{Locale: "<script>"}}, 400, CodeBadRequest},
		{"identity without a secret", request{method: "POST", path: "/api/v1/sessions", body: sessionRequest{Identity: &Identity{UserID: "u1", Expires: 1 << 40, Signature: "00"}}}, 400, CodeBadRequest},
		{"unknown endpoint", request{method: "GET", path: "/api/v1/nope", token: token}, 404, CodeNotFound},
		{"wrong method", request{method: "DELETE", path: "/api/v1/messages", token: token}, 405, CodeMethodNotAllowed},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.store.updates.Load()
			r := e.do(tc.req)
			r.wantError(t, tc.status, tc.code)
			if n := e.store.updates.Load() - before; n != 0 {
				t.Errorf("refused request committed %d transactions", n)
			}
			if r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
				t.Errorf("security headers missing: %v", r.header)
			}
			if tc.status == 403 && r.header.Get("Access-Control-Allow-Origin") != "" {
				t.Errorf("CORS header on a refused origin")
			}
		})
	}
	if convs, msgs := e.counts(); convs != 1 || msgs != 1 {
		t.Errorf("store has %d conversations and %d messages, want 1 and 1", convs, msgs)
	}
}

func TestVisitorsAreIsolated(t *testing.T) {
	e := newEnv(t)
	tokA, _ := e.session()
	tokB, _ := e.session()
	a := e.send(tokA, "same-id", "A's secret")
	b := e.send(tokB, "same-id", "B's secret")
	if a.ConversationID == b.ConversationID {
		t.Fatal("two visitors share a conversation")
	}
	// A names B's conversation: A gets its own conversation, from the start.
	v := e.messages(tokA, "?after=0&conversation="+b.ConversationID)
	if v.ConversationID != a.ConversationID || len(v.Messages) != 1 || v.Messages[0].Text != "A's secret" {
		t.Fatalf("A reading B's conversation got %+v", v)
	}
	// A closing closes only A's conversation.
	e.do(request{method: "POST", path: "/api/v1/conversation/close", token: tokA}).decodeTo(t, 204, nil)
	if got := e.messages(tokB, ""); got.Status != "open" || got.ConversationID != b.ConversationID {
		t.Errorf("B after A closed: %+v", got)
	}
	// A writing lands in a new conversation of A, never in B's.
	a2 := e.send(tokA, "next", "A again")
	if a2.ConversationID == b.ConversationID {
		t.Error("A wrote into B's conversation")
	}
	if got := e.messages(tokB, "?after=0"); len(got.Messages) != 1 || got.Messages[0].Text != "B's secret" {
		t.Errorf("B sees %q", texts(got.Messages))
	}
}

func TestSessionFlood(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.SessionsPerIPPerHour = 3 }))
	for range 3 {
		e.session()
	}
	before := e.store.updates.Load()
	for range 5 {
		r := e.do(request{method: "POST", path: "/api/v1/sessions", body: "{}"})
		r.wantError(t, 429, CodeRateLimited)
		secs, err := strconv.Atoi(r.header.Get("Retry-After"))
		if err != nil || secs < 1 || secs > 3600 {
			t.Errorf("Retry-After = %q", r.header.Get("Retry-After"))
		}
	}
	if n := e.store.updates.Load() - before; n != 0 {
		t.Errorf("refused sessions committed %d transactions", n)
	}
}

func TestMessageFlood(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.MessagesPerMinute = 3 }))
	token, _ := e.session()
	for i := range 3 {
		e.send(token, "m"+strconv.Itoa(i), "message")
	}
	before := e.store.updates.Load()
	r := e.do(request{method: "POST", path: "/api/v1/messages", token: token, body: messageRequest{ClientID: "m9", Text: "one too many"}})
	r.wantError(t, 429, CodeRateLimited)
	if r.header.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	// A retry of an accepted message is still answered.
	e.send(token, "m0", "message")
	if n := e.store.updates.Load() - before; n != 0 {
		t.Errorf("refused message committed %d transactions", n)
	}
	if convs, msgs := e.counts(); convs != 1 || msgs != 3 {
		t.Errorf("store has %d conversations, %d messages; want 1, 3", convs, msgs)
	}
	// Another visitor's conversation has its own budget.
	other, _ := e.session()
	e.send(other, "o1", "hello")
}

func TestConversationFlood(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.ConversationsPerIPPerDay = 2 }))
	token, _ := e.session()
	for i := range 2 {
		e.send(token, "m"+strconv.Itoa(i), "hello")
		e.do(request{method: "POST", path: "/api/v1/conversation/close", token: token}).decodeTo(t, 204, nil)
	}
	other, _ := e.session() // same IP, another visitor
	for _, tok := range []string{token, other} {
		before := e.store.updates.Load()
		e.do(request{method: "POST", path: "/api/v1/messages", token: tok, body: messageRequest{ClientID: "x", Text: "third"}}).wantError(t, 429, CodeRateLimited)
		if e.store.updates.Load() != before {
			t.Error("refused conversation wrote to the store")
		}
	}
	if convs, msgs := e.counts(); convs != 2 || msgs != 4 {
		t.Errorf("store has %d conversations, %d messages; want 2, 4", convs, msgs)
	}
}

func TestPageViewFlood(t *testing.T) {
	e := newEnv(t, withConfig(func(c *Config) { c.PageviewsPerMinute = 2 }))
	token, _ := e.session()
	pv := request{method: "POST", path: "/api/v1/pageviews", token: token, body: pageViewRequest{URL: "https://shop.example.com/"}}
	e.do(pv).decodeTo(t, 204, nil)
	e.do(pv).decodeTo(t, 204, nil)
	e.do(pv).wantError(t, 429, CodeRateLimited)
}

func TestCORS(t *testing.T) {
	e := newEnv(t)
	token, _ := e.session()
	pre := e.do(request{method: "OPTIONS", path: "/api/v1/messages", header: map[string]string{
		"Origin": "https://shop.example.com", "Access-Control-Request-Method": "POST",
		"Access-Control-Request-Headers": "authorization, content-type"}})
	if pre.status != 204 || pre.header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Headers"), "Authorization") ||
		!strings.Contains(pre.header.Get("Access-Control-Allow-Methods"), "POST") {
		t.Errorf("preflight: %d %v", pre.status, pre.header)
	}
	if pre.header.Get("Access-Control-Allow-Credentials") != "" {
		t.Error("credentials must not be allowed")
	}
	e.do(request{method: "OPTIONS", path: "/api/v1/messages", header: map[string]string{"Origin": "https://evil.example"}}).wantError(t, 403, CodeForbidden)

	got := e.do(request{method: "GET", path: "/api/v1/messages", token: token, header: map[string]string{"Origin": "https://shop.example.com"}})
	if got.status != 200 || got.header.Get("Access-Control-Allow-Origin") != "https://shop.example.com" || !strings.Contains(got.header.Get("Vary"), "Origin") {
		t.Errorf("allowed GET: %d %v", got.status, got.header)
	}
	// Without Origin (curl, same-origin GET): allowed, no CORS headers.
	if got := e.do(request{method: "GET", path: "/api/v1/messages", token: token}); got.status != 200 || got.header.Get("Access-Control-Allow-Origin") != "" {
		t.Errorf("no-Origin GET: %d %v", got.status, got.header)
	}
}

func TestOriginPolicy(t *testing.T) {
	p := newOriginPolicy("https://chat.example.com", []string{"https://shop.example.com", "http://localhost:3000", "https://*.example.org"})
	same := newOriginPolicy("", nil)
	for _, tc := range []struct {
		policy originPolicy
		host   string
		origin string
		want   bool
	}{
		{p, "chat.example.com", "", true},
		{p, "chat.example.com", "https://chat.example.com", true},
		{p, "chat.example.com", "https://chat.example.com:443", true},
		{p, "chat.example.com", "https://shop.example.com", true},
		{p, "chat.example.com", "HTTPS://SHOP.EXAMPLE.COM", true},
		{p, "chat.example.com", "http://shop.example.com", false},
		{p, "chat.example.com", "https://shop.example.com:8443", false},
		{p, "chat.example.com", "http://localhost:3000", true},
		{p, "chat.example.com", "http://localhost:3001", false},
		{p, "chat.example.com", "https://a.b.example.org", true},
		{p, "chat.example.com", "https://example.org", false},
		{p, "chat.example.com", "https://evilexample.org", false},
		{p, "chat.example.com", "https://shop.example.com.evil.net", false},
		{p, "chat.example.com", "null", false},
		{p, "chat.example.com", "https://*.example.org", false},
		{p, "evil.example", "https://evil.example", false}, // host is not trusted when a public URL is set
		{same, "127.0.0.1:8080", "http://127.0.0.1:8080", true},
		{same, "127.0.0.1:8080", "http://127.0.0.1:8081", false},
		{same, "127.0.0.1:8080", "https://shop.example.com", false},
	} {
		r := httptest.NewRequest("GET", "http://"+tc.host+"/api/v1/messages", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := tc.policy.allowed(r); got != tc.want {
			t.Errorf("host %s origin %q: allowed = %v, want %v", tc.host, tc.origin, got, tc.want)
		}
	}
}

func TestClientIP(t *testing.T) {
	for _, tc := range []struct {
		remote, xff string
		trust       bool
		want        string
	}{
		{"192.0.2.1:1234", "", false, "192.0.2.1"},
		{"192.0.2.1:1234", "203.0.113.9", false, "192.0.2.1"},
		{"192.0.2.1:1234", "203.0.113.9", true, "203.0.113.9"},
		{"192.0.2.1:1234", "1.1.1.1, 203.0.113.9", true, "203.0.113.9"},
		{"192.0.2.1:1234", "garbage", true, "192.0.2.1"},
		{"[2001:db8:1:2:3:4:5:6]:443", "", false, "2001:db8:1:2::/64"},
		{"[::ffff:192.0.2.7]:443", "", false, "192.0.2.7"},
	} {
		r := httptest.NewRequest("GET", "/", nil)
		r.RemoteAddr = tc.remote
		if tc.xff != "" {
			r.Header.Set("X-Forwarded-For", tc.xff)
		}
		if got := clientIP(r, tc.trust); got != tc.want {
			t.Errorf("clientIP(%s, %q, %v) = %q, want %q", tc.remote, tc.xff, tc.trust, got, tc.want)
		}
	}
}

func TestIdentitySessions(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	const secret = "s3cret"
	e := newEnv(t, withClock(clock), withConfig(func(c *Config) { c.IdentitySecret = secret }))
	sign := func(id Identity) *Identity { id.Signature = id.Sign(secret); return &id }
	valid := sign(Identity{UserID: "user-42", Name: "Ada", Email: "ada@example.com", Expires: clock.Now().Unix() + 60})

	var first, second, longest sessionResponse
	e.do(request{method: "POST", path: "/api/v1/sessions", body: sessionRequest{Identity: sign(Identity{UserID: "user-7", Expires: clock.Now().Add(DefaultIdentityMaxLifetime).Unix()})}}).decodeTo(t, 201, &longest)
	e.do(request{method: "POST", path: "/api/v1/sessions", body: sessionRequest{Identity: valid}}).decodeTo(t, 201, &first)
	e.do(request{method: "POST", path: "/api/v1/sessions", body: sessionRequest{Name: "ignored", Identity: valid}}).decodeTo(t, 201, &second)
	if first.VisitorID != second.VisitorID || first.Token == second.Token {
		t.Fatalf("identity did not resume: %+v then %+v", first, second)
	}
	v, err := e.engine.Authenticate(context.Background(), second.Token)
	if err != nil || v.ExternalID != "user-42" || v.Name != "Ada" || v.Email != "ada@example.com" {
		t.Fatalf("resumed visitor = %+v, %v", v, err)
	}

	tampered := *valid
	tampered.UserID = "user-43"
	badHex := *valid
	badHex.Signature = "zz"
	for _, tc := range []struct {
		name string
		id   *Identity
		code int
	}{
		{"expired", sign(Identity{UserID: "user-42", Expires: clock.Now().Unix()}), 401},
		{"tampered", &tampered, 401},
		{"not hex", &badHex, 401},
		{"wrong secret", &Identity{UserID: "u", Expires: clock.Now().Unix() + 60, Signature: Identity{UserID: "u", Expires: clock.Now().Unix() + 60}.Sign("other")}, 401},
		{"newline", sign(Identity{UserID: "u\nx", Expires: clock.Now().Unix() + 60}), 400},
		{"no user", sign(Identity{Expires: clock.Now().Unix() + 60}), 400},
		// visitor.identity_max_lifetime (24 h by default): a signature meant
		// to last for years is refused.
		{"far future", sign(Identity{UserID: "user-42", Expires: 99999999999}), 401},
		{"just past the maximum", sign(Identity{UserID: "user-42", Expires: clock.Now().Add(DefaultIdentityMaxLifetime).Unix() + 1}), 401},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.store.updates.Load()
			code := map[int]string{400: CodeBadRequest, 401: CodeUnauthorized}[tc.code]
			e.do(request{method: "POST", path: "/api/v1/sessions", body: sessionRequest{Identity: tc.id}}).wantError(t, tc.code, code)
			if e.store.updates.Load() != before {
				t.Error("refused identity wrote to the store")
			}
		})
	}
}

func TestIdentityCanonicalString(t *testing.T) {
	id := Identity{UserID: "42", Name: "Ada Lovelace", Email: "ada@example.com", Expires: 1767225600}
	if got, want := id.CanonicalString(), "42\nAda Lovelace\nada@example.com\n1767225600"; got != want {
		t.Errorf("canonical = %q, want %q", got, want)
	}
	// HMAC-SHA256("secret", canonical), computed independently with
	// printf '42\nAda Lovelace\nada@example.com\n1767225600' | openssl dgst -sha256 -hmac secret
	const want = "c405bbb409590f80e1902458e3f167e23cc2ce843a779b58e9ae484a714f2ee5"
	if got := id.Sign("secret"); got != want {
		t.Errorf("signature = %s, want %s", got, want)
	}
	if err := verifyIdentity(Identity{UserID: id.UserID, Name: id.Name, Email: id.Email, Expires: id.Expires, Signature: strings.ToUpper(want)}, "secret", time.Unix(1767225599, 0)); err != nil {
		t.Errorf("upper-case hex refused: %v", err)
	}
}

func TestSecurityHeadersOnSuccess(t *testing.T) {
	e := newEnv(t)
	r := e.do(request{method: "POST", path: "/api/v1/sessions", body: "{}"})
	if r.status != http.StatusCreated || r.header.Get("X-Content-Type-Options") != "nosniff" || r.header.Get("Cache-Control") != "no-store" {
		t.Errorf("%d %v", r.status, r.header)
	}
}

func TestConfigValidate(t *testing.T) {
	for _, tc := range []struct {
		name string
		cfg  Config
		want []string // substrings of the errors, in order
	}{
		{"zero", Config{}, nil},
		{"good", Config{PublicURL: "https://chat.example.com/base/", AllowedOrigins: []string{"https://shop.example.com", "https://*.example.org"}}, nil},
		{"bad origins", Config{AllowedOrigins: []string{"shop.example.com", "https://x.example/path", "ftp://x", "https://a*.example"}},
			[]string{"allowed_origins[0]", "allowed_origins[1]", "allowed_origins[2]", "allowed_origins[3]"}},
		{"negative", Config{MessagesPerMinute: -1, LongPollMax: -time.Second}, []string{"messages_per_minute", "long_poll_max"}},
		{"negative caps", Config{VisitorUpdatesPerMinute: -1, MaxConnsPerVisitor: -1, MaxConnsPerIP: -1},
			[]string{"visitor_updates_per_minute", "max_conns_per_visitor", "max_conns_per_ip"}},
		{"frame too small", Config{WSMaxFrameBytes: 1000}, []string{"ws_max_frame_bytes"}},
		{"bad public url", Config{PublicURL: "chat.example.com"}, []string{"server.public_url"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			errs := tc.cfg.Validate()
			if len(errs) != len(tc.want) {
				t.Fatalf("errors = %v, want %d", errs, len(tc.want))
			}
			for i, w := range tc.want {
				if !strings.Contains(errs[i].Error(), w) {
					t.Errorf("error %d = %v, want it to mention %s", i, errs[i], w)
				}
			}
		})
	}
}
