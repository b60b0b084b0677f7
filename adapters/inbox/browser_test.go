package inbox

import (
	"context"
	"fmt"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"
)

// TestBrowserInbox drives the inbox in a real Chromium: log in, watch a
// visitor message arrive live, answer with Enter, and check that a script
// payload from the visitor stays text.
func TestBrowserInbox(t *testing.T) {
	const payload = `<img src=x onerror=alert(1)><script>alert(2)</script>`
	f := newFixture(t, Config{})
	vid, first := f.visitorSays("", "Vera", payload)
	convID := first.ConversationID

	ctx := testpeer.Browser(t)
	watch := watchPage(t, ctx)

	step := func(name string, actions ...chromedp.Action[chromedp.Void]) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		for i, a := range actions {
			if err := chromedp.Do(sctx, a); err != nil {
				loc, _ := chromedp.Run(ctx, chromedp.Location())
				html, _ := chromedp.Run(ctx, chromedp.OuterHTML(chromedp.CSS("body")))
				t.Fatalf("%s: action %d: %v (at %s)\n%s", name, i, err, loc, html)
			}
		}
	}
	poll := func(what, expr string) {
		t.Helper()
		sctx, cancel := context.WithTimeout(ctx, 20*time.Second)
		defer cancel()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	eval := func(expr string) any {
		t.Helper()
		v, err := chromedp.Run(ctx, chromedp.Evaluate[any](expr))
		if err != nil {
			t.Fatalf("evaluate %s: %v", expr, err)
		}
		return v
	}

	// Log in; the inbox sends us to the login page and back.
	step("log in",
		chromedp.Navigate(f.srv.URL+"/inbox/c/"+convID),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alice.password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#transcript")),
	)
	poll("the live stream", `document.querySelector('#live.on') !== null`)

	// The payload is shown as text: no element made from it, no alert.
	if got := eval(`document.querySelector('#transcript .msg .text').textContent`); got != payload {
		t.Errorf("first message text = %q, want the payload as text", got)
	}
	if got := eval(`document.querySelectorAll('img').length + document.querySelectorAll('script:not([src])').length`); got != 0.0 {
		t.Errorf("the page has %v img or inline script elements, want 0", got)
	}
	if got := eval(`getComputedStyle(document.documentElement).backgroundColor`); got != "rgb(246, 247, 249)" {
		t.Errorf("page background = %v: the stylesheet did not load under the CSP", got)
	}

	// A visitor message sent from Go after the page loaded appears without a
	// reload, and so does a new conversation in the list.
	eval(`window.__sameDocument = true`)
	f.visitorSays(vid, "", "live message 42")
	poll("the live message", `[...document.querySelectorAll('#transcript .msg.from-visitor .text')].some(e => e.textContent === 'live message 42')`)
	poll("the list preview", `document.querySelector('#conversations li[data-id="`+convID+`"] .preview').textContent === 'live message 42'`)
	// A payload arriving live is rendered by the page's script: still text.
	const livePayload = `<img src=y onerror=alert(3)>`
	f.visitorSays(vid, "", livePayload)
	poll("the live payload as text", `[...document.querySelectorAll('#transcript .msg .text')].some(e => e.textContent === '`+livePayload+`')`)
	if got := eval(`document.querySelectorAll('img').length`); got != 0.0 {
		t.Errorf("the page has %v img elements after a live payload, want 0", got)
	}
	f.visitorSays("", "Otto", "new chat")
	poll("the new conversation", `[...document.querySelectorAll('#conversations .conv .name')].some(e => e.textContent === 'Otto')`)
	if eval(`window.__sameDocument === true`) != true {
		t.Fatalf("the page reloaded")
	}

	// Enter sends; Shift+Enter makes a new line.
	step("reply with Enter", chromedp.SendKeys(chromedp.CSS("#reply-text"), "Hello from the inbox\n"))
	waitVisitorGets(t, f, vid, "Hello from the inbox")
	poll("the reply in the transcript", `[...document.querySelectorAll('#transcript .msg.own .text')].some(e => e.textContent === 'Hello from the inbox')`)
	poll("the cleared reply box", `document.querySelector('#reply-text').value === ''`)

	step("type two lines",
		chromedp.SendKeys(chromedp.CSS("#reply-text"), "line one"),
		chromedp.KeyEvent("\r", chromedp.KeyModifiers(chromedp.ModifierShift)),
		chromedp.KeyEvent("line two"),
	)
	if got := eval(`document.querySelector('#reply-text').value`); got != "line one\nline two" {
		t.Errorf("after Shift+Enter the box holds %q, want two lines", got)
	}
	step("send two lines", chromedp.KeyEvent("\r"))
	waitVisitorGets(t, f, vid, "line one\nline two")

	if d := watch.dialogs(); len(d) > 0 {
		t.Errorf("the page opened dialogs: %q", d)
	}
	if errs := watch.errors(); len(errs) > 0 {
		t.Errorf("console errors (CSP violations?): %q", errs)
	}
}

