package inbox

import (
	"cmp"
	"context"
	"maps"
	"net/http"
	"net/url"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// waitingDest is an outbox destination for the "waiting again"
// announcements. It is added after the engine's Run started, so a worker
// may or may not deliver to it: entries are either still in the outbox or
// recorded by Deliver (before the outbox forgets them).
type waitingDest struct {
	mu        sync.Mutex
	delivered map[uint64]bridge.OutboxEntry
}

func (*waitingDest) Name() string                   { return "waiting-test" }
func (*waitingDest) Wants(k bridge.OutboxKind) bool { return k == bridge.KindWaiting }
func (w *waitingDest) Deliver(_ context.Context, d bridge.Delivery) (bridge.Receipt, error) {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.delivered[d.Entry.ID] = d.Entry
	return bridge.Receipt{}, nil
}

// entries returns the waiting announcements enqueued so far, oldest first.
func (w *waitingDest) entries(t *testing.T, f *fixture) []bridge.OutboxEntry {
	t.Helper()
	all := map[uint64]bridge.OutboxEntry{}
	queued, err := f.engine.PendingDeliveries(f.ctx, w.Name(), 0)
	for _, e := range queued {
		all[e.ID] = e
	}
	if err != nil {
		t.Fatalf("read the outbox: %v", err)
	}
	w.mu.Lock()
	maps.Copy(all, w.delivered)
	w.mu.Unlock()
	return slices.SortedFunc(maps.Values(all), func(a, b bridge.OutboxEntry) int { return cmp.Compare(a.ID, b.ID) })
}

// action posts the form of a conversation action ("close" or "leave") with
// the client's CSRF token; asJSON asks for the script's answer.
func (c *client) action(convID, action string, asJSON bool) *http.Response {
	c.t.Helper()
	var hdr map[string]string
	if asJSON {
		hdr = map[string]string{"Accept": "application/json"}
	}
	return c.post("/inbox/c/"+convID+"/"+action, url.Values{"csrf": {c.csrf}}, hdr)
}

// visitorLines returns the public lines the visitor sees, as "from: text".
func visitorLines(t *testing.T, f *fixture, visitorID string) []string {
	t.Helper()
	view, err := f.engine.VisitorMessages(f.ctx, visitorID, "", 0, 0)
	if err != nil {
		t.Fatalf("visitor messages: %v", err)
	}
	var lines []string
	for _, m := range view.Messages {
		lines = append(lines, string(m.From)+": "+m.Text)
	}
	return lines
}

func TestActionsRefused(t *testing.T) {
	f := newFixture(t, Config{})
	vid, m := f.visitorSays("", "Vera", "hello")
	ac, bc, anon := f.login(alice), f.login(bob), f.anonymous()
	if res := ac.reply(m.ConversationID, "hi Vera"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: status %d", res.StatusCode)
	}
	before := visitorLines(t, f, vid)
	conv := m.ConversationID
	jsonHdr := func(extra map[string]string) map[string]string {
		h := map[string]string{"Accept": "application/json"}
		for k, v := range extra {
			h[k] = v
		}
		return h
	}
	for _, action := range []string{"close", "leave"} {
		for _, tc := range []struct {
			name   string
			c      *client
			conv   string
			csrf   string
			hdr    map[string]string
			status int
			// location is the redirect target's prefix, for 303s.
			location string
		}{
			{name: "not logged in (script)", c: anon, conv: conv, csrf: ac.csrf, hdr: jsonHdr(nil), status: http.StatusUnauthorized},
			{name: "not logged in (form)", c: anon, conv: conv, csrf: ac.csrf, status: http.StatusSeeOther, location: "/inbox/login"},
			{name: "no CSRF token", c: ac, conv: conv, hdr: jsonHdr(nil), status: http.StatusForbidden},
			{name: "wrong CSRF token", c: ac, conv: conv, csrf: "nope", status: http.StatusForbidden},
			{name: "another session's token", c: ac, conv: conv, csrf: bc.csrf, hdr: jsonHdr(nil), status: http.StatusForbidden},
			{name: "cross-site", c: ac, conv: conv, csrf: ac.csrf, hdr: jsonHdr(map[string]string{"Sec-Fetch-Site": "cross-site"}), status: http.StatusForbidden},
			{name: "foreign origin", c: ac, conv: conv, hdr: jsonHdr(map[string]string{"X-CSRF-Token": ac.csrf, "Origin": "https://evil.example"}), status: http.StatusForbidden},
			{name: "unknown conversation (script)", c: ac, conv: "c_nope", csrf: ac.csrf, hdr: jsonHdr(nil), status: http.StatusNotFound},
			{name: "unknown conversation (form)", c: ac, conv: "c_nope", csrf: ac.csrf, status: http.StatusNotFound},
		} {
			t.Run(action+"/"+tc.name, func(t *testing.T) {
				form := url.Values{}
				if tc.csrf != "" {
					form.Set("csrf", tc.csrf)
				}
				res := tc.c.post("/inbox/c/"+tc.conv+"/"+action, form, tc.hdr)
				if res.StatusCode != tc.status {
					t.Errorf("status %d, want %d", res.StatusCode, tc.status)
				}
				if tc.location != "" && !strings.HasPrefix(res.Header.Get("Location"), tc.location) {
					t.Errorf("redirect to %q, want %s…", res.Header.Get("Location"), tc.location)
				}
				if tc.hdr["Accept"] != "" && !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
					t.Errorf("answer type %q, want JSON", res.Header.Get("Content-Type"))
				}
			})
		}
		// Only POST.
		if status, _, _ := ac.get("/inbox/c/" + conv + "/" + action); status != http.StatusNotFound && status != http.StatusMethodNotAllowed {
			t.Errorf("GET %s: status %d, want 404 or 405", action, status)
		}
	}
	// Nothing happened.
	c, err := f.engine.Conversation(f.ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != bridge.StatusOpen || !c.HasOperator(operator(alice.OperatorAccount)) {
		t.Errorf("after refused actions: status %s, operators %+v; want open and followed by alice", c.Status, c.Operators)
	}
	if after := visitorLines(t, f, vid); strings.Join(after, "|") != strings.Join(before, "|") {
		t.Errorf("refused actions changed the visitor's view: %q, want %q", after, before)
	}
}

func TestCloseEndpoint(t *testing.T) {
	f := newFixture(t, Config{})
	vid, m := f.visitorSays("", "Vera", "hello")
	conv := m.ConversationID
	ac := f.login(alice)

	// Open: the page offers "Close chat", a usable reply box, no "ended" note.
	_, html, _ := ac.get("/inbox/c/" + conv)
	for _, want := range []string{`<form id="close-form" method="post" action="/inbox/c/` + conv + `/close">`, `name="csrf" value="` + ac.csrf + `"`, `>Close chat</button>`, `class="closed-banner" role="status" tabindex="-1" hidden>This chat has ended.`} {
		if !strings.Contains(html, want) {
			t.Errorf("open conversation page lacks %s", want)
		}
	}
	if strings.Contains(html, `id="conv-actions" class="conv-actions" role="group" aria-label="Conversation actions" hidden`) || strings.Contains(html, ` disabled>`) {
		t.Errorf("open conversation page hides its actions or disables the reply box")
	}

	res := ac.action(conv, "close", true)
	if res.StatusCode != http.StatusNoContent {
		t.Fatalf("close: status %d, want 204", res.StatusCode)
	}
	c, err := f.engine.Conversation(f.ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	if c.Status != bridge.StatusClosed {
		t.Fatalf("after close: status %s, want closed", c.Status)
	}
	want := []string{"visitor: hello", "system: Alice Martin ended the chat."}
	if got := visitorLines(t, f, vid); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("visitor sees %q, want %q", got, want)
	}

	// Again, by script and by form, also from the closed list: nothing more.
	if res := ac.action(conv, "close", true); res.StatusCode != http.StatusNoContent {
		t.Errorf("second close: status %d, want 204", res.StatusCode)
	}
	res = ac.post("/inbox/c/"+conv+"/close?status=closed", url.Values{"csrf": {ac.csrf}}, nil)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/inbox/c/"+conv+"?status=closed" {
		t.Errorf("close by form: status %d to %q, want 303 to the conversation in the closed list", res.StatusCode, loc)
	}
	c2, err := f.engine.Conversation(f.ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	if c2.LastSeq != c.LastSeq || !c2.ClosedAt.Equal(c.ClosedAt) {
		t.Errorf("closing again changed the conversation: last seq %d → %d, closed at %v → %v", c.LastSeq, c2.LastSeq, c.ClosedAt, c2.ClosedAt)
	}
	if got := visitorLines(t, f, vid); strings.Join(got, "|") != strings.Join(want, "|") {
		t.Errorf("after closing again the visitor sees %q, want %q", got, want)
	}

	// Closed: no actions, the note shows, the reply box is disabled.
	_, html, _ = ac.get("/inbox/c/" + conv + "?status=closed")
	for _, want := range []string{
		`id="conv-actions" class="conv-actions" role="group" aria-label="Conversation actions" hidden`,
		`class="closed-banner" role="status" tabindex="-1">This chat has ended.`,
		`name="text" rows="2" placeholder="Reply… Enter sends · Shift+Enter new line · !help · ;; note · /me" disabled>`,
		`id="reply-send" disabled>`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("closed conversation page lacks %s", want)
		}
	}
}

