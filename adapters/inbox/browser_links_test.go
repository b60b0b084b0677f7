package inbox

import (
	"context"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/cdproto/target"
	"github.com/chromedp/chromedp"

	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// TestBrowserLinks checks in Chromium that http(s) URLs in messages are
// links, in the transcript the server renders and in messages that arrive
// live, and that nothing else is: no javascript: or other scheme, no HTML
// from the text. A link opens in a new tab without access to the inbox.
func TestBrowserLinks(t *testing.T) {
	f := newFixture(t, Config{})
	target0 := f.srv.URL + "/inbox/login?from=link"
	const hostile = ` javascript:alert(1) <a href="javascript:alert(2)">x</a> data:text/html,<script>alert(3)</script> [y](javascript:alert(4)) hxxp://no.example`
	first := "Order page: https://shop.example/orders/42?tab=items. Also see http://x.example/(y)," + hostile
	vid, m := f.visitorSays("", "Vera", first)
	convID := m.ConversationID

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

	links := func(seq uint64) string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`[...document.querySelectorAll('#transcript .msg[data-seq="`+strconv.FormatUint(seq, 10)+`"] .text a')].map(a => a.getAttribute('href')).join(' ')`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	text := func(seq uint64) string {
		v, err := chromedp.Run(ctx, chromedp.Evaluate[string](`document.querySelector('#transcript .msg[data-seq="`+strconv.FormatUint(seq, 10)+`"] .text').textContent`))
		if err != nil {
			t.Fatal(err)
		}
		return v
	}
	// The server-rendered message.
	b.poll("links in the rendered transcript", `document.querySelectorAll('#transcript .msg .text a').length > 0`)
	if got, want := links(m.Seq), "https://shop.example/orders/42?tab=items http://x.example/(y"; got != want {
		t.Errorf("links of the rendered message = %q, want %q", got, want)
	}
	if got := text(m.Seq); got != first {
		t.Errorf("rendered message text = %q, want it unchanged %q", got, first)
	}

	// A live visitor message and a live operator reply.
	live := "Still waiting, see " + target0 + " please" + hostile
	_, lm := f.visitorSays(vid, "", live)
	b.poll("the live message", `!!document.querySelector('#transcript .msg[data-seq="`+strconv.FormatUint(lm.Seq, 10)+`"]')`)
	if got := links(lm.Seq); got != target0 {
		t.Errorf("links of the live message = %q, want %q", got, target0)
	}
	if got := text(lm.Seq); got != live {
		t.Errorf("live message text = %q, want it unchanged %q", got, live)
	}
	b.step("reply with a link", chromedp.SendKeys(chromedp.CSS("#reply-text"), "Tracking: https://track.example/T1\n"))
	b.poll("the reply's link", `[...document.querySelectorAll('#transcript .msg.own .text a')].some(a => a.href === 'https://track.example/T1')`)

	for _, check := range []struct{ expr, msg string }{
		{`[...document.querySelectorAll('#transcript a')].every(a => /^https?:$/.test(new URL(a.href).protocol) && a.target === '_blank' && a.rel === 'noopener noreferrer')`, "every link is http(s), opens a new tab, without opener or referrer"},
		{`document.querySelectorAll('#transcript img, #transcript script, #transcript iframe').length === 0`, "no element made from the text"},
	} {
		if b.number(`(`+check.expr+`) ? 1 : 0`) != 1 {
			t.Errorf("%s: %s is false", check.msg, check.expr)
		}
	}

	// A click opens the page in a new tab, which cannot reach the inbox.
	b.step("click the link", chromedp.Click(chromedp.CSS(`#transcript a[href="`+target0+`"]`)))
	var opened *target.Info
	testpeer.WaitFor(t, 15*time.Second, func() bool {
		infos, err := chromedp.Targets(ctx)
		if err != nil {
			t.Fatal(err)
		}
		for _, info := range infos {
			if info.Type == "page" && info.URL == target0 {
				opened = info
				return true
			}
		}
		return false
	}, "clicking the link opens it in a new tab")
	newTab, cancel := chromedp.NewContext(ctx, chromedp.WithTargetID(opened.TargetID))
	defer cancel()
	tctx, tcancel := context.WithTimeout(newTab, 15*time.Second)
	defer tcancel()
	if noOpener, err := chromedp.Run(tctx, chromedp.Evaluate[bool](`window.opener === null && document.referrer === ''`)); err != nil || !noOpener {
		t.Errorf("the opened tab has window.opener or a referrer (%v)", err)
	}

	if d := watch.dialogs(); len(d) > 0 {
		t.Errorf("the page opened dialogs: %q", d)
	}
	if errs := watch.errors(); len(errs) > 0 {
		t.Errorf("console errors: %q", errs)
	}
}
