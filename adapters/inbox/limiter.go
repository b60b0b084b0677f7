package inbox

import (
	"container/list"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/internal/clientip"
)

// Login rate limits slow guessing down without ever locking an operator
// out. The policy:
//
//   - Failed logins are counted per (client address, login) pair, per
//     address and per login. Each count is forgotten failureWindow after its
//     last failure. The address is the TCP peer or, with
//     Config.TrustProxyHeaders, the right-most X-Forwarded-For address (the
//     one the nearest proxy saw); an IPv6 /64 counts as one address.
//   - A login tried from an address that has no recent failure for that
//     login is always checked. So a correct password is never refused from
//     another address, nor for another login from the same address (the
//     other operators behind one proxy or office NAT).
//   - After freeFailures failures of a pair, each further try of that pair
//     waits a delay that doubles with every failure: 1 s, 2 s, 4 s, … up to
//     maxDelay. A try during the delay is answered 429 with Retry-After
//     without checking the password (it tells nothing) and is not counted.
//   - When guessing is spread out — the login has loginSuspect failures
//     from all addresses, or the address has addrSuspect failures over all
//     logins — delays start after the first failure of a pair.
//   - A successful login clears its pair.
//   - Every login typed is counted the same way, configured or not, so the
//     answers do not reveal which logins exist.
//   - Memory is bounded: the pair and address tables and the table of
//     logins that are not configured are capped (maxTracked, maxTrackedLogins);
//     when one is full, expired entries go first, then the entry whose last
//     failure is oldest. Configured logins are kept apart and never evicted,
//     so a flood of made-up logins cannot reset an operator's count. Run
//     drops expired entries every minute.
//
// An attacker at one address thus gets about freeFailures + 10 guesses per
// login in the first quarter of an hour, then one per maxDelay; the
// operator who mistyped a few times waits seconds.
const (
	freeFailures  = 5
	loginSuspect  = 20
	addrSuspect   = 20
	firstDelay    = time.Second
	maxDelay      = 10 * time.Minute
	failureWindow = 15 * time.Minute

	maxTracked       = 100_000
	maxTrackedLogins = 10_000
	// maxLoginKey bounds the bytes of a typed login kept as a key (valid
	// logins are at most 64 characters).
	maxLoginKey = 256
)

// tally counts failures of one key; last is the time of the latest.
type tally struct {
	key  string
	n    int
	last time.Time
	elem *list.Element
}

// counter is a table of tallies, least recently failed first, holding at
// most max entries (0: no cap).
type counter struct {
	max   int
	m     map[string]*tally
	order *list.List // of *tally, by last
}

func newCounter(max int) *counter {
	return &counter{max: max, m: map[string]*tally{}, order: list.New()}
}

func (c *counter) len() int { return len(c.m) }

func expired(t *tally, now time.Time) bool { return now.Sub(t.last) >= failureWindow }

// get returns key's live tally or nil, dropping an expired one.
func (c *counter) get(key string, now time.Time) *tally {
	t := c.m[key]
	if t != nil && expired(t, now) {
		c.remove(t)
		return nil
	}
	return t
}

// count returns key's number of live failures.
func (c *counter) count(key string, now time.Time) int {
	if t := c.get(key, now); t != nil {
		return t.n
	}
	return 0
}

// add counts one failure for key at now, making room when key is new.
func (c *counter) add(key string, now time.Time) {
	t := c.get(key, now)
	if t == nil {
		c.expire(now)
		for c.max > 0 && len(c.m) >= c.max {
			c.remove(c.order.Front().Value.(*tally))
		}
		t = &tally{key: key}
		t.elem = c.order.PushBack(t)
		c.m[key] = t
	} else {
		c.order.MoveToBack(t.elem)
	}
	t.n++
	t.last = now
}

// expire drops the tallies whose window ended by now.
func (c *counter) expire(now time.Time) {
	for e := c.order.Front(); e != nil; e = c.order.Front() {
		t := e.Value.(*tally)
		if !expired(t, now) {
			return
		}
		c.remove(t)
	}
}

func (c *counter) remove(t *tally) {
	c.order.Remove(t.elem)
	delete(c.m, t.key)
}

// limiter counts failed logins per (address, login), per address and per
// login.
type limiter struct {
	mu     sync.Mutex
	pairs  *counter
	addrs  *counter
	known  map[string]bool // configured logins, lower case
	logins *counter        // configured logins: never evicted
	others *counter        // every other login typed
}

func newLimiter(ops []OperatorAccount) *limiter {
	l := &limiter{
		pairs: newCounter(maxTracked), addrs: newCounter(maxTracked), known: map[string]bool{},
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

func pairKey(addr, login string) string { return addr + "\x00" + login }

func (l *limiter) table(login string) *counter {
	if l.known[login] {
		return l.logins
	}
	return l.others
}

// delayAfter is the wait after a pair's n-th failure when free failures
// are allowed without one.
func delayAfter(n, free int) time.Duration {
	if n < free {
		return 0
	}
	d := firstDelay
	for i := free; i < n && d < maxDelay; i++ {
		d *= 2
	}
	return min(d, maxDelay)
}

// allow reports whether addr may try to log in as login (a loginKey) now,
// and if not, for how long it should wait.
func (l *limiter) allow(addr, login string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	p := l.pairs.get(pairKey(addr, login), now)
	if p == nil {
		return true, 0 // no recent failure of this login from this address
	}
	free := freeFailures
	if l.table(login).count(login, now) >= loginSuspect || l.addrs.count(addr, now) >= addrSuspect {
		free = 1
	}
	if wait := p.last.Add(delayAfter(p.n, free)).Sub(now); wait > 0 {
		return false, wait
	}
	return true, 0
}

// fail records a failed login as login (a loginKey) from addr.
func (l *limiter) fail(addr, login string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pairs.add(pairKey(addr, login), now)
	l.addrs.add(addr, now)
	l.table(login).add(login, now)
}

// succeed forgets the failures of login from addr: the operator is in.
func (l *limiter) succeed(addr, login string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if p := l.pairs.m[pairKey(addr, login)]; p != nil {
		l.pairs.remove(p)
	}
}

// purge drops the tallies whose window ended.
func (l *limiter) purge(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.pairs.expire(now)
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
