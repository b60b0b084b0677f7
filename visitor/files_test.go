package visitor

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"hash/crc32"
	"image"
	"image/color"
	"image/png"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
	"github.com/chatbridge/chatbridge/files"
)

// withFiles gives the server a blob store in a temporary directory and
// returns the directory, to count what is stored.
func withFiles(t *testing.T, dir *string, f func(*Config)) envOption {
	t.Helper()
	*dir = filepath.Join(t.TempDir(), "files")
	blobs, err := blobdir.Open(*dir)
	if err != nil {
		t.Fatal(err)
	}
	return withConfig(func(c *Config) {
		c.Blobs, c.TempDir = blobs, t.TempDir()
		if f != nil {
			f(c)
		}
	})
}

// storedBlobs counts the files in a blob directory.
func storedBlobs(t *testing.T, dir string) int {
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

// secretText is what a photo's metadata would give away.
const secretText = "GPSLatitude 48.8584 N"

// testPNG is a small PNG; with a tEXt chunk carrying secretText when meta.
func testPNG(t *testing.T, w, h int, meta bool) []byte {
	t.Helper()
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := range w {
		img.Set(x, x%h, color.RGBA{200, uint8(x), 10, 255})
	}
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	data := b.Bytes()
	if !meta {
		return data
	}
	body := []byte("Comment\x00" + secretText)
	chunk := binary.BigEndian.AppendUint32(nil, uint32(len(body)))
	chunk = append(append(chunk, "tEXt"...), body...)
	chunk = binary.BigEndian.AppendUint32(chunk, crc32.ChecksumIEEE(chunk[4:]))
	i := 8 + 25 // after the signature and IHDR
	return append(append(append([]byte{}, data[:i]...), chunk...), data[i:]...)
}

// upload sends data as a file.
func (e *testEnv) upload(token, clientID, name string, data []byte) response {
	e.t.Helper()
	q := url.Values{"client_id": {clientID}, "name": {name}}
	return e.do(request{method: "POST", path: "/api/v1/files?" + q.Encode(), token: token, body: data,
		header: map[string]string{"Content-Type": "application/octet-stream"}})
}

// fetch GETs a file link without any token, as an <img> does.
func (e *testEnv) fetch(link string) response {
	e.t.Helper()
	return e.do(request{method: "GET", path: link})
}

type messagesWithFiles struct {
	ConversationID string `json:"conversation_id"`
	Messages       []struct {
		Seq     uint64   `json:"seq"`
		From    string   `json:"from"`
		Text    string   `json:"text"`
		Deleted bool     `json:"deleted"`
		File    *apiFile `json:"file"`
	} `json:"messages"`
}

// A visitor's screenshot goes through the API: stored without its
// metadata, answered like a message, idempotent, shown in the messages
// with a signed link that works without a token (an <img>) and serves a
// safe download; an operator's file comes back the same way.
func TestUploadAndFetch(t *testing.T) {
	var dir string
	e := newEnv(t, withFiles(t, &dir, nil))
	token, visitorID := e.session()
	shot := testPNG(t, 30, 20, true)

	var up uploadResponse
	e.upload(token, "f1", "Screenshot 2026-05-01.png", shot).decodeTo(t, 200, &up)
	if up.Seq != 1 || up.ConversationID == "" || up.File == nil {
		t.Fatalf("upload answer %+v", up)
	}
	f := *up.File
	if f.Name != "Screenshot 2026-05-01.png" || f.Type != "image/png" || !f.Image || f.Width != 30 || f.Height != 20 ||
		!strings.HasPrefix(f.URL, "/api/v1/files/"+up.ConversationID+"/1?exp=") {
		t.Fatalf("file %+v", f)
	}

	// A retry with the same client id stores nothing and answers the same.
	before := e.store.updates.Load()
	var again uploadResponse
	e.upload(token, "f1", "Screenshot 2026-05-01.png", shot).decodeTo(t, 200, &again)
	if again.Seq != 1 || again.ConversationID != up.ConversationID || e.store.updates.Load() != before {
		t.Fatalf("retry answered %+v and committed %d transactions", again, e.store.updates.Load()-before)
	}
	if convs, msgs := e.counts(); convs != 1 || msgs != 1 || storedBlobs(t, dir) != 1 {
		t.Fatalf("%d conversations, %d messages, %d blobs after a retry", convs, msgs, storedBlobs(t, dir))
	}

	// The link works without a token, as a download that nothing sniffs
	// or runs, and the location metadata is gone.
	res := e.fetch(f.URL)
	if res.status != 200 || res.header.Get("Content-Type") != "image/png" || res.header.Get("X-Content-Type-Options") != "nosniff" ||
		res.header.Get("Content-Security-Policy") != "sandbox; default-src 'none'" ||
		!strings.HasPrefix(res.header.Get("Content-Disposition"), "attachment;") {
		t.Fatalf("fetch: %d %v", res.status, res.header)
	}
	if bytes.Contains(res.body, []byte(secretText)) {
		t.Error("the served screenshot still carries its metadata")
	}
	if _, err := png.Decode(bytes.NewReader(res.body)); err != nil {
		t.Errorf("served file is not a PNG: %v", err)
	}

	// An operator's file reaches the visitor as a message with a link.
	a, err := files.Ingest(context.Background(), e.srv.cfg.Blobs, strings.NewReader("%PDF-1.7\n1 0 obj\n<<>>\nendobj\n"), "invoice", files.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	if err := e.engine.HandleOperator(context.Background(), bridge.OperatorInput{
		EventID: "ev1", ConversationID: up.ConversationID, Operator: testOperator, File: &a, Text: "Your invoice",
	}); err != nil {
		t.Fatal(err)
	}
	var mr messagesWithFiles
	e.do(request{method: "GET", path: "/api/v1/messages", token: token}).decodeTo(t, 200, &mr)
	if len(mr.Messages) != 2 || mr.Messages[1].From != "operator" || mr.Messages[1].Text != "Your invoice" || mr.Messages[1].File == nil {
		t.Fatalf("messages %+v", mr.Messages)
	}
	of := mr.Messages[1].File
	if of.Name != "invoice.pdf" || of.Type != "application/pdf" || of.Image || of.URL == "" {
		t.Fatalf("operator's file %+v", of)
	}
	res = e.fetch(of.URL)
	if res.status != 200 || res.header.Get("Content-Type") != "application/pdf" || !strings.HasPrefix(string(res.body), "%PDF") ||
		res.header.Get("Content-Disposition") != `attachment; filename="invoice.pdf"` {
		t.Fatalf("operator's file served as %d %v", res.status, res.header)
	}
	_ = visitorID
}

// Bad uploads get a clear JSON error that the widget shows, and store
// nothing: no message, no bytes, no transaction, no message token.
func TestUploadRefused(t *testing.T) {
	var dir string
	e := newEnv(t, withFiles(t, &dir, func(c *Config) { c.MaxFileBytes = 64 << 10; c.MessagesPerMinute = 2 }))
	token, _ := e.session()
	e.send(token, "m0", "hello") // a conversation to send into
	shot := testPNG(t, 40, 40, false)
	for _, tc := range []struct {
		name   string
		file   string
		data   []byte
		status int
		code   string
		reason string
		says   string
	}{
		{"oversized", "big.bin", make([]byte, 64<<10+1), 413, CodeTooLarge, ReasonTooLarge, "the file is too large: the limit is 64 KB"},
		{"zero bytes", "empty.png", []byte{}, 400, CodeBadRequest, ReasonEmpty, "the file is empty"},
		{"truncated png", "cut.png", shot[:len(shot)-30], 400, CodeBadRequest, ReasonDamaged, "damaged or incomplete"},
		{"text called png", "cat.png", []byte("just some text, not a picture"), 400, CodeBadRequest, ReasonType, "is not the PNG image its name says"},
		{"html as image", "cat.jpg", []byte("<!DOCTYPE html><html><script>alert(document.cookie)</script></html>"), 400, CodeBadRequest, ReasonType, "HTML, XML and SVG files could run script"},
		{"svg as image", "logo.png", []byte(`<svg xmlns="http://www.w3.org/2000/svg" onload="alert(1)"/>`), 400, CodeBadRequest, ReasonType, "HTML, XML and SVG"},
		{"svg with xml header", "logo.gif", []byte(`<?xml version="1.0"?><svg xmlns="http://www.w3.org/2000/svg"><script>alert(1)</script></svg>`), 400, CodeBadRequest, ReasonType, "HTML, XML and SVG"},
		{"html page", "index.html", []byte("<html><body onload=alert(1)>hi</body></html>"), 400, CodeBadRequest, ReasonType, "HTML, XML and SVG"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := e.store.updates.Load()
			r := e.upload(token, "f-"+tc.name, tc.file, tc.data)
			r.wantError(t, tc.status, tc.code)
			if !strings.Contains(string(r.body), tc.says) || !strings.Contains(string(r.body), `"reason":"`+tc.reason+`"`) {
				t.Errorf("error %s does not say %q with reason %s", r.body, tc.says, tc.reason)
			}
			if n := e.store.updates.Load() - before; n != 0 {
				t.Errorf("refused upload committed %d transactions", n)
			}
			if n := storedBlobs(t, dir); n != 0 {
				t.Errorf("%d blobs stored after a refusal", n)
			}
		})
	}
	// Without a Content-Length (chunked), an oversized file is cut off.
	req, _ := http.NewRequest("POST", e.ts.URL+"/api/v1/files?client_id=chunked&name=big.bin", io.MultiReader(bytes.NewReader(make([]byte, 64<<10)), strings.NewReader("x")))
	req.Header.Set("Authorization", "Bearer "+token)
	req.ContentLength = -1
	res, err := e.ts.Client().Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 413 || !strings.Contains(string(body), "too large") || storedBlobs(t, dir) != 0 {
		t.Errorf("chunked oversized upload: %d %s, %d blobs", res.StatusCode, body, storedBlobs(t, dir))
	}
	if convs, msgs := e.counts(); convs != 1 || msgs != 1 {
		t.Errorf("%d conversations and %d messages, want only the first message", convs, msgs)
	}
	// The refusals cost no message: the conversation's second message of
	// the minute still goes.
	e.send(token, "m1", "still allowed")

	// Hostile names are cleaned, and the file is a safe download.
	for _, tc := range []struct{ name, want string }{
		{"../../etc/passwd.png", "passwd.png"},
		{`C:\Windows\system32\evil.png`, "evil.png"},
		{"<img src=x onerror=alert(1)>.png", "_img src=x onerror=alert(1)_.png"},
		{"invoice\u202egnp.exe", "invoicegnp.exe.png"},
		{".htaccess", "htaccess.png"},
		{"", "file.png"},
		{"a\r\nContent-Type: text/html\r\n.png", "html .png"},
	} {
		t.Run("name "+tc.name, func(t *testing.T) {
			e2 := newEnv(t, withFiles(t, new(string), nil))
			tok, _ := e2.session()
			var up uploadResponse
			e2.upload(tok, "n1", tc.name, testPNG(t, 3, 3, false)).decodeTo(t, 200, &up)
			if up.File.Name != tc.want {
				t.Errorf("name %q stored as %q, want %q", tc.name, up.File.Name, tc.want)
			}
			r := e2.fetch(up.File.URL)
			cd := r.header.Get("Content-Disposition")
			if r.status != 200 || !strings.HasPrefix(cd, "attachment;") || strings.ContainsAny(cd, "\r\n") {
				t.Errorf("served %d with Content-Disposition %q", r.status, cd)
			}
		})
	}
}

// Links are bound to the visitor and expire; a deleted file is gone; a
// visitor cannot read another's file.
func TestFileLinks(t *testing.T) {
	var dir string
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	e := newEnv(t, withClock(clock), withFiles(t, &dir, nil))
	tokA, visitorA := e.session()
	tokB, visitorB := e.session()
	var up uploadResponse
	e.upload(tokA, "a1", "mine.png", testPNG(t, 5, 5, false)).decodeTo(t, 200, &up)
	e.upload(tokB, "b1", "other.png", testPNG(t, 6, 6, false)).decodeTo(t, 200, new(uploadResponse))
	link, err := url.Parse(up.File.URL)
	if err != nil {
		t.Fatal(err)
	}
	exp, _ := strconv.ParseInt(link.Query().Get("exp"), 10, 64)
	key, err := e.srv.fileKey(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	sign := func(visitor string, seq uint64, exp int64) string {
		return base64.RawURLEncoding.EncodeToString(fileMAC(key, visitor, up.ConversationID, seq, exp))
	}
	path := link.Path
	for _, tc := range []struct {
		name, link string
		status     int
	}{
		{"no signature", path, 403},
		{"forged signature", path + "?exp=" + fmt.Sprint(exp) + "&sig=" + base64.RawURLEncoding.EncodeToString(make([]byte, 32)), 403},
		{"signed for another visitor", path + "?exp=" + fmt.Sprint(exp) + "&sig=" + sign(visitorB, 1, exp), 403},
		{"later expiry, old signature", path + "?exp=" + fmt.Sprint(exp+3600) + "&sig=" + link.Query().Get("sig"), 403},
		{"another message", "/api/v1/files/" + up.ConversationID + "/2?" + link.RawQuery, 403},
		{"unknown conversation", "/api/v1/files/c_nope/1?" + link.RawQuery, 404},
		{"signed for a message that is not there", "/api/v1/files/" + up.ConversationID + "/7?exp=" + fmt.Sprint(exp) + "&sig=" + sign(visitorA, 7, exp), 404},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.fetch(tc.link)
			r.wantError(t, tc.status, map[int]string{403: CodeForbidden, 404: CodeNotFound}[tc.status])
			// Another visitor's token does not help either.
			if r := e.do(request{method: "GET", path: tc.link, token: tokB}); r.status != tc.status {
				t.Errorf("with B's token: %d", r.status)
			}
		})
	}
	if r := e.fetch(up.File.URL); r.status != 200 {
		t.Fatalf("the real link: %d %s", r.status, r.body)
	}
	// B's messages never carry A's file.
	var mr messagesWithFiles
	e.do(request{method: "GET", path: "/api/v1/messages", token: tokB}).decodeTo(t, 200, &mr)
	if len(mr.Messages) != 1 || mr.Messages[0].File.Name != "other.png" {
		t.Fatalf("B sees %+v", mr.Messages)
	}

	// Links expire after about FileURLTTL; reading the messages again
	// gives a fresh one.
	clock.Advance(DefaultFileURLTTL * 5 / 4)
	r := e.fetch(up.File.URL)
	r.wantError(t, 403, CodeForbidden)
	if !strings.Contains(string(r.body), "expired") {
		t.Errorf("expired link says %s", r.body)
	}
	e.do(request{method: "GET", path: "/api/v1/messages", token: tokA}).decodeTo(t, 200, &mr)
	if r := e.fetch(mr.Messages[0].File.URL); mr.Messages[0].File.URL == up.File.URL || r.status != 200 {
		t.Fatalf("fresh link %q: %d", mr.Messages[0].File.URL, r.status)
	}
	fresh := mr.Messages[0].File.URL

	// An operator's deleted file is gone at once, even by a valid link.
	a, err := files.Ingest(context.Background(), e.srv.cfg.Blobs, bytes.NewReader(testPNG(t, 9, 9, false)), "map.png", files.Options{MaxBytes: 1 << 20})
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if err := e.engine.HandleOperator(ctx, bridge.OperatorInput{EventID: "op1", ConversationID: up.ConversationID, Operator: testOperator, File: &a}); err != nil {
		t.Fatal(err)
	}
	e.do(request{method: "GET", path: "/api/v1/messages", token: tokA}).decodeTo(t, 200, &mr)
	opLink := mr.Messages[1].File.URL
	if r := e.fetch(opLink); r.status != 200 {
		t.Fatalf("operator's file: %d", r.status)
	}
	if err := e.engine.HandleOperator(ctx, bridge.OperatorInput{EventID: "op2", Operator: testOperator, Deletes: "op1"}); err != nil {
		t.Fatal(err)
	}
	e.fetch(opLink).wantError(t, 404, CodeNotFound)
	mr = messagesWithFiles{}
	e.do(request{method: "GET", path: "/api/v1/messages", token: tokA}).decodeTo(t, 200, &mr)
	if m := mr.Messages[1]; !m.Deleted || m.File != nil || m.Text != "" {
		t.Fatalf("deleted file message %+v", m)
	}
	if r := e.fetch(fresh); r.status != 200 {
		t.Fatalf("the visitor's own file after the deletion: %d", r.status)
	}
}

