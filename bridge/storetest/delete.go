package storetest

import (
	"fmt"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

// What retention deletes: visitors, conversations (in parts), refs, and
// adapter state found by prefix.

func testDeleteVisitor(t *testing.T, s bridge.Store) {
	_, h1 := bridge.NewToken()
	_, h2 := bridge.NewToken()
	_, h3 := bridge.NewToken()
	update(t, s, func(tx bridge.Tx) error {
		for _, v := range []bridge.Visitor{
			{ID: "v_1", Name: "Ada", ExternalID: "user-1", CreatedAt: at(0), LastSeenAt: at(1)},
			{ID: "v_10", Name: "Bob", ExternalID: "user-10", CreatedAt: at(0), LastSeenAt: at(1)},
		} {
			if err := tx.PutVisitor(v); err != nil {
				return err
			}
			if err := tx.PutExternalID(v.ExternalID, v.ID); err != nil {
				return err
			}
			if err := tx.AddPageView(bridge.PageView{VisitorID: v.ID, URL: "https://example.org/" + v.ID, At: at(1)}); err != nil {
				return err
			}
		}
		// A second site user id of v_1 that the record does not name, and
		// a token of v_1's that moved to v_10.
		for _, tk := range []struct {
			h []byte
			v string
		}{{h1, "v_1"}, {h2, "v_1"}, {h3, "v_1"}, {h3, "v_10"}} {
			if err := tx.PutToken(tk.h, tk.v); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx bridge.Tx) error { return tx.DeleteVisitor("v_1") })
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.Visitor("v_1")
		wantNotFound(t, "Visitor after DeleteVisitor", err)
		for _, h := range [][]byte{h1, h2} {
			_, err = tx.VisitorByToken(h)
			wantNotFound(t, "VisitorByToken of a deleted visitor", err)
		}
		_, err = tx.VisitorByExternalID("user-1")
		wantNotFound(t, "VisitorByExternalID of a deleted visitor", err)
		pvs, err := tx.PageViews("v_1", 0)
		wantNoErr(t, "PageViews", err)
		if len(pvs) != 0 {
			t.Errorf("PageViews of a deleted visitor = %v", pvs)
		}
		// The other visitor, whose id extends the first one's, is whole.
		_, err = tx.Visitor("v_10")
		wantNoErr(t, "Visitor(v_10)", err)
		for _, h := range [][]byte{h3} {
			got, err := tx.VisitorByToken(h)
			wantNoErr(t, "VisitorByToken(v_10)", err)
			if got != "v_10" {
				t.Errorf("VisitorByToken = %q, want v_10", got)
			}
		}
		got, err := tx.VisitorByExternalID("user-10")
		wantNoErr(t, "VisitorByExternalID(user-10)", err)
		if got != "v_10" {
			t.Errorf("VisitorByExternalID = %q, want v_10", got)
		}
		pvs, err = tx.PageViews("v_10", 0)
		wantNoErr(t, "PageViews(v_10)", err)
		if len(pvs) != 1 {
			t.Errorf("PageViews(v_10) = %v, want 1", pvs)
		}
		return nil
	})
	// Deleting again, or a visitor that never was, is not an error.
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.DeleteVisitor("v_1"); err != nil {
			return err
		}
		return tx.DeleteVisitor("v_404")
	})
}

// putConversation stores c with n messages (visitor messages with client
// ids "CONV-SEQ").
func putConversation(t *testing.T, s bridge.Store, c bridge.Conversation, n int) {
	t.Helper()
	c.LastSeq = uint64(n)
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutConversation(c); err != nil {
			return err
		}
		for i := 1; i <= n; i++ {
			cid := fmt.Sprintf("%s-%d", c.ID, i)
			m := bridge.Message{ConversationID: c.ID, Seq: uint64(i), ClientID: cid, From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Text: cid, At: at(i)}
			if err := tx.PutMessage(m); err != nil {
				return err
			}
			if err := tx.PutClientID(c.VisitorID, cid, c.ID, uint64(i)); err != nil {
				return err
			}
		}
		return nil
	})
}

