package storetest

import (
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

func testOutbox(t *testing.T, s bridge.Store) {
	var ids []uint64
	dests := []string{"slack", "matrix", "slack", "webhook", "slack", "matrix"}
	update(t, s, func(tx bridge.Tx) error {
		ids = ids[:0]
		for i, d := range dests {
			id, err := tx.Enqueue(bridge.OutboxEntry{Destination: d, Kind: bridge.KindMessage, ConversationID: "c_1", Seq: uint64(i + 1), CreatedAt: at(i)})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	for i := 1; i < len(ids); i++ {
		if ids[i] <= ids[i-1] {
			t.Fatalf("Enqueue ids %v do not increase across destinations", ids)
		}
	}
	// A later transaction continues the sequence.
	var later uint64
	update(t, s, func(tx bridge.Tx) error {
		var err error
		later, err = tx.Enqueue(bridge.OutboxEntry{Destination: "slack", Kind: bridge.KindClosed, ConversationID: "c_1", CreatedAt: at(9)})
		return err
	})
	if later <= ids[len(ids)-1] {
		t.Errorf("Enqueue id %d after %v", later, ids)
	}
	entryIDs := func(es []bridge.OutboxEntry, dest string) []uint64 {
		var out []uint64
		for _, e := range es {
			if e.Destination != dest {
				t.Errorf("entry for %s in the outbox of %s", e.Destination, dest)
			}
			out = append(out, e.ID)
		}
		return out
	}
	view(t, s, func(tx bridge.Tx) error {
		for _, c := range []struct {
			dest  string
			limit int
			want  []uint64
		}{
			{"slack", 0, []uint64{ids[0], ids[2], ids[4], later}},
			{"slack", 2, []uint64{ids[0], ids[2]}},
			{"matrix", 10, []uint64{ids[1], ids[5]}},
			{"webhook", 0, []uint64{ids[3]}},
			{"email", 0, nil},
		} {
			got, err := tx.Outbox(c.dest, 0, c.limit)
			wantNoErr(t, "Outbox", err)
			if g := entryIDs(got, c.dest); !equalU64(g, c.want) {
				t.Errorf("Outbox(%s, %d) = %v, want %v", c.dest, c.limit, g, c.want)
			}
		}
		// Paging: entries after an id.
		for _, c := range []struct {
			after uint64
			limit int
			want  []uint64
		}{
			{ids[0], 0, []uint64{ids[2], ids[4], later}},
			{ids[2], 1, []uint64{ids[4]}},
			{ids[1], 0, []uint64{ids[2], ids[4], later}}, // an id of another destination
			{later, 0, nil},
		} {
			got, err := tx.Outbox("slack", c.after, c.limit)
			wantNoErr(t, "Outbox", err)
			if g := entryIDs(got, "slack"); !equalU64(g, c.want) {
				t.Errorf("Outbox(slack, after %d, %d) = %v, want %v", c.after, c.limit, g, c.want)
			}
		}
		got, err := tx.Outbox("matrix", 0, 1)
		wantNoErr(t, "Outbox", err)
		wantSame(t, "Outbox entry", got[0], bridge.OutboxEntry{ID: ids[1], Destination: "matrix", Kind: bridge.KindMessage, ConversationID: "c_1", Seq: 2, CreatedAt: at(1)})
		depth, err := tx.OutboxDepth()
		wantNoErr(t, "OutboxDepth", err)
		for d, n := range map[string]int{"slack": 4, "matrix": 2, "webhook": 1, "email": 0} {
			if depth[d] != n {
				t.Errorf("OutboxDepth[%s] = %d, want %d", d, depth[d], n)
			}
		}
		return nil
	})
	retry := bridge.OutboxEntry{ID: ids[1], Destination: "matrix", Kind: bridge.KindMessage, ConversationID: "c_1", Seq: 2, CreatedAt: at(1),
		Attempts: 1, NextAttempt: at(1).Add(time.Second), LastError: "502 Bad Gateway"}
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.PutOutbox(retry); err != nil {
			return err
		}
		if err := tx.DeleteOutbox("slack", ids[2]); err != nil {
			return err
		}
		if err := tx.DeleteOutbox("slack", ids[2]); err != nil {
			t.Errorf("DeleteOutbox of a deleted entry: %v", err)
		}
		if err := tx.DeleteOutbox("email", 12345); err != nil {
			t.Errorf("DeleteOutbox of an unknown destination: %v", err)
		}
		if err := tx.DeleteOutbox("webhook", ids[3]); err != nil {
			return err
		}
		missing := retry
		missing.ID = ids[2]
		missing.Destination = "slack"
		wantNotFound(t, "PutOutbox(deleted entry)", tx.PutOutbox(missing))
		missing.Destination = "email"
		wantNotFound(t, "PutOutbox(unknown destination)", tx.PutOutbox(missing))
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.Outbox("matrix", 0, 0)
		wantNoErr(t, "Outbox", err)
		wantSame(t, "Outbox after PutOutbox", got[0], retry)
		got, err = tx.Outbox("slack", 0, 0)
		wantNoErr(t, "Outbox", err)
		if g := entryIDs(got, "slack"); !equalU64(g, []uint64{ids[0], ids[4], later}) {
			t.Errorf("Outbox(slack) after delete = %v", g)
		}
		depth, err := tx.OutboxDepth()
		wantNoErr(t, "OutboxDepth", err)
		for d, n := range map[string]int{"slack": 3, "matrix": 2, "webhook": 0} {
			if depth[d] != n {
				t.Errorf("OutboxDepth[%s] = %d after deletes, want %d", d, depth[d], n)
			}
		}
		return nil
	})
}

func testSeen(t *testing.T, s bridge.Store) {
	mark := func(key string, now, exp time.Time) bool {
		t.Helper()
		var seen bool
		update(t, s, func(tx bridge.Tx) error {
			var err error
			seen, err = tx.MarkSeen(key, now, exp)
			return err
		})
		return seen
	}
	purge := func(now time.Time) int {
		t.Helper()
		var n int
		update(t, s, func(tx bridge.Tx) error {
			var err error
			n, err = tx.PurgeSeen(now)
			return err
		})
		return n
	}
	seenAt := func(key string, now time.Time) bool {
		t.Helper()
		var seen bool
		view(t, s, func(tx bridge.Tx) error {
			var err error
			seen, err = tx.Seen(key, now)
			return err
		})
		return seen
	}
	if seenAt("slack:Ev1", at(0)) {
		t.Error("Seen of a new key = true")
	}
	if mark("slack:Ev1", at(0), at(60)) {
		t.Error("MarkSeen of a new key reported it seen")
	}
	if !seenAt("slack:Ev1", at(59)) {
		t.Error("Seen of a live key = false")
	}
	if seenAt("slack:Ev1", at(60)) {
		t.Error("Seen of a key at its expiry = true")
	}
	if !mark("slack:Ev1", at(30), at(90)) {
		t.Error("MarkSeen of a live key reported it new")
	}
	if mark("slack:Ev2", at(1), at(10)) || mark("matrix:txn1", at(1), at(120)) {
		t.Error("MarkSeen of other new keys reported them seen")
	}
	// Expired at now: recorded again, as new.
	if mark("slack:Ev2", at(11), at(20)) {
		t.Error("MarkSeen of an expired key reported it seen")
	}
	if !mark("slack:Ev2", at(12), at(30)) {
		t.Error("MarkSeen of a re-recorded key reported it new")
	}
	if n := purge(at(5)); n != 0 {
		t.Errorf("PurgeSeen before any expiry = %d, want 0", n)
	}
	if n := purge(at(61)); n != 2 {
		t.Errorf("PurgeSeen(at 61) = %d, want 2 (slack:Ev1, slack:Ev2)", n)
	}
	if n := purge(at(61)); n != 0 {
		t.Errorf("PurgeSeen again = %d, want 0", n)
	}
	if !mark("matrix:txn1", at(62), at(200)) {
		t.Error("PurgeSeen removed a live record")
	}
	if mark("slack:Ev1", at(62), at(200)) {
		t.Error("a purged key is still seen")
	}
	// Forgetting a live record makes it new again; forgetting a missing
	// one is not an error.
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.ForgetSeen("matrix:txn1"); err != nil {
			return err
		}
		return tx.ForgetSeen("never-seen")
	})
	if mark("matrix:txn1", at(63), at(200)) {
		t.Error("a forgotten key is still seen")
	}
	if n := purge(at(300)); n != 2 {
		t.Errorf("PurgeSeen after ForgetSeen = %d, want 2 (no stale index entry)", n)
	}
}

