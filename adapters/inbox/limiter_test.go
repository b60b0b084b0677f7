package inbox

import (
	"fmt"
	"net/http"
	"net/url"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// loginFrom posts a login as if from client address ip (X-Forwarded-For,
// which the proxy in front of the inbox appends) and returns the status.
func loginFrom(t *testing.T, f *fixture, ip, login, pw string) *http.Response {
	t.Helper()
	return f.anonymous().post("/inbox/login", url.Values{"login": {login}, "password": {pw}},
		map[string]string{"X-Forwarded-For": ip})
}

func TestLoginLimitBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trust bool
		// wantOther is the status of another client's right password after
		// one client failed maxFailures times.
		wantOther int
	}{
		{"proxy headers trusted: clients apart", true, http.StatusSeeOther},
		{"proxy headers ignored: one shared address", false, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{TrustProxyHeaders: tc.trust})
			for i := range maxFailures {
				if res := loginFrom(t, f, "203.0.113.1", "alice", "guess"); res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("attempt %d: status %d, want 401", i+1, res.StatusCode)
				}
			}
			if res := loginFrom(t, f, "203.0.113.1", "alice", alice.password); res.StatusCode != http.StatusTooManyRequests {
				t.Errorf("the guessing client: status %d, want 429", res.StatusCode)
			}
			// A forged left-most entry does not escape the limit.
			if res := loginFrom(t, f, "198.51.100.7, 203.0.113.1", "alice", alice.password); res.StatusCode != http.StatusTooManyRequests {
				t.Errorf("the guessing client with a forged entry: status %d, want 429", res.StatusCode)
			}
			if res := loginFrom(t, f, "203.0.113.2", "alice", alice.password); res.StatusCode != tc.wantOther {
				t.Errorf("another client: status %d, want %d", res.StatusCode, tc.wantOther)
			}
		})
	}
}

// TestLoginLimitPerLogin spreads guesses over many addresses: the login
// becomes guarded (no more tries from addresses that failed), yet its
// operator still gets in from a clean address. Unknown logins behave the
// same, so the limit does not reveal which logins exist.
func TestLoginLimitPerLogin(t *testing.T) {
	for _, tc := range []struct {
		login string
		// wantRight is the status of alice's password for login from a
		// clean address.
		wantRight int
	}{
		{"alice", http.StatusSeeOther},
		{"mallory", http.StatusUnauthorized},
	} {
		t.Run(tc.login, func(t *testing.T) {
			f := newFixture(t, Config{TrustProxyHeaders: true})
			for i := range loginMaxFailures {
				ip := fmt.Sprintf("203.0.113.%d", i+1)
				if res := loginFrom(t, f, ip, tc.login, "guess"); res.StatusCode != http.StatusUnauthorized {
					t.Fatalf("guess %d from %s: status %d, want 401", i+1, ip, res.StatusCode)
				}
			}
			for _, step := range []struct {
				name, ip, login, pw string
				want                int
			}{
				{"address that guessed, right password", "203.0.113.1", tc.login, alice.password, http.StatusTooManyRequests},
				{"address that guessed, other login", "203.0.113.2", "bob", bob.password, http.StatusSeeOther},
				{"clean address, wrong password", "198.51.100.1", tc.login, "guess", http.StatusUnauthorized},
				{"that address again", "198.51.100.1", tc.login, alice.password, http.StatusTooManyRequests},
				{"clean address, right password", "198.51.100.2", tc.login, alice.password, tc.wantRight},
			} {
				res := loginFrom(t, f, step.ip, step.login, step.pw)
				if res.StatusCode != step.want {
					t.Errorf("%s: status %d, want %d", step.name, res.StatusCode, step.want)
				}
				if res.StatusCode == http.StatusTooManyRequests && res.Header.Get("Retry-After") == "" {
					t.Errorf("%s: 429 without Retry-After", step.name)
				}
			}
			f.clock.Add(failureWindow + time.Second)
			if res := loginFrom(t, f, "203.0.113.1", tc.login, alice.password); res.StatusCode != tc.wantRight {
				t.Errorf("after the window, from an address that guessed: status %d, want %d", res.StatusCode, tc.wantRight)
			}
		})
	}
}

func TestLimiterMemoryBounded(t *testing.T) {
	const capacity = 50
	now := time.Now()
	l := newLimiter([]OperatorAccount{alice.OperatorAccount})
	l.addrs.max, l.others.max = capacity, capacity
	for i := range loginMaxFailures {
		l.fail(fmt.Sprintf("a%d", i), "alice", now)
	}
	// A flood of made-up logins from many addresses…
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.fail(fmt.Sprintf("flood%d", i), fmt.Sprintf("x%d", i), now)
	}
	if n, m := l.addrs.len(), l.others.len(); n > capacity || m > capacity {
		t.Errorf("tables hold %d addresses and %d logins, want at most %d each", n, m, capacity)
	}
	if _, ok := l.addrs.m["flood999"]; !ok {
		t.Errorf("the newest address was evicted; the oldest should go first")
	}
	// …neither refuses new addresses (the table is full) nor resets the
	// configured login's guard.
	if ok, _ := l.allow("newcomer", "x1", now); !ok {
		t.Errorf("a new address is refused while the table is full")
	}
	if ok, _ := l.allow("flood999", "alice", now); ok {
		t.Errorf("alice's guard was evicted by the flood")
	}
	now = now.Add(failureWindow)
	l.purge(now)
	if n := l.addrs.len() + l.logins.len() + l.others.len(); n != 0 {
		t.Errorf("after the window and a purge the limiter holds %d entries, want 0", n)
	}
}

func TestDummyHashCost(t *testing.T) {
	hashed := func(login string, cost int) OperatorAccount {
		h, err := bcrypt.GenerateFromPassword([]byte("pw"), cost)
		if err != nil {
			t.Fatal(err)
		}
		return OperatorAccount{Login: login, PasswordHash: string(h)}
	}
	for _, tc := range []struct {
		name     string
		ops      []OperatorAccount
		wantCost int
	}{
		{"generated admin", []OperatorAccount{}, bcrypt.MinCost},
		{"one operator", []OperatorAccount{hashed("a", 5)}, 5},
		{"most common cost", []OperatorAccount{hashed("a", 6), hashed("b", 5), hashed("c", 5)}, 5},
		{"tie: the higher cost", []OperatorAccount{hashed("a", 4), hashed("b", 6)}, 6},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			in, err := New(Config{Operators: tc.ops}, f.engine, nil)
			if err != nil {
				t.Fatal(err)
			}
			cost, err := bcrypt.Cost([]byte(in.dummyHash))
			if err != nil || cost != tc.wantCost {
				t.Errorf("dummy hash cost = %d (%v), want %d", cost, err, tc.wantCost)
			}
			if _, ok := in.checkPassword("nobody", "pw"); ok {
				t.Errorf("an unknown login was accepted")
			}
		})
	}
}
