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

// Behind a proxy whose headers are ignored every client shares the
// proxy's address: one operator's failures (or an attacker's) slow down
// that login from there, never the other operators behind the same proxy.
func TestLoginLimitBehindProxy(t *testing.T) {
	for _, tc := range []struct {
		name  string
		trust bool
		// wantOther is the status of another client's right password for
		// alice after one client failed a dozen times.
		wantOther int
	}{
		{"proxy headers trusted: clients apart", true, http.StatusSeeOther},
		{"proxy headers ignored: one shared address", false, http.StatusTooManyRequests},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{TrustProxyHeaders: tc.trust})
			for i := range 12 {
				if i > 0 {
					f.clock.Add(maxDelay) // each try after its delay
				}
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
			// Another operator at the guessing address is never slowed.
			if res := loginFrom(t, f, "203.0.113.1", "bob", bob.password); res.StatusCode != http.StatusSeeOther {
				t.Errorf("bob at the guessing address: status %d, want 303", res.StatusCode)
			}
		})
	}
}

// TestLoginBackoff: a pair's tries are free at first, then wait a delay
// that doubles; a try during the delay is 429 with Retry-After and does
// not count; the right password after the delay gets in and clears the
// pair.
func TestLoginBackoff(t *testing.T) {
	f := newFixture(t, Config{TrustProxyHeaders: true})
	const ip = "203.0.113.9"
	for i := range freeFailures {
		if res := loginFrom(t, f, ip, "alice", "guess"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("free try %d: status %d, want 401", i+1, res.StatusCode)
		}
	}
	for _, want := range []time.Duration{time.Second, 2 * time.Second, 4 * time.Second} {
		res := loginFrom(t, f, ip, "alice", alice.password)
		if res.StatusCode != http.StatusTooManyRequests {
			t.Fatalf("during a %s delay: status %d, want 429", want, res.StatusCode)
		}
		if got := res.Header.Get("Retry-After"); got != fmt.Sprint(int(want.Seconds())) {
			t.Errorf("Retry-After %q, want %d", got, int(want.Seconds()))
		}
		f.clock.Add(want)
		if res := loginFrom(t, f, ip, "alice", "guess"); res.StatusCode != http.StatusUnauthorized {
			t.Fatalf("after the %s delay: status %d, want 401", want, res.StatusCode)
		}
	}
	f.clock.Add(8 * time.Second)
	if res := loginFrom(t, f, ip, "alice", alice.password); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("right password after the delay: status %d, want 303", res.StatusCode)
	}
	if res := loginFrom(t, f, ip, "alice", "typo"); res.StatusCode != http.StatusUnauthorized {
		t.Errorf("a typo after logging in: status %d, want 401 (the pair was cleared)", res.StatusCode)
	}
	if res := loginFrom(t, f, ip, "alice", alice.password); res.StatusCode != http.StatusSeeOther {
		t.Errorf("right password after one typo: status %d, want 303", res.StatusCode)
	}
}

// TestLoginLimitPerLogin spreads guesses over many addresses: delays then
// start after the first failure of every address, yet the operator still
// gets in from an address without failures. Unknown logins behave the
// same, so the limits do not reveal which logins exist.
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
			for i := range loginSuspect {
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

func TestDelayAfter(t *testing.T) {
	for _, tc := range []struct {
		n, free int
		want    time.Duration
	}{
		{0, 5, 0}, {4, 5, 0}, {5, 5, time.Second}, {6, 5, 2 * time.Second}, {9, 5, 16 * time.Second},
		{1, 1, time.Second}, {2, 1, 2 * time.Second}, {40, 5, maxDelay}, {1000, 1, maxDelay},
	} {
		if got := delayAfter(tc.n, tc.free); got != tc.want {
			t.Errorf("delayAfter(%d, %d) = %s, want %s", tc.n, tc.free, got, tc.want)
		}
	}
}

func TestLimiterMemoryBounded(t *testing.T) {
	const capacity = 50
	now := time.Now()
	l := newLimiter([]OperatorAccount{alice.OperatorAccount})
	l.pairs.max, l.addrs.max, l.others.max = capacity, capacity, capacity
	for i := range loginSuspect {
		l.fail(fmt.Sprintf("a%d", i), "alice", now)
	}
	// A flood of made-up logins from many addresses…
	for i := range 1000 {
		now = now.Add(time.Millisecond)
		l.fail(fmt.Sprintf("flood%d", i), fmt.Sprintf("x%d", i), now)
	}
	if n, m, p := l.addrs.len(), l.others.len(), l.pairs.len(); n > capacity || m > capacity || p > capacity {
		t.Errorf("tables hold %d addresses, %d logins and %d pairs, want at most %d each", n, m, p, capacity)
	}
	if _, ok := l.addrs.m["flood999"]; !ok {
		t.Errorf("the newest address was evicted; the oldest should go first")
	}
	// …neither refuses new addresses (the table is full) nor resets the
	// configured login's count.
	if ok, _ := l.allow("newcomer", "x1", now); !ok {
		t.Errorf("a new address is refused while the table is full")
	}
	if got := l.logins.count("alice", now); got != loginSuspect {
		t.Errorf("alice's count is %d after the flood, want %d", got, loginSuspect)
	}
	now = now.Add(failureWindow)
	l.purge(now)
	if n := l.pairs.len() + l.addrs.len() + l.logins.len() + l.others.len(); n != 0 {
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
			in, err := New(Config{Operators: tc.ops, GenerateAdmin: true}, f.engine, nil)
			if err != nil {
				t.Fatal(err)
			}
			h, err := in.dummyHash()
			if err != nil {
				t.Fatal(err)
			}
			cost, err := bcrypt.Cost([]byte(h))
			if err != nil || cost != tc.wantCost {
				t.Errorf("dummy hash cost = %d (%v), want %d", cost, err, tc.wantCost)
			}
			if _, ok := in.checkPassword("nobody", "pw"); ok {
				t.Errorf("an unknown login was accepted")
			}
		})
	}
}
