package slack

import (
	"context"
	"errors"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/commands"
	"github.com/chatbridge/chatbridge/internal/fakeslack"
	fx "github.com/chatbridge/chatbridge/internal/fixture"
)

const (
	testChannel = fakeslack.DefaultChannel
	fakeBotUser = fakeslack.BotUserID
)

// fakePost is what the fake Slack stored.
type fakePost = fakeslack.Post

// fixture is a real engine on a bolt store with the command router, the
// Slack adapter, and a fake Slack on loopback.
type fixture struct {
	t      *testing.T
	ctx    context.Context
	fake   *fakeslack.Server
	blobs  bridge.BlobStore
	engine *bridge.Engine
	a      *Adapter
	// cancelAdapter cancels the adapter's Run (not the engine's);
	// waitAdapter returns what Run returned, once it did.
	cancelAdapter context.CancelFunc
	waitAdapter   func() error
}

// newFixture starts everything; setup may change the fake and the config
// before the adapter starts.
func newFixture(t *testing.T, mode string, setup func(*fakeslack.Server, *Config)) *fixture {
	t.Helper()
	fake := fakeslack.New(t)
	fake.SetUser("UALICE", "Alice Martin")
	fake.SetUser("U123", "Bob Stone")
	blobs, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cfg := Config{
		Blobs:    blobs,
		BotToken: fakeslack.BotToken, AppToken: fakeslack.AppToken, SigningSecret: "test-signing-secret",
		Channel: fake.Channel, Mode: mode, APIURL: fake.APIURL, ReconnectMax: 100 * time.Millisecond,
	}
	if setup != nil {
		setup(fake, &cfg)
	}
	log := slog.New(slog.DiscardHandler)
	eng := fx.Engine(t, fx.Options{NoRun: true, Log: log, Config: bridge.Config{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}})
	a, err := New(cfg, eng, log)
	if err != nil {
		t.Fatal(err)
	}
	a.probeEvery = 50 * time.Millisecond
	for _, c := range []any{commands.New(eng, commands.Options{}), a} {
		if err := eng.Register(c); err != nil {
			t.Fatal(err)
		}
	}

	ctx, cancel := context.WithCancel(context.Background())
	adCtx, adCancel := context.WithCancel(ctx)
	engDone, adDone := make(chan error, 1), make(chan struct{})
	var adErr error
	go func() { engDone <- eng.Run(ctx) }()
	go func() { adErr = a.Run(adCtx); close(adDone) }()
	waitAdapter := func() error {
		select {
		case <-adDone:
			return adErr
		case <-time.After(10 * time.Second):
			return errors.New("adapter did not stop")
		}
	}
	t.Cleanup(func() {
		cancel()
		if err := waitAdapter(); err != nil {
			t.Errorf("adapter: %v", err)
		}
		select {
		case err := <-engDone:
			if err != nil {
				t.Errorf("engine: %v", err)
			}
		case <-time.After(10 * time.Second):
			t.Errorf("engine did not stop")
		}
	})
	f := &fixture{t: t, ctx: ctx, fake: fake, blobs: blobs, engine: eng, a: a, cancelAdapter: adCancel, waitAdapter: waitAdapter}
	if mode != ModeHTTP {
		f.waitFor("socket mode connection", func() bool { return fake.Connections() > 0 })
	}
	return f
}

// waitFor polls cond until it holds or the deadline passes.
func (f *fixture) waitFor(what string, cond func() bool) {
	f.t.Helper()
	fx.WaitFor(f.t, what, cond)
}

// visitor starts a session with a page view.
func (f *fixture) visitor(name string) bridge.Visitor {
	f.t.Helper()
	_, v, err := f.engine.StartSession(f.ctx, bridge.SessionInput{
		Name: name, Email: strings.ToLower(name) + "@example.com", Locale: "fr-FR",
		UserAgent: "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Gecko/20100101 Firefox/128.0",
	})
	if err != nil {
		f.t.Fatal(err)
	}
	if err := f.engine.RecordPageView(f.ctx, v.ID, bridge.PageView{URL: "https://shop.example/cart", Referrer: "https://search.example/?q=shoes"}); err != nil {
		f.t.Fatal(err)
	}
	return v
}

// say sends a visitor message and returns it.
func (f *fixture) say(v bridge.Visitor, clientID, text string) bridge.Message {
	f.t.Helper()
	m, err := f.engine.VisitorMessage(f.ctx, v.ID, clientID, text)
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// threadRoot waits for the conversation's thread and returns its root ts.
func (f *fixture) threadRoot(conv string) string {
	f.t.Helper()
	var ts string
	f.waitFor("thread of "+conv, func() bool {
		_, root, err := f.a.threadOf(f.ctx, conv)
		ts = root
		return err == nil
	})
	return ts
}

// snapshot returns the bot's stored posts and its ephemeral messages.
func (f *fixture) snapshot() (posts, ephemerals []fakePost) {
	for _, p := range f.fake.Posts() {
		if p.Ephemeral {
			ephemerals = append(ephemerals, p)
		} else {
			posts = append(posts, p)
		}
	}
	return posts, ephemerals
}

// postsIn returns the bot's posts in a thread (root excluded), deleted ones
// left out.
func (f *fixture) postsIn(root string) []fakePost {
	posts, _ := f.snapshot()
	var out []fakePost
	for _, p := range posts {
		if p.ThreadTS == root && !p.Deleted {
			out = append(out, p)
		}
	}
	return out
}

// waitPosts waits until the thread has n posts and returns them.
func (f *fixture) waitPosts(root string, n int) []fakePost {
	f.t.Helper()
	var got []fakePost
	f.waitFor("thread posts", func() bool {
		got = f.postsIn(root)
		return len(got) >= n
	})
	return got
}

// operatorSays posts an operator's thread message in the fake (its event
// goes over Socket Mode) and waits for its ack. It returns the message's ts
// and the envelope id.
func (f *fixture) operatorSays(user, root, text, eventID string) (ts, env string) {
	f.t.Helper()
	ts, env = f.fake.SayEvent(fakeslack.UserMessage{Channel: testChannel, ThreadTS: root, User: user, Text: text, EventID: eventID})
	f.waitAck(env)
	return ts, env
}

// waitAck waits until the adapter acknowledged the envelope.
func (f *fixture) waitAck(env string) {
	f.t.Helper()
	f.waitFor("ack of "+env, func() bool { return f.fake.Acked(env) })
}

// public returns the visitor's view of the conversation.
func (f *fixture) public(v bridge.Visitor) []bridge.Message {
	f.t.Helper()
	view, err := f.engine.VisitorMessages(f.ctx, v.ID, "", 0, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return view.Messages
}

// waitPublic waits for the visitor to see a message satisfying match.
func (f *fixture) waitPublic(v bridge.Visitor, what string, match func(bridge.Message) bool) bridge.Message {
	f.t.Helper()
	var found bridge.Message
	f.waitFor(what, func() bool {
		for _, m := range f.public(v) {
			if match(m) {
				found = m
				return true
			}
		}
		return false
	})
	return found
}

// all returns every stored message of a conversation.
func (f *fixture) all(conv string) []bridge.Message {
	f.t.Helper()
	msgs, err := f.engine.Messages(f.ctx, conv, 0, 0)
	if err != nil {
		f.t.Fatal(err)
	}
	return msgs
}

// outboxEmpty reports whether slack's outbox is drained.
func (f *fixture) outboxEmpty() bool {
	st, err := f.engine.OutboxStats(f.ctx)
	return err == nil && st.Depth[AdapterName] == 0
}
