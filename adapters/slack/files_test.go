package slack

import (
	"bytes"
	"io"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/files"
	"github.com/chatbridge/chatbridge/internal/fakeslack"
)

// pdf returns the bytes of a small PDF-looking file, different per seed.
func pdf(seed string) []byte {
	return []byte("%PDF-1.4\n% " + seed + "\n" + strings.Repeat("0123456789abcdef", 64) + "\n%%EOF\n")
}

// storeFile puts data into the fixture's blob store, as the visitor API
// does with an upload.
func (f *fixture) storeFile(name string, data []byte) bridge.Attachment {
	f.t.Helper()
	att, err := files.Ingest(f.ctx, f.blobs, bytes.NewReader(data), name, files.Options{MaxBytes: 10 << 20, StripMetadata: true})
	if err != nil {
		f.t.Fatal(err)
	}
	return att
}

// blob reads a stored file's bytes.
func (f *fixture) blob(att *bridge.Attachment) []byte {
	f.t.Helper()
	r, _, err := f.blobs.Get(f.ctx, att.Key)
	if err != nil {
		f.t.Fatal(err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		f.t.Fatal(err)
	}
	return b
}

// sendFile sends a visitor message with a file.
func (f *fixture) sendFile(v bridge.Visitor, clientID, caption, name string, data []byte) bridge.Message {
	f.t.Helper()
	att := f.storeFile(name, data)
	m, err := f.engine.VisitorSend(f.ctx, v.ID, bridge.VisitorInput{ClientID: clientID, Text: caption, File: &att})
	if err != nil {
		f.t.Fatal(err)
	}
	return m
}

// sharesOf returns the bot's posts that share file id.
func (f *fixture) sharesOf(id string) []fakePost {
	var out []fakePost
	for _, p := range f.fake.Posts() {
		for _, fid := range p.Files {
			if fid == id && !p.Deleted {
				out = append(out, p)
			}
		}
	}
	return out
}

// A visitor's file is uploaded into the thread with Slack's two-step
// upload, the caption as its comment, the bytes as sent.
func TestVisitorFileInThread(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	data := pdf("receipt")
	m := f.sendFile(v, "c1", "my receipt <b>", "receipt.pdf", data)
	root := f.threadRoot(m.ConversationID)
	f.waitFor("outbox drained", f.outboxEmpty)

	got := f.fake.Files()
	if len(got) != 1 {
		t.Fatalf("files in Slack: %+v", got)
	}
	if !bytes.Equal(got[0].Data, data) || got[0].Name != "receipt.pdf" || got[0].Title != "receipt.pdf" {
		t.Errorf("file %q (%d bytes), want receipt.pdf with the bytes sent", got[0].Name, len(got[0].Data))
	}
	shares := f.sharesOf(got[0].ID)
	if len(shares) != 1 || shares[0].ThreadTS != root || shares[0].Text != "*Vera (visitor)*:\n> my receipt &lt;b&gt;" {
		t.Errorf("shares = %+v", shares)
	}
	if n := f.fake.Calls("files.getUploadURLExternal"); n != 1 {
		t.Errorf("%d uploads", n)
	}
	// A file without a caption says who sent it.
	f.sendFile(v, "c2", "", "second.pdf", pdf("second"))
	f.waitFor("second file", func() bool { return len(f.fake.Files()) == 2 })
	if s := f.sharesOf(f.fake.Files()[1].ID); len(s) != 1 || s[0].Text != "📎 *Vera (visitor)* sent a file." {
		t.Errorf("shares of the second file = %+v", s)
	}
}

// An upload completed by Slack whose answer was lost is not uploaded again:
// the retry finds the file shared in the thread (files.info).
func TestVisitorFileUploadedOnce(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	f.fake.FailNext(fakeslack.Failure{Method: "files.completeUploadExternal", Status: 502, Lost: true})
	v := f.visitor("Vera")
	data := pdf("once")
	m := f.sendFile(v, "c1", "just once", "once.pdf", data)
	root := f.threadRoot(m.ConversationID)
	f.waitFor("outbox drained", f.outboxEmpty)
	got := f.fake.Files()
	if len(got) != 1 || len(got[0].Shares) != 1 || got[0].Shares[0].ThreadTS != root || !bytes.Equal(got[0].Data, data) {
		t.Fatalf("files = %+v", got)
	}
	if up, info := f.fake.Calls("files.getUploadURLExternal"), f.fake.Calls("files.info"); up != 1 || info == 0 {
		t.Errorf("%d uploads and %d files.info calls, want 1 and some", up, info)
	}
	// An upload whose completion failed for sure is made again.
	f.fake.FailNext(fakeslack.Failure{Method: "files.completeUploadExternal", Status: 500})
	f.sendFile(v, "c2", "again", "again.pdf", pdf("again"))
	f.waitFor("outbox drained", f.outboxEmpty)
	if got := f.fake.Files(); len(got) != 2 || got[1].Name != "again.pdf" || len(got[1].Shares) != 1 {
		t.Errorf("files = %+v", got)
	}
}

// Without files:write the thread gets the caption and says why the file is
// missing; Health tells the admin.
func TestVisitorFileWithoutScope(t *testing.T) {
	f := newFixture(t, ModeSocket, func(fs *fakeslack.Server, _ *Config) {
		fs.SetScopes(strings.ReplaceAll(fakeslack.DefaultScopes, ",files:write", ""))
	})
	v := f.visitor("Vera")
	m := f.sendFile(v, "c1", "see attached", "x.pdf", pdf("x"))
	root := f.threadRoot(m.ConversationID)
	posts := f.waitPosts(root, 2)
	if !strings.Contains(posts[0].Text, "see attached") || !strings.Contains(posts[1].Text, "x.pdf") || !strings.Contains(posts[1].Text, "files:write") {
		t.Errorf("posts = %q, %q", posts[0].Text, posts[1].Text)
	}
	if err := f.a.Health(f.ctx); err == nil || !strings.Contains(err.Error(), "files") {
		t.Errorf("health = %v", err)
	}
}

// An operator's file reaches the visitor with the message's text as its
// caption; Slack's retry of the event relays it once.
func TestOperatorFileReachesVisitor(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "can I have the invoice?")
	root := f.threadRoot(m.ConversationID)
	data := pdf("invoice")
	_, env := f.fake.ShareFile(fakeslack.UserMessage{Channel: testChannel, ThreadTS: root, User: "UALICE", Text: "here is the invoice", EventID: "Ev-file"},
		fakeslack.Upload{Name: "invoice.pdf", Data: data})
	f.waitAck(env)
	got := f.waitPublic(v, "the file", func(m bridge.Message) bool { return m.File != nil })
	if got.Text != "here is the invoice" || got.File.Name != "invoice.pdf" || got.File.Type != "application/pdf" || got.Author != "Alice Martin" {
		t.Errorf("visitor sees %q with %+v by %q", got.Text, got.File, got.Author)
	}
	if b := f.blob(got.File); !bytes.Equal(b, data) {
		t.Errorf("stored bytes differ from the shared file (%d bytes, want %d)", len(b), len(data))
	}
	f.waitAck(f.fake.Redeliver(env))
	f.operatorSays("UALICE", root, "marker", "Ev-marker")
	f.waitPublic(v, "marker", func(m bridge.Message) bool { return m.Text == "marker" })
	n := 0
	for _, m := range f.public(v) {
		if m.File != nil {
			n++
		}
	}
	if n != 1 || f.fake.Calls("url_private") != 1 {
		t.Errorf("%d files at the visitor after a redelivery, %d downloads; want 1 and 1", n, f.fake.Calls("url_private"))
	}
}

