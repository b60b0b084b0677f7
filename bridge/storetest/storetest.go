package storetest

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// test is one test of the suite and the methods it covers ("Role.Method";
// every test also uses Update and View).
type test struct {
	name   string
	fn     func(t *testing.T, s bridge.Store)
	covers []string
}

// suite lists the tests by role. TestCoverage (run by Run) checks that every
// method of every role interface is covered by at least one test.
var suite = []test{
	{"Visitors", testVisitors, []string{"VisitorStore.Visitor", "VisitorStore.PutVisitor"}},
	{"Tokens", testTokens, []string{"VisitorStore.VisitorByToken", "VisitorStore.PutToken"}},
	{"ExternalIDs", testExternalIDs, []string{"VisitorStore.VisitorByExternalID", "VisitorStore.PutExternalID"}},
	{"PageViews", testPageViews, []string{"VisitorStore.AddPageView", "VisitorStore.PageViews"}},
	{"PageViewsKeepNewest", testPageViewsKeepNewest, []string{"VisitorStore.AddPageView", "VisitorStore.PageViews"}},
	{"DeleteVisitor", testDeleteVisitor, []string{"VisitorStore.DeleteVisitor"}},

	{"Conversations", testConversations, []string{"ConversationStore.Conversation", "ConversationStore.PutConversation"}},
	{"ConversationFilters", testConversationFilters, []string{"ConversationStore.Conversations"}},
	{"ConversationReindex", testConversationReindex, []string{"ConversationStore.PutConversation", "ConversationStore.Conversations"}},
	{"CountConversations", testCountConversations, []string{"ConversationStore.CountConversations"}},
	{"Messages", testMessages, []string{"ConversationStore.PutMessage", "ConversationStore.Message", "ConversationStore.Messages"}},
	{"ClientIDs", testClientIDs, []string{"ConversationStore.PutClientID", "ConversationStore.ClientID"}},
	{"ConversationsUpdatedBefore", testConversationsUpdatedBefore, []string{"ConversationStore.Conversations"}},
	{"DeleteMessages", testDeleteMessages, []string{"ConversationStore.DeleteMessages"}},
	{"DeleteConversation", testDeleteConversation, []string{"ConversationStore.DeleteConversation"}},

	{"Outbox", testOutbox, []string{"OutboxStore.Enqueue", "OutboxStore.Outbox", "OutboxStore.PutOutbox", "OutboxStore.DeleteOutbox", "OutboxStore.OutboxDepth"}},
	{"DeadLetters", testDeadLetters, []string{"OutboxStore.Bury", "OutboxStore.DeadLetters", "OutboxStore.Revive", "OutboxStore.DeleteDead", "OutboxStore.DeadDepth"}},

	{"Seen", testSeen, []string{"DedupStore.MarkSeen", "DedupStore.Seen", "DedupStore.ForgetSeen", "DedupStore.PurgeSeen"}},

	{"Tickets", testTickets, []string{"RecordStore.CreateTicket", "RecordStore.Ticket", "RecordStore.PutTicket", "RecordStore.Tickets"}},
	{"SearchTickets", testSearchTickets, []string{"RecordStore.SearchTickets"}},
	{"SearchTicketsReindex", testSearchTicketsReindex, []string{"RecordStore.PutTicket", "RecordStore.SearchTickets"}},
	{"Leads", testLeads, []string{"RecordStore.CreateLead", "RecordStore.Lead", "RecordStore.PutLead", "RecordStore.Leads"}},

	{"Canned", testCanned, []string{"CannedStore.PutCanned", "CannedStore.Canned", "CannedStore.DeleteCanned", "CannedStore.AllCanned"}},

	{"Refs", testRefs, []string{"AdapterStore.PutRef", "AdapterStore.Ref", "AdapterStore.ConversationByRef"}},
	{"State", testState, []string{"AdapterStore.GetState", "AdapterStore.PutState", "AdapterStore.DeleteState"}},
	{"StateKeys", testStateKeys, []string{"AdapterStore.StateKeys"}},
	{"DeleteRefs", testDeleteRefs, []string{"AdapterStore.DeleteRefs"}},

	// Across roles: the rules of transactions and values.
	{"Copies", testCopies, nil},
	{"InvalidInput", testInvalidInput, nil},
	{"UpdateRollback", testUpdateRollback, []string{"Store.Update"}},
	{"UpdateCancelled", testUpdateCancelled, []string{"Store.Update"}},
	{"ConcurrentUpdates", testConcurrentUpdates, []string{"Store.Update"}},
	{"ViewCannotWrite", testViewCannotWrite, []string{"Store.View"}},
}

// roles are the interfaces whose every method the suite must cover.
var roles = []reflect.Type{
	reflect.TypeFor[bridge.Store](),
	reflect.TypeFor[bridge.VisitorStore](),
	reflect.TypeFor[bridge.ConversationStore](),
	reflect.TypeFor[bridge.OutboxStore](),
	reflect.TypeFor[bridge.DedupStore](),
	reflect.TypeFor[bridge.RecordStore](),
	reflect.TypeFor[bridge.CannedStore](),
	reflect.TypeFor[bridge.AdapterStore](),
}

// uncovered lists the role methods no test of the suite claims to cover.
func uncovered() []string {
	covered := map[string]bool{"Store.Close": true} // every test closes its store
	for _, tc := range suite {
		for _, m := range tc.covers {
			covered[m] = true
		}
	}
	var out []string
	for _, r := range roles {
		for i := range r.NumMethod() {
			if m := r.Name() + "." + r.Method(i).Name; !covered[m] {
				out = append(out, m)
			}
		}
	}
	return out
}

// Run runs the contract suite. open must return a fresh, empty store for
// each call; Run closes it when the subtest ends.
func Run(t *testing.T, open func(t *testing.T) bridge.Store) {
	t.Run("Coverage", func(t *testing.T) {
		if missing := uncovered(); len(missing) > 0 {
			t.Errorf("the contract suite covers no test of %v: add one to storetest", missing)
		}
	})
	for _, tc := range suite {
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