func testDeadLetters(t *testing.T, s bridge.Store) {
	var ids []uint64
	update(t, s, func(tx bridge.Tx) error {
		ids = ids[:0]
		for i, d := range []string{"slack", "slack", "webhook"} {
			id, err := tx.Enqueue(bridge.OutboxEntry{Destination: d, Kind: bridge.KindMessage, ConversationID: "c_1", Seq: uint64(i + 1), CreatedAt: at(i)})
			if err != nil {
				return err
			}
			ids = append(ids, id)
		}
		return nil
	})
	dead := bridge.OutboxEntry{ID: ids[0], Destination: "slack", Kind: bridge.KindMessage, ConversationID: "c_1", Seq: 1, CreatedAt: at(0),
		Attempts: 3, LastError: "msg_too_long", DeadAt: at(5)}
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.Bury(dead); err != nil {
			return err
		}
		gone := dead
		gone.ID = 99999
		wantNotFound(t, "Bury(an entry not in the outbox)", tx.Bury(gone))
		wantNotFound(t, "Bury(the same entry again)", tx.Bury(dead))
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		live, err := tx.Outbox("slack", 0, 0)
		wantNoErr(t, "Outbox", err)
		if len(live) != 1 || live[0].ID != ids[1] {
			t.Errorf("Outbox(slack) after Bury = %+v, want only entry %d", live, ids[1])
		}
		got, err := tx.DeadLetters("slack", 0, 0)
		wantNoErr(t, "DeadLetters", err)
		if len(got) != 1 {
			t.Fatalf("DeadLetters(slack) = %+v", got)
		}
		wantSame(t, "dead letter", got[0], dead)
		got, err = tx.DeadLetters("slack", ids[0], 0)
		wantNoErr(t, "DeadLetters(after)", err)
		if len(got) != 0 {
			t.Errorf("DeadLetters(slack, after its id) = %+v", got)
		}
		got, err = tx.DeadLetters("webhook", 0, 0)
		wantNoErr(t, "DeadLetters(webhook)", err)
		if len(got) != 0 {
			t.Errorf("DeadLetters(webhook) = %+v", got)
		}
		dd, err := tx.DeadDepth()
		wantNoErr(t, "DeadDepth", err)
		od, err := tx.OutboxDepth()
		wantNoErr(t, "OutboxDepth", err)
		if dd["slack"] != 1 || dd["webhook"] != 0 || od["slack"] != 1 || od["webhook"] != 1 {
			t.Errorf("DeadDepth %v, OutboxDepth %v", dd, od)
		}
		return nil
	})
	revived := dead
	revived.Attempts, revived.LastError, revived.DeadAt = 0, "", time.Time{}
	update(t, s, func(tx bridge.Tx) error {
		if err := tx.Revive(revived); err != nil {
			return err
		}
		wantNotFound(t, "Revive(no longer dead)", tx.Revive(revived))
		return nil
	})
	view(t, s, func(tx bridge.Tx) error {
		live, err := tx.Outbox("slack", 0, 0)
		wantNoErr(t, "Outbox", err)
		if len(live) != 2 || live[0].ID != ids[0] {
			t.Fatalf("Outbox(slack) after Revive = %+v", live)
		}
		wantSame(t, "revived entry", live[0], revived)
		got, err := tx.DeadLetters("slack", 0, 0)
		wantNoErr(t, "DeadLetters", err)
		if len(got) != 0 {
			t.Errorf("DeadLetters after Revive = %+v", got)
		}
		return nil
	})
	// Bury the webhook's entry and delete it for good.
	update(t, s, func(tx bridge.Tx) error {
		w := bridge.OutboxEntry{ID: ids[2], Destination: "webhook", Kind: bridge.KindMessage, ConversationID: "c_1", Seq: 3, CreatedAt: at(2), DeadAt: at(6)}
		if err := tx.Bury(w); err != nil {
			return err
		}
		if err := tx.DeleteDead("webhook", ids[2]); err != nil {
			return err
		}
		if err := tx.DeleteDead("webhook", ids[2]); err != nil {
			t.Errorf("DeleteDead of a deleted dead letter: %v", err)
		}
		return tx.DeleteDead("nowhere", 1)
	})
	view(t, s, func(tx bridge.Tx) error {
		got, err := tx.DeadLetters("webhook", 0, 0)
		wantNoErr(t, "DeadLetters", err)
		live, err2 := tx.Outbox("webhook", 0, 0)
		wantNoErr(t, "Outbox", err2)
		if len(got) != 0 || len(live) != 0 {
			t.Errorf("after DeleteDead: dead %+v, live %+v", got, live)
		}
		return nil
	})
}