// Files that cannot go to the visitor are refused with a reason each, to
// the operator only; the text and the other files still go.
func TestOperatorFilesRefused(t *testing.T) {
	f := newFixture(t, ModeSocket, func(_ *fakeslack.Server, c *Config) { c.MaxFileBytes = 2000 })
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	root := f.threadRoot(m.ConversationID)
	ok := pdf("ok")
	_, env := f.fake.ShareFile(fakeslack.UserMessage{Channel: testChannel, ThreadTS: root, User: "UALICE", Text: "see attached"},
		fakeslack.Upload{Name: "big.pdf", Data: bytes.Repeat([]byte("x"), 3000)},
		fakeslack.Upload{Name: "page.html", Data: []byte("<!DOCTYPE html><html><script>alert(1)</script></html>")},
		fakeslack.Upload{Name: "ok.pdf", Data: ok})
	f.waitAck(env)
	got := f.waitPublic(v, "the accepted file", func(m bridge.Message) bool { return m.File != nil })
	if got.Text != "see attached" || got.File.Name != "ok.pdf" || !bytes.Equal(f.blob(got.File), ok) {
		t.Errorf("visitor sees %q with %+v", got.Text, got.File)
	}
	f.waitFor("refusal notice", func() bool {
		_, ephs := f.snapshot()
		for _, e := range ephs {
			if e.User == "UALICE" && strings.Contains(e.Text, "big.pdf") && strings.Contains(e.Text, "too large") &&
				strings.Contains(e.Text, "page.html") && strings.Contains(e.Text, "script") {
				return true
			}
		}
		return false
	})
	for _, m := range f.public(v) {
		if m.File != nil && m.File.Name != "ok.pdf" {
			t.Errorf("refused file reached the visitor: %+v", m.File)
		}
	}
}

