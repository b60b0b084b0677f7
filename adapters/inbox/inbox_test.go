package inbox

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestNewValidatesConfig(t *testing.T) {
	good := alice.OperatorAccount
	for _, tc := range []struct {
		name    string
		cfg     Config
		wantErr string // "" means valid
	}{
		{"one operator", Config{Operators: []OperatorAccount{good}}, ""},
		{"login with capitals and @", Config{Operators: []OperatorAccount{{Login: "Alice@shop", PasswordHash: good.PasswordHash}}}, ""},
		{"empty login", Config{Operators: []OperatorAccount{{PasswordHash: good.PasswordHash}}}, "inbox.operators[0].login"},
		{"login with space", Config{Operators: []OperatorAccount{{Login: "a b", PasswordHash: good.PasswordHash}}}, "inbox.operators[0].login"},
		{"same login twice", Config{Operators: []OperatorAccount{good, {Login: "ALICE", PasswordHash: good.PasswordHash}}}, "inbox.operators[1].login"},
		{"plain-text password", Config{Operators: []OperatorAccount{{Login: "x", PasswordHash: "secret"}}}, "inbox.operators[0].password_hash"},
		{"negative TTL", Config{Operators: []OperatorAccount{good}, SessionTTL: -time.Second}, "session_ttl"},
		{"bad public URL", Config{Operators: []OperatorAccount{good}, PublicURL: "ftp://x"}, "public_url"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			f := newFixture(t, Config{})
			_, err := New(tc.cfg, f.engine, nil)
			switch {
			case tc.wantErr == "" && err != nil:
				t.Errorf("New: %v, want no error", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Errorf("New: %v, want an error naming %q", err, tc.wantErr)
			}
		})
	}
}

func TestGeneratedAdmin(t *testing.T) {
	f := newFixture(t, Config{Operators: []OperatorAccount{}, GenerateAdmin: true})
	pw := f.inbox.GeneratedPassword()
	if len(pw) < 16 {
		t.Fatalf("generated password %q is too short", pw)
	}
	c := f.anonymous()
	if res := c.post("/inbox/login", url.Values{"login": {"admin"}, "password": {pw}}, nil); res.StatusCode != http.StatusSeeOther {
		t.Errorf("admin login: status %d, want 303", res.StatusCode)
	}
	f2 := newFixture(t, Config{Operators: []OperatorAccount{}, GenerateAdmin: true})
	if f2.inbox.GeneratedPassword() == pw {
		t.Errorf("two inboxes generated the same password")
	}
	if f3 := newFixture(t, Config{GenerateAdmin: true}); f3.inbox.GeneratedPassword() != "" {
		t.Errorf("GeneratedPassword with configured operators = %q, want empty", f3.inbox.GeneratedPassword())
	}
}

// Without GenerateAdmin (a server whose output nobody reads on a terminal)
// and without operators, nobody can log in, and the login page says how to
// add an operator.
func TestNoOperators(t *testing.T) {
	f := newFixture(t, Config{Operators: []OperatorAccount{}})
	if pw := f.inbox.GeneratedPassword(); pw != "" {
		t.Fatalf("a password was generated: %q", pw)
	}
	res, err := http.PostForm(f.srv.URL+"/inbox/login", url.Values{"login": {"admin"}, "password": {"anything"}})
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != http.StatusUnauthorized || !strings.Contains(string(body), "inbox add-operator") {
		t.Errorf("login without operators: status %d, want 401 with how to add one:\n%s", res.StatusCode, body)
	}
}

func TestHashPassword(t *testing.T) {
	h, err := HashPassword("correct horse")
	if err != nil {
		t.Fatal(err)
	}
	in := &Inbox{cfg: Config{Operators: []OperatorAccount{{Login: "x", PasswordHash: h}}}}
	if _, ok := in.checkPassword("x", "correct horse"); !ok {
		t.Errorf("the password does not match its own hash")
	}
	if _, ok := in.checkPassword("x", "correct horsE"); ok {
		t.Errorf("another password matches")
	}
	if _, err := HashPassword(""); err == nil {
		t.Errorf("HashPassword(\"\") succeeded, want an error")
	}
}

