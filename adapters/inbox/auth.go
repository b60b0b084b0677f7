package inbox

import (
	"crypto/subtle"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"golang.org/x/crypto/bcrypt"
)

// cookieName is the inbox session cookie.
const cookieName = "chatbridge_inbox"

// defaultDummyHash is compared against when the login is unknown and the
// inbox has no dummy hash of its own (an Inbox not made by New).
const defaultDummyHash = "$2a$10$Hmk23N1vaOdqpvlFqsVdge1WSocDgyKeTtWx9pt3GIWbHRj0t5.re"

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

// checkPassword finds the account for login and checks pw against it. It
// takes about the same time whether or not the login exists: an unknown
// login is checked against a dummy hash of the operators' bcrypt cost.
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
	hash := defaultDummyHash
	if in.dummyHash != nil {
		if h, err := in.dummyHash(); err == nil {
			hash = h
		}
	}
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

// dummyHashFor returns a bcrypt hash of a random password with the cost most
// operators' hashes use (the highest of equally common ones), so that
// checking an unknown login takes as long as checking a configured one.
func dummyHashFor(ops []OperatorAccount) (string, error) {
	counts := map[int]int{}
	cost := bcrypt.DefaultCost
	best := 0
	for _, op := range ops {
		c, err := bcrypt.Cost([]byte(op.PasswordHash))
		if err != nil {
			continue // validate already refused it
		}
		counts[c]++
		if n := counts[c]; n > best || (n == best && c > cost) {
			cost, best = c, n
		}
	}
	h, err := bcrypt.GenerateFromPassword([]byte(randomString(16)), cost)
	if err != nil {
		return "", fmt.Errorf("dummy hash: %w", err)
	}
	return string(h), nil
}
