package slack

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fakeslack"
)

const hostile = "<!channel> <@U123> <http://evil|click> & more"

// A visitor message opens a thread with a context card, then is posted in
// the thread escaped, with its delivery id in the metadata and unfurls off.
func TestVisitorMessageOpensThread(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", hostile)
	root := f.threadRoot(m.ConversationID)

	posts, _ := f.snapshot()
	card := posts[0]
	if card.TS != root || card.ThreadTS != "" {
		t.Fatalf("first post is not the thread root: %+v", card)
	}
	for _, want := range []string{"Vera", "vera@example.com", "https://shop.example/cart", "search.example", "fr-FR", "Firefox 128 on Linux", "`!help`", "`;; text`"} {
		if !strings.Contains(card.Blocks, want) {
			t.Errorf("context card lacks %q: %s", want, card.Blocks)
		}
	}
	if strings.Contains(card.Text, "<") || card.MetaID != "root:"+m.ConversationID || card.UnfurlLinks {
		t.Errorf("card text %q, metadata %q, unfurl %v", card.Text, card.MetaID, card.UnfurlLinks)
	}

	got := f.waitPosts(root, 1)[0]
	want := "*Vera (visitor)*:\n> &lt;!channel&gt; &lt;@U123&gt; &lt;http://evil|click&gt; &amp; more"
	if got.Text != want {
		t.Errorf("thread post = %q, want %q", got.Text, want)
	}
	if strings.ContainsAny(strings.ReplaceAll(got.Text, "\n> ", "\n"), "<>") { // but the quote marks
		t.Errorf("visitor text can form a ping or link: %q", got.Text)
	}
	if got.MetaType != metaType || !strings.HasPrefix(got.MetaID, "cb-slack-") || got.UnfurlLinks {
		t.Errorf("metadata %q/%q, unfurl %v", got.MetaType, got.MetaID, got.UnfurlLinks)
	}
	f.waitFor("outbox drained", f.outboxEmpty)
}

// With chat:write.customize the visitor is shown under their own name.
func TestVisitorNameWithCustomize(t *testing.T) {
	f := newFixture(t, ModeSocket, func(fs *fakeslack.Server, _ *Config) {
		fs.SetScopes(fakeslack.DefaultScopes + ",chat:write.customize")
	})
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello <b>")
	got := f.waitPosts(f.threadRoot(m.ConversationID), 1)[0]
	if got.Username != "Vera (visitor)" || got.Text != "hello &lt;b&gt;" || got.IconEmoji == "" {
		t.Errorf("post = %+v", got)
	}
	// Several lines are quoted, so that none looks like a separate message.
	f.say(v, "c2", "ok\n*Bob (inbox)*: refund approved")
	got = f.waitPosts(f.threadRoot(m.ConversationID), 2)[1]
	if want := "> ok\n> \u200b*Bob (inbox)*: refund approved"; got.Username != "Vera (visitor)" || got.Text != want {
		t.Errorf("multi-line post = %q by %q, want %q", got.Text, got.Username, want)
	}
}

