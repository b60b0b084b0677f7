package inbox

import (
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chromedp/chromedp"
)

// TestBrowserCloseAndLeave drives the conversation header's buttons in
// Chromium: Leave (from the keyboard) shows the "You left" whisper;
// dismissing the "Close chat" confirmation changes nothing; accepting it
// closes the conversation and the page shows it closed without a reload.
func TestBrowserCloseAndLeave(t *testing.T) {
	f := newFixture(t, Config{})
	vid, first := f.visitorSays("", "Vera", "hello")
	convID := first.ConversationID

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
	b.number(`(window.__sameDocument = 1)`)
	b.number(`(function () {
		window.__posts = [];
		var orig = window.fetch;
		window.fetch = function (url, opts) {
			if (opts && opts.method === 'POST') window.__posts.push(String(url));
			return orig.call(this, url, opts);
		};
		return 1;
	})()`)
	visible := func(sel string) string {
		return `(function () { var e = document.querySelector('` + sel + `'); return !!e && e.offsetParent !== null; })()`
	}
	if b.number(visible("#close-button")+` ? 1 : 0`) != 1 || b.number(visible("#leave-button")+` ? 1 : 0`) != 0 {
		t.Fatalf("before answering: want Close chat shown and Leave hidden")
	}
	if b.number(`document.querySelector('#close-button').textContent === 'Close chat' && document.querySelector('#close-button').getAttribute('aria-describedby') === 'close-help' ? 1 : 0`) != 1 {
		t.Errorf("the Close chat button lacks its label or description")
	}

	// Answering makes alice follow: Leave appears. Leave from the keyboard.
	b.step("reply", chromedp.SendKeys(chromedp.CSS("#reply-text"), "Hello Vera\n"))
	waitVisitorGets(t, f, vid, "Hello Vera")
	b.poll("the Leave button", visible("#leave-button"))
	b.step("leave with the keyboard", chromedp.Focus(chromedp.CSS("#leave-button")), chromedp.KeyEvent("\r"))
	b.poll("the leave confirmation", `[...document.querySelectorAll('#transcript .msg.vis-whisper .text')].some(e => e.textContent.indexOf('You left this conversation.') === 0)`)
	b.poll("the Leave button gone", `!`+visible("#leave-button"))
	c, err := f.engine.Conversation(f.ctx, convID)
	if err != nil {
		t.Fatal(err)
	}
	if c.HasOperator(operator(alice.OperatorAccount)) || c.Status != bridge.StatusOpen {
		t.Fatalf("after Leave: operators %+v, status %s; want alice gone, still open", c.Operators, c.Status)
	}

	// Dismissing the confirmation does nothing.
	postsBefore := b.number(`window.__posts.length`)
	b.step("click Close chat, dismiss", chromedp.Click(chromedp.CSS("#close-button")))
	testpeer.WaitFor(t, 15*time.Second, func() bool { return len(watch.dialogs()) >= 1 }, "the confirmation dialog")
	if d := watch.dialogs(); len(d) != 1 || d[0] != "Close this chat? The visitor will see that it has ended." {
		t.Fatalf("dialogs after the first click: %q, want one confirmation", d)
	}
	if got := b.number(`window.__posts.length`); got != postsBefore {
		t.Errorf("a dismissed confirmation still posted %v times", got-postsBefore)
	}
	if c, err := f.engine.Conversation(f.ctx, convID); err != nil || c.Status != bridge.StatusOpen {
		t.Fatalf("after a dismissed confirmation: %+v, %v; want still open", c.Status, err)
	}

	// Accepting it closes the chat; the page shows it without a reload.
	watch.accept.Store(true)
	b.step("click Close chat, accept", chromedp.Click(chromedp.CSS("#close-button")))
	b.poll("the closed status", `document.querySelector('#conv-status').textContent === 'Closed'`)
	b.poll("the ended note", visible("#closed-banner")+` && document.querySelector('#closed-banner').textContent === 'This chat has ended.'`)
	b.poll("the disabled reply box", `document.querySelector('#reply-text').disabled && document.querySelector('#reply-send').disabled`)
	b.poll("the buttons gone", `!`+visible("#close-button")+` && !`+visible("#leave-button"))
	b.poll("the closing line", `[...document.querySelectorAll('#transcript .msg.from-system .text')].some(e => e.textContent === 'Alice Martin ended the chat.')`)
	if b.number(`window.__sameDocument === 1 ? 1 : 0`) != 1 {
		t.Fatalf("the page reloaded")
	}
	if d := watch.dialogs(); len(d) != 2 {
		t.Errorf("dialogs: %q, want two confirmations", d)
	}
	closing := 0
	for _, line := range visitorLines(t, f, vid) {
		if line == "system: Alice Martin ended the chat." {
			closing++
		}
	}
	if closing != 1 {
		t.Errorf("the visitor sees %d closing lines, want 1", closing)
	}
	if errs := watch.errors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
