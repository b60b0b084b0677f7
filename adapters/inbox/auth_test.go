package inbox

import (
	"net/http"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"
)

func TestLoginRequired(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.anonymous()
	for _, tc := range []struct {
		name, method, path string
		wantStatus         int
		wantLocation       string
	}{
		{"list page", "GET", "/inbox/", http.StatusSeeOther, "/inbox/login"},
		{"conversation page", "GET", "/inbox/c/c_abc", http.StatusSeeOther, "/inbox/login?next=%2Finbox%2Fc%2Fc_abc"},
		{"list api", "GET", "/inbox/api/conversations", http.StatusUnauthorized, ""},
		{"conversation api", "GET", "/inbox/api/conversations/c_abc", http.StatusUnauthorized, ""},
		{"live events", "GET", "/inbox/events", http.StatusUnauthorized, ""},
		{"reply form", "POST", "/inbox/c/c_abc/reply", http.StatusSeeOther, "/inbox/login"},
		{"reply script", "POST", "/inbox/c/c_abc/reply?json", http.StatusUnauthorized, ""},
		{"logout", "POST", "/inbox/logout", http.StatusSeeOther, "/inbox/login"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			path, script := strings.CutSuffix(tc.path, "?json")
			req, _ := http.NewRequest(tc.method, f.srv.URL+path, strings.NewReader("text=hi"))
			req.Header.Set("Content-Type", "application/x-www-form-urlencoded")
			if script {
				req.Header.Set("Accept", "application/json")
			}
			res := c.do(req)
			res.Body.Close()
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			if got := res.Header.Get("Location"); got != tc.wantLocation {
				t.Errorf("Location = %q, want %q", got, tc.wantLocation)
			}
		})
	}
}

func TestLogin(t *testing.T) {
	f := newFixture(t, Config{})
	for _, tc := range []struct {
		name, login, password string
		wantStatus            int
	}{
		{"right password", "alice", alice.password, http.StatusSeeOther},
		{"login in other case", "ALICE", alice.password, http.StatusSeeOther},
		{"wrong password", "alice", "nope", http.StatusUnauthorized},
		{"other operator's password", "alice", bob.password, http.StatusUnauthorized},
		{"unknown login", "mallory", alice.password, http.StatusUnauthorized},
		{"empty password", "alice", "", http.StatusUnauthorized},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := f.anonymous()
			res := c.post("/inbox/login", url.Values{"login": {tc.login}, "password": {tc.password}}, nil)
			if res.StatusCode != tc.wantStatus {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.wantStatus)
			}
			var session *http.Cookie
			for _, ck := range res.Cookies() {
				if ck.Name == cookieName {
					session = ck
				}
			}
			if tc.wantStatus != http.StatusSeeOther {
				if session != nil {
					t.Errorf("refused login set a session cookie")
				}
				if code := c.getJSON("/inbox/api/conversations", &listJSON{}); code != http.StatusUnauthorized {
					t.Errorf("api after refused login: status %d, want 401", code)
				}
				return
			}
			if session == nil {
				t.Fatalf("no session cookie")
			}
			if !session.HttpOnly || session.SameSite != http.SameSiteStrictMode || session.Secure || session.Path != "/inbox" {
				t.Errorf("cookie = %+v, want HttpOnly, SameSite=Strict, not Secure on http, Path /inbox", session)
			}
			if len(session.Value) < 40 {
				t.Errorf("session id %q is too short to be random", session.Value)
			}
			if code := c.getJSON("/inbox/api/conversations", &listJSON{}); code != http.StatusOK {
				t.Errorf("api after login: status %d, want 200", code)
			}
		})
	}
}

func TestSecureCookieOnHTTPS(t *testing.T) {
	f := newFixture(t, Config{PublicURL: "https://chat.example.com"})
	res := f.anonymous().post("/inbox/login", url.Values{"login": {"bob"}, "password": {bob.password}}, nil)
	var secure bool
	for _, ck := range res.Cookies() {
		if ck.Name == cookieName {
			secure = ck.Secure
		}
	}
	if res.StatusCode != http.StatusSeeOther || !secure {
		t.Errorf("status %d, secure cookie %v; want 303 and a Secure cookie", res.StatusCode, secure)
	}
}

func TestLoginRedirectsToNext(t *testing.T) {
	f := newFixture(t, Config{})
	for _, tc := range []struct{ next, want string }{
		{"/inbox/c/c_1", "/inbox/c/c_1"},
		{"//evil.example/inbox/", "/inbox/"},
		{"https://evil.example/", "/inbox/"},
		{"/inbox//evil.example", "/inbox/"},
		{"", "/inbox/"},
	} {
		res := f.anonymous().post("/inbox/login", url.Values{"login": {"alice"}, "password": {alice.password}, "next": {tc.next}}, nil)
		if got := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || got != tc.want {
			t.Errorf("next %q: status %d, Location %q; want 303 to %q", tc.next, res.StatusCode, got, tc.want)
		}
	}
}

func TestLoginBruteForceLimited(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.anonymous()
	for i := range freeFailures {
		res := c.post("/inbox/login", url.Values{"login": {"alice"}, "password": {"guess"}}, nil)
		if res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("attempt %d: status %d, want 401", i+1, res.StatusCode)
		}
	}
	// Now even the right password for alice waits from this address…
	res := c.post("/inbox/login", url.Values{"login": {"alice"}, "password": {alice.password}}, nil)
	if res.StatusCode != http.StatusTooManyRequests {
		t.Fatalf("after %d failures: status %d, want 429", freeFailures, res.StatusCode)
	}
	if res.Header.Get("Retry-After") == "" {
		t.Errorf("429 without Retry-After")
	}
	// …until its delay has passed.
	f.clock.Add(firstDelay)
	res = c.post("/inbox/login", url.Values{"login": {"alice"}, "password": {alice.password}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Errorf("after the window: status %d, want 303", res.StatusCode)
	}
}