func TestListAndUnread(t *testing.T) {
	f := newFixture(t, Config{})
	vera, m1 := f.visitorSays("", "Vera", "hello")
	f.visitorSays(vera, "", "anyone there?")
	f.clock.Add(time.Second)
	_, other := f.visitorSays("", "Otto", "question")
	a, b := f.login(alice), f.login(bob)

	list := a.list("open")
	if len(list) != 2 || list[0].ID != m1.ConversationID || list[1].ID != other.ConversationID {
		t.Fatalf("list = %+v, want Vera's then Otto's conversation (both waiting, Vera longer)", list)
	}
	got := list[0]
	if got.VisitorName != "Vera" || got.Preview != "anyone there?" || got.Unread != 2 || !got.Waiting || got.WaitingSince.IsZero() {
		t.Errorf("Vera's item = %+v, want name Vera, preview of the last message, 2 unread, waiting", got)
	}

	// Alice reads it: her count drops to 0, Bob's stays.
	cv := a.conversation(m1.ConversationID)
	if len(cv.Messages) != 2 || cv.Visitor.Email != "vera@example.com" || cv.Visitor.Browser != "Firefox on Linux" || cv.Visitor.Language != "fr-FR" {
		t.Errorf("conversation = %+v, want 2 messages and Vera's context", cv)
	}
	if it, _ := findItem(a.list("open"), m1.ConversationID); it.Unread != 0 {
		t.Errorf("alice's unread after viewing = %d, want 0", it.Unread)
	}
	if it, _ := findItem(b.list("open"), m1.ConversationID); it.Unread != 2 {
		t.Errorf("bob's unread = %d, want 2", it.Unread)
	}

	// Alice answers: no longer waiting; her own reply is not unread for her,
	// but it is for Bob. Then the visitor writes again.
	if res := a.reply(m1.ConversationID, "Hi Vera!"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: status %d", res.StatusCode)
	}
	it, _ := findItem(a.list("open"), m1.ConversationID)
	if it.Waiting || it.Unread != 0 {
		t.Errorf("after the reply: %+v, want not waiting, 0 unread", it)
	}
	if it, _ := findItem(b.list("open"), m1.ConversationID); it.Unread != 3 {
		t.Errorf("bob's unread after alice's reply = %d, want 3", it.Unread)
	}
	f.clock.Add(time.Second)
	f.visitorSays(vera, "", "thanks")
	list = a.list("open")
	if list[0].ID != other.ConversationID || list[1].ID != m1.ConversationID || list[1].Unread != 1 || !list[1].Waiting {
		t.Errorf("after the visitor's answer: %+v, want Otto's (waiting longer), then Vera's with 1 unread, waiting", list)
	}

	// The HTML list shows the same.
	_, html, _ := b.get("/inbox/")
	if !strings.Contains(html, `<span class="badge" title="unread messages">4</span>`) || !strings.Contains(html, "Vera") {
		t.Errorf("bob's list page lacks Vera with 4 unread:\n%s", html)
	}

	// The unread marks survive a restart of the inbox (store namespace "inbox").
	in2, err := New(Config{Operators: []OperatorAccount{alice.OperatorAccount}}, f.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	items, err := in2.list(f.ctx, operator(alice.OperatorAccount), bridge.StatusOpen)
	if err != nil {
		t.Fatal(err)
	}
	if it, _ := findItem(items, m1.ConversationID); it.Unread != 1 {
		t.Errorf("after restart alice's unread = %d, want 1", it.Unread)
	}
}

func TestWhisperOnlyForItsOperator(t *testing.T) {
	f := newFixture(t, Config{})
	_, m := f.visitorSays("", "Vera", "hello")
	opAlice := operator(alice.OperatorAccount)
	if err := f.engine.Whisper(f.ctx, m.ConversationID, opAlice, "secret-for-alice", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.AddNote(f.ctx, m.ConversationID, opAlice, "shared-note", ""); err != nil {
		t.Fatal(err)
	}
	a, b := f.login(alice), f.login(bob)
	for _, tc := range []struct {
		name        string
		c           *client
		wantWhisper bool
	}{
		{"alice", a, true},
		{"bob", b, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			_, html, _ := tc.c.get("/inbox/c/" + m.ConversationID)
			if got := strings.Contains(html, "secret-for-alice"); got != tc.wantWhisper {
				t.Errorf("HTML shows the whisper: %v, want %v", got, tc.wantWhisper)
			}
			if !strings.Contains(html, `vis-note`) || !strings.Contains(html, "shared-note") || !strings.Contains(html, `<span class="tag">note</span>`) {
				t.Errorf("HTML does not show the note marked as a note")
			}
			cv := tc.c.conversation(m.ConversationID)
			var whisper, note bool
			for _, msg := range cv.Messages {
				whisper = whisper || msg.Text == "secret-for-alice"
				note = note || (msg.Text == "shared-note" && msg.Visibility == bridge.VisibilityNote)
			}
			if whisper != tc.wantWhisper || !note {
				t.Errorf("JSON: whisper %v (want %v), note %v (want true)", whisper, tc.wantWhisper, note)
			}
		})
	}
	view, err := f.engine.VisitorMessages(f.ctx, visitorOf(t, f, m.ConversationID), "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	for _, msg := range view.Messages {
		if msg.Visibility != bridge.VisibilityPublic {
			t.Errorf("visitor sees %s message %q", msg.Visibility, msg.Text)
		}
	}
}

func TestMessageTextIsEscaped(t *testing.T) {
	const payload = `<img src=x onerror=alert(1)><script>alert(2)</script>`
	f := newFixture(t, Config{})
	vid, m := f.visitorSays("", `<b>Eve</b>`, payload)
	if err := f.engine.RecordPageView(f.ctx, vid, bridge.PageView{URL: "javascript:alert(3)", Title: `<i>t</i>`, Referrer: `"><script>alert(4)</script>`}); err != nil {
		t.Fatal(err)
	}
	c := f.login(alice)
	for _, path := range []string{"/inbox/", "/inbox/c/" + m.ConversationID} {
		status, html, hdr := c.get(path)
		if status != http.StatusOK {
			t.Fatalf("GET %s: status %d", path, status)
		}
		for _, bad := range []string{"<img", "<script>alert", "<b>Eve", "<i>t", `href="javascript:`} {
			if strings.Contains(html, bad) {
				t.Errorf("GET %s: page contains %q unescaped", path, bad)
			}
		}
		if !strings.Contains(html, "&lt;b&gt;Eve&lt;/b&gt;") {
			t.Errorf("GET %s: the visitor's name is not shown escaped", path)
		}
		if csp := hdr.Get("Content-Security-Policy"); !strings.Contains(csp, "script-src 'self'") || strings.Contains(csp, "unsafe-inline") {
			t.Errorf("GET %s: CSP %q", path, csp)
		}
	}
	_, html, _ := c.get("/inbox/c/" + m.ConversationID)
	if !strings.Contains(html, "&lt;img src=x onerror=alert(1)&gt;&lt;script&gt;alert(2)&lt;/script&gt;") {
		t.Errorf("the transcript does not show the payload as escaped text")
	}
	// The JSON carries the text as data, for the page to set with textContent.
	cv := c.conversation(m.ConversationID)
	if len(cv.Messages) == 0 || cv.Messages[0].Text != payload {
		t.Errorf("JSON text = %+v, want the payload verbatim", cv.Messages)
	}
}

func TestReply(t *testing.T) {
	f := newFixture(t, Config{})
	vid, m := f.visitorSays("", "Vera", "hello")
	c := f.login(alice)
	path := "/inbox/c/" + m.ConversationID + "/reply"

	// A double submit (same event id) sends once.
	form := url.Values{"csrf": {c.csrf}, "event_id": {"dbl-0123456789"}, "text": {"Hello Vera"}}
	for range 2 {
		if res := c.post(path, form, nil); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("reply: status %d, want 303", res.StatusCode)
		}
	}
	// The page's script gets JSON.
	res := c.post(path, url.Values{"csrf": {c.csrf}, "event_id": {"js-0123456789"}, "text": {"Second"}}, map[string]string{"Accept": "application/json"})
	if res.StatusCode != http.StatusOK || !strings.HasPrefix(res.Header.Get("Content-Type"), "application/json") {
		t.Errorf("JSON reply: status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	view, err := f.engine.VisitorMessages(f.ctx, vid, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var replies []string
	for _, msg := range view.Messages {
		if msg.From == bridge.FromOperator {
			replies = append(replies, msg.Author+": "+msg.Text)
		}
	}
	if want := []string{"Alice Martin: Hello Vera", "Alice Martin: Second"}; strings.Join(replies, "|") != strings.Join(want, "|") {
		t.Errorf("visitor got %q, want %q", replies, want)
	}

	for _, tc := range []struct {
		name       string
		conv, text string
		eventID    string
		wantStatus int
	}{
		{"blank text", m.ConversationID, "  \n ", "e-blank-0001", http.StatusBadRequest},
		{"unknown conversation", "c_nope", "hi", "e-nope-00001", http.StatusNotFound},
		{"too long", m.ConversationID, strings.Repeat("x", bridge.DefaultMaxMessageBytes+1), "e-long-00001", http.StatusRequestEntityTooLarge},
		{"missing event id", m.ConversationID, "hi", "", http.StatusBadRequest},
		{"odd event id", m.ConversationID, "hi", "<script>", http.StatusBadRequest},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := c.post("/inbox/c/"+tc.conv+"/reply", url.Values{"csrf": {c.csrf}, "event_id": {tc.eventID}, "text": {tc.text}}, map[string]string{"Accept": "application/json"})
			if res.StatusCode != tc.wantStatus {
				t.Errorf("status %d, want %d", res.StatusCode, tc.wantStatus)
			}
		})
	}
	// A plain form with an error shows the page again with the draft kept.
	res = c.post(path, url.Values{"csrf": {c.csrf}, "event_id": {"bad id"}, "text": {"my draft"}}, nil)
	if res.StatusCode != http.StatusBadRequest {
		t.Errorf("form error: status %d, want 400", res.StatusCode)
	}
	if view2, _ := f.engine.VisitorMessages(f.ctx, vid, "", 0, 0); len(view2.Messages) != len(view.Messages) {
		t.Errorf("refused replies reached the visitor")
	}
}

