package storetest

import (
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func conv(id, visitor string, status bridge.Status, updated int) bridge.Conversation {
	return bridge.Conversation{ID: id, VisitorID: visitor, Status: status, CreatedAt: at(0), UpdatedAt: at(updated)}
}

func convIDs(cs []bridge.Conversation) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.ID)
	}
	return out
}

func equalStrings(a, b []string) bool {
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

func putConvs(t *testing.T, s bridge.Store, cs ...bridge.Conversation) {
	t.Helper()
	update(t, s, func(tx bridge.Tx) error {
		for _, c := range cs {
			if err := tx.PutConversation(c); err != nil {
				return err
			}
		}
		return nil
	})
}

func wantConvs(t *testing.T, s bridge.Store, f bridge.ConversationFilter, want ...string) {
	t.Helper()
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.Conversations(f)
		wantNoErr(t, "Conversations", err)
		if g := convIDs(got); !equalStrings(g, want) {
			t.Errorf("Conversations(%+v) = %v, want %v", f, g, want)
		}
		return nil
	})
}

func testConversations(t *testing.T, s bridge.Store) {
	c := bridge.Conversation{
		ID: "c_1", VisitorID: "v_1", Status: bridge.StatusOpen, CreatedAt: at(0), UpdatedAt: at(3),
		LastSeq: 4, LastVisitorAt: at(3), LastOperatorAt: at(2), Preview: "hello",
		Operators: []bridge.Operator{{Adapter: "slack", ID: "U1", Name: "Bob"}},
	}
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.Conversation("c_1")
		wantNotFound(t, "Conversation before Put", err)
		got, err := tx.Conversations(bridge.ConversationFilter{})
		wantNoErr(t, "Conversations on an empty store", err)
		if len(got) != 0 {
			t.Errorf("Conversations on an empty store = %v", convIDs(got))
		}
		return nil
	})
	putConvs(t, s, c)
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.Conversation("c_1")
		wantNoErr(t, "Conversation", err)
		wantSame(t, "Conversation", got, c)
		return nil
	})
}

func testConversationFilters(t *testing.T, s bridge.Store) {
	const open, closed = bridge.StatusOpen, bridge.StatusClosed
	putConvs(t, s,
		conv("c_a", "v_1", closed, 1),
		conv("c_b", "v_2", open, 5),
		conv("c_c", "v_1", open, 3),
		conv("c_d", "v_10", open, 4), // id extends v_1
		conv("c_e", "v_2", closed, 2),
		conv("c_f", "v_1", closed, 6),
	)
	for _, c := range []struct {
		f    bridge.ConversationFilter
		want []string
	}{
		{bridge.ConversationFilter{}, []string{"c_f", "c_b", "c_d", "c_c", "c_e", "c_a"}},
		{bridge.ConversationFilter{Limit: 2}, []string{"c_f", "c_b"}},
		{bridge.ConversationFilter{Status: open}, []string{"c_b", "c_d", "c_c"}},
		{bridge.ConversationFilter{Status: closed, Limit: 2}, []string{"c_f", "c_e"}},
		{bridge.ConversationFilter{VisitorID: "v_1"}, []string{"c_f", "c_c", "c_a"}},
		{bridge.ConversationFilter{VisitorID: "v_1", Limit: 1}, []string{"c_f"}},
		{bridge.ConversationFilter{VisitorID: "v_1", Status: open, Limit: 1}, []string{"c_c"}},
		{bridge.ConversationFilter{VisitorID: "v_2", Status: closed}, []string{"c_e"}},
		{bridge.ConversationFilter{VisitorID: "v_3"}, nil},
		{bridge.ConversationFilter{Status: "archived"}, nil},
	} {
		wantConvs(t, s, c.f, c.want...)
	}
}

func testConversationReindex(t *testing.T, s bridge.Store) {
	const open, closed = bridge.StatusOpen, bridge.StatusClosed
	putConvs(t, s, conv("c_a", "v_1", open, 1), conv("c_b", "v_1", open, 2), conv("c_c", "v_2", open, 3))
	// A new message moves c_a to the front; closing c_b moves it between
	// the status lists. Neither leaves a stale entry behind.
	putConvs(t, s, conv("c_a", "v_1", open, 10))
	putConvs(t, s, conv("c_b", "v_1", closed, 11))
	wantConvs(t, s, bridge.ConversationFilter{}, "c_b", "c_a", "c_c")
	wantConvs(t, s, bridge.ConversationFilter{Status: open}, "c_a", "c_c")
	wantConvs(t, s, bridge.ConversationFilter{Status: closed}, "c_b")
	wantConvs(t, s, bridge.ConversationFilter{VisitorID: "v_1"}, "c_b", "c_a")
	wantConvs(t, s, bridge.ConversationFilter{VisitorID: "v_1", Status: open}, "c_a")
	// Many updates in one transaction.
	update(t, s, func(tx bridge.Tx) error {
		for i := 20; i < 30; i++ {
			if err := tx.PutConversation(conv("c_c", "v_2", open, i)); err != nil {
				return err
			}
		}
		return nil
	})
	wantConvs(t, s, bridge.ConversationFilter{}, "c_c", "c_b", "c_a")
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.Conversation("c_c")
		wantNoErr(t, "Conversation", err)
		if !got.UpdatedAt.Equal(at(29)) {
			t.Errorf("UpdatedAt = %v, want %v", got.UpdatedAt, at(29))
		}
		return nil
	})
}

func testCountConversations(t *testing.T, s bridge.Store) {
	const open, closed = bridge.StatusOpen, bridge.StatusClosed
	want := func(all, nOpen, nClosed int) {
		t.Helper()
		view(t, s, func(tx bridge.Tx) error {
			for _, c := range []struct {
				status bridge.Status
				want   int
			}{{"", all}, {open, nOpen}, {closed, nClosed}} {
				got, err := tx.CountConversations(c.status)
				wantNoErr(t, "CountConversations", err)
				if got != c.want {
					t.Errorf("CountConversations(%q) = %d, want %d", c.status, got, c.want)
				}
			}
			return nil
		})
	}
	want(0, 0, 0)
	putConvs(t, s, conv("c_a", "v_1", open, 1), conv("c_b", "v_2", open, 2), conv("c_c", "v_3", closed, 3))
	want(3, 2, 1)
	putConvs(t, s, conv("c_a", "v_1", open, 4)) // same status: no change
	want(3, 2, 1)
	putConvs(t, s, conv("c_a", "v_1", closed, 5), conv("c_b", "v_2", closed, 6))
	want(3, 0, 3)
	putConvs(t, s, conv("c_b", "v_2", open, 7))
	want(3, 1, 2)
}
