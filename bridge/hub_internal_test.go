package bridge

import (
	"fmt"
	"testing"
	"time"
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

// Another node's message events say who wrote, from the conversation's
// record.
func TestConversationEventsFrom(t *testing.T) {
	t0 := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	prev := Conversation{ID: "c", VisitorID: "v", LastSeq: 1, LastVisitorAt: t0}
	visitor := prev
	visitor.LastSeq, visitor.LastVisitorAt = 2, t0.Add(time.Second)
	operator := visitor
	operator.LastSeq, operator.LastOperatorAt = 3, t0.Add(2*time.Second)
	system := operator
	system.LastSeq = 4
	for _, tc := range []struct {
		prev *Conversation
		c    Conversation
		want From
	}{
		{nil, prev, FromVisitor},
		{&prev, visitor, FromVisitor},
		{&visitor, operator, FromOperator},
		{&operator, system, ""},
	} {
		var got []Event
		for _, ev := range conversationEvents(tc.prev, tc.c) {
			if ev.Kind == EventMessage {
				got = append(got, ev)
			}
		}
		if len(got) != 1 || got[0].From != tc.want || got[0].Seq != tc.c.LastSeq {
			t.Errorf("seq %d: message events %+v, want one from %q", tc.c.LastSeq, got, tc.want)
		}
	}
}
