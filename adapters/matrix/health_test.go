package matrix

import (
	"context"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// TestHealthCachesWhoami: /healthz is public, so Health asks the homeserver
// who the token belongs to at most once per whoamiTTL.
func TestHealthCachesWhoami(t *testing.T) {
	u := newUnit(t, bridge.Config{}, nil)
	now := time.Date(2025, 1, 1, 12, 0, 0, 0, time.UTC)
	u.a.now = func() time.Time { return now }
	calls := func() int { u.hs.mu.Lock(); defer u.hs.mu.Unlock(); return u.hs.whoami }
	ctx := context.Background()
	steps := []struct {
		advance time.Duration
		want    int
	}{
		{0, 1},
		{0, 1},
		{whoamiTTL - time.Second, 1},
		{2 * time.Second, 2},
		{time.Second, 2},
	}
	for i, s := range steps {
		now = now.Add(s.advance)
		if err := u.a.Health(ctx); err != nil {
			t.Fatalf("step %d: Health: %v", i, err)
		}
		if got := calls(); got != s.want {
			t.Errorf("step %d: %d whoami requests, want %d", i, got, s.want)
		}
	}
}
