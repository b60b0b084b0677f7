package inbox

import (
	"context"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chromedp/chromedp"
)

// browserTab drives one inbox tab in a test.
type browserTab struct {
	t   *testing.T
	ctx context.Context
}

func (b browserTab) step(name string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	for i, a := range actions {
		if err := chromedp.Do(sctx, a); err != nil {
			html, _ := chromedp.Run(b.ctx, chromedp.OuterHTML(chromedp.CSS("body")))
			b.t.Fatalf("%s: action %d: %v\n%s", name, i, err, html)
		}
	}
}

func (b browserTab) poll(what, expr string) {
	b.t.Helper()
	sctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
		b.t.Fatalf("waiting for %s: %v", what, err)
	}
}

func (b browserTab) number(expr string) float64 {
	b.t.Helper()
	v, err := chromedp.Run(b.ctx, chromedp.Evaluate[float64](expr))
	if err != nil {
		b.t.Fatalf("evaluate %s: %v", expr, err)
	}
	return v
}

// clearReply empties the reply box without an input event (as after a
// send).
func (b browserTab) clearReply() {
	b.t.Helper()
	if b.number(`(document.querySelector('#reply-text').value = '').length`) != 0 {
		b.t.Fatalf("the reply box is not empty")
	}
}

// Page instruments installed after login: every fetch (URL, method, time)
// and every change of the typing indicator's text (time, text).
const typingInstruments = `(function () {
	window.__fetches = [];
	var orig = window.fetch;
	window.fetch = function (url, opts) {
		window.__fetches.push({ url: String(url), method: (opts && opts.method) || 'GET', at: performance.now() });
		return orig.call(this, url, opts);
	};
	window.__typingPosts = function () {
		return window.__fetches.filter(function (f) { return f.method === 'POST' && /\/typing$/.test(f.url); });
	};
	window.__typingLog = [];
	var box = document.getElementById('typing');
	new MutationObserver(function () {
		window.__typingLog.push({ at: performance.now(), text: box.textContent });
	}).observe(box, { childList: true, characterData: true, subtree: true });
	return 1;
})()`