// An upload cut off half-way stores nothing: the next one goes through
// and is the only file.
func TestUploadInterrupted(t *testing.T) {
	var dir string
	e := newEnv(t, withFiles(t, &dir, nil))
	token, _ := e.session()
	shot := testPNG(t, 50, 50, false)
	conn, err := net.Dial("tcp", strings.TrimPrefix(e.ts.URL, "http://"))
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(conn, "POST /api/v1/files?client_id=cut&name=cut.png HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer %s\r\nContent-Length: %d\r\n\r\n", token, len(shot))
	_, _ = conn.Write(shot[:len(shot)/2])
	waitFor(t, "the upload to start", func() bool { return e.srv.uploading.count(mustVisitor(t, e, token)) == 1 })
	conn.Close()
	var up uploadResponse
	waitFor(t, "the next upload to be accepted", func() bool {
		r := e.upload(token, "whole", "whole.png", shot)
		if r.status == 200 {
			_ = jsonUnmarshal(r.body, &up)
		}
		return r.status == 200
	})
	if convs, msgs := e.counts(); convs != 1 || msgs != 1 || storedBlobs(t, dir) != 1 {
		t.Fatalf("%d conversations, %d messages, %d blobs; want only the whole file", convs, msgs, storedBlobs(t, dir))
	}
	if up.File == nil || up.File.Name != "whole.png" {
		t.Fatalf("answer %+v", up)
	}
}

