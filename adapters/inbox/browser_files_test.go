package inbox

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/chromedp/chromedp"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/commands"
	fx "github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chatbridge/chatbridge/visitor"
)

// pageTab drives one page (the widget's or the inbox's) with polling conditions.
type pageTab struct {
	t   *testing.T
	ctx context.Context
}

func (b pageTab) run(actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 20*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.t.Fatal(err)
	}
}

func (b pageTab) js(expr string) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	if _, err := chromedp.Run(ctx, chromedp.Evaluate[chromedp.Void](expr)); err != nil {
		b.t.Fatalf("%s: %v", expr, err)
	}
}

func (b pageTab) until(cond, msg string) {
	b.t.Helper()
	testpeer.WaitFor(b.t, 20*time.Second, func() bool {
		ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
		defer cancel()
		ok, err := chromedp.Run(ctx, chromedp.Evaluate[bool]("(()=>{try{return !!("+cond+")}catch(e){return false}})()"))
		return err == nil && ok
	}, msg)
}

// widget is the widget's shadow root in the visitor's page.
const widget = `document.querySelector('chatbridge-widget').shadowRoot`

// shopPage is a page of the site with the widget.
const shopPage = `<!doctype html><html><head><title>Shop</title></head><body><p>shop</p><script src="/widget.js" async></script></body></html>`

