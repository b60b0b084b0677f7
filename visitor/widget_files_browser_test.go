package visitor_test

import (
	"bytes"
	"context"
	"image"
	"image/color"
	"image/png"
	"os"
	"path/filepath"
	"strconv"
	"testing"

	"github.com/chromedp/chromedp"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/files"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	"github.com/chatbridge/chatbridge/visitor"
)

// fileLimit is the largest file of the file tests.
const fileLimit = 64 << 10

// newFileSite is a site whose visitor API keeps files in a temporary blob
// store, with the widget's attach button on.
func newFileSite(t *testing.T, lang string) (*site, bridge.BlobStore) {
	t.Helper()
	blobs, err := blobdir.Open(filepath.Join(t.TempDir(), "files"))
	if err != nil {
		t.Fatal(err)
	}
	cfg := visitor.DefaultWidgetConfig()
	cfg.PrechatName, cfg.PrechatEmail, cfg.Language, cfg.MaxFileBytes = "off", "off", lang, fileLimit
	return newSiteWithAPI(t, cfg, visitor.Config{Blobs: blobs, MaxFileBytes: fileLimit, TempDir: t.TempDir()}), blobs
}

// PNGFileJS is a promise of a File holding a PNG drawn on a canvas, as a
// screenshot on the clipboard is.
const pngFileJS = `(()=>{const c=document.createElement('canvas');c.width=64;c.height=48;const x=c.getContext('2d');
x.fillStyle='#c00';x.fillRect(0,0,64,48);x.fillStyle='#0a0';x.fillRect(8,8,24,24);
return new Promise(r=>c.toBlob(b=>r(new File([b],'image.png',{type:'image/png'})),'image/png'))})()`

// fileJS is a promise of a File with body as its bytes.
func fileJS(name, mime, body string) string {
	return `Promise.resolve(new File([` + jsString(body) + `],` + jsString(name) + `,{type:` + jsString(mime) + `}))`
}

// bigFileJS is a promise of a File of n zero bytes.
func bigFileJS(name string, n int) string {
	return `Promise.resolve(new File([new Uint8Array(` + strconv.Itoa(n) + `)],` + jsString(name) + `))`
}

// paste dispatches a paste event carrying the file of the promise file on
// the widget's text box, as pasting from the clipboard does.
func (tb tab) paste(file string) {
	tb.t.Helper()
	tb.js(file + `.then(f=>{const dt=new DataTransfer();dt.items.add(f);` + root + `.querySelector('textarea').dispatchEvent(new ClipboardEvent('paste',{clipboardData:dt,bubbles:true,cancelable:true,composed:true}))})`)
}

// drop drops the file of the promise file on the widget's panel.
func (tb tab) drop(file string) {
	tb.t.Helper()
	tb.js(file + `.then(f=>{const dt=new DataTransfer();dt.items.add(f);const p=` + root + `.querySelector('.pn');
		p.dispatchEvent(new DragEvent('dragover',{dataTransfer:dt,bubbles:true,cancelable:true}));p.dispatchEvent(new DragEvent('drop',{dataTransfer:dt,bubbles:true,cancelable:true}))})`)
}

// imageShown is a JS condition: the n-th message element (0-based, the
// greeting excluded) of class cls shows a loaded image from the server.
func imageShown(n int, cls string) string {
	return `(()=>{const m=[...` + root + `.querySelectorAll('.ls .m:not(.g)')][` + strconv.Itoa(n) + `],i=m&&m.querySelector('.b img');
		return !!i&&m.classList.contains(` + jsString(cls) + `)&&!m.classList.contains('p')&&i.complete&&i.naturalWidth>0&&i.src.startsWith(location.origin+'/api/v1/files/')})()`
}

