package canned

import (
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func shortcuts(list []bridge.CannedResponse) []string {
	out := make([]string, len(list))
	for i, c := range list {
		out[i] = c.Shortcut
		if c.Owner != "" {
			out[i] += "@" + c.Owner
		}
	}
	return out
}

func TestMatch(t *testing.T) {
	all := []bridge.CannedResponse{
		{Shortcut: "so", Text: "so"},
		{Shortcut: "sorry", Text: "shared sorry", Uses: 1},
		{Shortcut: "sorry", Text: "alice's sorry", Owner: "inbox:alice"},
		{Shortcut: "soon", Text: "soon", Uses: 10},
		{Shortcut: "also", Text: "also", Uses: 3},
		{Shortcut: "reason", Text: "reason", Uses: 5},
		{Shortcut: "bye", Text: "bye", Uses: 100},
		{Shortcut: "solo", Text: "bob's", Owner: "inbox:bob", Uses: 50},
		{Shortcut: "sob", Text: "sob", Uses: 10},
	}
	tests := []struct {
		name, query, op string
		want            []string
	}{
		{"exact, prefix, substring, then uses, then shortcut", "so", "inbox:alice", []string{"so", "sob", "soon", "sorry@inbox:alice", "reason", "also"}},
		{"shared only without operator", "so", "", []string{"so", "sob", "soon", "sorry", "reason", "also"}},
		{"bob sees his own", "so", "inbox:bob", []string{"so", "solo@inbox:bob", "sob", "soon", "sorry", "reason", "also"}},
		{"leading colon and case", ":SOR", "inbox:alice", []string{"sorry@inbox:alice"}},
		{"exact beats uses", "sob", "", []string{"sob"}},
		{"empty query by uses", "", "", []string{"bye", "sob", "soon", "reason", "also", "sorry", "so"}},
		{"no match", "zzz", "", []string{}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := shortcuts(Match(all, tt.query, tt.op))
			if len(got) != len(tt.want) {
				t.Fatalf("Match(%q, %q) = %q, want %q", tt.query, tt.op, got, tt.want)
			}
			for i := range got {
				if got[i] != tt.want[i] {
					t.Fatalf("Match(%q, %q) = %q, want %q", tt.query, tt.op, got, tt.want)
				}
			}
		})
	}
}

func TestVisibleAndFind(t *testing.T) {
	all := []bridge.CannedResponse{
		{Shortcut: "a", Text: "mine", Owner: "slack:U1"},
		{Shortcut: "a", Text: "shared"},
		{Shortcut: "b", Text: "theirs", Owner: "slack:U2"},
	}
	vis := Visible(all, "slack:U1")
	if len(vis) != 1 || vis[0].Text != "mine" {
		t.Errorf("Visible(U1) = %+v, want only the personal a", vis)
	}
	if vis := Visible(all, "slack:U2"); len(vis) != 2 || vis[0].Text != "shared" || vis[1].Text != "theirs" {
		t.Errorf("Visible(U2) = %+v", vis)
	}
	for _, tt := range []struct {
		shortcut, op, want string
		ok                 bool
	}{
		{"a", "slack:U1", "mine", true},
		{"a", "slack:U2", "shared", true},
		{"a", "", "shared", true},
		{"b", "slack:U1", "", false},
		{"b", "slack:U2", "theirs", true},
		{"c", "slack:U2", "", false},
	} {
		got, ok := Find(all, tt.shortcut, tt.op)
		if ok != tt.ok || got.Text != tt.want {
			t.Errorf("Find(%q, %q) = %q, %v; want %q, %v", tt.shortcut, tt.op, got.Text, ok, tt.want, tt.ok)
		}
	}
}

func TestValidate(t *testing.T) {
	long := make([]byte, MaxTextLen+1)
	for i := range long {
		long[i] = 'x'
	}
	tests := []struct {
		name string
		c    bridge.CannedResponse
		ok   bool
	}{
		{"ok", bridge.CannedResponse{Shortcut: "sorry-2_x", Text: "t"}, true},
		{"max shortcut", bridge.CannedResponse{Shortcut: "abcdefghijklmnopqrstuvwxyz012345", Text: "t"}, true},
		{"shortcut too long", bridge.CannedResponse{Shortcut: "abcdefghijklmnopqrstuvwxyz0123456", Text: "t"}, false},
		{"uppercase", bridge.CannedResponse{Shortcut: "Sorry", Text: "t"}, false},
		{"colon", bridge.CannedResponse{Shortcut: ":sorry", Text: "t"}, false},
		{"unicode", bridge.CannedResponse{Shortcut: "désolé", Text: "t"}, false},
		{"empty shortcut", bridge.CannedResponse{Text: "t"}, false},
		{"blank text", bridge.CannedResponse{Shortcut: "a", Text: " \n"}, false},
		{"text at limit", bridge.CannedResponse{Shortcut: "a", Text: string(long[:MaxTextLen])}, true},
		{"text too long", bridge.CannedResponse{Shortcut: "a", Text: string(long)}, false},
		{"owner ok", bridge.CannedResponse{Shortcut: "a", Text: "t", Owner: "matrix:@al:example.org"}, true},
		{"owner without adapter", bridge.CannedResponse{Shortcut: "a", Text: "t", Owner: "alice"}, false},
		{"owner with space", bridge.CannedResponse{Shortcut: "a", Text: "t", Owner: "inbox:al ice"}, false},
		{"description control", bridge.CannedResponse{Shortcut: "a", Text: "t", Description: "a\x07"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := Validate(tt.c); (err == nil) != tt.ok {
				t.Errorf("Validate(%+v) = %v, want ok=%v", tt.c, err, tt.ok)
			}
		})
	}
}