func TestClosedConversations(t *testing.T) {
	f := newFixture(t, Config{})
	_, open := f.visitorSays("", "Olga", "still here")
	_, m := f.visitorSays("", "Carl", "bye")
	if err := f.engine.Close(f.ctx, m.ConversationID, operator(bob.OperatorAccount)); err != nil {
		t.Fatal(err)
	}
	c := f.login(alice)
	if _, ok := findItem(c.list("open"), m.ConversationID); ok {
		t.Errorf("closed conversation in the open list")
	}
	if _, ok := findItem(c.list("open"), open.ConversationID); !ok {
		t.Errorf("open conversation missing from the open list")
	}
	closed := c.list("closed")
	if len(closed) != 1 || closed[0].ID != m.ConversationID || closed[0].Status != bridge.StatusClosed || closed[0].Waiting {
		t.Errorf("closed list = %+v, want only Carl's, closed, not waiting", closed)
	}
	_, html, _ := c.get("/inbox/c/" + m.ConversationID + "?status=closed")
	if !strings.Contains(html, `class="status closed">Closed<`) || strings.Contains(html, `class="closed-banner" hidden`) {
		t.Errorf("closed conversation page does not show it closed")
	}
	// Replying to it tells the operator only.
	if res := c.reply(m.ConversationID, "hello?"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: status %d", res.StatusCode)
	}
	cv := c.conversation(m.ConversationID)
	last := cv.Messages[len(cv.Messages)-1]
	if last.Visibility != bridge.VisibilityWhisper || !last.Own {
		t.Errorf("last message = %+v, want a whisper to alice that the chat is closed", last)
	}
}

