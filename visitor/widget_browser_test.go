package visitor_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chatbridge/chatbridge/visitor"
)

// Real-browser tests of the widget: Debian's Chromium drives the demo page
// against a full server (store, engine, visitor API, widget) on loopback.

const waitLong = 20 * time.Second

var alice = bridge.Operator{Adapter: "inbox", ID: "alice", Name: "Alice Martin"}

// hostilePage tries to break and restyle everything on the page.
const hostilePage = `<!doctype html><html><head><title>Hostile</title><style>
* { all: unset !important } div { z-index: 2147483647 !important; display:none !important }
button, textarea, input, span, p, form { display: none !important; visibility: hidden !important }
body { transform: scale(1) !important; filter: blur(0) !important } html { font-size: 5px !important; color: red !important }
</style></head><body><div class="cover" style="position:fixed;inset:0;background:red">cover</div>
<p>hostile page</p><script src="/widget.js" async></script></body></html>`

// elsewherePage is a page without the widget, where a visitor goes next.
const elsewherePage = `<!doctype html><html><head><title>Elsewhere</title></head><body><p>another page</p></body></html>`

// site is a complete chatbridge on loopback that can be stopped and started
// again on the same address with the same store, like a restarted server.
type site struct {
	t      *testing.T
	engine *bridge.Engine
	widget visitor.WidgetConfig
	api    visitor.Config
	addr   string

	mu  sync.Mutex
	vs  *visitor.Server
	srv *http.Server
}

func newSite(t *testing.T, wcfg visitor.WidgetConfig) *site {
	t.Helper()
	return newSiteWithAPI(t, wcfg, visitor.Config{})
}

func newSiteWithAPI(t *testing.T, wcfg visitor.WidgetConfig, api visitor.Config) *site {
	t.Helper()
	s := &site{t: t, widget: wcfg, api: api, addr: "127.0.0.1:0"}
	s.engine = fixture.Engine(t, fixture.Options{Config: bridge.Config{RetryMin: time.Second, RetryMax: 5 * time.Minute}})
	s.start()
	t.Cleanup(s.stop)
	return s
}

func (s *site) url(path string) string { return "http://" + s.addr + path }

func (s *site) start() {
	s.t.Helper()
	vs, err := visitor.New(s.api, s.engine, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	w, err := visitor.NewWidget(s.widget, s.engine, nil)
	if err != nil {
		s.t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", vs.Handler())
	w.Mount(mux)
	mux.HandleFunc("GET /hostile", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = rw.Write([]byte(hostilePage))
	})
	mux.HandleFunc("GET /elsewhere", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = rw.Write([]byte(elsewherePage))
	})
	var ln net.Listener
	deadline := time.Now().Add(5 * time.Second)
	for {
		if ln, err = net.Listen("tcp", s.addr); err == nil {
			break
		}
		if time.Now().After(deadline) {
			s.t.Fatalf("listen on %s again: %v", s.addr, err)
		}
		time.Sleep(50 * time.Millisecond) // the old socket is being released
	}
	s.addr = ln.Addr().String()
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	go func() { _ = srv.Serve(ln) }()
	s.mu.Lock()
	s.vs, s.srv = vs, srv
	s.mu.Unlock()
}

// stop ends every connection, WebSockets included, and stops listening.
func (s *site) stop() {
	s.mu.Lock()
	vs, srv := s.vs, s.srv
	s.vs, s.srv = nil, nil
	s.mu.Unlock()
	if srv == nil {
		return
	}
	vs.Close()
	_ = srv.Close()
}

// tab is one browser tab showing a page with the widget.
type tab struct {
	t   *testing.T
	ctx context.Context
}

// root is the widget's shadow root in page scripts.
const root = `document.querySelector('chatbridge-widget').shadowRoot`

func evalJS[T any](tb tab, expr string) (T, error) {
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	return chromedp.Run(ctx, chromedp.Evaluate[T](expr))
}

func (tb tab) js(expr string) {
	tb.t.Helper()
	if _, err := evalJS[chromedp.Void](tb, expr); err != nil {
		tb.t.Fatalf("%s: %v", expr, err)
	}
}

