package visitor_test

import (
	"context"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chatbridge/chatbridge/visitor"
)

// Real-browser tests of what happens around the chat: the page goes into
// the back/forward cache or is frozen, other tabs and devices follow a new
// chat, and the end of a long chat stays in view.

// lifecycleScript records, in every document of a tab, the pageshow
// events (window.__shown: their persisted flags) and the event types the
// page listens to (window.__listens), so that a test sees whether a page
// came back from the back/forward cache and that nothing registered an
// unload handler, which would keep it out.
const lifecycleScript = `window.__shown=[];window.__listens=[];
addEventListener('pageshow',e=>__shown.push(e.persisted));
(()=>{const o=EventTarget.prototype.addEventListener;EventTarget.prototype.addEventListener=function(t,...a){__listens.push(t);return o.call(this,t,...a)}})()`

// bfcacheMisses records why Chromium did not restore a page from its
// back/forward cache (Page.backForwardCacheNotUsed).
type bfcacheMisses struct {
	mu      sync.Mutex
	reasons []string
}

func watchBFCache(t *testing.T, tb tab) *bfcacheMisses {
	t.Helper()
	m := &bfcacheMisses{}
	if err := chromedp.Listen(tb.ctx, func(ev any) {
		if e, ok := ev.(*page.EventBackForwardCacheNotUsed); ok {
			m.mu.Lock()
			for _, x := range e.NotRestoredExplanations {
				m.reasons = append(m.reasons, string(x.Reason))
			}
			m.mu.Unlock()
		}
	}); err != nil {
		t.Fatal(err)
	}
	return m
}

func (m *bfcacheMisses) list() []string {
	m.mu.Lock()
	defer m.mu.Unlock()
	return append([]string(nil), m.reasons...)
}

// goBack goes back in the tab's history without waiting for a load event,
// which a page restored from the back/forward cache does not fire.
func (tb tab) goBack() {
	tb.t.Helper()
	tb.js(`history.back()`)
}

// A visitor who leaves the page is away although Chromium keeps the page,
// with its WebSocket, in the back/forward cache; back on the page the chat
// resumes with what was said meanwhile.
func TestWidgetBackForwardCache(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	s := newSite(t, cfg)
	ctx := context.Background()
	hub := s.engine.Hub()
	tb := tab{t, testpeer.Browser(t)}
	misses := watchBFCache(t, tb)
	addScript(t, tb, lifecycleScript)
	tb.open(s.url("/demo/product/1"))
	tb.click(".bub")
	tb.send("Is the mug dishwasher safe?")
	tb.waitMessages("Is the mug dishwasher safe?")
	v, conv := currentConversation(t, s, tb.token())
	testpeer.WaitFor(t, waitLong, func() bool { return !hub.Away(v.ID, 0) }, "the visitor is present while on the page")
	if !evalOK(tb, `!__listens.includes('unload')&&!__listens.includes('beforeunload')&&window.onunload==null&&window.onbeforeunload==null`) {
		l, _ := evalJS[[]string](tb, `__listens`)
		t.Fatalf("the page registered an unload handler, which keeps it out of the back/forward cache: %q", l)
	}

	tb.do(chromedp.Navigate(s.url("/elsewhere")))
	testpeer.WaitFor(t, waitLong, func() bool { return hub.Away(v.ID, 0) }, "the visitor is away once the page is in the back/forward cache")
	if _, err := s.engine.Reply(ctx, conv.ID, alice, "Yes, it is.", ""); err != nil {
		t.Fatal(err)
	}

	tb.goBack()
	tb.until(`location.pathname==='/demo/product/1'&&__shown.length>1`, "the chat page is shown again")
	if !evalOK(tb, `__shown.length===2&&__shown[1]===true`) {
		shown, _ := evalJS[[]bool](tb, `__shown`)
		t.Fatalf("pageshow persisted flags %v, reasons %q: the page did not come back from the back/forward cache, so this test proves nothing", shown, misses.list())
	}
	tb.waitMessages("Is the mug dishwasher safe?", "Yes, it is.")
	testpeer.WaitFor(t, waitLong, func() bool { return !hub.Away(v.ID, 0) }, "the visitor is present again")
	// The return is a page view too: the page shown now is the newest.
	testpeer.WaitFor(t, waitLong, func() bool {
		pvs, _ := s.engine.PageViews(ctx, v.ID, 10)
		return len(pvs) == 2 && pvs[0].URL == s.url("/demo/product/1")
	}, "the return to the page is recorded as a page view")
	tb.send("Thanks!")
	tb.waitMessages("Is the mug dishwasher safe?", "Yes, it is.", "Thanks!")
}

