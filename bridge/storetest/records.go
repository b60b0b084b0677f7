package storetest

import (
	"bytes"
	"fmt"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func testVisitors(t *testing.T, s bridge.Store) {
	v := bridge.Visitor{ID: "v_1", Name: "Ada", Email: "ada@example.org", Locale: "en", CreatedAt: at(0), LastSeenAt: at(5), CurrentURL: "https://example.org/pricing"}
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.Visitor("v_1")
		wantNotFound(t, "Visitor before Put", err)
		return nil
	})
	update(t, s, func(tx bridge.Tx) error { return tx.PutVisitor(v) })
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.Visitor("v_1")
		wantNoErr(t, "Visitor", err)
		wantSame(t, "Visitor", got, v)
		_, err = tx.Visitor("v_2")
		wantNotFound(t, "Visitor(other id)", err)
		return nil
	})
	v.Name = "Ada L."
	update(t, s, func(tx bridge.Tx) error { return tx.PutVisitor(v) })
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.Visitor("v_1")
		wantNoErr(t, "Visitor after overwrite", err)
		wantSame(t, "Visitor after overwrite", got, v)
		return nil
	})
}

func testTokens(t *testing.T, s bridge.Store) {
	_, h1 := bridge.NewToken()
	_, h2 := bridge.NewToken()
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.VisitorByToken(h1)
		wantNotFound(t, "VisitorByToken before Put", err)
		return nil
	})
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutToken(h1, "v_1"); err != nil {
			return err
		}
		return tx.PutToken(h2, "v_2")
	})
	view(t, s, func(tx bridge.Tx) error {
		for _, c := range []struct {
			h    []byte
			want string
		}{{h1, "v_1"}, {h2, "v_2"}} {
			got, err := tx.VisitorByToken(c.h)
			wantNoErr(t, "VisitorByToken", err)
			if got != c.want {
				t.Errorf("VisitorByToken = %q, want %q", got, c.want)
			}
		}
		_, err := tx.VisitorByToken(bridge.HashToken("other"))
		wantNotFound(t, "VisitorByToken(unknown)", err)
		return nil
	})
}

func testExternalIDs(t *testing.T, s bridge.Store) {
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.VisitorByExternalID("user-42")
		wantNotFound(t, "VisitorByExternalID before Put", err)
		return nil
	})
	update(t, s, func(tx bridge.Tx) error { return tx.PutExternalID("user-42", "v_1") })
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.VisitorByExternalID("user-42")
		wantNoErr(t, "VisitorByExternalID", err)
		if got != "v_1" {
			t.Errorf("VisitorByExternalID = %q, want v_1", got)
		}
		_, err = tx.VisitorByExternalID("user-4")
		wantNotFound(t, "VisitorByExternalID(prefix)", err)
		return nil
	})
}

func testPageViews(t *testing.T, s bridge.Store) {
	var want []bridge.PageView
	update(t, s, func(tx bridge.Tx) error {
		// Added out of time order: listing is by time, newest first.
		for _, m := range []int{2, 0, 1} {
			pv := bridge.PageView{VisitorID: "v_1", URL: fmt.Sprintf("https://example.org/%d", m), At: at(m)}
			if err := tx.AddPageView(pv); err != nil {
				return err
			}
		}
		// Another visitor whose id extends the first one's.
		return tx.AddPageView(bridge.PageView{VisitorID: "v_10", URL: "https://example.org/other", At: at(9)})
	})
	for _, m := range []int{2, 1, 0} {
		want = append(want, bridge.PageView{VisitorID: "v_1", URL: fmt.Sprintf("https://example.org/%d", m), At: at(m)})
	}
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.PageViews("v_1", 10)
		wantNoErr(t, "PageViews", err)
		wantSame(t, "PageViews", got, want)
		got, err = tx.PageViews("v_1", 2)
		wantNoErr(t, "PageViews limit 2", err)
		wantSame(t, "PageViews limit 2", got, want[:2])
		got, err = tx.PageViews("v_2", 10)
		wantNoErr(t, "PageViews of a visitor without any", err)
		if len(got) != 0 {
			t.Errorf("PageViews of a visitor without any = %v", got)
		}
		return nil
	})
}

