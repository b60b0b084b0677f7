package visitor

import (
	"strconv"
	"testing"
	"time"
)

func TestLimiterTokenBucket(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(3, time.Minute) // 3 per minute: one token every 20 s
	for i := range 3 {
		if ok, _ := l.allow("ip", now); !ok {
			t.Fatalf("request %d refused within the burst", i)
		}
	}
	ok, wait := l.allow("ip", now)
	if ok || wait != 20*time.Second {
		t.Fatalf("over the burst: ok=%v wait=%v, want refused, 20s", ok, wait)
	}
	if ok, _ := l.allow("other", now); !ok {
		t.Fatal("keys share a bucket")
	}
	if ok, wait := l.allow("ip", now.Add(15*time.Second)); ok || wait != 5*time.Second {
		t.Fatalf("after 15 s: ok=%v wait=%v, want refused, 5s", ok, wait)
	}
	if ok, _ := l.allow("ip", now.Add(20*time.Second)); !ok {
		t.Fatal("after 20 s a token is back")
	}
	if ok, _ := l.ok("ip", now.Add(20*time.Second)); ok {
		t.Fatal("ok reports a token that allow just took")
	}
}

func TestLimiterMemoryIsBounded(t *testing.T) {
	now := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	l := newLimiter(2, time.Hour)
	l.maxKeys = 100
	for i := range 1000 {
		l.allow("ip"+strconv.Itoa(i), now)
		if n := l.size(); n > l.maxKeys {
			t.Fatalf("%d buckets, bound %d", n, l.maxKeys)
		}
	}
	// Idle keys are swept once their bucket is full again.
	l.sweep(now.Add(59 * time.Minute))
	if l.size() == 0 {
		t.Fatal("buckets swept before they refilled")
	}
	l.sweep(now.Add(time.Hour))
	if n := l.size(); n != 0 {
		t.Fatalf("%d buckets left after they all refilled", n)
	}
	// A sweep also happens by itself on a new key after a minute.
	l.allow("a", now)
	l.allow("b", now.Add(2*time.Hour))
	if n := l.size(); n != 1 {
		t.Fatalf("%d buckets, want the idle one swept", n)
	}
}