// An operator's thread reply reaches the visitor with the operator's display
// name and Slack markup converted; the same event twice (a Slack retry) is
// relayed once; the bot's own and other bots' messages are not relayed.
func TestOperatorReplyReachesVisitor(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "is my order late?")
	root := f.threadRoot(m.ConversationID)
	f.waitPosts(root, 1)

	f.operatorSays("UALICE", root, "Hi <@U123>, see <https://docs.example/a?x=1&amp;y=2|the docs> &amp; <!here>", "Ev-reply")
	got := f.waitPublic(v, "operator reply", func(m bridge.Message) bool { return m.From == bridge.FromOperator })
	if want := "Hi @Bob Stone, see the docs (https://docs.example/a?x=1&y=2) & @here"; got.Text != want {
		t.Errorf("visitor sees %q, want %q", got.Text, want)
	}
	if got.Author != "Alice Martin" || got.Operator == nil || got.Operator.Adapter != AdapterName || got.Operator.ID != "UALICE" {
		t.Errorf("author %q operator %+v", got.Author, got.Operator)
	}

	// Slack retries the same event (same event_id, new envelope).
	_, dup := f.operatorSays("UALICE", root, "second", "Ev-dup")
	f.waitAck(f.fake.Redeliver(dup))
	// The bot's own message, another bot, a top-level message, a foreign thread.
	f.operatorSays(fakeBotUser, root, "from the bridge itself", "")
	f.fake.InjectID(map[string]any{"type": "message", "channel": testChannel, "bot_id": "BOTHER", "text": "other bot", "ts": "1700000001.000001", "thread_ts": root}, "")
	f.fake.InjectID(map[string]any{"type": "message", "channel": testChannel, "user": "UALICE", "text": "top level", "ts": "1700000001.000002"}, "")
	f.fake.InjectID(map[string]any{"type": "message", "channel": testChannel, "user": "UALICE", "text": "foreign thread", "ts": "1700000001.000003", "thread_ts": "1600000000.000001"}, "")
	f.fake.InjectID(map[string]any{"type": "message", "subtype": "channel_join", "channel": testChannel, "user": "UALICE", "text": "joined", "ts": "1700000001.000004", "thread_ts": root}, "")
	// Events are handled in order: once the marker is relayed, all were.
	f.operatorSays("UALICE", root, "marker", "Ev-marker")
	f.waitPublic(v, "marker", func(m bridge.Message) bool { return m.Text == "marker" })

	count := map[string]int{}
	for _, m := range f.public(v) {
		count[m.Text]++
	}
	if count["second"] != 1 {
		t.Errorf("retried event relayed %d times, want once", count["second"])
	}
	for _, text := range []string{"from the bridge itself", "other bot", "top level", "foreign thread", "joined"} {
		if count[text] != 0 {
			t.Errorf("%q was relayed to the visitor", text)
		}
	}
	// Slack's own operators' replies are not posted back into the thread.
	f.waitFor("outbox drained", f.outboxEmpty)
	for _, p := range f.postsIn(root) {
		if strings.Contains(p.Text, "marker") || strings.Contains(p.Text, "second") {
			t.Errorf("operator reply echoed into the thread: %q", p.Text)
		}
	}
}

// !help is answered ephemerally in the thread and nothing reaches the
// visitor; a note stays with the operators; an operator outside the channel
// gets whispers by direct message; editing the command into a reply sends
// nothing either, and the operator is told.
func TestCommandsAndNotesStayWithOperators(t *testing.T) {
	f := newFixture(t, ModeSocket, func(fs *fakeslack.Server, _ *Config) {
		fs.SetNotInChannel("UCAROL")
	})
	f.fake.SetUser("UCAROL", "Carol")
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	conv := m.ConversationID
	root := f.threadRoot(conv)
	f.waitPosts(root, 1)
	before := len(f.public(v))

	helpTS, _ := f.operatorSays("UALICE", root, "!help", "Ev-help")
	var eph fakePost
	f.waitFor("ephemeral help", func() bool {
		_, ephs := f.snapshot()
		if len(ephs) > 0 {
			eph = ephs[0]
		}
		return len(ephs) > 0
	})
	if eph.User != "UALICE" || eph.ThreadTS != root || eph.Channel != testChannel || !strings.Contains(eph.Text, "!help") {
		t.Errorf("ephemeral = %+v", eph)
	}

	f.operatorSays("UALICE", root, ";; she sounds upset", "Ev-note")
	f.waitFor("note stored", func() bool {
		for _, m := range f.all(conv) {
			if m.Visibility == bridge.VisibilityNote && m.Text == "she sounds upset" {
				return true
			}
		}
		return false
	})

	f.operatorSays("UCAROL", root, "<@"+fakeBotUser+"> help", "Ev-carol")
	f.waitFor("direct message to Carol", func() bool {
		posts, _ := f.snapshot()
		for _, p := range posts {
			if p.Channel == "DUCAROL" && strings.Contains(p.Text, "this chat") {
				return true
			}
		}
		return false
	})

	// Editing the command into a reply does not make it one: the visitor
	// never saw the command.
	f.fake.Edit(testChannel, helpTS, "thanks for waiting")
	f.waitFor("edit notice", func() bool {
		_, ephs := f.snapshot()
		for _, e := range ephs {
			if e.User == "UALICE" && strings.Contains(e.Text, "never saw the message you edited") {
				return true
			}
		}
		return false
	})

	if got := f.public(v); len(got) != before {
		t.Errorf("visitor sees %d messages after commands and notes, want %d: %+v", len(got), before, got)
	}
	f.waitFor("outbox drained", f.outboxEmpty)
	for _, p := range f.postsIn(root) {
		if strings.Contains(p.Text, "upset") || strings.Contains(p.Text, "help") {
			t.Errorf("operator-only text posted in the thread: %q", p.Text)
		}
	}
}