// readEvents reads Server-Sent Events from the stream into a channel.
func readEvents(t *testing.T, c *client) (<-chan liveEvent, context.CancelFunc) {
	t.Helper()
	ctx, cancel := context.WithCancel(context.Background())
	req, _ := http.NewRequestWithContext(ctx, http.MethodGet, c.base+"/inbox/events", nil)
	hc := *c.hc
	hc.Timeout = 0
	res, err := hc.Do(req)
	if err != nil {
		cancel()
		t.Fatalf("events: %v", err)
	}
	if res.StatusCode != http.StatusOK || res.Header.Get("Content-Type") != "text/event-stream" {
		cancel()
		t.Fatalf("events: status %d, type %q", res.StatusCode, res.Header.Get("Content-Type"))
	}
	out := make(chan liveEvent, 64)
	connected := make(chan struct{})
	go func() {
		defer close(out)
		defer res.Body.Close()
		sc := bufio.NewScanner(res.Body)
		for sc.Scan() {
			line := sc.Text()
			if line == ": connected" {
				close(connected)
			}
			if data, ok := strings.CutPrefix(line, "data: "); ok {
				var ev liveEvent
				if json.Unmarshal([]byte(data), &ev) == nil {
					out <- ev
				}
			}
		}
	}()
	select {
	case <-connected:
	case <-time.After(10 * time.Second):
		cancel()
		t.Fatalf("events: no connected line")
	}
	return out, cancel
}