// The widget sends files three ways (a pasted screenshot, the attach
// button, a drop), shows refusals clearly, and shows operators' files,
// edits, deletions and emotes, and system lines in the visitor's language.
func TestWidgetFiles(t *testing.T) {
	s, blobs := newFileSite(t, "fr")
	ctx := context.Background()
	tb := tab{t, testpeer.Browser(t)}
	tb.do(chromedp.EmulateViewport(1280, 800))
	tb.open(s.url("/"))
	tb.click(".bub")
	tb.until(root+`.querySelector('.cp .at')`, "the composer has an attach button")
	tb.send("Bonjour, voici une capture")
	tb.waitMessages("Bonjour, voici une capture")

	// A pasted screenshot: a preview with a progress bar at once, then the
	// image from the server, through a link signed for this visitor.
	tb.js(`new MutationObserver(ms=>{for(const m of ms)for(const n of m.addedNodes)if(n.querySelector&&n.querySelector('progress')){
		const i=n.querySelector('.b img');window.__pending=(i&&i.src.startsWith('blob:'))?'preview':'no preview'}}).observe(` + root + `.querySelector('.ls'),{childList:true})`)
	tb.paste(pngFileJS)
	tb.until(`window.__pending==='preview'`, "the screenshot shows at once as a local preview with a progress bar")
	tb.until(imageShown(1, "v"), "the pasted screenshot shows as the visitor's image from the server")
	v, conv := currentConversation(t, s, tb.token())
	msgs, err := s.engine.Messages(ctx, conv.ID, 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if len(msgs) != 2 || msgs[1].File == nil || msgs[1].File.Type != "image/png" || msgs[1].File.Name != "image.png" || msgs[1].File.Width != 64 {
		t.Fatalf("stored messages %+v", msgs)
	}

	// The attach button, with a PDF from the disk: a download link.
	pdf := filepath.Join(t.TempDir(), "facture.pdf")
	pdfBytes := []byte("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n")
	pdfShown := "📎 facture.pdf (" + strconv.Itoa(len(pdfBytes)) + " B)"
	if err := os.WriteFile(pdf, pdfBytes, 0o600); err != nil {
		t.Fatal(err)
	}
	tb.do(chromedp.SetUploadFiles(chromedp.JSPath(root+`.querySelector('.cp input[type=file]')`), []string{pdf}))
	tb.until(`[...`+root+`.querySelectorAll('.ls .m.v a.fl')].some(a=>a.textContent===`+jsString(pdfShown)+`&&a.href.startsWith(location.origin+'/api/v1/files/'))`, "the attached PDF shows as a download link")

	// A dropped image.
	tb.drop(pngFileJS)
	tb.until(imageShown(3, "v"), "the dropped image shows")

	// Refusals: said clearly, nothing stored. HTML disguised as an image
	// is refused by the server; a file over the limit by the widget.
	const disguised = "<!DOCTYPE html><html><script>alert(1)</script></html>"
	tb.paste(fileJS("chat.png", "image/png", disguised))
	tb.until(`[...`+root+`.querySelectorAll('.ls .m.f .a')].some(e=>e.textContent==='Non envoyé : Ce type de fichier n’est pas accepté : envoyez un PDF, un PNG ou un JPEG.')`, "the disguised HTML file is refused with the server's reason, in French")
	tb.paste(bigFileJS("video.mp4", fileLimit+1))
	tb.until(`[...`+root+`.querySelectorAll('.ls .m.f .a')].some(e=>e.textContent==='Non envoyé : Le fichier est trop volumineux : la limite est de 64 KB')`, "the oversized file is refused before it is sent")
	if msgs, _ := s.engine.Messages(ctx, conv.ID, 0, 0); len(msgs) != 4 {
		t.Fatalf("%d messages stored, want 4: a refused file stored a message", len(msgs))
	}

	// An operator's image and reply; the reply is edited, then deleted;
	// an emote.
	a, err := files.Ingest(ctx, blobs, bytes.NewReader(pngBytes(t)), "plan.png", files.Options{MaxBytes: fileLimit})
	if err != nil {
		t.Fatal(err)
	}
	op := func(in bridge.OperatorInput) {
		t.Helper()
		in.ConversationID, in.Operator = conv.ID, alice
		if err := s.engine.HandleOperator(ctx, in); err != nil {
			t.Fatal(err)
		}
	}
	op(bridge.OperatorInput{EventID: "img", File: &a, Text: "Voici le plan"})
	tb.until(imageShown(4, "o"), "the operator's image shows in the widget")
	tb.until(root+`.querySelectorAll('.ls .m.o:not(.g)')[0].querySelector('.b').textContent.endsWith('Voici le plan')`, "with its caption")
	op(bridge.OperatorInput{EventID: "r1", Text: "Je regarde ça"})
	op(bridge.OperatorInput{EventID: "wave", Text: "vous salue", Emote: true})
	// (The refused files stay below, with their reasons, until a reload.)
	tb.waitMessages("Bonjour, voici une capture", "", pdfShown, "", "\nVoici le plan", "Je regarde ça", "* Alice Martin vous salue",
		"📎 chat.png ("+strconv.Itoa(len(disguised))+" B)", "📎 video.mp4 (64 KB)")
	op(bridge.OperatorInput{EventID: "e1", Edits: "r1", Text: "Je regarde ça tout de suite"})
	tb.until(`[...`+root+`.querySelectorAll('.ls .m.o .b')].some(b=>b.textContent==='Je regarde ça tout de suite · modifié')`, "the edit replaces the reply, marked edited")
	op(bridge.OperatorInput{EventID: "d1", Deletes: "r1"})
	tb.until(`[...`+root+`.querySelectorAll('.ls .m.o .b')].some(b=>b.textContent==='Message supprimé')&&![...`+root+`.querySelectorAll('.ls .m .b')].some(b=>b.textContent.includes('Je regarde'))`, "the deletion removes the reply's text")

	// A reload shows the same, from the API.
	tb.do(chromedp.Reload())
	tb.until(`!`+root+`.querySelector('.pn').hidden`, "the panel reopens")
	tb.waitMessages("Bonjour, voici une capture", "", pdfShown, "", "\nVoici le plan", "Message supprimé", "* Alice Martin vous salue")
	tb.until(imageShown(1, "v")+`&&`+imageShown(4, "o"), "the images load again after the reload")

	// The operator ends the chat: the visitor reads it in French.
	if err := s.engine.Close(ctx, conv.ID, alice); err != nil {
		t.Fatal(err)
	}
	tb.until(`[...`+root+`.querySelectorAll('.ls .m.s .b')].some(b=>b.textContent==='Alice Martin a mis fin à la conversation.')`, "the close line is in French")
	_ = v
}

func pngBytes(t *testing.T) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, 40, 30))
	for x := range 40 {
		img.Set(x, x%30, color.RGBA{0, 0, 200, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}