// A 429 is retried after its Retry-After, not sooner, and without a lookup.
func TestRateLimitHonoured(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "first")
	root := f.threadRoot(m.ConversationID)
	f.waitPosts(root, 1)

	lookups := f.fake.Calls("conversations.replies")
	f.fake.FailNext(fakeslack.Failure{Status: 429, RetryAfter: "1"})
	f.say(v, "c2", "second")
	f.waitPosts(root, 2)
	// A 429 stored nothing: the retry posts without looking first.
	if n := f.fake.Calls("conversations.replies") - lookups; n != 0 {
		t.Errorf("%d conversations.replies calls after a 429, want 0", n)
	}
	times := f.fake.PostTimes()
	if n := len(times); n < 2 || times[n-1].Sub(times[n-2]) < 900*time.Millisecond {
		t.Errorf("retry %v after the 429, want at least Retry-After (1s)", times[len(times)-1].Sub(times[len(times)-2]))
	}
}

// A post that Slack stored while answering 500 is not posted again: the
// retry finds it by its metadata. The same holds for the thread root.
func TestPostNotDuplicatedAfter5xx(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	f.fake.FailNext(fakeslack.Failure{Status: 500, Lost: true}, fakeslack.Failure{Status: 503, Lost: true})
	v := f.visitor("Vera")
	m := f.say(v, "c1", "only once please")
	f.waitFor("outbox drained", f.outboxEmpty)

	posts, _ := f.snapshot()
	roots, copies := 0, 0
	for _, p := range posts {
		if p.ThreadTS == "" {
			roots++
		}
		if strings.Contains(p.Text, "only once please") {
			copies++
		}
	}
	if roots != 1 || copies != 1 {
		t.Errorf("%d roots and %d copies of the message, want 1 and 1: %+v", roots, copies, posts)
	}
	if f.fake.Calls("conversations.history") == 0 || f.fake.Calls("conversations.replies") == 0 {
		t.Errorf("no lookup before the retries: history %d, replies %d", f.fake.Calls("conversations.history"), f.fake.Calls("conversations.replies"))
	}
	if root := f.threadRoot(m.ConversationID); len(f.postsIn(root)) != 1 {
		t.Errorf("thread has %d posts, want 1", len(f.postsIn(root)))
	}
}

