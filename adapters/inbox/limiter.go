package inbox

import (
	"container/list"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/internal/clientip"
)

// Login rate limits. The policy:
//
//   - Per client address: after maxFailures failed logins within
//     failureWindow, the address is refused until its window ends. The
//     address is the TCP peer or, with Config.TrustProxyHeaders, the
//     right-most X-Forwarded-For address (the one the nearest proxy saw); an
//     IPv6 /64 counts as one address.
//   - Per login: after loginMaxFailures failed logins within failureWindow,
//     from any addresses, the login is guarded until its window ends: it may
//     then only be tried from addresses that have no failed login in their
//     current window. Someone spreading guesses over many addresses gets one
//     guess per address and window, while an operator typing the right
//     password from an address without recent failures still gets in. An
//     attacker therefore cannot lock an operator out; an operator who
//     mistypes during an attack waits at most failureWindow.
//   - Every login typed is counted the same way, configured or not, so the
//     limiter does not reveal which logins exist.
//   - Memory is bounded: the address table and the table of logins that are
//     not configured are capped (maxTrackedAddrs, maxTrackedLogins); when one
//     is full, expired entries go first, then the entry whose window started
//     first. Configured logins are kept apart and never evicted, so a flood of
//     made-up logins cannot reset an operator's guard. Run drops expired
//     entries every minute.
const (
	maxFailures      = 10
	loginMaxFailures = 20
	failureWindow    = 15 * time.Minute

	maxTrackedAddrs  = 100_000
	maxTrackedLogins = 10_000
	// maxLoginKey bounds the bytes of a typed login kept as a key (valid
	// logins are at most 64 characters).
	maxLoginKey = 256
)

// window counts failures from first until first+failureWindow.
type window struct {
	key   string
	n     int
	first time.Time
	elem  *list.Element
}

func (w *window) remaining(now time.Time) time.Duration { return w.first.Add(failureWindow).Sub(now) }

// counter is a table of windows, oldest first, holding at most max entries
// (0: no cap).
type counter struct {
	max   int
	m     map[string]*window
	order *list.List // of *window, by first
}

func newCounter(max int) *counter {
	return &counter{max: max, m: map[string]*window{}, order: list.New()}
}

func (c *counter) len() int { return len(c.m) }

// get returns key's live window or nil, dropping an expired one.
func (c *counter) get(key string, now time.Time) *window {
	w := c.m[key]
	if w != nil && w.remaining(now) <= 0 {
		c.remove(w)
		return nil
	}
	return w
}

// add counts one failure for key, opening a window (and making room) when
// key has none.
func (c *counter) add(key string, now time.Time) {
	w := c.get(key, now)
	if w == nil {
		c.expire(now)
		for c.max > 0 && len(c.m) >= c.max {
			c.remove(c.order.Front().Value.(*window))
		}
		w = &window{key: key, first: now}
		w.elem = c.order.PushBack(w)
		c.m[key] = w
	}
	w.n++
}

// expire drops the windows that ended by now.
func (c *counter) expire(now time.Time) {
	for e := c.order.Front(); e != nil; e = c.order.Front() {
		w := e.Value.(*window)
		if w.remaining(now) > 0 {
			return
		}
		c.remove(w)
	}
}

func (c *counter) remove(w *window) {
	c.order.Remove(w.elem)
	delete(c.m, w.key)
}

// limiter counts failed logins per client address and per login.
type limiter struct {
	mu     sync.Mutex
	addrs  *counter
	known  map[string]bool // configured logins, lower case
	logins *counter        // configured logins: never evicted
	others *counter        // every other login typed
}

func newLimiter(ops []OperatorAccount) *limiter {
	l := &limiter{
		addrs: newCounter(maxTrackedAddrs), known: map[string]bool{},
		logins: newCounter(0), others: newCounter(maxTrackedLogins),
	}
	for _, op := range ops {
		l.known[loginKey(op.Login)] = true
	}
	return l
}

// loginKey is the key a typed login is counted under: as checkPassword
// matches it, and bounded in size.
func loginKey(login string) string {
	k := strings.ToLower(strings.TrimSpace(login))
	if len(k) > maxLoginKey {
		k = k[:maxLoginKey]
	}
	return k
}

func (l *limiter) table(login string) *counter {
	if l.known[login] {
		return l.logins
	}
	return l.others
}

// allow reports whether addr may try to log in as login (a loginKey), and if
// not, for how long it should wait.
func (l *limiter) allow(addr, login string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	a := l.addrs.get(addr, now)
	if a == nil {
		return true, 0 // an address without recent failures may always try
	}
	if a.n >= maxFailures {
		return false, a.remaining(now)
	}
	if g := l.table(login).get(login, now); g != nil && g.n >= loginMaxFailures {
		return false, min(a.remaining(now), g.remaining(now))
	}
	return true, 0
}

// fail records a failed login as login (a loginKey) from addr.
func (l *limiter) fail(addr, login string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs.add(addr, now)
	l.table(login).add(login, now)
}

// purge drops the windows that ended.
func (l *limiter) purge(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.addrs.expire(now)
	l.logins.expire(now)
	l.others.expire(now)
}

// clientAddr is the address the login limiter counts under. With trustProxy
// it is the right-most valid address of the last X-Forwarded-For header
// (the one the nearest proxy appended; entries further left can be forged by
// the client), as for the visitor API's visitor.trust_proxy_headers;
// otherwise, or without a usable header, the TCP peer. IPv6 addresses are
// reduced to their /64 (one host usually owns a whole /64).
func clientAddr(r *http.Request, trustProxy bool) string { return clientip.Of(r, trustProxy) }