func TestLeaveEndpoint(t *testing.T) {
	f := newFixture(t, Config{})
	waiting := &waitingDest{delivered: map[uint64]bridge.OutboxEntry{}}
	if err := f.engine.Register(waiting); err != nil { // not delivered: the test reads its outbox
		t.Fatal(err)
	}
	vid, m := f.visitorSays("", "Vera", "hello")
	conv := m.ConversationID
	ac, bc := f.login(alice), f.login(bob)
	for _, c := range []*client{ac, bc} {
		if res := c.reply(conv, "hi from "+c.csrf[:4]); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("reply: status %d", res.StatusCode)
		}
	}
	if !ac.conversation(conv).Item.Following {
		t.Fatalf("alice does not follow the conversation she answered")
	}
	_, html, _ := ac.get("/inbox/c/" + conv)
	if !strings.Contains(html, `<form id="leave-form" method="post" action="/inbox/c/`+conv+`/leave">`) {
		t.Errorf("the page of a followed conversation has no Leave form")
	}
	before := visitorLines(t, f, vid)
	aliceOp, bobOp := operator(alice.OperatorAccount), operator(bob.OperatorAccount)
	lastWhisper := func(c *client) messageView {
		t.Helper()
		msgs := c.conversation(conv).Messages
		for i := len(msgs) - 1; i >= 0; i-- {
			if msgs[i].Visibility == bridge.VisibilityWhisper {
				return msgs[i]
			}
		}
		return messageView{}
	}

	// Alice leaves by plain form; Bob still follows.
	res := ac.action(conv, "leave", false)
	if loc := res.Header.Get("Location"); res.StatusCode != http.StatusSeeOther || loc != "/inbox/c/"+conv {
		t.Fatalf("leave by form: status %d to %q, want 303 to the conversation", res.StatusCode, loc)
	}
	c, err := f.engine.Conversation(f.ctx, conv)
	if err != nil {
		t.Fatal(err)
	}
	if c.HasOperator(aliceOp) || !c.HasOperator(bobOp) || len(c.Operators) != 1 {
		t.Errorf("after alice left: operators %+v, want only bob", c.Operators)
	}
	if got := waiting.entries(t, f); len(got) != 0 {
		t.Errorf("announced as waiting while bob follows: %+v", got)
	}
	if w := lastWhisper(ac); w.Text != leftWhisper || !w.Own {
		t.Errorf("alice's last whisper = %+v, want %q", w, leftWhisper)
	}
	if ac.conversation(conv).Item.Following {
		t.Errorf("the API says alice still follows")
	}
	if w := lastWhisper(bc); w.Text != "" {
		t.Errorf("bob sees a whisper %+v", w)
	}
	_, html, _ = ac.get("/inbox/c/" + conv)
	if !strings.Contains(html, `/leave" hidden>`) || !strings.Contains(html, leftWhisper) {
		t.Errorf("after leaving, the page still offers Leave or lacks the confirmation")
	}

	// Bob leaves by script: nobody follows, it is announced as waiting.
	f.clock.Add(time.Minute)
	bobLeftAt := f.clock.Now()
	if res := bc.action(conv, "leave", true); res.StatusCode != http.StatusNoContent {
		t.Fatalf("bob leaves: status %d, want 204", res.StatusCode)
	}
	if c, err = f.engine.Conversation(f.ctx, conv); err != nil {
		t.Fatal(err)
	}
	if len(c.Operators) != 0 {
		t.Errorf("after both left: operators %+v, want none", c.Operators)
	}
	if w := lastWhisper(bc); w.Text != leftWaitingWhisper {
		t.Errorf("bob's last whisper = %q, want %q", w.Text, leftWaitingWhisper)
	}
	if got := waiting.entries(t, f); len(got) != 1 || got[0].ConversationID != conv || !got[0].CreatedAt.Equal(bobLeftAt) {
		t.Errorf("waiting announcements %+v, want one for %s made when bob left (%v)", got, conv, bobLeftAt)
	}

	// Leaving again changes nothing and announces nothing more.
	if res := ac.action(conv, "leave", true); res.StatusCode != http.StatusNoContent {
		t.Errorf("alice leaves again: status %d, want 204", res.StatusCode)
	}
	if w := lastWhisper(ac); w.Text != notFollowingWhisper {
		t.Errorf("alice's last whisper = %q, want %q", w.Text, notFollowingWhisper)
	}
	// The visitor was told nothing.
	if after := visitorLines(t, f, vid); strings.Join(after, "|") != strings.Join(before, "|") {
		t.Errorf("leaving changed the visitor's view: %q, want %q", after, before)
	}
	if got := waiting.entries(t, f); len(got) != 1 {
		t.Errorf("after leaving again: %d waiting announcements, want still 1", len(got))
	}
}