// not_in_channel pauses posting and makes Health say why; once the bot is
// invited the next probe succeeds and health returns. No retry looks for an
// earlier post, since none can have been made.
func TestHealthPausesOnPlatformErrors(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	f.waitFor("healthy", func() bool { return f.a.Health(f.ctx) == nil })
	f.fake.FailNext(fakeslack.Failure{Error: "not_in_channel"}, fakeslack.Failure{Error: "not_in_channel"})
	v := f.visitor("Vera")
	f.say(v, "c1", "anyone?")
	f.waitFor("unhealthy", func() bool {
		err := f.a.Health(f.ctx)
		return err != nil && strings.Contains(err.Error(), "not_in_channel") && strings.Contains(err.Error(), "invite")
	})
	f.waitFor("outbox drained", f.outboxEmpty)
	if err := f.a.Health(f.ctx); err != nil {
		t.Errorf("still unhealthy after a successful post: %v", err)
	}
	// Refusals (ok:false, the pause gate) stored nothing: no try looked for
	// an earlier post.
	if h, r := f.fake.Calls("conversations.history"), f.fake.Calls("conversations.replies"); h != 0 || r != 0 {
		t.Errorf("lookups after certain failures: history %d, replies %d, want 0 and 0", h, r)
	}
}

// Closing the conversation says so in the thread and marks the root; a
// waiting conversation is announced to the channel.
func TestClosedAndWaiting(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	root := f.threadRoot(m.ConversationID)
	f.operatorSays("UALICE", root, "hi there", "Ev-1")
	f.waitPublic(v, "reply", func(m bridge.Message) bool { return m.Text == "hi there" })
	if _, err := f.engine.Leave(f.ctx, m.ConversationID, bridge.Operator{Adapter: AdapterName, ID: "UALICE"}); err != nil {
		t.Fatal(err)
	}
	if err := f.engine.CloseByVisitor(f.ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	posts := f.waitPosts(root, 3)
	if !posts[1].Broadcast || !strings.Contains(posts[1].Text, "waiting for an operator") {
		t.Errorf("waiting post = %+v", posts[1])
	}
	if !strings.Contains(posts[2].Text, "The chat has ended.") || !strings.Contains(posts[2].Text, "The visitor ended the chat.") {
		t.Errorf("closed post = %+v", posts[2])
	}
	f.waitFor("reaction", func() bool {
		r := f.fake.Reactions()
		return len(r) == 1 && r[0] == "white_check_mark@"+root
	})
}

// A note and a reply from an inbox operator are shown in the thread.
func TestOtherPlatformsOperators(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	root := f.threadRoot(m.ConversationID)
	op := bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice"}
	if _, err := f.engine.Reply(f.ctx, m.ConversationID, op, "on it <@U1>", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.AddNote(f.ctx, m.ConversationID, op, "VIP customer", ""); err != nil {
		t.Fatal(err)
	}
	posts := f.waitPosts(root, 3)
	if posts[1].Text != "*Alice (inbox)*: on it &lt;@U1&gt;" || posts[2].Text != "📝 note by Alice (inbox): VIP customer" {
		t.Errorf("posts = %q, %q", posts[1].Text, posts[2].Text)
	}
}

// Deliver refuses entries for a conversation whose thread cannot be found
// or made, rather than dropping them.
func TestDeliverErrorsAreRetryable(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	err := f.a.outcome(bridge.OutboxEntry{ID: 1, Destination: AdapterName}, errors.New("connection reset"))
	if err == nil || errors.Is(err, bridge.ErrPermanent) {
		t.Errorf("network error: %v", err)
	}
	ctx, cancel := context.WithTimeout(f.ctx, time.Second)
	defer cancel()
	if _, _, err := f.a.threadOf(ctx, "c_missing"); !errors.Is(err, bridge.ErrNotFound) {
		t.Errorf("threadOf(missing) = %v", err)
	}
}

// Slack's disconnect request makes the adapter reconnect, and events on the
// new connection are handled.
func TestSocketModeReconnects(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	root := f.threadRoot(m.ConversationID)
	f.fake.SendRaw([]byte(`{"type":"disconnect","reason":"refresh_requested","debug_info":{"host":"fake"}}`))
	f.waitFor("second connection", func() bool { return f.fake.Connections() >= 2 })
	f.operatorSays("UALICE", root, "after the reconnect", "Ev-after")
	f.waitPublic(v, "reply after reconnect", func(m bridge.Message) bool { return m.Text == "after the reconnect" })
	if err := f.a.Health(f.ctx); err != nil {
		t.Errorf("health after reconnect: %v", err)
	}
}

// A wrong app token shows in Health while the bot token works.
func TestSocketModeBadAppToken(t *testing.T) {
	f := newFixture(t, ModeHTTP, func(_ *fakeslack.Server, c *Config) { c.AppToken = "xapp-wrong" })
	// Run the socket loop by hand: the fixture runs in HTTP mode, so that it
	// does not wait for a connection.
	ctx, cancel := context.WithCancel(f.ctx)
	done := make(chan struct{})
	go func() { defer close(done); f.a.runSocket(ctx) }()
	defer func() { cancel(); <-done }()
	f.waitFor("socket error in health", func() bool {
		err := f.a.Health(f.ctx)
		return err != nil && strings.Contains(err.Error(), "socket mode") && strings.Contains(err.Error(), "invalid_auth")
	})
}

// A refusal by the pause gate keeps what was known: an entry never tried
// (or only refused) needs no lookup next time, one whose earlier try may
// have posted still does.
func TestGateRefusalKeepsCertainty(t *testing.T) {
	f := newFixture(t, ModeHTTP, nil)
	now := f.engine.Now()
	tests := []struct {
		name          string
		attempts      int
		wantUncertain bool
	}{
		{"first try refused", 0, false},
		{"uncertain entry refused", 2, true},
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			f.a.mu.Lock()
			f.a.platformErr = &platformError{Code: "not_in_channel"}
			f.a.probeAt = now.Add(time.Hour)
			f.a.mu.Unlock()
			en := bridge.OutboxEntry{ID: uint64(1000 + i), Destination: AdapterName, Kind: bridge.KindMessage, CreatedAt: now, Attempts: tc.attempts}
			if _, err := f.a.Deliver(f.ctx, bridge.Delivery{Entry: en}); !errors.Is(err, ErrUnhealthy) {
				t.Fatalf("Deliver while paused = %v, want ErrUnhealthy", err)
			}
			en.Attempts++ // as the outbox does after a failure
			if got := f.a.uncertain(en); got != tc.wantUncertain {
				t.Errorf("uncertain after the refusal = %v, want %v", got, tc.wantUncertain)
			}
		})
	}
}

