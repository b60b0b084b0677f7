package inbox

import (
	"context"
	"crypto/sha256"
	"crypto/subtle"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"strings"
	"sync"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
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

// Sessions live in the store (through the engine), so that a login works
// on every node of a cluster behind a load balancer, and across restarts:
// one adapter-state record holds them all (by the SHA-256 of their id),
// changed by compare-and-swap. Each node keeps a copy for a second, read
// again at once when a request names a session it does not hold.
const (
	sessionsNS    = AdapterName
	sessionsKey   = "sessions"
	sessionsFresh = time.Second
)

// storedSession is a session as the store keeps it.
type storedSession struct {
	Login   string    `json:"login"`
	CSRF    string    `json:"csrf"`
	Expires time.Time `json:"expires"`
}

// sessions keeps logins in the store.
type sessions struct {
	engine  Engine
	account func(login string) (OperatorAccount, bool)
	ttl     time.Duration

	mu     sync.Mutex
	cache  map[string]storedSession
	loaded time.Time
}

func sessionHash(id string) string {
	h := sha256.Sum256([]byte(id))
	return hex.EncodeToString(h[:])
}

// change applies fn to the stored sessions (dropping expired ones).
func (s *sessions) change(ctx context.Context, now time.Time, fn func(m map[string]storedSession)) error {
	var after map[string]storedSession
	err := s.engine.UpdateAdapterState(ctx, sessionsNS, sessionsKey, func(old []byte, found bool) ([]byte, bool) {
		m := map[string]storedSession{}
		if found {
			_ = json.Unmarshal(old, &m)
		}
		n := len(m)
		for h, ss := range m {
			if !now.Before(ss.Expires) {
				delete(m, h)
			}
		}
		before, _ := json.Marshal(m)
		fn(m)
		b, err := json.Marshal(m)
		if err != nil {
			return nil, false
		}
		after = m
		return b, n != len(m) || string(before) != string(b)
	})
	if err != nil {
		return err
	}
	s.mu.Lock()
	s.cache, s.loaded = after, time.Now()
	s.mu.Unlock()
	return nil
}

func (s *sessions) create(ctx context.Context, op OperatorAccount, now time.Time) (*session, error) {
	ss := &session{id: randomString(32), op: op, csrf: randomString(32), expires: now.Add(s.ttl)}
	err := s.change(ctx, now, func(m map[string]storedSession) {
		m[sessionHash(ss.id)] = storedSession{Login: op.Login, CSRF: ss.csrf, Expires: ss.expires}
	})
	if err != nil {
		return nil, fmt.Errorf("store session: %w", err)
	}
	return ss, nil
}

// load reads the stored sessions into the cache.
func (s *sessions) load(ctx context.Context) (map[string]storedSession, error) {
	b, err := s.engine.AdapterState(ctx, sessionsNS, sessionsKey)
	m := map[string]storedSession{}
	switch {
	case err == nil:
		if err := json.Unmarshal(b, &m); err != nil {
			return nil, fmt.Errorf("read sessions: %w", err)
		}
	case !errors.Is(err, bridge.ErrNotFound):
		return nil, err
	}
	s.mu.Lock()
	s.cache, s.loaded = m, time.Now()
	s.mu.Unlock()
	return m, nil
}

// get returns the live session with id, or nil.
func (s *sessions) get(ctx context.Context, id string, now time.Time) *session {
	if id == "" || len(id) > 64 {
		return nil
	}
	h := sessionHash(id)
	s.mu.Lock()
	st, ok := s.cache[h]
	fresh := time.Since(s.loaded) < sessionsFresh
	s.mu.Unlock()
	if !ok || !fresh {
		m, err := s.load(ctx)
		if err != nil {
			return nil
		}
		st, ok = m[h]
	}
	if !ok || !now.Before(st.Expires) {
		return nil
	}
	acct, ok := s.account(st.Login)
	if !ok { // the operator was removed from the configuration
		return nil
	}
	return &session{id: id, op: acct, csrf: st.CSRF, expires: st.Expires}
}

func (s *sessions) delete(ctx context.Context, id string, now time.Time) error {
	h := sessionHash(id)
	return s.change(ctx, now, func(m map[string]storedSession) { delete(m, h) })
}

// purge drops expired sessions from the store.
func (s *sessions) purge(ctx context.Context, now time.Time) error {
	return s.change(ctx, now, func(map[string]storedSession) {})
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
	return in.sessions.get(r.Context(), c.Value, in.now())
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
