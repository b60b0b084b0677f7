package visitor

import (
	"net/http"
	"sync"
	"time"
)

// StatusTooManyConnections is the close code of a stream refused after its
// hello because its visitor already has Config.MaxConnsPerVisitor live
// connections.
const StatusTooManyConnections = 4429

// connRetryAfter is the Retry-After of a connection refused by a cap. A
// cap has no refill time: a slot frees whenever another connection ends.
const connRetryAfter = 5 * time.Second

// connLimiter caps concurrent connections per key (a client IP, a
// visitor). It holds one counter per key with a live connection and
// nothing else, so its memory follows the live connections and needs no
// sweep.
type connLimiter struct {
	max int

	mu sync.Mutex
	n  map[string]int
}

func newConnLimiter(max int) *connLimiter {
	return &connLimiter{max: max, n: map[string]int{}}
}

// acquire takes a slot for key, or reports false when key has max already.
// Every true result must be paired with one release.
func (l *connLimiter) acquire(key string) bool {
	l.mu.Lock()
	defer l.mu.Unlock()
	if l.n[key] >= l.max {
		return false
	}
	l.n[key]++
	return true
}

// release gives back a slot taken by acquire.
func (l *connLimiter) release(key string) {
	l.mu.Lock()
	defer l.mu.Unlock()
	// Deleting at zero keeps the map to the keys with live connections.
	if n := l.n[key]; n > 1 {
		l.n[key] = n - 1
	} else {
		delete(l.n, key)
	}
}

// count returns key's live connections (tests).
func (l *connLimiter) count(key string) int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.n[key]
}

// keys counts the keys held (tests).
func (l *connLimiter) keys() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.n)
}

var (
	errTooManyIPConns      = errRateLimited("too many open chat connections from your address: close some tabs or try again later", connRetryAfter)
	errTooManyVisitorConns = errRateLimited("too many open chat connections for this visitor: close some tabs or try again later", connRetryAfter)
)

// acquireIP takes a connection slot for the request's client IP. On
// success the caller must call s.ipConns.release with the returned key.
func (s *Server) acquireIP(r *http.Request) (string, error) {
	ip := clientIP(r, s.cfg.TrustProxyHeaders)
	if !s.ipConns.acquire(ip) {
		return "", errTooManyIPConns
	}
	return ip, nil
}

// acquireLongPoll takes a connection slot for the request's client IP and
// one for the visitor, or neither. release gives both back.
func (s *Server) acquireLongPoll(r *http.Request, visitorID string) (release func(), err error) {
	ip, err := s.acquireIP(r)
	if err != nil {
		return nil, err
	}
	if !s.visitorConns.acquire(visitorID) {
		s.ipConns.release(ip)
		return nil, errTooManyVisitorConns
	}
	return func() {
		s.visitorConns.release(visitorID)
		s.ipConns.release(ip)
	}, nil
}
