package canned

import (
	"context"
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
)

func openStore(t *testing.T) bridge.Store {
	t.Helper()
	st, err := boltstore.Open(filepath.Join(t.TempDir(), "test.db"), boltstore.Options{NoSync: true})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = st.Close() })
	return st
}

func all(t *testing.T, st bridge.Store) []bridge.CannedResponse {
	t.Helper()
	var out []bridge.CannedResponse
	if err := st.View(context.Background(), func(tx bridge.Tx) error {
		var err error
		out, err = tx.AllCanned()
		return err
	}); err != nil {
		t.Fatal(err)
	}
	return out
}

func TestUse(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	seed := []bridge.CannedResponse{
		{Shortcut: "sorry", Text: "shared"},
		{Shortcut: "sorry", Text: "mine", Owner: "inbox:alice"},
		{Shortcut: "bye", Text: "shared bye", Uses: 4},
	}
	if err := st.Update(ctx, func(tx bridge.Tx) error { _, _, err := Import(tx, seed); return err }); err != nil {
		t.Fatal(err)
	}
	now := time.Date(2026, 11, 27, 10, 0, 0, 0, time.UTC)
	for _, u := range []struct {
		owner     string
		shortcuts []string
	}{
		{"inbox:alice", []string{"sorry", "bye", "gone"}},
		{"inbox:bob", []string{"sorry"}},
		{"inbox:bob", []string{"bye"}},
	} {
		if err := st.Update(ctx, func(tx bridge.Tx) error { return Use(tx, u.shortcuts, u.owner, now) }); err != nil {
			t.Fatalf("Use(%v): %v", u, err)
		}
	}
	want := map[string]uint64{"bye/": 6, "sorry/": 1, "sorry/inbox:alice": 1}
	for _, c := range all(t, st) {
		k := c.Shortcut + "/" + c.Owner
		if c.Uses != want[k] || !c.LastUsed.Equal(now) {
			t.Errorf("%s: uses %d last %v, want %d at %v", k, c.Uses, c.LastUsed, want[k], now)
		}
	}
}

func TestPutKeepsUses(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	last := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	put := func(c bridge.CannedResponse) bool {
		var replaced bool
		if err := st.Update(ctx, func(tx bridge.Tx) error {
			var err error
			replaced, err = Put(tx, c)
			return err
		}); err != nil {
			t.Fatal(err)
		}
		return replaced
	}
	if put(bridge.CannedResponse{Shortcut: "hi", Text: "one", Uses: 3, LastUsed: last}) {
		t.Error("first put reported a replacement")
	}
	if !put(bridge.CannedResponse{Shortcut: "hi", Text: "two"}) {
		t.Error("second put did not report a replacement")
	}
	got := all(t, st)
	if len(got) != 1 || got[0].Text != "two" || got[0].Uses != 3 || !got[0].LastUsed.Equal(last) {
		t.Errorf("after replace: %+v", got)
	}
	err := st.Update(ctx, func(tx bridge.Tx) error {
		_, err := Put(tx, bridge.CannedResponse{Shortcut: "Bad", Text: "x"})
		return err
	})
	if !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("invalid put: %v", err)
	}
}

func TestImportAllOrNothing(t *testing.T) {
	ctx := context.Background()
	st := openStore(t)
	list := []bridge.CannedResponse{{Shortcut: "a", Text: "x"}, {Shortcut: "b", Text: ""}, {Shortcut: "c", Text: "y"}}
	err := st.Update(ctx, func(tx bridge.Tx) error { _, _, err := Import(tx, list); return err })
	var ie *ImportError
	if !errors.As(err, &ie) || len(ie.Problems) != 1 || ie.Problems[0].Entry != 2 {
		t.Fatalf("import with a bad entry: %v", err)
	}
	if got := all(t, st); len(got) != 0 {
		t.Errorf("stored half-way: %+v", got)
	}
	var added, replaced int
	list[1].Text = "fixed"
	if err := st.Update(ctx, func(tx bridge.Tx) error {
		var err error
		added, replaced, err = Import(tx, list)
		return err
	}); err != nil || added != 3 || replaced != 0 {
		t.Fatalf("import: %d added, %d replaced, %v", added, replaced, err)
	}
	if err := st.Update(ctx, func(tx bridge.Tx) error {
		var err error
		added, replaced, err = Import(tx, list[:1])
		return err
	}); err != nil || added != 0 || replaced != 1 {
		t.Fatalf("re-import: %d added, %d replaced, %v", added, replaced, err)
	}
}
