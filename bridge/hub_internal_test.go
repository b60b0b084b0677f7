package bridge

import (
	"fmt"
	"testing"
)

// The hub reports a visitor's first live connection and the close of the
// last one (what a cluster shares), not every connection, and never the
// operators' global subscriptions.
func TestHubReportsPresenceChanges(t *testing.T) {
	h := NewHub()
	var got []string
	h.presence = func(id string, ch presenceChange) {
		got = append(got, fmt.Sprintf("%s:%v", id, ch.connected))
	}
	all := h.SubscribeAll()
	a1 := h.SubscribeVisitor("v1")
	a2 := h.SubscribeVisitorSize("v1", 2)
	b := h.SubscribeFunc("v2", func(Event) {})
	a1.Close()
	a2.Close()
	a2.Close()
	b.Close()
	all.Close()
	if want := []string{"v1:true", "v2:true", "v1:false", "v2:false"}; fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("reports %v, want %v", got, want)
	}
}