// Without files:read Slack sends the download to its sign-in page: the
// operator is told, nothing is stored.
func TestOperatorFileUnreadable(t *testing.T) {
	f := newFixture(t, ModeSocket, func(fs *fakeslack.Server, _ *Config) {
		fs.SetScopes(strings.ReplaceAll(fakeslack.DefaultScopes, ",files:read", ""))
	})
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	root := f.threadRoot(m.ConversationID)
	_, env := f.fake.ShareFile(fakeslack.UserMessage{Channel: testChannel, ThreadTS: root, User: "UALICE"}, fakeslack.Upload{Name: "a.pdf", Data: pdf("a")})
	f.waitAck(env)
	f.waitFor("notice", func() bool {
		_, ephs := f.snapshot()
		for _, e := range ephs {
			if strings.Contains(e.Text, "a.pdf") && strings.Contains(e.Text, "files:read") {
				return true
			}
		}
		return false
	})
	for _, m := range f.public(v) {
		if m.File != nil {
			t.Errorf("a file reached the visitor: %+v", m.File)
		}
	}
}

// A download that fails for a passing reason is tried again; one that
// keeps failing is explained to the operator, and the message's text still
// reaches the visitor.
func TestOperatorFileDownloadRetried(t *testing.T) {
	f := newFixture(t, ModeSocket, nil)
	v := f.visitor("Vera")
	m := f.say(v, "c1", "hello")
	root := f.threadRoot(m.ConversationID)
	f.fake.FailNext(fakeslack.Failure{Method: "url_private", Status: 503}, fakeslack.Failure{Method: "url_private", Status: 500})
	data := pdf("retried")
	_, env := f.fake.ShareFile(fakeslack.UserMessage{Channel: testChannel, ThreadTS: root, User: "UALICE", Text: "first"}, fakeslack.Upload{Name: "a.pdf", Data: data})
	f.waitAck(env)
	got := f.waitPublic(v, "the file", func(m bridge.Message) bool { return m.File != nil })
	if got.Text != "first" || !bytes.Equal(f.blob(got.File), data) {
		t.Errorf("visitor sees %q with %+v", got.Text, got.File)
	}

	f.fake.FailNext(fakeslack.Failure{Method: "url_private", Status: 503}, fakeslack.Failure{Method: "url_private", Status: 503},
		fakeslack.Failure{Method: "url_private", Status: 503})
	_, env = f.fake.ShareFile(fakeslack.UserMessage{Channel: testChannel, ThreadTS: root, User: "UALICE", Text: "second"}, fakeslack.Upload{Name: "b.pdf", Data: pdf("b")})
	f.waitAck(env)
	f.waitPublic(v, "the text without its file", func(m bridge.Message) bool { return m.Text == "second" && m.File == nil })
	f.waitFor("notice", func() bool {
		_, ephs := f.snapshot()
		for _, e := range ephs {
			if strings.Contains(e.Text, "b.pdf") && strings.Contains(e.Text, "send it again") {
				return true
			}
		}
		return false
	})
}