// A page frozen without leaving (Chromium freezes background tabs) keeps its
// WebSocket open and answering WebSocket pings, but its script stops: the
// server hears no heartbeat and the visitor is away. Thawed, the widget
// reconnects by itself.
func TestWidgetFrozenPageIsAway(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	// A ping frame every second, to be answered within the second: short for
	// the test, long enough for a loaded machine.
	s := newSiteWithAPI(t, cfg, visitor.Config{PingInterval: time.Second})
	hub := s.engine.Hub()
	tb := tab{t, testpeer.Browser(t)}
	tb.open(s.url("/"))
	tb.click(".bub")
	tb.send("Hello")
	tb.waitMessages("Hello")
	v, conv := currentConversation(t, s, tb.token())
	testpeer.WaitFor(t, waitLong, func() bool { return !hub.Away(v.ID, 0) }, "the widget connects")
	// Answering heartbeats keeps the visitor present over many intervals.
	deadline := time.Now().Add(4 * time.Second)
	testpeer.WaitFor(t, waitLong, func() bool {
		if hub.Away(v.ID, 0) {
			t.Fatal("a live page counted as away")
		}
		return time.Now().After(deadline)
	}, "a few heartbeats")

	setLifecycle := func(state page.SetWebLifecycleStateState) {
		t.Helper()
		cctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
		defer cancel()
		if _, err := chromedp.Call(cctx, page.SetWebLifecycleState, page.SetWebLifecycleStateParams{State: state}); err != nil {
			t.Fatalf("set lifecycle state %s: %v", state, err)
		}
	}
	setLifecycle(page.SetWebLifecycleStateStateFrozen)
	testpeer.WaitFor(t, waitLong, func() bool { return hub.Away(v.ID, 0) }, "the frozen page's visitor is away")
	if _, err := s.engine.Reply(context.Background(), conv.ID, alice, "Still there?", ""); err != nil {
		t.Fatal(err)
	}
	setLifecycle(page.SetWebLifecycleStateStateActive)
	tb.waitMessages("Hello", "Still there?")
	testpeer.WaitFor(t, waitLong, func() bool { return !hub.Away(v.ID, 0) }, "the thawed page reconnects")
}

