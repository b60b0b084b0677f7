package inbox

import (
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestTypingGate(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	type call struct {
		login, conv string
		at          time.Duration
		want        bool
	}
	for _, tc := range []struct {
		name  string
		calls []call
	}{
		{"first call passes", []call{{"alice", "c1", 0, true}}},
		{"coalesced within the interval", []call{
			{"alice", "c1", 0, true}, {"alice", "c1", time.Second, false}, {"alice", "c1", typingEvery - time.Nanosecond, false},
		}},
		{"passes again after the interval", []call{
			{"alice", "c1", 0, true}, {"alice", "c1", typingEvery, true}, {"alice", "c1", typingEvery + time.Second, false},
		}},
		{"a dropped call does not extend the wait", []call{
			{"alice", "c1", 0, true}, {"alice", "c1", time.Second, false}, {"alice", "c1", typingEvery, true},
		}},
		{"per operator", []call{{"alice", "c1", 0, true}, {"bob", "c1", 0, true}, {"bob", "c1", time.Second, false}}},
		{"per conversation", []call{{"alice", "c1", 0, true}, {"alice", "c2", 0, true}, {"alice", "c2", time.Second, false}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			g := newTypingGate()
			for i, c := range tc.calls {
				if got := g.allow(c.login, c.conv, t0.Add(c.at)); got != c.want {
					t.Errorf("call %d (%s, %s, +%v) = %v, want %v", i, c.login, c.conv, c.at, got, c.want)
				}
			}
		})
	}
}

func TestTypingGateBounded(t *testing.T) {
	t0 := time.Date(2025, 1, 2, 3, 4, 5, 0, time.UTC)
	g := newTypingGate()
	for i := range maxTypingTracked {
		if !g.allow("alice", "c"+strconv.Itoa(i), t0) {
			t.Fatalf("call %d refused before the table was full", i)
		}
	}
	if g.allow("alice", "one-more", t0) {
		t.Errorf("a call passed with the table full of live entries")
	}
	if len(g.last) > maxTypingTracked {
		t.Errorf("table holds %d entries, cap %d", len(g.last), maxTypingTracked)
	}
	// Once the entries expire, the table makes room again.
	if !g.allow("alice", "one-more", t0.Add(typingEvery)) {
		t.Errorf("a call was refused after the entries expired")
	}
	if len(g.last) != 1 {
		t.Errorf("table holds %d entries after expiry, want 1", len(g.last))
	}
	g.purge(t0.Add(2 * typingEvery))
	if len(g.last) != 0 {
		t.Errorf("purge left %d entries", len(g.last))
	}
}

func TestTypingEndpoint(t *testing.T) {
	f := newFixture(t, Config{})
	vid, m := f.visitorSays("", "Vera", "hello")
	vid2, m2 := f.visitorSays("", "Otto", "hi")
	_, closed := f.visitorSays("", "Carl", "bye")
	if err := f.engine.Close(f.ctx, closed.ConversationID, operator(bob.OperatorAccount)); err != nil {
		t.Fatal(err)
	}
	ac, bc, anon := f.login(alice), f.login(bob), f.anonymous()
	sub := f.engine.Hub().SubscribeAll()
	defer sub.Close()
	// Engine.Typing publishes before the handler answers, and publishing
	// puts the event in the subscription's buffer: once the response is
	// here, a published event is waiting, so a non-blocking read is exact.
	typingEvents := func() []bridge.Event {
		var evs []bridge.Event
		for {
			select {
			case ev := <-sub.C:
				if ev.Kind == bridge.EventTyping {
					evs = append(evs, ev)
				}
			default:
				return evs
			}
		}
	}

	for _, tc := range []struct {
		name    string
		c       *client
		conv    string
		csrf    string // form field; "" for none
		hdr     map[string]string
		advance time.Duration
		status  int
		// wantFrom is the operator whose event must be published, or nil
		// for none.
		wantFrom *account
		wantVis  string
	}{
		{name: "not logged in", c: anon, conv: m.ConversationID, csrf: ac.csrf, status: http.StatusUnauthorized},
		{name: "no CSRF token", c: ac, conv: m.ConversationID, status: http.StatusForbidden},
		{name: "wrong CSRF token", c: ac, conv: m.ConversationID, csrf: "nope", status: http.StatusForbidden},
		{name: "another session's token", c: ac, conv: m.ConversationID, csrf: bc.csrf, status: http.StatusForbidden},
		{name: "cross-site", c: ac, conv: m.ConversationID, hdr: map[string]string{"X-CSRF-Token": ac.csrf, "Sec-Fetch-Site": "cross-site"}, status: http.StatusForbidden},
		{name: "foreign origin", c: ac, conv: m.ConversationID, hdr: map[string]string{"X-CSRF-Token": ac.csrf, "Origin": "https://evil.example"}, status: http.StatusForbidden},
		{name: "unknown conversation", c: ac, conv: "c_nope", csrf: ac.csrf, status: http.StatusNotFound},
		{name: "closed conversation", c: ac, conv: closed.ConversationID, csrf: ac.csrf, status: http.StatusNoContent},
		{name: "alice types (header token)", c: ac, conv: m.ConversationID, hdr: map[string]string{"X-CSRF-Token": ac.csrf}, status: http.StatusNoContent, wantFrom: &alice, wantVis: vid},
		{name: "alice again at once: coalesced", c: ac, conv: m.ConversationID, csrf: ac.csrf, status: http.StatusNoContent},
		{name: "alice again after 1.9 s: coalesced", c: ac, conv: m.ConversationID, csrf: ac.csrf, advance: 1900 * time.Millisecond, status: http.StatusNoContent},
		{name: "alice in another conversation", c: ac, conv: m2.ConversationID, csrf: ac.csrf, status: http.StatusNoContent, wantFrom: &alice, wantVis: vid2},
		{name: "bob in the same conversation", c: bc, conv: m.ConversationID, csrf: bc.csrf, status: http.StatusNoContent, wantFrom: &bob, wantVis: vid},
		{name: "alice after 2 s in all", c: ac, conv: m.ConversationID, csrf: ac.csrf, advance: 100 * time.Millisecond, status: http.StatusNoContent, wantFrom: &alice, wantVis: vid},
		{name: "closed conversation after the interval", c: ac, conv: closed.ConversationID, csrf: ac.csrf, advance: typingEvery, status: http.StatusNoContent},
	} {
		f.clock.Add(tc.advance)
		form := url.Values{}
		if tc.csrf != "" {
			form.Set("csrf", tc.csrf)
		}
		hdr := map[string]string{"Accept": "application/json"}
		for k, v := range tc.hdr {
			hdr[k] = v
		}
		res := tc.c.post("/inbox/c/"+tc.conv+"/typing", form, hdr)
		if res.StatusCode != tc.status {
			t.Errorf("%s: status %d, want %d", tc.name, res.StatusCode, tc.status)
		}
		if res.StatusCode != http.StatusNoContent && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
			t.Errorf("%s: error type %q, want JSON", tc.name, res.Header.Get("Content-Type"))
		}
		evs := typingEvents()
		switch {
		case tc.wantFrom == nil && len(evs) != 0:
			t.Errorf("%s: published %+v, want no typing event", tc.name, evs)
		case tc.wantFrom == nil:
		case len(evs) != 1:
			t.Errorf("%s: published %+v, want one typing event", tc.name, evs)
		default:
			ev := evs[0]
			if ev.From != bridge.FromOperator || ev.Author != tc.wantFrom.Name || ev.ConversationID != tc.conv || ev.VisitorID != tc.wantVis {
				t.Errorf("%s: published %+v, want from operator %q in %s for visitor %s", tc.name, ev, tc.wantFrom.Name, tc.conv, tc.wantVis)
			}
		}
	}

	// Only POST.
	if status, _, _ := ac.get("/inbox/c/" + m.ConversationID + "/typing"); status == http.StatusOK || status == http.StatusNoContent {
		t.Errorf("GET typing: status %d, want an error", status)
	}
	if evs := typingEvents(); len(evs) != 0 {
		t.Errorf("GET published %+v", evs)
	}
}