// wantMessages checks the Seqs of a conversation's messages and which of
// its client ids resolve.
func wantMessages(t *testing.T, tx bridge.Tx, c bridge.Conversation, n int, want ...uint64) {
	t.Helper()
	ms, err := tx.Messages(c.ID, 0, 0)
	wantNoErr(t, "Messages", err)
	var got []uint64
	for _, m := range ms {
		got = append(got, m.Seq)
	}
	if !equalU64(got, want) {
		t.Errorf("Messages(%s) = %v, want %v", c.ID, got, want)
	}
	for i := 1; i <= n; i++ {
		kept := false
		for _, w := range want {
			kept = kept || w == uint64(i)
		}
		cid := fmt.Sprintf("%s-%d", c.ID, i)
		conv, seq, err := tx.ClientID(c.VisitorID, cid)
		switch {
		case kept && (err != nil || conv != c.ID || seq != uint64(i)):
			t.Errorf("ClientID(%s) = %s, %d, %v; want %s, %d", cid, conv, seq, err, c.ID, i)
		case !kept:
			wantNotFound(t, "ClientID of a deleted message "+cid, err)
		}
	}
}

func testDeleteMessages(t *testing.T, s bridge.Store) {
	c1 := conv("c_1", "v_1", bridge.StatusClosed, 5)
	c10 := conv("c_10", "v_1", bridge.StatusClosed, 5)
	putConversation(t, s, c1, 5)
	putConversation(t, s, c10, 2)
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.DeleteMessages("c_1", 0); err != nil { // nothing
			return err
		}
		return tx.DeleteMessages("c_1", 3)
	})
	view(t, s, func(tx bridge.Tx) error {
		wantMessages(t, tx, c1, 5, 4, 5)
		wantMessages(t, tx, c10, 2, 1, 2)
		got, err := tx.Conversation("c_1")
		wantNoErr(t, "Conversation after DeleteMessages", err)
		if got.LastSeq != 5 {
			t.Errorf("LastSeq after DeleteMessages = %d, want 5 (the record stays)", got.LastSeq)
		}
		return nil
	})
	update(t, s, func(tx bridge.Tx) error { return tx.DeleteMessages("c_1", 1<<62) })
	view(t, s, func(tx bridge.Tx) error {
		wantMessages(t, tx, c1, 5)
		return nil
	})
}

func testDeleteConversation(t *testing.T, s bridge.Store) {
	c1 := conv("c_1", "v_1", bridge.StatusClosed, 5)
	c10 := conv("c_10", "v_1", bridge.StatusClosed, 6)
	c2 := conv("c_2", "v_2", bridge.StatusOpen, 7)
	putConversation(t, s, c1, 3)
	putConversation(t, s, c10, 2)
	putConversation(t, s, c2, 1)
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.DeleteConversation("c_1"); err != nil {
			return err
		}
		// Gone within the transaction already.
		_, err := tx.Conversation("c_1")
		wantNotFound(t, "Conversation in the deleting transaction", err)
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.Conversation("c_1")
		wantNotFound(t, "Conversation after DeleteConversation", err)
		wantMessages(t, tx, c1, 3)
		wantMessages(t, tx, c10, 2, 1, 2)
		wantMessages(t, tx, c2, 1, 1)
		for st, want := range map[bridge.Status]int{"": 2, bridge.StatusClosed: 1, bridge.StatusOpen: 1} {
			n, err := tx.CountConversations(st)
			wantNoErr(t, "CountConversations", err)
			if n != want {
				t.Errorf("CountConversations(%q) = %d, want %d", st, n, want)
			}
		}
		return nil
	})
	wantConvs(t, s, bridge.ConversationFilter{}, "c_2", "c_10")
	wantConvs(t, s, bridge.ConversationFilter{Status: bridge.StatusClosed}, "c_10")
	wantConvs(t, s, bridge.ConversationFilter{VisitorID: "v_1"}, "c_10")
	// A conversation stored again under the same id starts afresh.
	putConversation(t, s, c1, 1)
	wantConvs(t, s, bridge.ConversationFilter{VisitorID: "v_1"}, "c_10", "c_1")
	update(t, s, func(tx bridge.Tx) error {
		for _, id := range []string{"c_1", "c_1", "c_404"} { // twice, and missing: no error
			if err := tx.DeleteConversation(id); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		n, err := tx.CountConversations("")
		wantNoErr(t, "CountConversations", err)
		if n != 2 {
			t.Errorf("CountConversations after deleting twice = %d, want 2", n)
		}
		return nil
	})
}

