package email

import (
	"context"
	"encoding/json"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/cdproto/page"
	"github.com/chromedp/chromedp"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chatbridge/chatbridge/visitor"
)

// TestBrowserOfflineEmailAfterLeavingThePage is the report of issue 13 item
// 1, in Chromium: the visitor leaves an e-mail address, then navigates the
// tab to another page; Chromium keeps the chat page, WebSocket included, in
// its back/forward cache. An operator answers shortly after: the visitor is
// away, so the answer is e-mailed. Back on the page, the chat goes on.
func TestBrowserOfflineEmailAfterLeavingThePage(t *testing.T) {
	const awayAfter = 2 * time.Second // email.away_after, scaled down
	engine := fixture.Engine(t, fixture.Options{NoRun: true, Config: bridge.Config{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}})
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	base := "http://" + ln.Addr().String()
	smtp := startSMTPD(t)
	hub := engine.Hub()
	mailer, err := New(Config{
		Host: "127.0.0.1", Port: smtp.port(), From: "Support <support@shop.example>", TLS: TLSNone,
		PublicURL: base, AwayAfter: awayAfter, Timeout: 10 * time.Second,
		Away: func(visitorID string) bool { return hub.Away(visitorID, awayAfter) }, // as the serve command wires it
	}, engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := engine.Register(mailer); err != nil {
		t.Fatal(err)
	}
	vs, err := visitor.New(visitor.Config{}, engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := visitor.DefaultWidgetConfig()
	wcfg.PrechatName, wcfg.PrechatEmail, wcfg.OfflineAfter, wcfg.Resume = "off", "off", time.Second, mailer.VerifyResume
	widget, err := visitor.NewWidget(wcfg, engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/api/v1/", vs.Handler())
	widget.Mount(mux)
	mux.HandleFunc("GET /elsewhere", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = rw.Write([]byte(`<!doctype html><title>Elsewhere</title><p>another page, without the widget`))
	})
	srv := &http.Server{Handler: mux, ReadHeaderTimeout: 5 * time.Second}
	ctx := context.Background()
	fixture.Run(t, engine.Run)
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { vs.Close(); _ = srv.Close() })

	// The browser records pageshow events (persisted: back from the
	// back/forward cache) and the event types the page listens to.
	bctx := testpeer.Browser(t)
	tb := browserTab{t, bctx}
	tb.initScript(`window.__shown=[];window.__listens=[];addEventListener('pageshow',e=>__shown.push(e.persisted));
(()=>{const o=EventTarget.prototype.addEventListener;EventTarget.prototype.addEventListener=function(t,...a){__listens.push(t);return o.call(this,t,...a)}})()`)
	const root = `document.querySelector('chatbridge-widget').shadowRoot`
	tb.run(chromedp.Navigate(base + "/demo/product/2"))
	tb.until(root+`.querySelector('.bub')`, "the widget loads")
	tb.js(root + `.querySelector('.bub').click()`)
	tb.js(root + `.querySelector('textarea').value='Where is my parcel?';` + root + `.querySelector('.cp').requestSubmit()`)
	tb.until(`!`+root+`.querySelector('.of').hidden`, "nobody answers: the widget asks for an e-mail address")
	tb.js(root + `.querySelector('.of input').value='ann@example.com';` + root + `.querySelector('.of').requestSubmit()`)
	tb.until(root+`.querySelector('.ok')`, "the widget thanks the visitor")
	var tok string
	if err := json.Unmarshal([]byte(tb.str(`localStorage.getItem('chatbridge:'+location.origin+':tok')`)), &tok); err != nil {
		t.Fatal(err)
	}
	v, err := engine.Authenticate(ctx, tok)
	if err != nil || v.Email != "ann@example.com" {
		t.Fatalf("visitor %+v (%v), want the e-mail address stored", v, err)
	}
	view, err := engine.VisitorMessages(ctx, v.ID, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	testpeer.WaitFor(t, 15*time.Second, func() bool { return !hub.Away(v.ID, 0) }, "the visitor is present while on the page")
	if tb.str(`String(__listens.includes('unload')||__listens.includes('beforeunload')||!!window.onunload)`) != "false" {
		t.Fatalf("the page has an unload handler, which keeps it out of the back/forward cache")
	}

	// The visitor goes to another page; the operator answers soon after,
	// before away_after has passed since the visitor left.
	tb.run(chromedp.Navigate(base + "/elsewhere"))
	testpeer.WaitFor(t, 15*time.Second, func() bool { return hub.Away(v.ID, 0) }, "the visitor has no live connection once the page is cached")
	if _, err := engine.Reply(ctx, view.Conversation.ID, op, "Your parcel ships today.", ""); err != nil {
		t.Fatal(err)
	}
	var m mailOf
	select {
	case r := <-smtp.mail:
		m = decodeMail(t, r)
	case <-time.After(15 * time.Second):
		t.Fatal("no offline e-mail for a visitor who left the page")
	}
	if !strings.Contains(m.header.Get("To"), "ann@example.com") || !strings.Contains(m.plain, "Your parcel ships today.") ||
		!strings.Contains(m.plain, base+"/?chatbridge_resume=") {
		t.Errorf("e-mail to %q:\n%s", m.header.Get("To"), m.plain)
	}

	// Back: the page comes from the back/forward cache (else this test
	// proved nothing) and the chat goes on with the answer.
	tb.js(`history.back()`)
	tb.until(`location.pathname==='/demo/product/2'&&__shown.length>1`, "the chat page is shown again")
	if got := tb.str(`JSON.stringify(__shown)`); got != "[false,true]" {
		t.Fatalf("pageshow persisted flags %s: the page was not restored from the back/forward cache", got)
	}
	tb.until(`[...`+root+`.querySelectorAll('.ls .m .b')].some(e=>e.textContent==='Your parcel ships today.')`, "the answer is shown in the widget")
	testpeer.WaitFor(t, 15*time.Second, func() bool { return !hub.Away(v.ID, 0) }, "the visitor is present again")
}

// browserTab drives one Chromium tab.
type browserTab struct {
	t   *testing.T
	ctx context.Context
}

func (b browserTab) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func (b browserTab) str(expr string) string {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[string](expr))
	if err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
	return v
}

func (b browserTab) js(expr string) { b.t.Helper(); b.str(`(()=>{` + expr + `;return ''})()`) }

// until polls a JavaScript condition.
func (b browserTab) until(cond, msg string) {
	b.t.Helper()
	testpeer.WaitFor(b.t, 15*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool](`(()=>{try{return !!(`+cond+`)}catch(e){return false}})()`))
		return err == nil && ok
	}, msg)
}

// initScript runs src in every new document of the tab before its scripts.
func (b browserTab) initScript(src string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Call(ctx, page.AddScriptToEvaluateOnNewDocument, page.AddScriptToEvaluateOnNewDocumentParams{Source: src}); err != nil {
		b.t.Fatal(err)
	}
}