func testPageViewsKeepNewest(t *testing.T, s bridge.Store) {
	const n = 300
	for i := 0; i < n; i += 50 {
		update(t, s, func(tx bridge.Tx) error {
			for j := i; j < i+50; j++ {
				if err := tx.AddPageView(bridge.PageView{VisitorID: "v_1", URL: fmt.Sprint(j), At: at(j)}); err != nil {
					return err
				}
			}
			return nil
		})
	}
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.PageViews("v_1", 0)
		wantNoErr(t, "PageViews", err)
		if len(got) < 100 || len(got) > n {
			t.Fatalf("kept %d page views, want 100..%d", len(got), n)
		}
		for i, pv := range got {
			if want := fmt.Sprint(n - 1 - i); pv.URL != want {
				t.Fatalf("page view %d = %s, want %s (the newest, in order)", i, pv.URL, want)
			}
		}
		return nil
	})
}

func testMessages(t *testing.T, s bridge.Store) {
	msg := func(conv string, seq uint64) bridge.Message {
		return bridge.Message{ConversationID: conv, Seq: seq, From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Text: fmt.Sprintf("%s #%d", conv, seq), At: at(int(seq))}
	}
	update(t, s, func(tx bridge.Tx) error {
		// Out of order, and two conversations whose ids share a prefix.
		for _, seq := range []uint64{3, 1, 5, 2, 4, 256} {
			if err := tx.PutMessage(msg("c_1", seq)); err != nil {
				return err
			}
		}
		for _, seq := range []uint64{1, 2} {
			if err := tx.PutMessage(msg("c_10", seq)); err != nil {
				return err
			}
		}
		return nil
	})
	seqs := func(ms []bridge.Message) []uint64 {
		var out []uint64
		for _, m := range ms {
			if m.ConversationID != "c_1" {
				t.Errorf("message of %s in the list of c_1", m.ConversationID)
			}
			out = append(out, m.Seq)
		}
		return out
	}
	view(t, s, func(tx bridge.Tx) error {
		for _, c := range []struct {
			after uint64
			limit int
			want  []uint64
		}{
			{0, 0, []uint64{1, 2, 3, 4, 5, 256}},
			{0, 2, []uint64{1, 2}},
			{2, 2, []uint64{3, 4}},
			{5, 0, []uint64{256}},
			{256, 0, nil},
		} {
			got, err := tx.Messages("c_1", c.after, c.limit)
			wantNoErr(t, "Messages", err)
			if g := seqs(got); !equalU64(g, c.want) {
				t.Errorf("Messages(after %d, limit %d) = %v, want %v", c.after, c.limit, g, c.want)
			}
		}
		got, err := tx.Message("c_1", 3)
		wantNoErr(t, "Message", err)
		wantSame(t, "Message", got, msg("c_1", 3))
		_, err = tx.Message("c_1", 6)
		wantNotFound(t, "Message(missing seq)", err)
		_, err = tx.Message("c_2", 1)
		wantNotFound(t, "Message(missing conversation)", err)
		none, err := tx.Messages("c_2", 0, 0)
		wantNoErr(t, "Messages(missing conversation)", err)
		if len(none) != 0 {
			t.Errorf("Messages(missing conversation) = %v", none)
		}
		return nil
	})
	edited := msg("c_1", 3)
	edited.Text = "edited"
	update(t, s, func(tx bridge.Tx) error { return tx.PutMessage(edited) })
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.Message("c_1", 3)
		wantNoErr(t, "Message after overwrite", err)
		wantSame(t, "Message after overwrite", got, edited)
		return nil
	})
}

func testClientIDs(t *testing.T, s bridge.Store) {
	// Keys of messages in conversations of the visitor, as the engine
	// writes them: the first before the conversation is stored.
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutClientID("v_3", "first", "c_5", 1); err != nil {
			return err
		}
		return tx.PutConversation(conv("c_5", "v_3", bridge.StatusClosed, 1))
	})
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutClientID("v_3", "second", "c_5", 2); err != nil {
			return err
		}
		if err := tx.PutConversation(conv("c_6", "v_3", bridge.StatusOpen, 2)); err != nil {
			return err
		}
		return tx.PutClientID("v_3", "third", "c_6", 1)
	})
	view(t, s, func(tx bridge.Tx) error {
		for _, c := range []struct {
			key, conv string
			seq       uint64
		}{{"first", "c_5", 1}, {"second", "c_5", 2}, {"third", "c_6", 1}} {
			conv, seq, err := tx.ClientID("v_3", c.key)
			wantNoErr(t, "ClientID", err)
			if conv != c.conv || seq != c.seq {
				t.Errorf("ClientID(v_3, %s) = %s, %d; want %s, %d", c.key, conv, seq, c.conv, c.seq)
			}
			_, _, err = tx.ClientID("v_4", c.key)
			wantNotFound(t, "ClientID of another visitor", err)
		}
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		_, _, err := tx.ClientID("v_1", "k1")
		wantNotFound(t, "ClientID before Put", err)
		return nil
	})
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutClientID("v_1", "k1", "c_1", 7); err != nil {
			return err
		}
		return tx.PutClientID("v_2", "k1", "c_2", 1)
	})
	view(t, s, func(tx bridge.Tx) error {
		conv, seq, err := tx.ClientID("v_1", "k1")
		wantNoErr(t, "ClientID", err)
		if conv != "c_1" || seq != 7 {
			t.Errorf("ClientID(v_1, k1) = %s, %d; want c_1, 7", conv, seq)
		}
		conv, seq, err = tx.ClientID("v_2", "k1")
		wantNoErr(t, "ClientID", err)
		if conv != "c_2" || seq != 1 {
			t.Errorf("ClientID(v_2, k1) = %s, %d; want c_2, 1", conv, seq)
		}
		_, _, err = tx.ClientID("v_1", "k2")
		wantNotFound(t, "ClientID(other key)", err)
		return nil
	})
}