func testConversationsUpdatedBefore(t *testing.T, s bridge.Store) {
	putConvs(t, s,
		conv("c_1", "v_1", bridge.StatusClosed, 1),
		conv("c_2", "v_1", bridge.StatusOpen, 2),
		conv("c_3", "v_2", bridge.StatusClosed, 3),
		conv("c_4", "v_1", bridge.StatusClosed, 4),
	)
	before := at(3) // c_3 itself is not before it
	wantConvs(t, s, bridge.ConversationFilter{UpdatedBefore: before}, "c_2", "c_1")
	wantConvs(t, s, bridge.ConversationFilter{UpdatedBefore: before, Limit: 1}, "c_2")
	wantConvs(t, s, bridge.ConversationFilter{UpdatedBefore: before, Status: bridge.StatusClosed}, "c_1")
	wantConvs(t, s, bridge.ConversationFilter{UpdatedBefore: at(4), Status: bridge.StatusClosed}, "c_3", "c_1")
	wantConvs(t, s, bridge.ConversationFilter{UpdatedBefore: at(5), VisitorID: "v_1"}, "c_4", "c_2", "c_1")
	wantConvs(t, s, bridge.ConversationFilter{UpdatedBefore: at(5), VisitorID: "v_1", Status: bridge.StatusClosed, Limit: 1}, "c_4")
	wantConvs(t, s, bridge.ConversationFilter{UpdatedBefore: at(1)})
	// To the second: within the same second is not before.
	wantConvs(t, s, bridge.ConversationFilter{UpdatedBefore: at(1).Add(999e6), Status: bridge.StatusClosed})
}

func testDeleteRefs(t *testing.T, s bridge.Store) {
	update(t, s, func(tx bridge.Tx) error {
		for _, r := range [][3]string{
			{"slack", "c_1", "C1:1.0"}, {"matrix", "c_1", "!r1"}, {"inbox", "c_10", "x"},
			{"slack", "c_10", "C1:2.0"}, {"matrix", "c_2", "!r2"},
		} {
			if err := tx.PutRef(r[0], r[1], r[2]); err != nil {
				return err
			}
		}
		return nil
	})
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.DeleteRefs("c_1"); err != nil {
			return err
		}
		return tx.DeleteRefs("c_404")
	})
	view(t, s, func(tx bridge.Tx) error {
		for _, a := range []string{"slack", "matrix"} {
			_, err := tx.Ref(a, "c_1")
			wantNotFound(t, "Ref after DeleteRefs", err)
		}
		for _, r := range [][2]string{{"slack", "C1:1.0"}, {"matrix", "!r1"}} {
			_, err := tx.ConversationByRef(r[0], r[1])
			wantNotFound(t, "ConversationByRef after DeleteRefs", err)
		}
		for _, r := range [][3]string{{"inbox", "c_10", "x"}, {"slack", "c_10", "C1:2.0"}, {"matrix", "c_2", "!r2"}} {
			ref, err := tx.Ref(r[0], r[1])
			if err != nil || ref != r[2] {
				t.Errorf("Ref(%s, %s) = %q, %v; want %q", r[0], r[1], ref, err, r[2])
			}
			conv, err := tx.ConversationByRef(r[0], r[2])
			if err != nil || conv != r[1] {
				t.Errorf("ConversationByRef(%s, %s) = %q, %v; want %q", r[0], r[2], conv, err, r[1])
			}
		}
		return nil
	})
}

func testStateKeys(t *testing.T, s bridge.Store) {
	update(t, s, func(tx bridge.Tx) error {
		for _, kv := range [][2]string{
			{"a", "msg:c_1:2"}, {"a", "msg:c_1:1"}, {"a", "msg:c_10:1"}, {"a", "other"}, {"ab", "msg:c_1:3"},
		} {
			if err := tx.PutState(kv[0], kv[1], []byte("v")); err != nil {
				return err
			}
		}
		return nil
	})
	want := func(tx bridge.Tx, ns, pfx string, limit int, keys ...string) {
		t.Helper()
		got, err := tx.StateKeys(ns, pfx, limit)
		wantNoErr(t, "StateKeys", err)
		if !equalStrings(got, keys) {
			t.Errorf("StateKeys(%q, %q, %d) = %q, want %q", ns, pfx, limit, got, keys)
		}
	}
	view(t, s, func(tx bridge.Tx) error {
		want(tx, "a", "msg:c_1:", 0, "msg:c_1:1", "msg:c_1:2")
		want(tx, "a", "msg:c_1:", 1, "msg:c_1:1")
		want(tx, "a", "", 0, "msg:c_10:1", "msg:c_1:1", "msg:c_1:2", "other") // byte order
		want(tx, "ab", "", 0, "msg:c_1:3")
		want(tx, "b", "", 0)
		return nil
	})
	// A transaction lists its own writes.
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.DeleteState("a", "msg:c_1:1"); err != nil {
			return err
		}
		if err := tx.PutState("a", "msg:c_1:0", nil); err != nil {
			return err
		}
		want(tx, "a", "msg:c_1:", 0, "msg:c_1:0", "msg:c_1:2")
		return nil
	})
}