// TestBrowserTyping checks the typing indicators both ways in Chromium: a
// visitor typing shows under the transcript until their message arrives (or
// for about 5 s), and typing a reply tells the visitor, but typing a note
// does not.
func TestBrowserTyping(t *testing.T) {
	f := newFixture(t, Config{})
	vid, first := f.visitorSays("", "Vera", "hello")
	convID := first.ConversationID
	visitorEvents := f.engine.Hub().SubscribeVisitor(vid)
	defer visitorEvents.Close()

	ctx := testpeer.Browser(t)
	watch := watchPage(t, ctx)
	b := browserTab{t: t, ctx: ctx}
	b.step("log in",
		chromedp.Navigate(f.srv.URL+"/inbox/c/"+convID),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alice.password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#transcript")),
	)
	b.poll("the live stream", `document.querySelector('#live.on') !== null`)
	if b.number(typingInstruments) != 1 {
		t.Fatalf("could not install the page instruments")
	}
	if b.number(`document.querySelector('#typing[aria-live="polite"]') ? 1 : 0`) != 1 {
		t.Fatalf("no polite live region #typing in the page")
	}

	// (a) The visitor types: the indicator shows without any fetch, and the
	// visitor's message hides it at once (well before its 5 s timer).
	convFetches := `window.__fetches.filter(function (f) { return f.url.indexOf('/inbox/api/conversations/') === 0; }).length`
	fetchesBefore := b.number(convFetches)
	if err := f.engine.Typing(f.ctx, convID, bridge.FromVisitor, "Vera"); err != nil {
		t.Fatal(err)
	}
	b.poll("the visitor typing indicator", `document.querySelector('#typing').textContent === 'Vera is typing…'`)
	if got := b.number(convFetches); got != fetchesBefore {
		t.Errorf("a typing event made the page fetch the conversation (%v fetches, before %v)", got, fetchesBefore)
	}
	f.visitorSays(vid, "", "here is my question")
	b.poll("the visitor message", `[...document.querySelectorAll('#transcript .msg.from-visitor .text')].some(e => e.textContent === 'here is my question')`)
	b.poll("the indicator hidden", `document.querySelector('#typing').textContent === ''`)
	shownFor := b.number(`(function (l) { return l[l.length - 1].at - l[l.length - 2].at; })(window.__typingLog)`)
	if shownFor >= 4000 {
		t.Errorf("the indicator went %.0f ms after it showed: the visitor message did not hide it", shownFor)
	}
	// Without a message it goes by itself after about 5 s.
	if err := f.engine.Typing(f.ctx, convID, bridge.FromVisitor, "Vera"); err != nil {
		t.Fatal(err)
	}
	b.poll("the indicator again", `document.querySelector('#typing').textContent === 'Vera is typing…'`)
	b.poll("the indicator gone by itself", `document.querySelector('#typing').textContent === ''`)
	if shownFor := b.number(`(function (l) { return l[l.length - 1].at - l[l.length - 2].at; })(window.__typingLog)`); shownFor < 4500 || shownFor > 10000 {
		t.Errorf("the indicator stayed %.0f ms, want about 5000", shownFor)
	}

	// (b) Alice types a reply: the visitor's subscription gets her typing
	// event (and only a typing event: no text).
	b.step("type a reply", chromedp.SendKeys(chromedp.CSS("#reply-text"), "Hello"))
	ev, ok := nextOperatorTyping(visitorEvents, 10*time.Second)
	if !ok {
		t.Fatalf("no operator typing event for the visitor after typing Hello")
	}
	if ev.Author != alice.Name || ev.ConversationID != convID || ev.VisitorID != vid {
		t.Errorf("typing event %+v, want from %q in %s", ev, alice.Name, convID)
	}
	if n := b.number(`window.__typingPosts().length`); n < 1 || n > 2 {
		t.Errorf("typing Hello made %v typing calls, want 1 (at most one per 2 s)", n)
	}

	// (c) A note in a fresh box publishes nothing. First let both rate
	// limits pass again, so that only the note rule can hold it back.
	waitTypingAllowed := func() {
		t.Helper()
		b.poll("the page's typing interval", `performance.now() - window.__typingPosts().pop().at > 2100`)
		f.clock.Add(typingEvery + time.Second) // the server's interval, on the engine clock
	}
	waitTypingAllowed()
	b.clearReply()
	drain(visitorEvents)
	posts := b.number(`window.__typingPosts().length`)
	b.step("type a note", chromedp.SendKeys(chromedp.CSS("#reply-text"), ";; secret"))
	b.poll("the note in the box", `document.querySelector('#reply-text').value === ';; secret'`)
	if got := b.number(`window.__typingPosts().length`); got != posts {
		t.Errorf("typing a note made %v typing calls, want none", got-posts)
	}
	if ev, ok := nextOperatorTyping(visitorEvents, time.Second); ok {
		t.Errorf("typing a note published %+v to the visitor", ev)
	}
	// The same box with a reply does publish: the check above could fail.
	b.clearReply()
	b.step("type a reply", chromedp.SendKeys(chromedp.CSS("#reply-text"), "ok"))
	if _, ok := nextOperatorTyping(visitorEvents, 10*time.Second); !ok {
		t.Fatalf("no operator typing event after the note, for a reply")
	}

	// (d) Once the conversation is closed, the reply box is disabled and
	// the page stops calling, even if input events still came.
	if err := f.engine.Close(f.ctx, convID, operator(bob.OperatorAccount)); err != nil {
		t.Fatal(err)
	}
	b.poll("the closed status", `document.querySelector('#conv-status').textContent === 'Closed'`)
	b.poll("the disabled reply box", `document.querySelector('#reply-text').disabled`)
	waitTypingAllowed()
	b.clearReply()
	posts = b.number(`window.__typingPosts().length`)
	b.number(`(function () {
		var t = document.querySelector('#reply-text');
		t.value = 'still there?';
		t.dispatchEvent(new Event('input'));
		return 1;
	})()`)
	if got := b.number(`window.__typingPosts().length`); got != posts {
		t.Errorf("typing in a closed conversation made %v typing calls, want none", got-posts)
	}

	if d := watch.dialogs(); len(d) > 0 {
		t.Errorf("the page opened dialogs: %q", d)
	}
	if errs := watch.errors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}

// nextOperatorTyping waits up to d for an operator typing event on sub,
// skipping other events.
func nextOperatorTyping(sub *bridge.Subscription, d time.Duration) (bridge.Event, bool) {
	deadline := time.NewTimer(d)
	defer deadline.Stop()
	for {
		select {
		case ev := <-sub.C:
			if ev.Kind == bridge.EventTyping && ev.From == bridge.FromOperator {
				return ev, true
			}
		case <-deadline.C:
			return bridge.Event{}, false
		}
	}
}

// drain drops the events waiting on sub.
func drain(sub *bridge.Subscription) {
	for {
		select {
		case <-sub.C:
		default:
			return
		}
	}
}