// Ending a chat and starting a new one in tab A shows the new chat alone,
// in its own state, in tab B of the same browser and on another device of
// the same signed-in user, without a reload.
func TestWidgetNewChatInOtherTabs(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	s := newSiteWithAPI(t, cfg, visitor.Config{IdentitySecret: identitySecret})
	ctx := context.Background()
	id := visitor.Identity{UserID: "user-7", Name: "Noor", Email: "noor@example.com", Expires: time.Now().Add(time.Hour).Unix()}
	id.Signature = id.Sign(identitySecret)

	a := tab{t, testpeer.Browser(t)}
	addScript(t, a, identityScript(id))
	a.open(s.url("/demo/"))
	a.click(".bub")
	a.send("First question")
	a.waitMessages("First question")
	_, conv := currentConversation(t, s, a.token())
	if _, err := s.engine.Reply(ctx, conv.ID, alice, "First answer", ""); err != nil {
		t.Fatal(err)
	}
	a.waitMessages("First question", "First answer")

	b := tab{t, testpeer.NewTab(t, a.ctx)} // same browser: shares localStorage
	other := tab{t, testpeer.Browser(t)}   // another device: shares nothing
	for _, tb := range []tab{b, other} {
		addScript(t, tb, identityScript(id)) // the site's pages all say who is signed in
	}
	for _, tb := range []tab{b, other} {
		tb.open(s.url("/demo/product/2"))
		if tb == other {
			tb.click(".bub")
		}
		tb.until(`!`+root+`.querySelector('.pn').hidden`, "the panel is open")
		tb.waitMessages("First question", "First answer")
	}

	// state is what a tab shows below the messages.
	const state = `(()=>{const r=` + root + `,v=s=>!r.querySelector(s).hidden;return (v('.cp')?'composer ':'')+(v('.nw')?'ended ':'')+(v('.x.e')?'end-button':'')})()`
	waitState := func(tb tab, want, msg string) {
		t.Helper()
		tb.until(state+`===`+jsString(want), msg)
	}

	a.click(".x.e") // End chat
	for _, tb := range []tab{a, b, other} {
		waitState(tb, "ended ", "every tab shows that the chat ended")
		// The widget renders the system line for the visitor (its kind), not the operators' text.
		tb.waitMessages("First question", "First answer", "You ended the chat.")
	}

	a.click(".nw button") // Start a new chat
	for _, tb := range []tab{a, b} {
		waitState(tb, "composer ", "the tabs of this browser show a new, empty chat")
		tb.waitMessages()
	}
	waitState(other, "ended ", "the other device still shows the ended chat")

	a.send("Second question")
	for _, tb := range []tab{a, b, other} {
		tb.waitMessages("Second question")
		waitState(tb, "composer end-button", "every tab shows the new open chat")
	}
	if _, c := currentConversation(t, s, a.token()); c.ID == conv.ID {
		t.Fatal("no new conversation was started")
	}
	// Each tab goes on with the new chat.
	b.send("From tab B")
	b.waitMessages("Second question", "From tab B")
	other.send("From the other device")
	for _, tb := range []tab{a, b, other} {
		tb.waitMessages("Second question", "From tab B", "From the other device")
	}
}

// When a long chat ends, its last line stays in view above the taller
// "chat has ended" block.
func TestWidgetEndOfLongChatInView(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	s := newSite(t, cfg)
	ctx := context.Background()
	tb := tab{t, testpeer.Browser(t)}
	tb.do(chromedp.EmulateViewport(1280, 700))
	tb.open(s.url("/"))
	tb.click(".bub")
	tb.send("My order has not arrived")
	want := []string{"My order has not arrived"}
	tb.waitMessages(want...)
	_, conv := currentConversation(t, s, tb.token())
	for i := range 25 {
		text := "Let me check that for you, step " + strings.Repeat("•", i%3+1)
		if _, err := s.engine.Reply(ctx, conv.ID, alice, text, ""); err != nil {
			t.Fatal(err)
		}
		want = append(want, text)
	}
	tb.waitMessages(want...)
	if err := s.engine.Close(ctx, conv.ID, alice); err != nil {
		t.Fatal(err)
	}
	tb.waitMessages(append(want, "Alice Martin ended the chat.")...)
	tb.until(`!`+root+`.querySelector('.nw').hidden`, "the chat has ended")
	type box struct{ Bottom, ListBottom, ScrollHeight, Overflow float64 }
	got, err := evalJS[box](tb, `(()=>{const l=`+root+`.querySelector('.ls'),m=l.lastElementChild;
		return {Bottom:m.getBoundingClientRect().bottom,ListBottom:l.getBoundingClientRect().bottom,ScrollHeight:l.scrollHeight,Overflow:l.scrollHeight-l.clientHeight}})()`)
	if err != nil {
		t.Fatal(err)
	}
	if got.Overflow < 100 {
		t.Fatalf("the list is not long enough to scroll (%+v): the test proves nothing", got)
	}
	if got.Bottom > got.ListBottom+1 {
		t.Errorf("the last line ends at %.0f px, below the list's bottom at %.0f px: it is cut off", got.Bottom, got.ListBottom)
	}
	screenshot(tb, "widget-ended.png")
}
