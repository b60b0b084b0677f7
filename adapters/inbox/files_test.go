package inbox

import (
	"bytes"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"mime/multipart"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/files"
)

func testPNG(t *testing.T, w, h int) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{0, 120, 200, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// fileFixture is a fixture whose inbox keeps files in a temporary blob
// directory (returned, to count what is stored).
func fileFixture(t *testing.T, cfg Config) (*fixture, string) {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "files")
	blobs, err := blobdir.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	cfg.Blobs, cfg.TempDir = blobs, t.TempDir()
	return newFixture(t, cfg), dir
}

func countBlobs(t *testing.T, dir string) int {
	t.Helper()
	n := 0
	_ = filepath.WalkDir(dir, func(_ string, d os.DirEntry, err error) error {
		if err == nil && !d.IsDir() {
			n++
		}
		return nil
	})
	return n
}

// replyWithFile posts the reply form as the page's script does with a file
// attached (multipart, JSON answer).
func (c *client) replyWithFile(convID, text, name string, data []byte) (int, string) {
	c.t.Helper()
	var body bytes.Buffer
	mw := multipart.NewWriter(&body)
	for k, v := range map[string]string{"csrf": c.csrf, "event_id": randomString(16), "text": text} {
		_ = mw.WriteField(k, v)
	}
	fw, err := mw.CreateFormFile("file", name)
	if err != nil {
		c.t.Fatal(err)
	}
	_, _ = fw.Write(data)
	_ = mw.Close()
	req, _ := http.NewRequest(http.MethodPost, c.base+"/inbox/c/"+convID+"/reply", &body)
	req.Header.Set("Content-Type", mw.FormDataContentType())
	req.Header.Set("Accept", "application/json")
	res := c.do(req)
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b)
}

