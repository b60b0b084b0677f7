package inbox

import (
	"crypto/subtle"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cookieName is the inbox session cookie.
const cookieName = "chatbridge_inbox"

// Login rate limit: at most maxFailures failed logins per client address (an
// IPv6 /64 counts as one address) within failureWindow.
const (
	maxFailures   = 10
	failureWindow = 15 * time.Minute
	// maxTracked caps the limiter's memory; when full, unknown addresses are
	// refused until entries expire (fail closed under a flood).
	maxTracked = 100_000
)

// dummyHash is compared against when the login is unknown, so that a wrong
// login costs as much time as a wrong password.
const dummyHash = "$2a$10$Hmk23N1vaOdqpvlFqsVdge1WSocDgyKeTtWx9pt3GIWbHRj0t5.re"

// session is one logged-in browser.
type session struct {
	id      string
	op      OperatorAccount
	csrf    string
	expires time.Time
}

// sessions keeps logins in memory: a restart logs everyone out.
type sessions struct {
	mu  sync.Mutex
	m   map[string]*session
	ttl time.Duration
}

func (s *sessions) create(op OperatorAccount, now time.Time) *session {
	ss := &session{id: randomString(32), op: op, csrf: randomString(32), expires: now.Add(s.ttl)}
	s.mu.Lock()
	s.m[ss.id] = ss
	s.mu.Unlock()
	return ss
}

// get returns the live session with id, or nil.
func (s *sessions) get(id string, now time.Time) *session {
	if id == "" || len(id) > 64 {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	ss := s.m[id]
	if ss == nil {
		return nil
	}
	if !now.Before(ss.expires) {
		delete(s.m, id)
		return nil
	}
	return ss
}

func (s *sessions) delete(id string) {
	s.mu.Lock()
	delete(s.m, id)
	s.mu.Unlock()
}

// purge drops expired sessions.
func (s *sessions) purge(now time.Time) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for id, ss := range s.m {
		if !now.Before(ss.expires) {
			delete(s.m, id)
		}
	}
}

// limiter counts failed logins per client address.
type limiter struct {
	mu sync.Mutex
	m  map[string]*failures
}

type failures struct {
	n     int
	first time.Time
}

// allow reports whether addr may try to log in, and if not, for how long it
// must wait.
func (l *limiter) allow(addr string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[addr]
	if f == nil {
		return len(l.m) < maxTracked, failureWindow
	}
	if now.Sub(f.first) >= failureWindow {
		delete(l.m, addr)
		return true, 0
	}
	if f.n >= maxFailures {
		return false, f.first.Add(failureWindow).Sub(now)
	}
	return true, 0
}

// fail records a failed login from addr.
func (l *limiter) fail(addr string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	f := l.m[addr]
	if f == nil || now.Sub(f.first) >= failureWindow {
		if len(l.m) >= maxTracked {
			return
		}
		f = &failures{first: now}
		l.m[addr] = f
	}
	f.n++
}

func (l *limiter) purge(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for a, f := range l.m {
		if now.Sub(f.first) >= failureWindow {
			delete(l.m, a)
		}
	}
}

// clientAddr is the key the login limiter counts under: the peer's IP, or
// its /64 network for IPv6 (one host usually owns a whole /64).
func clientAddr(r *http.Request) string {
	host, _, err := net.SplitHostPort(r.RemoteAddr)
	if err != nil {
		host = r.RemoteAddr
	}
	ip, err := netip.ParseAddr(host)
	if err != nil {
		return host
	}
	ip = ip.Unmap()
	if ip.Is6() {
		p, _ := ip.Prefix(64)
		return p.String()
	}
	return ip.String()
}

// checkPassword finds the account for login and checks pw against it. It
// takes about the same time whether or not the login exists.
func (in *Inbox) checkPassword(login, pw string) (OperatorAccount, bool) {
	login = strings.ToLower(strings.TrimSpace(login))
	var (
		acct  OperatorAccount
		found bool
	)
	for _, a := range in.cfg.Operators {
		// Constant-time over the logins too, so the loop reveals nothing.
		if subtle.ConstantTimeCompare([]byte(strings.ToLower(a.Login)), []byte(login)) == 1 {
			acct, found = a, true
		}
	}
	hash := dummyHash
	if found {
		hash = acct.PasswordHash
	}
	err := bcrypt.CompareHashAndPassword([]byte(hash), []byte(pw))
	return acct, found && err == nil
}

// sessionFrom returns the request's live session, or nil.
func (in *Inbox) sessionFrom(r *http.Request) *session {
	c, err := r.Cookie(cookieName)
	if err != nil {
		return nil
	}
	return in.sessions.get(c.Value, in.now())
}

// checkCSRF reports whether a POST carries the session's CSRF token (form
// field "csrf" or header X-CSRF-Token) and, when the browser says where it
// comes from, comes from this site.
func (in *Inbox) checkCSRF(r *http.Request, ss *session) bool {
	if !in.sameOrigin(r) {
		return false
	}
	tok := r.Header.Get("X-CSRF-Token")
	if tok == "" {
		tok = r.PostFormValue("csrf")
	}
	return tok != "" && subtle.ConstantTimeCompare([]byte(tok), []byte(ss.csrf)) == 1
}

// sameOrigin rejects cross-site POSTs the browser identifies as such (an
// Origin that is neither this host nor the public URL's, or Sec-Fetch-Site
// cross-site). Requests without these headers (old browsers, scripts) pass;
// the CSRF token still guards them.
func (in *Inbox) sameOrigin(r *http.Request) bool {
	if s := r.Header.Get("Sec-Fetch-Site"); s == "cross-site" || s == "same-site" {
		return false
	}
	o := r.Header.Get("Origin")
	if o == "" {
		return true
	}
	if o == "null" {
		return false
	}
	i := strings.Index(o, "://")
	if i < 0 {
		return false
	}
	host := o[i+3:]
	return strings.EqualFold(host, r.Host) || (in.publicHost != "" && strings.EqualFold(host, in.publicHost))
}