// TestTypingOnLiveStream checks that the page's stream carries visitor
// typing events, with who is typing, and not the operators' own.
func TestTypingOnLiveStream(t *testing.T) {
	f := newFixture(t, Config{})
	_, m := f.visitorSays("", "Vera", "hello")
	events, stop := readEvents(t, f.login(alice))
	defer stop()

	// Events arrive in order: when the visitor's is read, the operator's,
	// published first, would have been read before it.
	if err := f.engine.Typing(f.ctx, m.ConversationID, bridge.FromOperator, bob.Name); err != nil {
		t.Fatal(err)
	}
	if err := f.engine.Typing(f.ctx, m.ConversationID, bridge.FromVisitor, "Vera"); err != nil {
		t.Fatal(err)
	}
	deadline := time.After(10 * time.Second)
	for {
		select {
		case ev, ok := <-events:
			if !ok {
				t.Fatalf("stream ended early")
			}
			if ev.Kind != bridge.EventTyping {
				continue
			}
			if ev.From != bridge.FromVisitor || ev.ConversationID != m.ConversationID {
				t.Fatalf("typing event %+v, want the visitor's in %s (and no operator's)", ev, m.ConversationID)
			}
			return
		case <-deadline:
			t.Fatalf("no visitor typing event on the stream")
		}
	}
}