func TestLiveEventsRespectWhispers(t *testing.T) {
	f := newFixture(t, Config{})
	vid, m := f.visitorSays("", "Vera", "hello")
	bobEvents, stopBob := readEvents(t, f.login(bob))
	defer stopBob()
	aliceEvents, stopAlice := readEvents(t, f.login(alice))
	defer stopAlice()

	if err := f.engine.Whisper(f.ctx, m.ConversationID, operator(alice.OperatorAccount), "for alice", ""); err != nil {
		t.Fatal(err)
	}
	_, m2 := f.visitorSays(vid, "", "second")
	whisperSeq := m2.Seq - 1

	collect := func(ch <-chan liveEvent) []uint64 {
		var seqs []uint64
		deadline := time.After(10 * time.Second)
		for {
			select {
			case ev, ok := <-ch:
				if !ok {
					t.Fatalf("stream ended early")
				}
				if ev.Kind == bridge.EventMessage && ev.ConversationID == m.ConversationID {
					seqs = append(seqs, ev.Seq)
					if ev.Seq == m2.Seq {
						return seqs
					}
				}
			case <-deadline:
				t.Fatalf("no event for the visitor's second message; got %v", seqs)
			}
		}
	}
	if got := collect(aliceEvents); len(got) != 2 || got[0] != whisperSeq {
		t.Errorf("alice's events = %v, want the whisper (%d) then the message (%d)", got, whisperSeq, m2.Seq)
	}
	if got := collect(bobEvents); len(got) != 1 || got[0] != m2.Seq {
		t.Errorf("bob's events = %v, want only the message (%d)", got, m2.Seq)
	}
}

func TestCloseEndsLiveStreams(t *testing.T) {
	f := newFixture(t, Config{})
	events, stop := readEvents(t, f.login(alice))
	defer stop()
	f.inbox.Close()
	select {
	case _, ok := <-events:
		if ok {
			t.Errorf("got an event, want the stream to end")
		}
	case <-time.After(10 * time.Second):
		t.Fatalf("stream still open after Close")
	}
}

