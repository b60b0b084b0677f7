package app

import (
	"context"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/config"
	"github.com/chatbridge/chatbridge/internal/fixture"
)

// With [retention] closed_conversations set, the retention runner purges
// closed conversations once they are old enough, every `every`; open ones
// stay. (The periods are shortened here: the file's minimum is an hour.)
func TestRetentionRuns(t *testing.T) {
	ctx := context.Background()
	cfg := config.Default()
	cfg.Server.DataDir = t.TempDir()
	cfg.Inbox.Enabled = false
	cfg.Retention.ClosedConversations = config.Period(time.Hour)
	a, err := Open(cfg, nil, Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	a.Retention.keep, a.Retention.every = 300*time.Millisecond, 100*time.Millisecond
	e := a.Engine
	send := func(name string) bridge.Visitor {
		_, v, err := e.StartSession(ctx, bridge.SessionInput{Name: name})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := e.VisitorMessage(ctx, v.ID, "x", "hello"); err != nil {
			t.Fatal(err)
		}
		return v
	}
	closed, open := send("Closed"), send("Open")
	if err := e.CloseByVisitor(ctx, closed.ID); err != nil {
		t.Fatal(err)
	}
	fixture.Run(t, a.Retention.Run)
	fixture.WaitFor(t, "the closed conversation purged", func() bool {
		n, err := e.CountConversations(ctx, "")
		return err == nil && n == 1
	})
	if _, err := e.Visitor(ctx, open.ID); err != nil {
		t.Fatalf("the open conversation's visitor: %v", err)
	}
	if n, _ := e.CountConversations(ctx, bridge.StatusOpen); n != 1 {
		t.Fatalf("%d open conversations left, want 1", n)
	}
}