func testRefs(t *testing.T, s bridge.Store) {
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutRef("slack", "c_1", "C1/1700000000.000100"); err != nil {
			return err
		}
		return tx.PutRef("matrix", "c_1", "!room:example.org")
	})
	view(t, s, func(tx bridge.Tx) error {
		for _, c := range []struct{ adapter, ref string }{{"slack", "C1/1700000000.000100"}, {"matrix", "!room:example.org"}} {
			got, err := tx.Ref(c.adapter, "c_1")
			wantNoErr(t, "Ref", err)
			if got != c.ref {
				t.Errorf("Ref(%s, c_1) = %q, want %q", c.adapter, got, c.ref)
			}
			conv, err := tx.ConversationByRef(c.adapter, c.ref)
			wantNoErr(t, "ConversationByRef", err)
			if conv != "c_1" {
				t.Errorf("ConversationByRef(%s, %s) = %q, want c_1", c.adapter, c.ref, conv)
			}
		}
		_, err := tx.Ref("slack", "c_2")
		wantNotFound(t, "Ref(missing)", err)
		_, err = tx.ConversationByRef("matrix", "C1/1700000000.000100")
		wantNotFound(t, "ConversationByRef(other adapter's ref)", err)
		return nil
	})
	// Moving a conversation to a new thread forgets the old one.
	update(t, s, func(tx bridge.Tx) error { return tx.PutRef("slack", "c_1", "C1/1700000001.000100") })
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.ConversationByRef("slack", "C1/1700000000.000100")
		wantNotFound(t, "ConversationByRef(old ref)", err)
		conv, err := tx.ConversationByRef("slack", "C1/1700000001.000100")
		wantNoErr(t, "ConversationByRef(new ref)", err)
		if conv != "c_1" {
			t.Errorf("ConversationByRef(new ref) = %q, want c_1", conv)
		}
		return nil
	})
}

func testState(t *testing.T, s bridge.Store) {
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.GetState("matrix", "since")
		wantNotFound(t, "GetState before Put", err)
		return nil
	})
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutState("matrix", "since", []byte("s1")); err != nil {
			return err
		}
		if err := tx.PutState("slack", "since", []byte("other")); err != nil {
			return err
		}
		return tx.PutState("matrix", "empty", []byte{})
	})
	update(t, s, func(tx bridge.Tx) error { return tx.PutState("matrix", "since", []byte("s2")) })
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.GetState("matrix", "since")
		wantNoErr(t, "GetState", err)
		if string(got) != "s2" {
			t.Errorf("GetState(matrix, since) = %q, want s2", got)
		}
		got, err = tx.GetState("slack", "since")
		wantNoErr(t, "GetState", err)
		if string(got) != "other" {
			t.Errorf("GetState(slack, since) = %q, want other", got)
		}
		got, err = tx.GetState("matrix", "empty")
		wantNoErr(t, "GetState(empty value)", err)
		if len(got) != 0 {
			t.Errorf("GetState(empty value) = %q", got)
		}
		_, err = tx.GetState("matrix", "other")
		wantNotFound(t, "GetState(missing key)", err)
		return nil
	})
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.DeleteState("matrix", "since"); err != nil {
			return err
		}
		return tx.DeleteState("matrix", "never-set")
	})
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.GetState("matrix", "since")
		wantNotFound(t, "GetState after DeleteState", err)
		got, err := tx.GetState("slack", "since")
		wantNoErr(t, "GetState of another namespace after DeleteState", err)
		if string(got) != "other" {
			t.Errorf("DeleteState(matrix, since) changed (slack, since) to %q", got)
		}
		return nil
	})
}