func TestStaticFilesAndHeaders(t *testing.T) {
	f := newFixture(t, Config{})
	c := f.anonymous()
	for _, tc := range []struct{ path, wantType string }{
		{"/inbox/static/inbox.js", "text/javascript"},
		{"/inbox/static/inbox.css", "text/css"},
		{"/inbox/login", "text/html"},
	} {
		status, body, hdr := c.get(tc.path)
		if status != http.StatusOK || !strings.HasPrefix(hdr.Get("Content-Type"), tc.wantType) || body == "" {
			t.Errorf("GET %s: status %d, type %q", tc.path, status, hdr.Get("Content-Type"))
		}
		if hdr.Get("X-Content-Type-Options") != "nosniff" || hdr.Get("Content-Security-Policy") != csp {
			t.Errorf("GET %s: security headers missing", tc.path)
		}
	}
	if status, _, _ := c.get("/inbox/static/nope.js"); status != http.StatusNotFound {
		t.Errorf("missing static file: status %d, want 404", status)
	}
	// The script never writes HTML.
	_, js, _ := c.get("/inbox/static/inbox.js")
	for _, bad := range []string{"innerHTML", "outerHTML", "insertAdjacentHTML", "document.write", "eval("} {
		if strings.Contains(js, bad) {
			t.Errorf("inbox.js uses %s", bad)
		}
	}
}

func TestBrowserName(t *testing.T) {
	for _, tc := range []struct{ ua, want string }{
		{"", ""},
		{"Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Safari/537.36 Edg/126.0.0.0", "Edge on Windows"},
		{"Mozilla/5.0 (Macintosh; Intel Mac OS X 14_5) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Safari/605.1.15", "Safari on macOS"},
		{"Mozilla/5.0 (iPhone; CPU iPhone OS 17_5 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.5 Mobile/15E148 Safari/604.1", "Safari on iOS"},
		{"Mozilla/5.0 (Linux; Android 14) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/126.0.0.0 Mobile Safari/537.36", "Chrome on Android"},
		{"Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0", "Firefox on Linux"},
		{"curl/8.0", ""},
	} {
		if got := browserName(tc.ua); got != tc.want {
			t.Errorf("browserName(%q) = %q, want %q", tc.ua, got, tc.want)
		}
	}
}

func TestHealthAndWhisperer(t *testing.T) {
	f := newFixture(t, Config{})
	if f.inbox.Name() != "inbox" || f.inbox.Health(f.ctx) != nil {
		t.Errorf("health: %s %v", f.inbox.Name(), f.inbox.Health(f.ctx))
	}
	if err := f.inbox.Whisper(f.ctx, bridge.Whisper{Operator: operator(alice.OperatorAccount), Text: "x"}); err != nil {
		t.Errorf("Whisper: %v", err)
	}
	if _, err := New(Config{}, nil, nil); !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("New without engine: %v, want ErrInvalid", err)
	}
}

// interceptor is a stand-in for package commands: "!x" answers the operator
// only, ";;x" is a note, anything else is relayed.
type interceptor struct{}

func (interceptor) Intercept(ctx context.Context, in bridge.OperatorInput, conv bridge.Conversation) (bridge.Outcome, error) {
	switch {
	case strings.HasPrefix(in.Text, "!"):
		return bridge.Outcome{Whisper: "result of " + in.Text}, nil
	case strings.HasPrefix(in.Text, ";;"):
		return bridge.Outcome{Note: strings.TrimPrefix(in.Text, ";;")}, nil
	}
	return bridge.Outcome{Relay: in.Text}, nil
}