// System lines reach the thread in the operators' language (slack.language),
// whatever the visitor's.
func TestSystemLinesInOperatorsLanguage(t *testing.T) {
	f := newFixture(t, ModeSocket, func(_ *fakeslack.Server, c *Config) { c.Language = "fr" })
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	root := f.threadRoot(m.ConversationID)
	if err := f.engine.CloseByVisitor(f.ctx, v.ID); err != nil {
		t.Fatal(err)
	}
	f.waitFor("the French close line", func() bool {
		for _, p := range f.postsIn(root) {
			if strings.Contains(p.Text, "Le visiteur a mis fin à la conversation.") {
				return true
			}
		}
		return false
	})
}

// A reply in a thread whose root is being posted (Slack stored it, its
// answer is not back yet, so the thread is not yet known) reaches the
// visitor: it waits for the root instead of passing for an operators'
// thread.
func TestReplyWhileRootIsPosted(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	release := f.fake.HoldAnswer("chat.postMessage")
	v := f.visitor("Vera")
	f.say(v, "c1", "hello")
	var root string
	f.waitFor("the root stored by Slack", func() bool {
		posts, _ := f.snapshot()
		for _, p := range posts {
			if p.ThreadTS == "" {
				root = p.TS
				return true
			}
		}
		return false
	})
	f.operatorSays("UALICE", root, "fast answer", "Ev-fast")
	time.Sleep(300 * time.Millisecond) // the reply is handled meanwhile
	release()
	f.waitPublic(v, "the fast answer", func(m bridge.Message) bool { return m.Text == "fast answer" })
}