func TestClientAddr(t *testing.T) {
	for _, tc := range []struct {
		name, remote string
		xff          []string // X-Forwarded-For headers
		trust        bool
		want         string
	}{
		{"IPv4 peer", "192.0.2.7:5555", nil, false, "192.0.2.7"},
		{"mapped IPv4 peer", "[::ffff:192.0.2.7]:5555", nil, false, "192.0.2.7"},
		{"IPv6 peer is its /64", "[2001:db8:1:2:3:4:5:6]:443", nil, false, "2001:db8:1:2::/64"},
		{"other host of the same /64", "[2001:db8:1:2:ffff::1]:443", nil, false, "2001:db8:1:2::/64"},
		{"unparsable peer", "garbage", nil, false, "unknown"},
		{"header ignored without trust", "10.0.0.1:80", []string{"203.0.113.9"}, false, "10.0.0.1"},
		{"trusted header", "10.0.0.1:80", []string{"203.0.113.9"}, true, "203.0.113.9"},
		{"right-most entry, not the forgeable left ones", "10.0.0.1:80", []string{"198.51.100.1, 203.0.113.9"}, true, "203.0.113.9"},
		{"last header", "10.0.0.1:80", []string{"198.51.100.1", "203.0.113.9"}, true, "203.0.113.9"},
		{"invalid right-most entry: the peer, never a client-written entry", "10.0.0.1:80", []string{"203.0.113.9, unknown"}, true, "10.0.0.1"},
		{"IPv6 in the header is its /64", "10.0.0.1:80", []string{"2001:db8:9::1"}, true, "2001:db8:9::/64"},
		{"unusable header falls back to the peer", "10.0.0.1:80", []string{"nonsense"}, true, "10.0.0.1"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := httptest.NewRequest("GET", "/", nil)
			r.RemoteAddr = tc.remote
			for _, v := range tc.xff {
				r.Header.Add("X-Forwarded-For", v)
			}
			if got := clientAddr(r, tc.trust); got != tc.want {
				t.Errorf("clientAddr = %q, want %q", got, tc.want)
			}
		})
	}
}

func TestSessionExpires(t *testing.T) {
	f := newFixture(t, Config{SessionTTL: time.Hour})
	c := f.login(alice)
	f.clock.Add(59 * time.Minute)
	if code := c.getJSON("/inbox/api/conversations", &listJSON{}); code != http.StatusOK {
		t.Fatalf("before expiry: status %d, want 200", code)
	}
	f.clock.Add(2 * time.Minute)
	if code := c.getJSON("/inbox/api/conversations", &listJSON{}); code != http.StatusUnauthorized {
		t.Errorf("after expiry: status %d, want 401", code)
	}
}

func TestLogout(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.login(alice)
	if res := c.post("/inbox/logout", url.Values{}, nil); res.StatusCode != http.StatusForbidden {
		t.Errorf("logout without CSRF token: status %d, want 403", res.StatusCode)
	}
	res := c.post("/inbox/logout", url.Values{"csrf": {c.csrf}}, nil)
	if res.StatusCode != http.StatusSeeOther {
		t.Fatalf("logout: status %d, want 303", res.StatusCode)
	}
	if code := c.getJSON("/inbox/api/conversations", &listJSON{}); code != http.StatusUnauthorized {
		t.Errorf("after logout: status %d, want 401", code)
	}
}

func TestCSRF(t *testing.T) {
	f := newFixture(t, Config{})
	_, m := f.visitorSays("", "Vera", "hello")
	c := f.login(alice)
	path := "/inbox/c/" + m.ConversationID + "/reply"
	for _, tc := range []struct {
		name       string
		form       url.Values
		hdr        map[string]string
		wantStatus int
	}{
		{"no token", url.Values{"event_id": {"evt-00000001"}, "text": {"hi"}}, nil, http.StatusForbidden},
		{"wrong token", url.Values{"csrf": {"x" + c.csrf}, "event_id": {"evt-00000002"}, "text": {"hi"}}, nil, http.StatusForbidden},
		{"other site's origin", url.Values{"csrf": {c.csrf}, "event_id": {"evt-00000003"}, "text": {"hi"}}, map[string]string{"Origin": "https://evil.example"}, http.StatusForbidden},
		{"cross-site fetch", url.Values{"csrf": {c.csrf}, "event_id": {"evt-00000004"}, "text": {"hi"}}, map[string]string{"Sec-Fetch-Site": "cross-site"}, http.StatusForbidden},
		{"token in header, own origin", url.Values{"event_id": {"evt-00000005"}, "text": {"hi"}}, map[string]string{"X-CSRF-Token": c.csrf, "Origin": f.srv.URL}, http.StatusSeeOther},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if res := c.post(path, tc.form, tc.hdr); res.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", res.StatusCode, tc.wantStatus)
			}
		})
	}
	view, err := f.engine.VisitorMessages(f.ctx, visitorOf(t, f, m.ConversationID), "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if n := len(view.Messages); n != 2 {
		t.Errorf("visitor sees %d messages, want 2 (hello and the one accepted reply)", n)
	}
}

func visitorOf(t *testing.T, f *fixture, convID string) string {
	t.Helper()
	c, err := f.engine.Conversation(f.ctx, convID)
	if err != nil {
		t.Fatal(err)
	}
	return c.VisitorID
}