// Operators attach files to replies; the files of messages are served to
// logged-in operators only, as sandboxed downloads; bad files are refused
// with a clear error and store nothing.
func TestInboxFiles(t *testing.T) {
	f, dir := fileFixture(t, Config{MaxFileBytes: 64 << 10})
	if err := f.engine.Register(interceptor{}); err != nil {
		t.Fatal(err)
	}
	vid, first := f.visitorSays("", "Vera", "hello")
	conv := first.ConversationID
	a := f.login(alice)

	// A visitor's file, stored by the visitor API (here: directly).
	att, err := files.Ingest(f.ctx, f.inbox.cfg.Blobs, bytes.NewReader(testPNG(t, 20, 10)), "screen.png", files.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := f.engine.VisitorSend(f.ctx, vid, bridge.VisitorInput{ClientID: "f1", File: &att}); err != nil {
		t.Fatal(err)
	}
	cv := a.conversation(conv)
	vf := cv.Messages[1].File
	if vf == nil || vf.Name != "screen.png" || !vf.Image || vf.Width != 20 || vf.URL != "/inbox/files/"+conv+"/2" {
		t.Fatalf("visitor's file as the inbox sees it: %+v", vf)
	}
	status, body, hdr := a.get(vf.URL)
	if status != 200 || hdr.Get("Content-Type") != "image/png" || hdr.Get("X-Content-Type-Options") != "nosniff" ||
		hdr.Get("Content-Security-Policy") != "sandbox; default-src 'none'" || hdr.Get("Content-Disposition") != `attachment; filename="screen.png"` {
		t.Fatalf("served file: %d %v", status, hdr)
	}
	if _, err := png.Decode(strings.NewReader(body)); err != nil {
		t.Errorf("served bytes are not the PNG: %v", err)
	}
	// Not to anyone else.
	if status, _, _ := f.anonymous().get(vf.URL); status != http.StatusUnauthorized {
		t.Errorf("anonymous fetch: %d, want 401", status)
	}
	for _, bad := range []string{"/inbox/files/" + conv + "/1", "/inbox/files/" + conv + "/99", "/inbox/files/c_nope/2", "/inbox/files/" + conv + "/x"} {
		if status, _, _ := a.get(bad); status != http.StatusNotFound {
			t.Errorf("GET %s: %d, want 404", bad, status)
		}
	}

	// The operator's own image, with a caption: to the visitor too.
	if status, body := a.replyWithFile(conv, "Here is the map", "map.png", testPNG(t, 30, 30)); status != 200 {
		t.Fatalf("reply with a file: %d %s", status, body)
	}
	view, err := f.engine.VisitorMessages(f.ctx, vid, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	last := view.Messages[len(view.Messages)-1]
	if last.File == nil || last.File.Name != "map.png" || last.Text != "Here is the map" || last.From != bridge.FromOperator {
		t.Fatalf("visitor got %+v", last)
	}
	// A file alone, without a caption.
	if status, body := a.replyWithFile(conv, "", "notes.txt", []byte("order 1234\n")); status != 200 {
		t.Fatalf("file without caption: %d %s", status, body)
	}
	// A file under a note stays with the operators.
	if status, body := a.replyWithFile(conv, ";;for us only", "internal.txt", []byte("secret\n")); status != 200 {
		t.Fatalf("file under a note: %d %s", status, body)
	}
	view, _ = f.engine.VisitorMessages(f.ctx, vid, "", 0, 0)
	for _, m := range view.Messages {
		if m.File != nil && m.File.Name == "internal.txt" {
			t.Fatal("a file with a note as its caption reached the visitor")
		}
	}
	if n := len(view.Messages); n != 4 {
		t.Fatalf("visitor has %d messages, want 4", n)
	}
	blobs := countBlobs(t, dir)

	// Refusals: a clear message, nothing stored, nothing sent.
	for _, tc := range []struct {
		name, file string
		data       []byte
		status     int
		says       string
	}{
		{"html as image", "cat.png", []byte("<html><script>alert(1)</script></html>"), 400, "HTML, XML and SVG files could run script"},
		{"svg", "logo.svg", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), 400, "HTML, XML and SVG"},
		{"truncated", "cut.png", testPNG(t, 30, 30)[:60], 400, "damaged or incomplete"},
		{"empty", "empty.txt", nil, 400, "the file is empty"},
		{"oversized", "big.bin", make([]byte, 64<<10+1), 413, "The file is too large: the limit is 64 KB."},
	} {
		status, body := a.replyWithFile(conv, "look", tc.file, tc.data)
		var e struct{ Error string }
		_ = json.Unmarshal([]byte(body), &e)
		if status != tc.status || !strings.Contains(e.Error, tc.says) {
			t.Errorf("%s: %d %s, want %d saying %q", tc.name, status, body, tc.status, tc.says)
		}
	}
	if n := countBlobs(t, dir); n != blobs {
		t.Errorf("%d blobs after the refusals, want %d", n, blobs)
	}
	if v, _ := f.engine.VisitorMessages(f.ctx, vid, "", 0, 0); len(v.Messages) != 4 {
		t.Errorf("a refused file sent something: %d messages", len(v.Messages))
	}

	// The page shows images inline and other files as download links.
	_, html, _ := a.get("/inbox/c/" + conv)
	for _, want := range []string{
		`<img src="/inbox/files/` + conv + `/2" alt="screen.png" width="20" height="10">`,
		`<a href="/inbox/files/` + conv + `/`, `download>📎 notes.txt</a> <span class="size">(11 bytes)</span>`,
		`enctype="multipart/form-data"`, `<input type="file" id="reply-file" name="file">`,
	} {
		if !strings.Contains(html, want) {
			t.Errorf("conversation page lacks %s", want)
		}
	}
}

// The reply box without a blob store takes no file.
func TestInboxWithoutFiles(t *testing.T) {
	f := newFixture(t, Config{})
	_, m := f.visitorSays("", "Vera", "hello")
	a := f.login(alice)
	if status, body := a.replyWithFile(m.ConversationID, "x", "a.txt", []byte("hi")); status != http.StatusBadRequest || !strings.Contains(body, "does not keep files") {
		t.Errorf("upload without a blob store: %d %s", status, body)
	}
	_, html, _ := a.get("/inbox/c/" + m.ConversationID)
	if strings.Contains(html, `type="file"`) {
		t.Error("the reply form offers a file without a blob store")
	}
}

// Operators edit and delete their own inbox replies; the visitor's copy
// changes; an edit into a command is refused and the original stays; no one
// else may change them; edits and deletions from other platforms reach the
// page through the revision.
func TestEditAndDelete(t *testing.T) {
	f := newFixture(t, Config{})
	if err := f.engine.Register(interceptor{}); err != nil {
		t.Fatal(err)
	}
	vid, first := f.visitorSays("", "Vera", "hello")
	conv := first.ConversationID
	a, b := f.login(alice), f.login(bob)
	if res := a.reply(conv, "Helo Vera"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", res.StatusCode)
	}
	cv := a.conversation(conv)
	mine := cv.Messages[1]
	if !mine.Editable || mine.Text != "Helo Vera" {
		t.Fatalf("alice's reply %+v, want editable", mine)
	}
	if theirs := b.conversation(conv).Messages[1]; theirs.Editable {
		t.Errorf("bob may edit alice's reply: %+v", theirs)
	}
	change := func(c *client, action, seq, text string) int {
		t.Helper()
		res := c.post("/inbox/c/"+conv+"/"+action, url.Values{"csrf": {c.csrf}, "event_id": {randomString(16)}, "seq": {seq}, "text": {text}},
			map[string]string{"Accept": "application/json"})
		return res.StatusCode
	}
	visitorSees := func() []bridge.Message {
		t.Helper()
		v, err := f.engine.VisitorMessages(f.ctx, vid, "", 0, 0)
		if err != nil {
			t.Fatal(err)
		}
		return v.Messages
	}
	seq := "2"
	if s := change(b, "edit", seq, "Bob was here"); s != http.StatusForbidden {
		t.Errorf("bob's edit of alice's reply: %d, want 403", s)
	}
	if s := change(b, "delete", seq, ""); s != http.StatusForbidden {
		t.Errorf("bob's deletion of alice's reply: %d, want 403", s)
	}
	if s := change(a, "edit", "1", "not mine"); s != http.StatusForbidden {
		t.Errorf("editing the visitor's message: %d, want 403", s)
	}
	if s := change(a, "edit", seq, "Hello Vera"); s != http.StatusNoContent {
		t.Fatalf("alice's edit: %d", s)
	}
	if m := visitorSees()[1]; m.Text != "Hello Vera" || m.EditedAt.IsZero() {
		t.Fatalf("visitor sees %+v after the edit", m)
	}
	// An edit into a command is refused with a whisper; the reply stays.
	if s := change(a, "edit", seq, "!close"); s != http.StatusNoContent {
		t.Fatalf("edit into a command: %d", s)
	}
	if m := visitorSees()[1]; m.Text != "Hello Vera" {
		t.Fatalf("visitor sees %q after an edit into a command", m.Text)
	}
	cv = a.conversation(conv)
	if w := cv.Messages[len(cv.Messages)-1]; w.Visibility != bridge.VisibilityWhisper || !strings.Contains(w.Text, "Not edited for the visitor") {
		t.Errorf("last message %+v, want the refusal as a whisper", w)
	}
	if s := change(a, "delete", seq, ""); s != http.StatusNoContent {
		t.Fatalf("alice's deletion: %d", s)
	}
	if m := visitorSees()[1]; !m.Deleted || m.Text != "" {
		t.Fatalf("visitor sees %+v after the deletion", m)
	}
	if s := change(a, "edit", seq, "again"); s != http.StatusForbidden {
		t.Errorf("editing a deleted reply: %d, want 403", s)
	}

	// A reply from Slack, edited there: the page that read revision R gets
	// it again.
	slack := bridge.Operator{Adapter: "slack", ID: "U1", Name: "Sam"}
	if err := f.engine.HandleOperator(f.ctx, bridge.OperatorInput{EventID: "1.1", ConversationID: conv, Operator: slack, Text: "from slack"}); err != nil {
		t.Fatal(err)
	}
	cv = a.conversation(conv)
	rev, lastSeq := cv.Revision, cv.Messages[len(cv.Messages)-1].Seq
	if err := f.engine.HandleOperator(f.ctx, bridge.OperatorInput{EventID: "1.2", Operator: slack, Edits: "1.1", Text: "from slack, edited"}); err != nil {
		t.Fatal(err)
	}
	var got convView
	if code := a.getJSON("/inbox/api/conversations/"+conv+"?revision=x", &got); code != http.StatusBadRequest {
		t.Errorf("bad revision: %d", code)
	}
	if code := a.getJSON("/inbox/api/conversations/"+conv+"?after="+itoa(lastSeq)+"&revision="+itoa(rev), &got); code != 200 {
		t.Fatalf("refresh: %d", code)
	}
	if len(got.Messages) != 1 || got.Messages[0].Text != "from slack, edited" || got.Messages[0].EditedAt.IsZero() || got.Revision != rev+1 || got.Messages[0].Editable {
		t.Fatalf("refresh after a Slack edit: %+v", got)
	}
	// Without changes, a refresh brings nothing old again.
	if code := a.getJSON("/inbox/api/conversations/"+conv+"?after="+itoa(lastSeq)+"&revision="+itoa(got.Revision), &got); code != 200 || len(got.Messages) != 0 {
		t.Fatalf("refresh without changes: %d %+v", code, got.Messages)
	}
	_, html, _ := a.get("/inbox/c/" + conv)
	for _, want := range []string{`<span class="tag">deleted</span>`, `<p class="text gone" dir="auto">Message deleted.</p>`, `<span class="edited">edited</span>`, "from slack, edited"} {
		if !strings.Contains(html, want) {
			t.Errorf("conversation page lacks %s", want)
		}
	}
	if strings.Contains(html, "Hello Vera") || strings.Contains(html, "Helo Vera") {
		t.Error("the page still shows the deleted reply's text")
	}
}

// "/me waves" is an emote; emotes from anywhere read as actions.
func TestEmotes(t *testing.T) {
	f := newFixture(t, Config{})
	vid, m := f.visitorSays("", "Vera", "hello")
	a := f.login(alice)
	if res := a.reply(m.ConversationID, "/me waves"); res.StatusCode != http.StatusSeeOther {
		t.Fatalf("reply: %d", res.StatusCode)
	}
	v, err := f.engine.VisitorMessages(f.ctx, vid, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	if got := v.Messages[1]; !got.Emote || got.Text != "waves" {
		t.Fatalf("visitor got %+v, want the emote waves", got)
	}
	if got := a.conversation(m.ConversationID).Messages[1]; !got.Emote || got.Text != "waves" {
		t.Fatalf("inbox shows %+v", got)
	}
	_, html, _ := a.get("/inbox/c/" + m.ConversationID)
	if !strings.Contains(html, `<p class="text emote" dir="auto">* <bdi>Alice Martin</bdi> waves</p>`) {
		t.Error("the page does not show the emote as an action")
	}
}

// System lines are in the operators' language (inbox.language), whatever
// the visitor's.
func TestSystemLinesInOperatorsLanguage(t *testing.T) {
	for _, tc := range []struct{ lang, want string }{
		{"", "Alice Martin ended the chat."},
		{"en", "Alice Martin ended the chat."},
		{"fr", "Alice Martin a mis fin à la conversation."},
	} {
		f := newFixture(t, Config{Language: tc.lang})
		_, m := f.visitorSays("", "Vera", "bonjour") // a French visitor (fr-FR)
		a := f.login(alice)
		if err := f.engine.Close(f.ctx, m.ConversationID, operator(alice.OperatorAccount)); err != nil {
			t.Fatal(err)
		}
		msgs := a.conversation(m.ConversationID).Messages
		if got := msgs[len(msgs)-1].Text; got != tc.want {
			t.Errorf("language %q: close line %q, want %q", tc.lang, got, tc.want)
		}
	}
	if _, err := New(Config{Language: "de"}, newFixture(t, Config{}).engine, nil); err == nil {
		t.Error("inbox.language de accepted")
	}
}

// The list shows waiting conversations first, the longest waiting first,
// with the time since the first unanswered visitor message; then the
// others, newest activity first.
func TestWaitingOrderAndTime(t *testing.T) {
	f := newFixture(t, Config{})
	vera, veraFirst := f.visitorSays("", "Vera", "my order is late")
	f.clock.Add(2 * time.Minute)
	_, otto := f.visitorSays("", "Otto", "question")
	f.clock.Add(time.Minute)
	_, ann := f.visitorSays("", "Ann", "hello")
	a := f.login(alice)
	if res := a.reply(ann.ConversationID, "Hi Ann"); res.StatusCode != http.StatusSeeOther {
		t.Fatal(res.StatusCode)
	}
	// Vera keeps writing: her wait still starts at her first message.
	for range 4 {
		f.clock.Add(2 * time.Minute)
		f.visitorSays(vera, "", "anyone?")
	}
	f.clock.Add(time.Minute) // 12 minutes after Vera's first message, 10 after Otto's
	list := a.list("open")
	ids := []string{list[0].ID, list[1].ID, list[2].ID}
	want := []string{veraFirst.ConversationID, otto.ConversationID, ann.ConversationID}
	if strings.Join(ids, ",") != strings.Join(want, ",") {
		t.Fatalf("list order %v, want Vera (waiting longest), Otto, then Ann (answered)", ids)
	}
	if !list[0].WaitingSince.Equal(veraFirst.At) || !list[0].Waiting {
		t.Errorf("Vera waiting since %v, want her first message at %v", list[0].WaitingSince, veraFirst.At)
	}
	if list[2].Waiting || !list[2].WaitingSince.IsZero() {
		t.Errorf("Ann's answered conversation: %+v", list[2])
	}
	_, html, _ := a.get("/inbox/")
	for _, want := range []string{"waiting <time datetime=\"" + veraFirst.At.UTC().Format(time.RFC3339) + "\" data-ago>12 min</time>", "waiting <time", ">10 min</time>"} {
		if !strings.Contains(html, want) {
			t.Errorf("list page lacks %s", want)
		}
	}
	if i, j := strings.Index(html, "Vera"), strings.Index(html, "Otto"); i < 0 || j < 0 || i > j {
		t.Error("the page does not list Vera before Otto")
	}
	// An answer ends the wait; the next visitor message starts a new one.
	if res := a.reply(veraFirst.ConversationID, "Sorry Vera!"); res.StatusCode != http.StatusSeeOther {
		t.Fatal(res.StatusCode)
	}
	f.clock.Add(time.Minute)
	_, again := f.visitorSays(vera, "", "thanks, and another thing")
	it, _ := findItem(a.list("open"), veraFirst.ConversationID)
	if !it.WaitingSince.Equal(again.At) {
		t.Errorf("after an answer Vera waits since %v, want %v", it.WaitingSince, again.At)
	}
}

func itoa(n uint64) string { return strconv.FormatUint(n, 10) }
