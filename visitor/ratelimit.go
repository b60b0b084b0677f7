package visitor

import (
	"sync"
	"time"
)

// limiter is a set of token buckets keyed by string (an IP, a visitor, a
// conversation). Each bucket holds up to burst tokens and refills at
// burst/per. Memory is bounded: a bucket that has refilled completely is the
// same as no bucket, so idle keys are dropped by a periodic sweep, and when
// maxKeys is reached anyway (an attacker with many addresses) arbitrary
// buckets are dropped, which can only make the limit more lenient, never
// block a legitimate user.
type limiter struct {
	burst   float64
	rate    float64 // tokens per second
	full    time.Duration
	maxKeys int

	mu        sync.Mutex
	buckets   map[string]*bucket
	lastSweep time.Time
}

type bucket struct {
	tokens float64
	at     time.Time
}

// defaultMaxKeys bounds each limiter to a few MB.
const defaultMaxKeys = 50000

func newLimiter(burst int, per time.Duration) *limiter {
	if burst < 1 {
		burst = 1
	}
	return &limiter{
		burst:   float64(burst),
		rate:    float64(burst) / per.Seconds(),
		full:    per,
		maxKeys: defaultMaxKeys,
		buckets: map[string]*bucket{},
	}
}

// allow takes a token from key's bucket. When none is left it reports how
// long until one is.
func (l *limiter) allow(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b := l.bucketLocked(key, now)
	if b.tokens >= 1 {
		b.tokens--
		return true, 0
	}
	wait := time.Duration((1 - b.tokens) / l.rate * float64(time.Second))
	return false, max(wait, time.Millisecond)
}

// ok reports whether key has a token left, without taking it.
func (l *limiter) ok(key string, now time.Time) (bool, time.Duration) {
	l.mu.Lock()
	defer l.mu.Unlock()
	b, found := l.buckets[key]
	if !found {
		return true, 0
	}
	l.refill(b, now)
	if b.tokens >= 1 {
		return true, 0
	}
	return false, max(time.Duration((1-b.tokens)/l.rate*float64(time.Second)), time.Millisecond)
}

// refund gives back a token taken by allow for an attempt that came to
// nothing (a refused file costs no message).
func (l *limiter) refund(key string, now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	if b, found := l.buckets[key]; found {
		l.refill(b, now)
		b.tokens = min(l.burst, b.tokens+1)
	}
}

func (l *limiter) refill(b *bucket, now time.Time) {
	if el := now.Sub(b.at); el > 0 {
		b.tokens = min(l.burst, b.tokens+el.Seconds()*l.rate)
		b.at = now
	}
}

func (l *limiter) bucketLocked(key string, now time.Time) *bucket {
	if b, found := l.buckets[key]; found {
		l.refill(b, now)
		return b
	}
	if len(l.buckets) >= l.maxKeys || now.Sub(l.lastSweep) > time.Minute {
		l.sweepLocked(now)
	}
	for k := range l.buckets {
		if len(l.buckets) < l.maxKeys {
			break
		}
		delete(l.buckets, k)
	}
	b := &bucket{tokens: l.burst, at: now}
	l.buckets[key] = b
	return b
}

// sweep drops the buckets that have refilled completely.
func (l *limiter) sweep(now time.Time) {
	l.mu.Lock()
	defer l.mu.Unlock()
	l.sweepLocked(now)
}

func (l *limiter) sweepLocked(now time.Time) {
	l.lastSweep = now
	for k, b := range l.buckets {
		if now.Sub(b.at) >= l.full {
			delete(l.buckets, k)
		}
	}
}

// size counts the buckets held (tests).
func (l *limiter) size() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return len(l.buckets)
}
