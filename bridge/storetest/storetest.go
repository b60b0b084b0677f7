package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Run runs the contract suite. open must return a fresh, empty store for
// each call; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) bridge.Store) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s bridge.Store)
	}{
		{"Visitors", testVisitors},
		{"Tokens", testTokens},
		{"ExternalIDs", testExternalIDs},
		{"PageViews", testPageViews},
		{"PageViewsKeepNewest", testPageViewsKeepNewest},
		{"Conversations", testConversations},
		{"ConversationFilters", testConversationFilters},
		{"ConversationReindex", testConversationReindex},
		{"CountConversations", testCountConversations},
		{"Messages", testMessages},
		{"ClientIDs", testClientIDs},
		{"Outbox", testOutbox},
		{"Seen", testSeen},
		{"Refs", testRefs},
		{"Tickets", testTickets},
		{"SearchTickets", testSearchTickets},
		{"SearchTicketsReindex", testSearchTicketsReindex},
		{"Leads", testLeads},
		{"Canned", testCanned},
		{"State", testState},
		{"Copies", testCopies},
		{"InvalidInput", testInvalidInput},
		{"UpdateRollback", testUpdateRollback},
		{"UpdateCancelled", testUpdateCancelled},
		{"ConcurrentUpdates", testConcurrentUpdates},
		{"ViewCannotWrite", testViewCannotWrite},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			s := open(t)
			t.Cleanup(func() {
				if err := s.Close(); err != nil {
					t.Errorf("Close: %v", err)
				}
			})
			tc.fn(t, s)
		})
	}
}

// base is a fixed UTC time the tests count from.
var base = time.Date(2025, 6, 1, 12, 0, 0, 0, time.UTC)

func at(minutes int) time.Time { return base.Add(time.Duration(minutes) * time.Minute) }

func update(t *testing.T, s bridge.Store, fn func(tx bridge.Tx) error) {
	t.Helper()
	if err := s.Update(context.Background(), fn); err != nil {
		t.Fatalf("Update: %v", err)
	}
}

func view(t *testing.T, s bridge.Store, fn func(tx bridge.Tx) error) {
	t.Helper()
	if err := s.View(context.Background(), fn); err != nil {
		t.Fatalf("View: %v", err)
	}
}

// wantNotFound fails unless err wraps bridge.ErrNotFound.
func wantNotFound(t *testing.T, what string, err error) {
	t.Helper()
	if !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("%s: err = %v, want bridge.ErrNotFound", what, err)
	}
}

// wantSame compares records by their JSON form.
func wantSame(t *testing.T, what string, got, want any) {
	t.Helper()
	g, err := json.Marshal(got)
	if err != nil {
		t.Fatal(err)
	}
	w, err := json.Marshal(want)
	if err != nil {
		t.Fatal(err)
	}
	if string(g) != string(w) {
		t.Errorf("%s:\n got %s\nwant %s", what, g, w)
	}
}

func wantNoErr(t *testing.T, what string, err error) {
	t.Helper()
	if err != nil {
		t.Fatalf("%s: %v", what, err)
	}
}

func equalU64(a, b []uint64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