// The whole loop in two real browser contexts, a French visitor and an
// operator in the inbox: the visitor pastes a screenshot, the operator
// sees it and answers with an image, edits and deletes a reply (an edit
// into a command is refused and the original stays), and closes the chat,
// which the visitor reads in French and the inbox in English.
func TestBrowserFilesBothWays(t *testing.T) {
	ctx := context.Background()
	blobs, err := blobdir.Open(filepath.Join(t.TempDir(), "files"))
	if err != nil {
		t.Fatal(err)
	}
	eng := fx.Engine(t, fx.Options{NoRun: true})
	if err := eng.Register(commands.New(eng, commands.Options{})); err != nil {
		t.Fatal(err)
	}
	vs, err := visitor.New(visitor.Config{Blobs: blobs, MaxFileBytes: 1 << 20, TempDir: t.TempDir()}, eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	wcfg := visitor.DefaultWidgetConfig()
	wcfg.PrechatName, wcfg.PrechatEmail, wcfg.Language, wcfg.MaxFileBytes, wcfg.DemoPage = "off", "off", "fr", 1<<20, false
	w, err := visitor.NewWidget(wcfg, eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	in, err := New(Config{Operators: []OperatorAccount{alice.OperatorAccount}, Blobs: blobs, TempDir: t.TempDir()}, eng, nil)
	if err != nil {
		t.Fatal(err)
	}
	if err := eng.Register(in); err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", vs.Handler())
	w.Mount(mux)
	mux.Handle("/inbox/", in.Handler())
	mux.HandleFunc("GET /shop", func(rw http.ResponseWriter, _ *http.Request) {
		rw.Header().Set("Content-Type", "text/html; charset=utf-8")
		_, _ = rw.Write([]byte(shopPage))
	})
	srv := httptest.NewServer(mux)
	t.Cleanup(func() { vs.Close(); srv.Close() })
	fx.Run(t, eng.Run)
	fx.Run(t, in.Run)

	// The visitor, in the browser's first context.
	vis := pageTab{t, testpeer.Browser(t)}
	vis.run(chromedp.EmulateViewport(1280, 800), chromedp.Navigate(srv.URL+"/shop"))
	vis.until(widget+".querySelector('.bub')", "the widget loads")
	vis.js(widget + ".querySelector('.bub').click()")
	vis.js(widget + `.querySelector('textarea').value='Bonjour, ma commande ne passe pas';` + widget + `.querySelector('.cp').requestSubmit()`)
	var conv bridge.Conversation
	testpeer.WaitFor(t, 20*time.Second, func() bool {
		cs, err := eng.Conversations(ctx, bridge.ConversationFilter{Status: bridge.StatusOpen})
		if err == nil && len(cs) == 1 {
			conv = cs[0].Conversation
		}
		return conv.ID != ""
	}, "the visitor's conversation starts")
	// A screenshot pasted from the clipboard.
	vis.js(`(()=>{const c=document.createElement('canvas');c.width=80;c.height=50;const x=c.getContext('2d');x.fillStyle='#06c';x.fillRect(0,0,80,50);
		c.toBlob(b=>{const dt=new DataTransfer();dt.items.add(new File([b],'image.png',{type:'image/png'}));
		` + widget + `.querySelector('textarea').dispatchEvent(new ClipboardEvent('paste',{clipboardData:dt,bubbles:true,cancelable:true}))},'image/png')})()`)
	vis.until(`[...`+widget+`.querySelectorAll('.ls .m.v .b img')].some(i=>i.complete&&i.naturalWidth===80&&i.src.startsWith(location.origin+'/api/v1/files/'))`, "the screenshot shows in the widget")

	// The operator, logged in in a second browser context (no shared
	// cookies or storage).
	octx, cancel := chromedp.NewContext(vis.ctx, chromedp.WithNewBrowserContext())
	t.Cleanup(cancel)
	op := pageTab{t, octx}
	// (Watching the page's events also makes chromedp follow the
	// execution contexts of a tab in a new browser context.)
	watch := watchPage(t, octx)
	op.run(
		chromedp.EmulateViewport(1280, 900),
		chromedp.Navigate(srv.URL+"/inbox/c/"+conv.ID),
		chromedp.WaitVisible(chromedp.CSS("#login")),
		chromedp.SendKeys(chromedp.CSS("#login"), "alice"),
		chromedp.SendKeys(chromedp.CSS("#password"), alice.password),
		chromedp.Submit(chromedp.CSS("#password")),
		chromedp.WaitVisible(chromedp.CSS("#transcript")),
	)
	op.until(`document.querySelector('#live.on')`, "the inbox's live stream")
	op.until(`[...document.querySelectorAll('#transcript .msg.from-visitor .file img')].some(i=>i.complete&&i.naturalWidth===80)`, "the inbox shows the visitor's screenshot")
	op.js(`window.confirm=()=>true`)

	// The operator answers with an image and a caption.
	var img bytes.Buffer
	pic := image.NewRGBA(image.Rect(0, 0, 60, 40))
	for x := range 60 {
		pic.Set(x, x%40, color.RGBA{200, 0, 0, 255})
	}
	if err := png.Encode(&img, pic); err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "plan.png")
	if err := os.WriteFile(path, img.Bytes(), 0o600); err != nil {
		t.Fatal(err)
	}
	op.run(
		chromedp.SetUploadFiles(chromedp.CSS("#reply-file"), []string{path}),
		chromedp.SendKeys(chromedp.CSS("#reply-text"), "Voici le plan\n"),
	)
	vis.until(`[...`+widget+`.querySelectorAll('.ls .m.o .b')].some(b=>{const i=b.querySelector('img');return i&&i.complete&&i.naturalWidth===60&&b.textContent.endsWith('Voici le plan')})`, "the operator's image reaches the widget")
	op.until(`[...document.querySelectorAll('#transcript .msg.own .file img')].some(i=>i.complete&&i.naturalWidth===60)`, "the inbox shows the operator's image")
	op.until(`document.querySelector('#reply-file').value===''&&document.querySelector('#reply-text').value===''`, "the reply box is cleared")

	// A reply, edited, then an edit into a command (refused), then deleted.
	op.run(chromedp.SendKeys(chromedp.CSS("#reply-text"), "Je regarde\n"))
	vis.until(`[...`+widget+`.querySelectorAll('.ls .m.o .b')].some(b=>b.textContent==='Je regarde')`, "the reply reaches the widget")
	const mine = `[...document.querySelectorAll('#transcript .msg.own')].find(li=>li.querySelector('.text')&&li.querySelector('.text').textContent.startsWith('Je regarde'))`
	op.until(mine+`.querySelector('.msg-actions .edit')`, "the operator's reply has Edit")
	op.js(mine + `.querySelector('.edit').click()`)
	op.until(`document.activeElement===`+mine+`.querySelector('.edit-box textarea')`, "the edit box opens")
	op.js(`document.activeElement.select()`)
	op.run(chromedp.KeyEvent("Je regarde tout de suite\r"))
	testpeer.WaitFor(t, 20*time.Second, func() bool {
		view, err := eng.VisitorMessages(ctx, conv.VisitorID, "", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, m := range view.Messages {
			if m.Text == "Je regarde tout de suite" && !m.EditedAt.IsZero() {
				return true
			}
		}
		return false
	}, "the edit is stored")
	vis.until(`[...`+widget+`.querySelectorAll('.ls .m.o .b')].some(b=>b.textContent==='Je regarde tout de suite · modifié')`, "the widget shows the edit, marked edited")
	op.until(mine+`&&`+mine+`.querySelector('.text').textContent==='Je regarde tout de suite'&&`+mine+`.querySelector('.edited')`, "the inbox shows the edit")

	op.js(mine + `.querySelector('.edit').click()`)
	op.until(`document.activeElement===`+mine+`.querySelector('.edit-box textarea')`, "the edit box opens again")
	op.js(`document.activeElement.select()`)
	op.run(chromedp.KeyEvent("!help\r"))
	op.until(`[...document.querySelectorAll('#transcript .msg.vis-whisper .text')].some(p=>p.textContent.includes('Not edited for the visitor'))`, "the edit into a command is refused with a whisper")
	vis.until(`[...`+widget+`.querySelectorAll('.ls .m.o .b')].some(b=>b.textContent==='Je regarde tout de suite · modifié')`, "the widget keeps the first edit")

	op.js(mine + `.querySelector('.delete').click()`)
	vis.until(`[...`+widget+`.querySelectorAll('.ls .m.o .b')].some(b=>b.textContent==='Message supprimé')&&![...`+widget+`.querySelectorAll('.ls .b')].some(b=>b.textContent.includes('Je regarde'))`, "the widget removes the deleted reply's text")
	op.until(`[...document.querySelectorAll('#transcript .msg.deleted .text')].some(p=>p.textContent==='Message deleted.')`, "the inbox marks the reply deleted")

	// An emote from the inbox.
	op.run(chromedp.SendKeys(chromedp.CSS("#reply-text"), "/me vous salue\n"))
	vis.until(`[...`+widget+`.querySelectorAll('.ls .m.o .b')].some(b=>b.textContent==='* Alice Martin vous salue')`, "the emote reads as an action in the widget")
	op.until(`[...document.querySelectorAll('#transcript .msg .text.emote')].some(p=>p.textContent==='* Alice Martin vous salue')`, "and in the inbox")

	// The operator closes the chat: French for the visitor, English in
	// the inbox.
	op.js(`document.querySelector('#close-button').click()`)
	vis.until(`[...`+widget+`.querySelectorAll('.ls .m.s .b')].some(b=>b.textContent==='Alice Martin a mis fin à la conversation.')`, "the visitor reads the close line in French")
	op.until(`[...document.querySelectorAll('#transcript .msg.from-system .text')].some(p=>p.textContent==='Alice Martin ended the chat.')`, "the inbox shows it in English")

	// Everything stored once: the screenshot, the operator's image.
	msgs, err := eng.Messages(ctx, conv.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	var withFiles []string
	for _, m := range msgs {
		if m.File != nil {
			withFiles = append(withFiles, string(m.From)+":"+m.File.Name+":"+strconv.Itoa(m.File.Width))
		}
	}
	if len(withFiles) != 2 || withFiles[0] != "visitor:image.png:80" || withFiles[1] != "operator:plan.png:60" {
		t.Errorf("files stored: %q", withFiles)
	}
	if errs := watch.errors(); len(errs) > 0 {
		t.Errorf("inbox console errors (CSP violations?): %q", errs)
	}
}