// waitVisitorGets waits until the visitor's view holds text from Alice.
func waitVisitorGets(t *testing.T, f *fixture, visitorID, text string) {
	t.Helper()
	testpeer.WaitFor(t, 15*time.Second, func() bool {
		view, err := f.engine.VisitorMessages(f.ctx, visitorID, "", 0, 0)
		if err != nil {
			t.Fatalf("visitor messages: %v", err)
		}
		for _, m := range view.Messages {
			if m.From == bridge.FromOperator && m.Author == alice.Name && m.Text == text {
				return true
			}
		}
		return false
	}, "the visitor receives "+text+" from "+alice.Name)
}

// pageWatch records dialogs (dismissing them, or accepting them while
// accept is set) and console errors of a tab.
type pageWatch struct {
	accept   atomic.Bool
	mu       sync.Mutex
	alerts   []string
	messages []string
}

func (w *pageWatch) dialogs() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.alerts...)
}

func (w *pageWatch) errors() []string {
	w.mu.Lock()
	defer w.mu.Unlock()
	return append([]string(nil), w.messages...)
}

func watchPage(t *testing.T, ctx context.Context) *pageWatch {
	w := &pageWatch{}
	wctx, cancel := context.WithCancel(ctx)
	dialogs := chromedp.Events(wctx, page.JavascriptDialogOpening)
	console := chromedp.Console(wctx)
	var wg sync.WaitGroup
	wg.Add(2)
	go func() {
		defer wg.Done()
		for ev, err := range dialogs {
			if err != nil {
				return
			}
			w.mu.Lock()
			w.alerts = append(w.alerts, ev.Message)
			w.mu.Unlock()
			_, _ = chromedp.Call(wctx, page.HandleJavaScriptDialog, page.HandleJavaScriptDialogParams{Accept: w.accept.Load()})
		}
	}()
	go func() {
		defer wg.Done()
		for m, err := range console {
			if err != nil {
				return
			}
			if m.Type != chromedp.ConsoleException && m.Type != "error" && m.Type != "warning" {
				continue
			}
			if strings.HasSuffix(m.URL, "/favicon.ico") {
				continue // the browser asks the server root for an icon
			}
			w.mu.Lock()
			w.messages = append(w.messages, string(m.Type)+": "+m.Text+" ("+m.URL+")")
			w.mu.Unlock()
		}
	}()
	t.Cleanup(func() { cancel(); wg.Wait() })
	return w
}

// TestBrowserListRefreshCoalesced floods an open list page with visitor
// updates (one every listFloodEvery) and checks that the page refetches the
// list at most once per listEvery (750 ms in inbox.js), yet shows the last
// update (trailing edge).
func TestBrowserListRefreshCoalesced(t *testing.T) {
	const (
		updates        = 40
		listFloodEvery = 25 * time.Millisecond
		minGapMS       = 700 // inbox.js listEvery is 750; timers may round
	)
	f := newFixture(t, Config{})
	vid, _ := f.visitorSays("", "Vera", "hello")

	ctx := testpeer.Browser(t)
	sctx, cancel := context.WithTimeout(ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(sctx,
		chromedp.Navigate(f.srv.URL+"/inbox/"),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alice.password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#conversations")),
	); err != nil {
		t.Fatalf("log in: %v", err)
	}
	poll := func(what, expr string) {
		t.Helper()
		if _, err := chromedp.Run(sctx, chromedp.Poll[bool](expr, chromedp.WithPollingInterval(25*time.Millisecond), chromedp.WithPollingTimeout(15*time.Second))); err != nil {
			t.Fatalf("waiting for %s: %v", what, err)
		}
	}
	poll("the live stream", `document.querySelector('#live.on') !== null`)
	// Record when the page starts fetching the list.
	if _, err := chromedp.Run(sctx, chromedp.Evaluate[any](`(function () {
		window.__listFetches = [];
		var orig = window.fetch;
		window.fetch = function (url, opts) {
			if (String(url).indexOf('/inbox/api/conversations?') === 0) window.__listFetches.push(performance.now());
			return orig.call(this, url, opts);
		};
		return true;
	})()`)); err != nil {
		t.Fatalf("install the fetch recorder: %v", err)
	}

	tick := time.NewTicker(listFloodEvery) // paces the flood, synchronises nothing
	defer tick.Stop()
	for i := range updates {
		<-tick.C
		if _, err := f.engine.UpdateVisitor(f.ctx, vid, fmt.Sprintf("Vera %d", i), ""); err != nil {
			t.Fatalf("update visitor: %v", err)
		}
	}
	last := fmt.Sprintf("Vera %d", updates-1)
	poll("the last update in the list", `[...document.querySelectorAll('#conversations .conv .name')].some(e => e.textContent === '`+last+`')`)

	starts, err := chromedp.Run(sctx, chromedp.Evaluate[[]float64](`window.__listFetches`))
	if err != nil {
		t.Fatalf("read the fetch times: %v", err)
	}
	if len(starts) == 0 {
		t.Fatalf("the list was never refetched")
	}
	for i := 1; i < len(starts); i++ {
		if gap := starts[i] - starts[i-1]; gap < minGapMS {
			t.Errorf("list fetches %d and %d started %.0f ms apart, want at least %d ms (all: %v)", i, i+1, gap, minGapMS, starts)
			break
		}
	}
	t.Logf("%d updates over %v caused %d list fetches", updates, updates*listFloodEvery, len(starts))
}