func testCanned(t *testing.T, s bridge.Store) {
	items := []bridge.CannedResponse{
		{Shortcut: "sorry", Text: "I am sorry to hear that."},
		{Shortcut: "sorry", Owner: "slack:U2", Text: "Oops, sorry!"},
		{Shortcut: "hi", Owner: "slack:U1", Text: "Hello there"},
		{Shortcut: "hello", Text: "Hello!", Description: "greeting", Uses: 3, LastUsed: at(1)},
		{Shortcut: "sorry", Owner: "matrix:@a:example.org", Text: "Désolé"},
	}
	update(t, s, func(tx bridge.Tx) error {
		for _, c := range items {
			if err := tx.PutCanned(c); err != nil {
				return err
			}
		}
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		for _, c := range items {
			got, err := tx.Canned(c.Owner, c.Shortcut)
			wantNoErr(t, "Canned", err)
			wantSame(t, "Canned", got, c)
		}
		_, err := tx.Canned("slack:U9", "hi")
		wantNotFound(t, "Canned(other owner)", err)
		all, err := tx.AllCanned()
		wantNoErr(t, "AllCanned", err)
		wantSame(t, "AllCanned (by shortcut, then owner)", all, []bridge.CannedResponse{items[3], items[2], items[0], items[4], items[1]})
		return nil
	})
	update(t, s, func(tx bridge.Tx) error { return tx.DeleteCanned("slack:U2", "sorry") })
	view(t, s, func(tx bridge.Tx) error {
		_, err := tx.Canned("slack:U2", "sorry")
		wantNotFound(t, "Canned after Delete", err)
		if _, err := tx.Canned("", "sorry"); err != nil {
			t.Errorf("Delete of an owner's response removed the shared one: %v", err)
		}
		return nil
	})
	err := s.Update(t.Context(), func(tx bridge.Tx) error { return tx.DeleteCanned("slack:U2", "sorry") })
	wantNotFound(t, "DeleteCanned(missing)", err)
}

func testCopies(t *testing.T, s bridge.Store) {
	hash := bridge.HashToken("tok")
	val := []byte("value")
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutToken(hash, "v_1"); err != nil {
			return err
		}
		if err := tx.PutState("ns", "k", val); err != nil {
			return err
		}
		// The caller's slices are the caller's: changing them after the
		// call changes nothing stored.
		hash[0]++
		val[0] = 'X'
		return tx.PutConversation(bridge.Conversation{ID: "c_1", VisitorID: "v_1", Status: bridge.StatusOpen, UpdatedAt: at(0),
			Operators: []bridge.Operator{{Adapter: "slack", ID: "U1", Name: "Bob"}}})
	})
	hash[0]--
	var state []byte
	var conv bridge.Conversation
	view(t, s, func(tx bridge.Tx) error {
		id, err := tx.VisitorByToken(hash)
		wantNoErr(t, "VisitorByToken after the caller changed its slice", err)
		if id != "v_1" {
			t.Errorf("VisitorByToken = %q", id)
		}
		state, err = tx.GetState("ns", "k")
		wantNoErr(t, "GetState", err)
		if string(state) != "value" {
			t.Errorf("GetState = %q, want value (the stored copy)", state)
		}
		conv, err = tx.Conversation("c_1")
		wantNoErr(t, "Conversation", err)
		state[0] = 'Y'
		conv.Operators[0].Name = "changed"
		return nil
	})
	// Values stay valid after their transaction, while others write.
	update(t, s, func(tx bridge.Tx) error {
		for i := range 100 {
			if err := tx.PutState("ns", fmt.Sprint("filler", i), bytes.Repeat([]byte{'z'}, 1000)); err != nil {
				return err
			}
		}
		return tx.PutState("ns", "k", []byte("other"))
	})
	if string(state) != "Yalue" || conv.Operators[0].Name != "changed" {
		t.Errorf("values read in a View changed after it: %q, %q", state, conv.Operators[0].Name)
	}
	view(t, s, func(tx bridge.Tx) error {
		c, err := tx.Conversation("c_1")
		wantNoErr(t, "Conversation", err)
		if c.Operators[0].Name != "Bob" {
			t.Errorf("changing a returned value changed the store: %q", c.Operators[0].Name)
		}
		return nil
	})
}