func (tb tab) do(actions ...chromedp.Action[chromedp.Void]) {
	tb.t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, waitLong)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		tb.t.Fatal(err)
	}
}

// until waits for a JavaScript condition.
func (tb tab) until(cond, msg string) {
	tb.t.Helper()
	testpeer.WaitFor(tb.t, waitLong, func() bool {
		ok, err := evalJS[bool](tb, "(()=>{try{return !!("+cond+")}catch(e){return false}})()")
		return err == nil && ok
	}, msg)
}

func (tb tab) open(url string) {
	tb.t.Helper()
	tb.do(chromedp.Navigate(url))
	tb.until(root+".querySelector('.bub')", "the widget's bubble appears")
}

// click sends a real mouse click to the centre of a widget element.
func (tb tab) click(sel string) {
	tb.t.Helper()
	type rect struct{ X, Y, W, H float64 }
	r, err := evalJS[rect](tb, `(()=>{const r=`+root+`.querySelector(`+jsString(sel)+`).getBoundingClientRect();return {X:r.x,Y:r.y,W:r.width,H:r.height}})()`)
	if err != nil {
		tb.t.Fatalf("locate %s: %v", sel, err)
	}
	if r.W == 0 || r.H == 0 {
		tb.t.Fatalf("%s has no size: %+v", sel, r)
	}
	tb.do(chromedp.MouseClickXY(r.X+r.W/2, r.Y+r.H/2))
}

// typeText types into the focused element with real key events.
func (tb tab) typeText(text string) { tb.t.Helper(); tb.do(chromedp.KeyEvent(text)) }

func jsString(s string) string { b, _ := json.Marshal(s); return string(b) }

// shown is one message as the widget shows it.
type shown struct {
	Class, Author, Text string
}

// messages lists the widget's message elements, the greeting excluded.
func (tb tab) messages() []shown {
	tb.t.Helper()
	m, err := evalJS[[]shown](tb, `[...`+root+`.querySelectorAll('.ls .m:not(.g):not(.rs)')].map(e=>({Class:e.className,Author:(e.querySelector('.a')||{}).textContent||'',Text:e.querySelector('.b').textContent}))`)
	if err != nil {
		tb.t.Fatal(err)
	}
	return m
}

func texts(ms []shown) []string {
	out := make([]string, len(ms))
	for i, m := range ms {
		out[i] = m.Text
	}
	return out
}

// waitMessages waits until the widget shows exactly want (texts, in order)
// with nothing pending.
func (tb tab) waitMessages(want ...string) {
	tb.t.Helper()
	var got []shown
	ok := false
	deadline := time.Now().Add(waitLong)
	for time.Now().Before(deadline) {
		got = tb.messages()
		if strings.Join(texts(got), "\x00") == strings.Join(want, "\x00") && !anyPending(got) {
			ok = true
			break
		}
		time.Sleep(50 * time.Millisecond) // polling interval
	}
	if !ok {
		tb.t.Fatalf("widget shows %q, want %q", got, want)
	}
}

func anyPending(ms []shown) bool {
	for _, m := range ms {
		if strings.Contains(" "+m.Class+" ", " p ") {
			return true
		}
	}
	return false
}

func (tb tab) token() string {
	tb.t.Helper()
	tok, err := evalJS[string](tb, `JSON.parse(localStorage.getItem('chatbridge:'+location.origin+':tok'))||''`)
	if err != nil {
		tb.t.Fatal(err)
	}
	return tok
}

// send types text into the composer and presses Enter.
func (tb tab) send(text string) {
	tb.t.Helper()
	tb.js(root + `.querySelector('textarea').focus()`)
	tb.typeText(text + "\r")
}

func screenshot(tb tab, name string) {
	dir := os.Getenv("CHATBRIDGE_SCREENSHOTS")
	if dir == "" {
		return
	}
	png, err := chromedp.Run(tb.ctx, chromedp.CaptureScreenshot())
	if err != nil {
		tb.t.Errorf("screenshot: %v", err)
		return
	}
	if err := os.WriteFile(filepath.Join(dir, name), png, 0o644); err != nil {
		tb.t.Errorf("screenshot: %v", err)
	}
}