func TestRepliesGoThroughTheInterceptor(t *testing.T) {
	f := newFixture(t, Config{})
	if err := f.engine.Register(interceptor{}); err != nil {
		t.Fatal(err)
	}
	vid, m := f.visitorSays("", "Vera", "hello")
	a, b := f.login(alice), f.login(bob)
	for _, text := range []string{"!help", ";;vip customer", "plain answer"} {
		if res := a.reply(m.ConversationID, text); res.StatusCode != http.StatusSeeOther {
			t.Fatalf("reply %q: status %d", text, res.StatusCode)
		}
	}
	texts := func(c *client) map[string]bridge.Visibility {
		out := map[string]bridge.Visibility{}
		for _, msg := range c.conversation(m.ConversationID).Messages {
			out[msg.Text] = msg.Visibility
		}
		return out
	}
	if got := texts(a); got["result of !help"] != bridge.VisibilityWhisper || got["vip customer"] != bridge.VisibilityNote || got["plain answer"] != bridge.VisibilityPublic {
		t.Errorf("alice sees %v", got)
	}
	if got := texts(b); got["result of !help"] != "" || got["vip customer"] != bridge.VisibilityNote {
		t.Errorf("bob sees %v, want the note but not alice's command result", got)
	}
	view, err := f.engine.VisitorMessages(f.ctx, vid, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, msg := range view.Messages {
		got = append(got, msg.Text)
	}
	if strings.Join(got, "|") != "hello|plain answer" {
		t.Errorf("visitor sees %q, want only hello and the plain answer", got)
	}
}

// "Recent pages" lists each page once, newest visit first, at most
// recentPages of them, as !history does: a visitor going back and forth
// between two pages does not fill the list with them.
func TestRecentPagesAreDistinct(t *testing.T) {
	f := newFixture(t, Config{})
	vid, m := f.visitorSays("", "Pia", "hello")
	var visits []string
	for i := range 17 {
		visits = append(visits, fmt.Sprintf("/p%d", i))
	}
	visits = append(visits, "/p3", "/p3", "/p5", "/p16", "/p3")
	at := map[string]time.Time{} // the newest visit of each page
	for _, path := range visits {
		f.clock.Add(time.Second)
		u := "https://shop.example" + path
		if err := f.engine.RecordPageView(f.ctx, vid, bridge.PageView{URL: u, Title: "Page " + path}); err != nil {
			t.Fatal(err)
		}
		at[u] = f.clock.Now()
	}
	want := []string{"/p3", "/p16", "/p5", "/p15", "/p14", "/p13", "/p12", "/p11", "/p10", "/p9", "/p8", "/p7", "/p6", "/p4", "/p2"}

	c := f.login(alice)
	cv := c.conversation(m.ConversationID)
	var got []string
	for _, p := range cv.Visitor.Pages {
		got = append(got, strings.TrimPrefix(p.URL, "https://shop.example"))
		if !p.At.Equal(at[p.URL]) {
			t.Errorf("%s shown at %v, want its newest visit %v", p.URL, p.At, at[p.URL])
		}
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("JSON pages = %v, want %v", got, want)
	}

	_, html, _ := c.get("/inbox/c/" + m.ConversationID)
	got = got[:0]
	for _, sub := range regexp.MustCompile(`<span class="page-url">https://shop\.example([^<]*)</span>`).FindAllStringSubmatch(html, -1) {
		got = append(got, sub[1])
	}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("page lists %v, want %v", got, want)
	}
}

func TestDistinctPages(t *testing.T) {
	pv := func(u string) bridge.PageView { return bridge.PageView{URL: u} }
	for _, tc := range []struct {
		name string
		in   []bridge.PageView
		n    int
		want string
	}{
		{"none", nil, 15, ""},
		{"all distinct", []bridge.PageView{pv("a"), pv("b")}, 15, "a b"},
		{"repeats keep the newest place", []bridge.PageView{pv("a"), pv("b"), pv("a"), pv("c"), pv("b")}, 15, "a b c"},
		{"at most n", []bridge.PageView{pv("a"), pv("a"), pv("b"), pv("c"), pv("d")}, 2, "a b"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var got []string
			for _, p := range distinctPages(tc.in, tc.n) {
				got = append(got, p.URL)
			}
			if g := strings.Join(got, " "); g != tc.want {
				t.Errorf("distinctPages = %q, want %q", g, tc.want)
			}
		})
	}
}

// A visitor name with bidi controls is isolated wherever the page shows
// it, so it cannot reorder the words around it.
func TestVisitorNameIsolated(t *testing.T) {
	f := newFixture(t, Config{})
	const name = "\u202egnp.exe Alice"
	_, m := f.visitorSays("", name, "hello")
	c := f.login(alice)
	_, body, _ := c.get("/inbox/c/" + m.ConversationID)
	for _, want := range []string{
		`<bdi class="name">` + name + `</bdi>`,
		`<bdi id="conv-name">` + name + `</bdi>`,
		`<bdi class="author">` + name + `</bdi>`,
		"<title>\u2068" + name + "\u2069 · chatbridge inbox</title>",
	} {
		if !strings.Contains(body, want) {
			t.Errorf("the page lacks %q", want)
		}
	}
}