func mustVisitor(t *testing.T, e *testEnv, token string) string {
	t.Helper()
	v, err := e.engine.Authenticate(context.Background(), token)
	if err != nil {
		t.Fatal(err)
	}
	return v.ID
}

// Upload rates: attempts per visitor, and the conversation's files and
// bytes of the day.
func TestUploadLimits(t *testing.T) {
	clock := &fakeClock{now: time.Unix(1_800_000_000, 0)}
	e := newEnv(t, withClock(clock), withFiles(t, new(string), func(c *Config) {
		c.UploadsPerMinute = 3
		c.FilesPerConversationPerDay = 2
		c.FileBytesPerConversationPerDay = 1 << 20
	}))
	token, _ := e.session()
	for i := range 2 {
		e.upload(token, fmt.Sprint("ok", i), "a.png", testPNG(t, 4+i, 4, false)).decodeTo(t, 200, nil)
	}
	r := e.upload(token, "third", "c.png", testPNG(t, 7, 4, false))
	r.wantError(t, 429, CodeRateLimited)
	if !strings.Contains(string(r.body), "the 2 files allowed in this conversation today") || !strings.Contains(string(r.body), `"reason":"quota"`) || r.header.Get("Retry-After") == "" {
		t.Errorf("daily limit: %s %v", r.body, r.header)
	}
	// Every attempt counts towards the visitor's upload rate.
	e.upload(token, "fourth", "d.png", testPNG(t, 8, 4, false)).wantError(t, 429, CodeRateLimited)
	clock.Advance(time.Minute)
	// A day later the conversation may send files again; the bytes limit
	// refuses one that would go over.
	clock.Advance(fileDay)
	big := make([]byte, 600<<10)
	copy(big, "%PDF-1.7\n")
	e.upload(token, "big1", "a.pdf", big).decodeTo(t, 200, nil)
	big[100] = 1
	r = e.upload(token, "big2", "b.pdf", big)
	r.wantError(t, 429, CodeRateLimited)
	if !strings.Contains(string(r.body), "would go over the 1 MB of files allowed") {
		t.Errorf("bytes limit: %s", r.body)
	}
	// The limits survive a restart of the server: they are read back from
	// the conversation.
	srv2, err := New(e.srv.cfg, e.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer srv2.Close()
	v := mustVisitor(t, e, token)
	view, err := e.engine.VisitorMessages(context.Background(), v, "", 0, 0)
	if err != nil {
		t.Fatal(err)
	}
	left, err := srv2.quota.left(context.Background(), view.Conversation.ID, clock.Now(), srv2.loadFileUse)
	if err != nil || left.files != 1 || left.bytes != 1<<20-600<<10 {
		t.Errorf("after a restart: %+v, %v", left, err)
	}
}

// In a cluster the day's file quota is read from the store on every
// check: uploads through other nodes count; on one node the first read is
// remembered and this node's uploads are added to it.
func TestFileQuotaSharedReadsTheStore(t *testing.T) {
	now := time.Date(2026, 12, 5, 12, 0, 0, 0, time.UTC)
	stored := []fileUse{{at: now.Add(-time.Hour), size: 100}}
	loads := 0
	load := func(context.Context, string, time.Time) ([]fileUse, error) {
		loads++
		return slices.Clone(stored), nil
	}
	for _, shared := range []bool{false, true} {
		q := newFileQuota(3, 1000, shared)
		loads = 0
		stored = stored[:1]
		if l, err := q.left(context.Background(), "c1", now, load); err != nil || l.files != 2 || l.bytes != 900 {
			t.Fatalf("shared=%v: left = %+v, %v; want 2 files, 900 bytes", shared, l, err)
		}
		// Another node stores an upload; this one too.
		stored = append(stored, fileUse{at: now.Add(-time.Minute), size: 200})
		q.add("c1", now, 300)
		if shared {
			stored = append(stored, fileUse{at: now, size: 300})
		}
		l, err := q.left(context.Background(), "c1", now, load)
		if err != nil {
			t.Fatal(err)
		}
		want := quotaLeft{files: 1, bytes: 600}
		if shared {
			want = quotaLeft{files: 0, bytes: 400}
		}
		if l.files != want.files || l.bytes != want.bytes {
			t.Errorf("shared=%v: left = %+v, want %d files and %d bytes", shared, l, want.files, want.bytes)
		}
		if shared && loads != 2 || !shared && loads != 1 {
			t.Errorf("shared=%v: %d loads", shared, loads)
		}
	}
}