func currentConversation(t *testing.T, s *site, token string) (bridge.Visitor, bridge.Conversation) {
	t.Helper()
	ctx := context.Background()
	v, err := s.engine.Authenticate(ctx, token)
	if err != nil {
		t.Fatalf("the widget's token: %v", err)
	}
	view, err := s.engine.VisitorMessages(ctx, v.ID, "", 0, 1)
	if err != nil {
		t.Fatal(err)
	}
	return v, view.Conversation
}

func TestWidgetInBrowser(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "required", "optional"
	cfg.OfflineAfter = time.Second
	s := newSite(t, cfg)
	ctx := context.Background()
	tb := tab{t, testpeer.Browser(t)}
	tb.do(chromedp.EmulateViewport(1280, 800))
	tb.open(s.url("/"))
	var conv bridge.Conversation
	var v bridge.Visitor

	t.Run("pre-chat form and first message", func(t *testing.T) {
		tb.t = t
		tb.click(".bub")
		tb.until(`!`+root+`.querySelector('.pn').hidden && `+root+`.activeElement===`+root+`.querySelector('.pc input[name=name]')`, "the panel opens with the name field focused")
		if tb.token() != "" {
			t.Fatal("a session was started before the visitor did anything")
		}
		tb.typeText("Ann Lee\r")
		tb.until(`!`+root+`.querySelector('.cp').hidden && `+root+`.activeElement===`+root+`.querySelector('textarea')`, "the composer replaces the form")
		tb.send("Hello from the browser")
		tb.waitMessages("Hello from the browser")
		v, conv = currentConversation(t, s, tb.token())
		if v.Name != "Ann Lee" || conv.ID == "" || conv.LastSeq != 1 {
			t.Fatalf("visitor %+v, conversation %+v", v, conv)
		}
	})

	t.Run("offline prompt asks for an email", func(t *testing.T) {
		tb.t = t
		tb.until(`!`+root+`.querySelector('.of').hidden`, "the e-mail prompt appears when nobody answers")
		tb.js(root + `.querySelector('.of input').focus()`)
		tb.typeText("ann@example.com\r")
		tb.until(root+`.querySelector('.ok')`, "the prompt thanks the visitor")
		testpeer.WaitFor(t, waitLong, func() bool {
			got, err := s.engine.Authenticate(ctx, tb.token())
			return err == nil && got.Email == "ann@example.com"
		}, "the visitor's e-mail is stored")
	})

	t.Run("page views on load and pushState", func(t *testing.T) {
		tb.t = t
		tb.js(`document.querySelector('a[href="/demo/product/1"]').click()`)
		testpeer.WaitFor(t, waitLong, func() bool {
			pvs, _ := s.engine.PageViews(ctx, v.ID, 10)
			return len(pvs) >= 2 && pvs[0].URL == s.url("/demo/product/1") && pvs[0].Title == "Blue Enamel Mug — Demo Shop" &&
				pvs[0].Referrer == s.url("/") && pvs[1].URL == s.url("/")
		}, "the first page and the pushState navigation are recorded, newest first")
	})

	t.Run("operator typing and reply with name", func(t *testing.T) {
		tb.t = t
		s.engine.Hub().Publish(bridge.Event{Kind: bridge.EventTyping, VisitorID: v.ID, ConversationID: conv.ID, From: bridge.FromOperator, Author: "Alice Martin"})
		tb.until(root+`.querySelector('.ty').textContent==='Alice Martin is typing…'`, "operator typing is shown")
		if _, err := s.engine.Reply(ctx, conv.ID, alice, "Hi Ann, how can I help?", ""); err != nil {
			t.Fatal(err)
		}
		tb.waitMessages("Hello from the browser", "Hi Ann, how can I help?")
		if m := tb.messages()[1]; m.Author != "Alice Martin" || !strings.Contains(m.Class, "o") {
			t.Errorf("reply shown as %+v", m)
		}
		tb.until(root+`.querySelector('.ty').textContent===''`, "the typing line clears on the reply")
		tb.until(root+`.querySelector('.of')===null || `+root+`.querySelector('.of').hidden`, "no e-mail prompt once an operator answered")
	})

	t.Run("escape closes, unread count, reopen", func(t *testing.T) {
		tb.t = t
		tb.until(root+`.activeElement===`+root+`.querySelector('textarea')`, "the composer has the focus after the e-mail prompt")
		tb.do(chromedp.KeyEvent("\x1b"))
		tb.until(root+`.querySelector('.pn').hidden && `+root+`.activeElement===`+root+`.querySelector('.bub')`, "Escape closes the panel and focuses the bubble")
		if _, err := s.engine.Reply(ctx, conv.ID, alice, "Are you still there?", ""); err != nil {
			t.Fatal(err)
		}
		tb.until(`!`+root+`.querySelector('.n').hidden && `+root+`.querySelector('.n').textContent==='1'`, "the bubble shows 1 unread message")
		tb.click(".bub")
		tb.until(root+`.querySelector('.n').hidden`, "opening the panel clears the unread count")
		tb.send("Yes!")
		tb.waitMessages("Hello from the browser", "Hi Ann, how can I help?", "Are you still there?", "Yes!")
	})

	all := []string{"Hello from the browser", "Hi Ann, how can I help?", "Are you still there?", "Yes!"}
	t.Run("reload keeps the conversation", func(t *testing.T) {
		tb.t = t
		tb.do(chromedp.Reload())
		tb.until(`!`+root+`.querySelector('.pn').hidden`, "the panel is open again after the reload")
		tb.waitMessages(all...)
		screenshot(tb, "widget-desktop.png")
	})

	tb2 := tab{t, testpeer.NewTab(t, tb.ctx)}
	t.Run("second tab shows the same and syncs live", func(t *testing.T) {
		tb.t, tb2.t = t, t
		tb2.do(chromedp.EmulateViewport(1280, 800))
		tb2.open(s.url("/demo/product/2"))
		tb2.until(`!`+root+`.querySelector('.pn').hidden`, "the panel is open in the new tab")
		tb2.waitMessages(all...)
		tb2.send("From the second tab")
		all = append(all, "From the second tab")
		tb2.waitMessages(all...)
		tb.waitMessages(all...)
	})

	t.Run("server restart loses and doubles nothing", func(t *testing.T) {
		tb.t, tb2.t = t, t
		s.stop()
		if _, err := s.engine.Reply(ctx, conv.ID, alice, "Sent while the server was down", ""); err != nil {
			t.Fatal(err)
		}
		tb.send("Typed while offline")
		tb.until(root+`.querySelector('.m.p')`, "the message waits as pending")
		s.start()
		all = append(all, "Sent while the server was down", "Typed while offline")
		tb.waitMessages(all...)
		tb2.waitMessages(all...)
		_, c := currentConversation(t, s, tb.token())
		view, err := s.engine.VisitorMessages(ctx, c.VisitorID, "", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		if len(view.Messages) != len(all) {
			t.Fatalf("store has %d messages, want %d: the retried send was stored twice", len(view.Messages), len(all))
		}
		// A reload after all this still shows each message once.
		tb2.do(chromedp.Reload())
		tb2.until(`!`+root+`.querySelector('.pn').hidden`, "the panel reopens")
		tb2.waitMessages(all...)
	})

	t.Run("closed chat and a new one", func(t *testing.T) {
		tb.t = t
		if err := s.engine.Close(ctx, conv.ID, alice); err != nil {
			t.Fatal(err)
		}
		tb.until(`!`+root+`.querySelector('.nw').hidden && `+root+`.querySelector('.cp').hidden`, "the widget shows the chat has ended")
		tb.waitMessages(append(all, "Alice Martin ended the chat.")...)
		tb.js(root + `.querySelector('.nw button').click()`)
		tb.until(`!`+root+`.querySelector('.cp').hidden`, "the composer is back")
		tb.waitMessages()
		tb.send("A new question")
		tb.waitMessages("A new question")
		_, c := currentConversation(t, s, tb.token())
		if c.ID == conv.ID || c.Status != bridge.StatusOpen {
			t.Fatalf("current conversation %+v, want a new open one", c)
		}
		tb.do(chromedp.Reload())
		tb.waitMessages("A new question")
	})
}

func TestWidgetSurvivesHostileCSS(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	s := newSite(t, cfg)
	tb := tab{t, testpeer.Browser(t)}
	tb.do(chromedp.EmulateViewport(1280, 800))
	tb.open(s.url("/hostile"))
	if hidden, err := evalJS[bool](tb, `getComputedStyle(document.querySelector('div.cover')).display==='none'`); err != nil || !hidden {
		t.Fatalf("the hostile CSS is not in effect (%v)", err)
	}
	// The bubble is the topmost element at its own centre.
	tb.until(`(()=>{const b=`+root+`.querySelector('.bub'),r=b.getBoundingClientRect();
		const top=`+root+`.elementFromPoint(r.x+r.width/2,r.y+r.height/2);
		return r.width>=50&&r.height>=50&&document.elementFromPoint(r.x+r.width/2,r.y+r.height/2)===document.querySelector('chatbridge-widget')&&b.contains(top)})()`,
		"the bubble is visible, sized and on top")
	tb.click(".bub")
	tb.until(`(()=>{const p=`+root+`.querySelector('.pn'),r=p.getBoundingClientRect();return !p.hidden&&r.width>300&&r.height>300&&getComputedStyle(p).display==='flex'})()`, "the panel opens with its own layout")
	tb.send("Hello despite the CSS")
	tb.waitMessages("Hello despite the CSS")
	// Nothing of the widget leaks into the page's style either.
	if n, err := evalJS[int](tb, `document.styleSheets.length`); err != nil || n != 1 {
		t.Errorf("the page has %d style sheets, want only its own (err %v)", n, err)
	}
}

// Visitor and operator text is shown as text, never as HTML or scripts.
func TestWidgetRendersTextOnly(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	s := newSite(t, cfg)
	tb := tab{t, testpeer.Browser(t)}
	tb.open(s.url("/"))
	tb.click(".bub")
	payloads := []string{
		`<img src=x onerror=window.__xss=1>`,
		`<script>window.__xss=1</script>`,
		`[x](javascript:window.__xss=1)`,
		`javascript:window.__xss=1`,
		`<a href="javascript:window.__xss=1">click</a> <svg onload=window.__xss=1>`,
	}
	var want []string
	for _, p := range payloads {
		tb.js(root + `.querySelector('textarea').value=` + jsString(p) + `;` + root + `.querySelector('.cp').requestSubmit()`)
		want = append(want, p)
		tb.waitMessages(want...)
	}
	_, conv := currentConversation(t, s, tb.token())
	for _, p := range append(payloads, "See https://example.com/a?b=1. and http://x.example/(y)") {
		if _, err := s.engine.Reply(context.Background(), conv.ID, alice, p, ""); err != nil {
			t.Fatal(err)
		}
		want = append(want, p)
	}
	tb.waitMessages(want...)
	for _, check := range []struct{ expr, msg string }{
		{`window.__xss===undefined`, "no payload ran"},
		{root + `.querySelectorAll('.ls img, .ls script, .ls svg, .ls iframe').length===0`, "no element was created from text"},
		{`[...` + root + `.querySelectorAll('.ls a')].every(a=>/^https?:$/.test(new URL(a.href).protocol)&&a.target==='_blank'&&a.rel==='noopener noreferrer nofollow')`, "every link is http(s), opens a new tab, without opener"},
		{`[...` + root + `.querySelectorAll('.ls a')].map(a=>a.getAttribute('href')).join(' ')==='https://example.com/a?b=1 http://x.example/(y'`, "URLs are linked without trailing punctuation"},
		{`document.querySelectorAll('img, svg').length===0`, "nothing leaked into the host page"},
	} {
		ok, err := evalJS[bool](tb, check.expr)
		if err != nil || !ok {
			t.Errorf("%s: %s is false (%v)", check.msg, check.expr, err)
		}
	}
}

func TestWidgetMobileLayout(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	cfg.Language = "fr"
	s := newSite(t, cfg)
	tb := tab{t, testpeer.Browser(t)}
	tb.do(chromedp.EmulateViewport(375, 740, chromedp.EmulateMobile, chromedp.EmulateTouch))
	tb.open(s.url("/"))
	tb.click(".bub")
	tb.until(`(()=>{const r=`+root+`.querySelector('.pn').getBoundingClientRect();return r.x===0&&r.y===0&&r.width===375&&r.height===740})()`, "the panel fills the small screen")
	tb.until(root+`.querySelector('.bub').getBoundingClientRect().width===0`, "the bubble hides behind the full-screen panel")
	tb.until(root+`.querySelector('header b').textContent==='Discutez avec nous'`, "texts are in French")
	tb.send("Bonjour, une question")
	tb.waitMessages("Bonjour, une question")
	_, conv := currentConversation(t, s, tb.token())
	if _, err := s.engine.Reply(context.Background(), conv.ID, alice, "Bonjour ! Je vous écoute : https://example.com/aide", ""); err != nil {
		t.Fatal(err)
	}
	tb.waitMessages("Bonjour, une question", "Bonjour ! Je vous écoute : https://example.com/aide")
	screenshot(tb, "widget-mobile.png")
	tb.click(".x:not(.e)")
	tb.until(root+`.querySelector('.pn').hidden && `+root+`.querySelector('.bub').getBoundingClientRect().width>0`, "the close button brings the bubble back")
}

// The long-poll fallback carries the chat when WebSockets never connect.
func TestWidgetLongPollFallback(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	s := newSite(t, cfg)
	tb := tab{t, testpeer.Browser(t)}
	// Every WebSocket handshake fails, as behind a proxy that refuses
	// upgrades: the socket closes without ever opening.
	addScript(t, tb, `window.WebSocket=class{constructor(){this.readyState=0;setTimeout(()=>{this.readyState=3;this.onclose&&this.onclose({code:1006})},10)}send(){throw new Error('not open')}close(){}}`)
	tb.open(s.url("/"))
	tb.click(".bub")
	tb.send("Over long polling")
	tb.waitMessages("Over long polling")
	_, conv := currentConversation(t, s, tb.token())
	if _, err := s.engine.Reply(context.Background(), conv.ID, alice, "Answer over long polling", ""); err != nil {
		t.Fatal(err)
	}
	tb.waitMessages("Over long polling", "Answer over long polling")
}

// addScript runs src in every new document of the tab before its scripts.
func addScript(t *testing.T, tb tab, src string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(tb.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		t.Fatalf("add init script: %v", err)
	}
}

// A resume link from an offline-reply e-mail opens the visitor's
// conversation in a browser that never saw it, and the code leaves the URL.
func TestWidgetResumeLink(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	var visitorID string
	var calls atomic.Int32
	cfg.Resume = func(_ context.Context, code string) (string, error) {
		calls.Add(1)
		switch {
		case code == "v_used.code":
			return "", fmt.Errorf("resume code: %w", bridge.ErrAlreadyUsed)
		case code == visitorID+".code":
			return visitorID, nil
		}
		return "", errors.New("bad code")
	}
	s := newSite(t, cfg)
	ctx := context.Background()
	_, v, err := s.engine.StartSession(ctx, bridge.SessionInput{Name: "Ann", Email: "ann@example.com"})
	if err != nil {
		t.Fatal(err)
	}
	visitorID = v.ID
	m, err := s.engine.VisitorMessage(ctx, v.ID, "c1", "Question from yesterday")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := s.engine.Reply(ctx, m.ConversationID, alice, "Answer sent by e-mail", ""); err != nil {
		t.Fatal(err)
	}
	tb := tab{t, testpeer.Browser(t)}
	tb.open(s.url("/demo/product/3?ref=mail&chatbridge_resume=" + v.ID + ".code#top"))
	tb.until(`!`+root+`.querySelector('.pn').hidden`, "the panel opens by itself")
	tb.waitMessages("Question from yesterday", "Answer sent by e-mail")
	if got, err := evalJS[string](tb, `location.pathname+location.search+location.hash`); err != nil || got != "/demo/product/3?ref=mail#top" {
		t.Errorf("URL after resume = %q (%v), want the code stripped", got, err)
	}
	if got, err := s.engine.Authenticate(ctx, tb.token()); err != nil || got.ID != v.ID {
		t.Fatalf("stored token is for %q (%v), want %s", got.ID, err, v.ID)
	}
	if !evalOK(tb, root+`.querySelector('.pc').hidden`) {
		t.Error("the pre-chat form is shown to a resumed visitor")
	}
	// The same link opened again where it worked is not sent (a link works
	// once): the conversation is simply there.
	tb.open(s.url("/demo/product/3?chatbridge_resume=" + v.ID + ".code"))
	tb.until(`location.search===''`, "the code leaves the URL again")
	tb.waitMessages("Question from yesterday", "Answer sent by e-mail")
	if n := calls.Load(); n != 1 {
		t.Errorf("the resume endpoint was called %d times, want once", n)
	}

	// A link used before (in another browser) says so, clearly.
	tb3 := tab{t, testpeer.NewTab(t, tb.ctx)}
	tb3.do(chromedp.Navigate(s.url("/api/v1/widget/config")))
	tb3.js(`localStorage.clear()`)
	tb3.open(s.url("/?chatbridge_resume=v_used.code"))
	tb3.until(`!`+root+`.querySelector('.pn').hidden`, "the panel opens to say the link was used")
	tb3.until(root+`.querySelector('.m.rs') && `+root+`.querySelector('.m.rs').textContent.includes('already used')`, "the used-link message")

	// A bad code says the link expired; the widget still works as a fresh
	// chat.
	tb2 := tab{t, testpeer.NewTab(t, tb.ctx)}
	tb2.do(chromedp.Navigate(s.url("/api/v1/widget/config"))) // same origin, no widget
	tb2.js(`localStorage.clear()`)
	tb2.open(s.url("/?chatbridge_resume=forged"))
	tb2.until(`location.search===''`, "the bad code leaves the URL too")
	tb2.until(`!`+root+`.querySelector('.pn').hidden`, "the panel opens")
	tb2.until(root+`.querySelector('.m.rs') && `+root+`.querySelector('.m.rs').textContent.includes('expired')`, "the expired-link message")
	tb2.until(`!`+root+`.querySelector('.pc').hidden`, "the pre-chat form of a fresh chat")
	tb2.waitMessages()
}

// The sound plays for live operator messages in the visible tab only, not
// for history.
func TestWidgetSound(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	s := newSite(t, cfg)
	tb := tab{t, testpeer.Browser(t)}
	addScript(t, tb, `window.__beeps=0;(()=>{const o=AudioContext.prototype.createOscillator;AudioContext.prototype.createOscillator=function(){window.__beeps++;return o.call(this)}})()`)
	tb.open(s.url("/"))
	tb.click(".bub")
	tb.send("Ping")
	tb.waitMessages("Ping")
	_, conv := currentConversation(t, s, tb.token())
	if _, err := s.engine.Reply(context.Background(), conv.ID, alice, "Pong", ""); err != nil {
		t.Fatal(err)
	}
	tb.waitMessages("Ping", "Pong")
	tb.until(`window.__beeps===1`, "one beep for the live reply")
	tb.do(chromedp.Reload())
	tb.until(`!`+root+`.querySelector('.pn').hidden`, "the panel reopens")
	tb.waitMessages("Ping", "Pong")
	tb.click(".x:not(.e)")
	tb.click(".bub") // a user gesture, so that audio may play
	if n, err := evalJS[int](tb, `window.__beeps`); err != nil || n != 0 {
		t.Errorf("history made %d beeps (%v), want none", n, err)
	}
}

func evalOK(tb tab, expr string) bool {
	ok, err := evalJS[bool](tb, expr)
	return err == nil && ok
}

// The e-mail prompt appears when the first message's POST is answered
// before any live frame brings it back (here: no frame ever, the WebSocket
// never opens), which used to leave the widget without the time of the
// visitor's first message, and so without a prompt.
func TestWidgetOfflinePromptFromThePostAlone(t *testing.T) {
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail = "off", "off"
	cfg.OfflineAfter = time.Second
	s := newSite(t, cfg)
	tb := tab{t, testpeer.Browser(t)}
	addScript(t, tb, `window.WebSocket=class{constructor(){this.readyState=0}send(){}close(){}}`)
	tb.open(s.url("/"))
	tb.click(".bub")
	tb.send("Anyone there?")
	tb.waitMessages("Anyone there?")
	tb.until(`!`+root+`.querySelector('.of').hidden`, "the e-mail prompt appears when nobody answers")
}
