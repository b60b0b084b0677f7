package email

import (
	"context"
	"encoding/json"
	"errors"
	"io"
	"mime"
	"mime/multipart"
	"net/http"
	"net/http/httptest"
	"net/mail"
	"regexp"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/fixture"
	"github.com/chatbridge/chatbridge/visitor"
)

// env is an engine with the e-mail adapter and a loopback SMTP server.
type env struct {
	ctx    context.Context
	engine *bridge.Engine
	a      *Adapter
	smtp   *smtpd
	away   atomic.Bool
}

var op = bridge.Operator{Adapter: "inbox", ID: "bob", Name: "Bob Smith"}

func newEnv(t *testing.T, mod func(*Config)) *env {
	t.Helper()
	e := &env{ctx: context.Background(), smtp: startSMTPD(t)}
	e.away.Store(true)
	cfg := Config{
		Host: "127.0.0.1", Port: e.smtp.port(), From: "Support <support@shop.example>",
		Username: "mailer", Password: "s3cret", TLS: TLSNone,
		PublicURL: "https://chat.example.com", SiteName: "Demo Shop",
		Away:      func(string) bool { return e.away.Load() },
		AwayAfter: time.Hour, Coalesce: time.Hour, Timeout: 10 * time.Second,
	}
	if mod != nil {
		mod(&cfg)
	}
	eng := fixture.Engine(t, fixture.Options{NoRun: true, Config: bridge.Config{RetryMin: 10 * time.Millisecond, RetryMax: 100 * time.Millisecond}})
	var err error
	if e.a, err = New(cfg, eng, nil); err != nil {
		t.Fatal(err)
	}
	if err := eng.Register(e.a); err != nil {
		t.Fatal(err)
	}
	e.engine = eng
	fixture.Run(t, eng.Run)
	return e
}

// chat starts a visitor with an e-mail address and a conversation.
func (e *env) chat(t *testing.T, name, email, locale string) (bridge.Visitor, string) {
	t.Helper()
	_, v, err := e.engine.StartSession(e.ctx, bridge.SessionInput{Name: name, Email: email, Locale: locale})
	if err != nil {
		t.Fatal(err)
	}
	m, err := e.engine.VisitorMessage(e.ctx, v.ID, "c1", "Where is my order?")
	if err != nil {
		t.Fatal(err)
	}
	return v, m.ConversationID
}

func (e *env) reply(t *testing.T, convID, text string) {
	t.Helper()
	if _, err := e.engine.Reply(e.ctx, convID, op, text, ""); err != nil {
		t.Fatal(err)
	}
}

// mailOf is a received e-mail, decoded.
type mailOf struct {
	header      mail.Header
	subject     string
	plain, html string
	auth        string
}

func (e *env) next(t *testing.T, timeout time.Duration) mailOf {
	t.Helper()
	select {
	case r := <-e.smtp.mail:
		return decodeMail(t, r)
	case <-time.After(timeout):
		t.Fatalf("no e-mail within %s", timeout)
		return mailOf{}
	}
}

func decodeMail(t *testing.T, r received) mailOf {
	t.Helper()
	msg, err := mail.ReadMessage(strings.NewReader(r.Data))
	if err != nil {
		t.Fatalf("parse e-mail: %v\n%s", err, r.Data)
	}
	out := mailOf{header: msg.Header, auth: r.Auth}
	if out.subject, err = new(mime.WordDecoder).DecodeHeader(msg.Header.Get("Subject")); err != nil {
		t.Fatal(err)
	}
	_, params, err := mime.ParseMediaType(msg.Header.Get("Content-Type"))
	if err != nil {
		t.Fatal(err)
	}
	mr := multipart.NewReader(msg.Body, params["boundary"])
	for {
		p, err := mr.NextPart()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
		b, err := io.ReadAll(p) // quoted-printable is decoded by the reader
		if err != nil {
			t.Fatal(err)
		}
		switch {
		case strings.HasPrefix(p.Header.Get("Content-Type"), "text/plain"):
			out.plain = string(b)
		case strings.HasPrefix(p.Header.Get("Content-Type"), "text/html"):
			out.html = string(b)
		}
	}
	if out.plain == "" || out.html == "" {
		t.Fatalf("e-mail lacks a plain or HTML part:\n%s", r.Data)
	}
	return out
}

// pending returns the e-mail destination's waiting outbox entries.
func (e *env) pending(t *testing.T) []bridge.OutboxEntry {
	t.Helper()
	entries, err := e.engine.PendingDeliveries(e.ctx, "email", 0)
	if err != nil {
		t.Fatal(err)
	}
	return entries
}

// waitPendingEmpty polls until no reply waits for an e-mail.
func (e *env) waitPendingEmpty(t *testing.T) {
	t.Helper()
	fixture.WaitFor(t, "no reply waiting for an e-mail", func() bool { return len(e.pending(t)) == 0 })
}

func (e *env) noMail(t *testing.T) {
	t.Helper()
	select {
	case r := <-e.smtp.mail:
		t.Fatalf("unexpected e-mail:\n%s", r.Data)
	default:
	}
}

var codeRE = regexp.MustCompile(`https://chat\.example\.com/\?chatbridge_resume=([A-Za-z0-9_.\-]+)`)

func TestOfflineReplyIsEmailedAndResumes(t *testing.T) {
	e := newEnv(t, nil)
	v, convID := e.chat(t, "Ann Lee", "ann@example.com", "en-GB")
	e.reply(t, convID, "It ships <b>tomorrow</b> & arrives Friday.\nSee https://shop.example/track")

	m := e.next(t, 10*time.Second)
	if got := m.header.Get("To"); !strings.Contains(got, "<ann@example.com>") {
		t.Errorf("To = %q", got)
	}
	if m.auth != "\x00mailer\x00s3cret" {
		t.Errorf("AUTH PLAIN = %q", m.auth)
	}
	if m.subject != "New reply to your chat on Demo Shop" {
		t.Errorf("subject = %q", m.subject)
	}
	for _, want := range []string{"Hello Ann Lee,", "Bob Smith replied", "> It ships <b>tomorrow</b> & arrives Friday.", "> See https://shop.example/track"} {
		if !strings.Contains(m.plain, want) {
			t.Errorf("plain text lacks %q:\n%s", want, m.plain)
		}
	}
	if strings.Contains(m.html, "<b>tomorrow") || !strings.Contains(m.html, "&lt;b&gt;tomorrow&lt;/b&gt; &amp; arrives") {
		t.Errorf("HTML part does not escape the reply:\n%s", m.html)
	}
	sub := codeRE.FindStringSubmatch(m.plain)
	if sub == nil || !strings.Contains(m.html, sub[0]) {
		t.Fatalf("no resume link in both parts:\n%s\n%s", m.plain, m.html)
	}
	code := sub[1]

	// The link's code gives a new token for the same visitor, which reads
	// the conversation through the visitor API.
	vs, err := visitor.New(visitor.Config{}, e.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	w, err := visitor.NewWidget(visitor.WidgetConfig{Resume: e.a.VerifyResume}, e.engine, nil)
	if err != nil {
		t.Fatal(err)
	}
	mux := http.NewServeMux()
	mux.Handle("/", vs.Handler())
	w.Mount(mux)
	srv := httptest.NewServer(mux)
	t.Cleanup(srv.Close)

	// One character of the MAC changed (not the last one, whose low bits
	// base64 ignores).
	tampered := []byte(code)
	if i := len(tampered) - 5; tampered[i] == 'A' {
		tampered[i] = 'B'
	} else {
		tampered[i] = 'A'
	}
	for _, tc := range []struct {
		name, code string
		status     int
	}{
		{"tampered", string(tampered), http.StatusUnauthorized},
		{"other visitor", "v_other" + code[strings.Index(code, "."):], http.StatusUnauthorized},
		{"valid", code, http.StatusCreated},
		{"used again", code, http.StatusGone},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res, err := http.Post(srv.URL+"/api/v1/sessions/resume", "application/json", strings.NewReader(`{"code":"`+tc.code+`"}`))
			if err != nil {
				t.Fatal(err)
			}
			defer res.Body.Close()
			var body struct {
				Token     string `json:"token"`
				VisitorID string `json:"visitor_id"`
			}
			_ = json.NewDecoder(res.Body).Decode(&body)
			if res.StatusCode != tc.status {
				t.Fatalf("status = %d, want %d", res.StatusCode, tc.status)
			}
			if tc.status != http.StatusCreated {
				return
			}
			if body.VisitorID != v.ID || body.Token == "" {
				t.Fatalf("resume = %+v, want visitor %s", body, v.ID)
			}
			req, _ := http.NewRequest(http.MethodGet, srv.URL+"/api/v1/messages?after=0", nil)
			req.Header.Set("Authorization", "Bearer "+body.Token)
			res2, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatal(err)
			}
			defer res2.Body.Close()
			var msgs struct {
				ConversationID string `json:"conversation_id"`
				Messages       []struct {
					From, Author, Text string
				} `json:"messages"`
			}
			if err := json.NewDecoder(res2.Body).Decode(&msgs); err != nil || res2.StatusCode != http.StatusOK {
				t.Fatalf("messages: status %d, err %v", res2.StatusCode, err)
			}
			if msgs.ConversationID != convID || len(msgs.Messages) != 2 || msgs.Messages[1].Author != "Bob Smith" ||
				!strings.HasPrefix(msgs.Messages[1].Text, "It ships") {
				t.Fatalf("messages = %+v", msgs)
			}
		})
	}
}

func TestRepliesAreCoalesced(t *testing.T) {
	const coalesce = 400 * time.Millisecond
	e := newEnv(t, func(c *Config) { c.Coalesce = coalesce })
	_, convID := e.chat(t, "", "ann@example.com", "")
	e.reply(t, convID, "first reply")
	first := e.next(t, 10*time.Second)
	sent := time.Now()
	e.reply(t, convID, "second reply")
	e.reply(t, convID, "third reply")
	second := e.next(t, 10*time.Second)
	if waited := time.Since(sent); waited < coalesce-50*time.Millisecond {
		t.Errorf("second e-mail after %s, want at least %s", waited, coalesce)
	}
	if !strings.Contains(first.plain, "first reply") || strings.Contains(first.plain, "second reply") {
		t.Errorf("first e-mail:\n%s", first.plain)
	}
	for _, want := range []string{"second reply", "third reply", "Hello,"} {
		if !strings.Contains(second.plain, want) {
			t.Errorf("second e-mail lacks %q:\n%s", want, second.plain)
		}
	}
	if strings.Contains(second.plain, "first reply") {
		t.Errorf("second e-mail repeats the first reply:\n%s", second.plain)
	}
	e.waitPendingEmpty(t)
	e.noMail(t)
}

// Only public operator replies leave by e-mail: notes, command output,
// system lines and visitor messages never do.
func TestOnlyPublicOperatorRepliesAreEmailed(t *testing.T) {
	e := newEnv(t, nil)
	v, convID := e.chat(t, "Ann", "ann@example.com", "")
	if _, err := e.engine.AddNote(e.ctx, convID, op, "secret note about the customer", ""); err != nil {
		t.Fatal(err)
	}
	if err := e.engine.Whisper(e.ctx, convID, op, "whispered command output", ""); err != nil {
		t.Fatal(err)
	}
	if _, err := e.engine.VisitorMessage(e.ctx, v.ID, "c2", "visitor again"); err != nil {
		t.Fatal(err)
	}
	e.reply(t, convID, "the real answer")
	m := e.next(t, 10*time.Second)
	if !strings.Contains(m.plain, "the real answer") {
		t.Errorf("e-mail lacks the reply:\n%s", m.plain)
	}
	for _, leak := range []string{"secret note", "whispered", "visitor again"} {
		if strings.Contains(m.plain, leak) || strings.Contains(m.html, leak) {
			t.Errorf("e-mail contains %q:\n%s", leak, m.plain)
		}
	}
	e.waitPendingEmpty(t)
	e.noMail(t)
}

// A file an operator sent is named in the e-mail with the link to the
// conversation (the file itself stays there), an emote reads as an action,
// and a reply its author deleted before the e-mail went is not in it. The
// delivery is called directly (the engine does not run), after the
// deletion, as the outbox would call it later.
func TestFilesEmotesAndDeletedReplies(t *testing.T) {
	for _, lang := range []struct{ locale, file, action string }{
		{"en-GB", "Attached file: invoice <2026>.pdf (12 KB). Open the conversation to see it: https://chat.example.com/?chatbridge_resume=", "* Bob Smith waves"},
		{"fr-FR", "Fichier joint : invoice <2026>.pdf (12 KB). Ouvrez la discussion pour le voir : https://chat.example.com/?chatbridge_resume=", "* Bob Smith waves"},
	} {
		t.Run(lang.locale, func(t *testing.T) {
			e := &env{ctx: context.Background(), smtp: startSMTPD(t)}
			e.engine = fixture.Engine(t, fixture.Options{NoRun: true})
			var err error
			e.a, err = New(Config{
				Host: "127.0.0.1", Port: e.smtp.port(), From: "Support <support@shop.example>",
				Username: "mailer", Password: "s3cret", TLS: TLSNone,
				PublicURL: "https://chat.example.com", SiteName: "Demo Shop",
				Away: func(string) bool { return true }, Timeout: 10 * time.Second,
			}, e.engine, nil)
			if err != nil {
				t.Fatal(err)
			}
			v, convID := e.chat(t, "Ann", "ann@example.com", lang.locale)
			send := func(in bridge.OperatorInput) {
				t.Helper()
				in.ConversationID, in.Operator = convID, op
				if err := e.engine.HandleOperator(e.ctx, in); err != nil {
					t.Fatal(err)
				}
			}
			send(bridge.OperatorInput{EventID: "draft", Text: "a reply sent by mistake"})
			send(bridge.OperatorInput{EventID: "del", Deletes: "draft"})
			sum := strings.Repeat("ab", 32)
			send(bridge.OperatorInput{EventID: "file", Text: "Here it is", File: &bridge.Attachment{
				Key: bridge.BlobKey(sum), SHA256: sum, Name: "invoice <2026>.pdf", Type: "application/pdf", Size: 12345,
			}})
			send(bridge.OperatorInput{EventID: "wave", Text: "waves", Emote: true})
			msgs, err := e.engine.Messages(e.ctx, convID, 0, 0)
			if err != nil {
				t.Fatal(err)
			}
			draft := msgs[1]
			if draft.PlatformID != "draft" || !draft.Deleted {
				t.Fatalf("second message %+v, want the deleted draft", draft)
			}
			conv, err := e.engine.Conversation(e.ctx, convID)
			if err != nil {
				t.Fatal(err)
			}
			// The outbox delivers the draft's entry first: it carries the
			// replies from there on.
			if _, err := e.a.Deliver(e.ctx, bridge.Delivery{
				Entry:        bridge.OutboxEntry{Destination: "email", Kind: bridge.KindMessage, ConversationID: convID, Seq: draft.Seq},
				Conversation: conv, Visitor: v, Message: &draft,
			}); err != nil {
				t.Fatal(err)
			}
			m := e.next(t, 20*time.Second)
			for _, want := range []string{"> Here it is", "> " + lang.file, "> " + lang.action} {
				if !strings.Contains(m.plain, want) {
					t.Errorf("plain part lacks %q:\n%s", want, m.plain)
				}
			}
			if !strings.Contains(m.html, "<b>invoice &lt;2026&gt;.pdf</b> (12 KB)") || strings.Contains(m.html, "<2026>") {
				t.Errorf("HTML part does not name the file safely:\n%s", m.html)
			}
			if strings.Contains(m.plain, "by mistake") || strings.Contains(m.html, "by mistake") {
				t.Errorf("the deleted reply was e-mailed:\n%s", m.plain)
			}
		})
	}
}

// A visitor who is still connected when the reply comes is checked again
// after AwayAfter: an e-mail goes out only if they have left by then.
func TestReplyWhileConnectedIsRechecked(t *testing.T) {
	for _, tc := range []struct {
		name      string
		leaveThen bool
	}{
		{"visitor stays", false},
		{"visitor left", true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.AwayAfter = 300 * time.Millisecond })
			e.away.Store(false)
			_, convID := e.chat(t, "Ann", "ann@example.com", "")
			e.reply(t, convID, "answer while connected")
			if p := e.pending(t); len(p) != 1 || time.Until(p[0].NextAttempt) < 100*time.Millisecond {
				t.Fatalf("the reply waits as %+v, want one entry due in about 300 ms", p)
			}
			if tc.leaveThen {
				e.away.Store(true)
				m := e.next(t, 10*time.Second)
				if !strings.Contains(m.plain, "answer while connected") {
					t.Errorf("e-mail:\n%s", m.plain)
				}
			}
			e.waitPendingEmpty(t)
			e.noMail(t)
		})
	}
}

func TestSMTPFailures(t *testing.T) {
	t.Run("permanent drops", func(t *testing.T) {
		e := newEnv(t, nil)
		e.smtp.setRcptReply("550 5.1.1 no such user")
		_, convID := e.chat(t, "Ann", "ann@example.com", "")
		e.reply(t, convID, "hello")
		e.waitPendingEmpty(t)
		e.noMail(t)
	})
	t.Run("temporary is retried", func(t *testing.T) {
		e := newEnv(t, nil)
		e.smtp.setRcptReply("451 4.3.0 try again later")
		_, convID := e.chat(t, "Ann", "ann@example.com", "")
		e.reply(t, convID, "hello")
		fixture.WaitFor(t, "a failed attempt kept in the outbox", func() bool {
			p := e.pending(t)
			return len(p) == 1 && p[0].Attempts >= 1 && strings.Contains(p[0].LastError, "451")
		})
		e.noMail(t)
		e.smtp.setRcptReply("")
		if m := e.next(t, 10*time.Second); !strings.Contains(m.plain, "hello") {
			t.Fatalf("the retried e-mail:\n%s", m.plain)
		}
		e.waitPendingEmpty(t)
	})
	t.Run("temporary gives up after MaxAttempts", func(t *testing.T) {
		e := newEnv(t, func(c *Config) { c.MaxAttempts = 3 })
		e.smtp.setRcptReply("451 4.3.0 try again later")
		_, convID := e.chat(t, "Ann", "ann@example.com", "")
		e.reply(t, convID, "hello")
		e.waitPendingEmpty(t)
		e.noMail(t)
	})
}

func TestResumeCodes(t *testing.T) {
	now := time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)
	clock := func() time.Time { return now }
	st := fixture.Engine(t, fixture.Options{NoRun: true, Config: bridge.Config{Now: clock}})
	cfg := Config{Host: "127.0.0.1", From: "a@b.example", PublicURL: "https://chat.example.com", Away: func(string) bool { return true }, Now: clock, ResumeTTL: time.Hour}
	a, err := New(cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	code, err := a.ResumeCode(ctx, "v_abc")
	if err != nil {
		t.Fatal(err)
	}
	// A second adapter on the same store shares the stored secret.
	b, err := New(cfg, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	other, err := New(Config{Host: "127.0.0.1", From: "a@b.example", PublicURL: "https://x.example", Away: cfg.Away, Now: clock, Secret: []byte("another secret of enough length")}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	code2, err := a.ResumeCode(ctx, "v_xyz")
	if err != nil {
		t.Fatal(err)
	}
	parts := strings.Split(code, ".")
	for _, tc := range []struct {
		name string
		a    *Adapter
		code string
		want string // visitor id; "" wants ErrBadCode
		late time.Duration
		used bool // wants ErrCodeUsed
	}{
		{"valid", a, code, "v_abc", 0, false},
		{"used", a, code, "", 0, true},
		{"valid on another adapter of the store", b, code2, "v_xyz", 0, false},
		{"used, on another adapter of the store", a, code2, "", 0, true},
		{"different secret", other, code, "", 0, false},
		{"other visitor", a, "v_abd." + parts[1] + "." + parts[2], "", 0, false},
		{"longer expiry", a, parts[0] + "." + parts[1] + "0." + parts[2], "", 0, false},
		{"bad mac", a, parts[0] + "." + parts[1] + "." + strings.Repeat("A", len(parts[2])), "", 0, false},
		{"expired", a, code, "", time.Hour, false},
		{"empty", a, "", "", 0, false},
		{"garbage", a, "not a code", "", 0, false},
		{"too long", a, strings.Repeat("x", 300), "", 0, false},
	} {
		t.Run(tc.name, func(t *testing.T) {
			now = time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC).Add(tc.late)
			got, err := tc.a.VerifyResume(ctx, tc.code)
			if tc.used {
				if !errors.Is(err, ErrCodeUsed) || !errors.Is(err, bridge.ErrAlreadyUsed) || errors.Is(err, ErrBadCode) {
					t.Fatalf("VerifyResume = %q, %v; want ErrCodeUsed", got, err)
				}
				return
			}
			if tc.want == "" {
				if !errors.Is(err, ErrBadCode) {
					t.Fatalf("VerifyResume = %q, %v; want ErrBadCode", got, err)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("VerifyResume = %q, %v; want %q", got, err, tc.want)
			}
		})
	}
	if _, err := a.ResumeCode(ctx, "v.dot"); !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("ResumeCode(v.dot) = %v, want ErrInvalid", err)
	}
}

func TestComposeEscapesAndTranslates(t *testing.T) {
	st := fixture.Engine(t, fixture.Options{NoRun: true})
	a, err := New(Config{Host: "127.0.0.1", From: "Support <s@shop.example>", PublicURL: "https://chat.example.com", SiteName: "Boutique", Away: func(string) bool { return true }}, st, nil)
	if err != nil {
		t.Fatal(err)
	}
	v := bridge.Visitor{ID: "v_1", Name: "Zoé\r\nBcc: victim@example.com", Email: "zoe@example.com", Locale: "fr-FR"}
	msgs := []bridge.Message{{From: bridge.FromOperator, Author: "Luc\nX-Evil: 1", Text: "<script>alert(1)</script>", At: time.Now()}}
	raw, err := a.compose(v, msgs, "https://chat.example.com/?chatbridge_resume=v_1.x.y")
	if err != nil {
		t.Fatal(err)
	}
	m := decodeMail(t, received{Data: string(raw)})
	for _, h := range []string{"Bcc", "X-Evil"} {
		if m.header.Get(h) != "" {
			t.Errorf("header %s injected: %q", h, m.header.Get(h))
		}
	}
	if m.subject != "Nouvelle réponse à votre discussion sur Boutique" {
		t.Errorf("subject = %q", m.subject)
	}
	if !strings.Contains(m.plain, "Bonjour Zoé Bcc: victim@example.com,") || !strings.Contains(m.plain, "Luc X-Evil: 1 a répondu") {
		t.Errorf("plain:\n%s", m.plain)
	}
	if strings.Contains(m.html, "<script>") || !strings.Contains(m.html, "&lt;script&gt;alert(1)&lt;/script&gt;") {
		t.Errorf("html not escaped:\n%s", m.html)
	}
	if _, err := a.compose(bridge.Visitor{ID: "v_2", Email: "not an address"}, msgs, "x"); !permanent(err) {
		t.Errorf("bad address: err = %v, want a permanent error", err)
	}
}

func TestConfigValidate(t *testing.T) {
	ok := Config{Host: "smtp.example.com", Port: 587, From: "Support <s@example.com>", PublicURL: "https://chat.example.com", Away: func(string) bool { return true }}
	for _, tc := range []struct {
		name string
		mod  func(*Config)
		want []string // keys named in the errors
	}{
		{"valid", func(*Config) {}, nil},
		{"no host", func(c *Config) { c.Host = "" }, []string{"email.host"}},
		{"host with port", func(c *Config) { c.Host = "smtp.example.com:25" }, []string{"email.host"}},
		{"bad port", func(c *Config) { c.Port = 70000 }, []string{"email.port"}},
		{"bad from", func(c *Config) { c.From = "nobody" }, []string{"email.from"}},
		{"password without user", func(c *Config) { c.Password = "x" }, []string{"email.username"}},
		{"no url", func(c *Config) { c.PublicURL = "" }, []string{"server.public_url"}},
		{"javascript url", func(c *Config) { c.ResumeURL = "javascript:alert(1)" }, []string{"ResumeURL"}},
		{"negative", func(c *Config) { c.AwayAfter = -time.Second }, []string{"email.away_after"}},
		{"no presence", func(c *Config) { c.Away = nil }, []string{"Away"}},
		{"several at once", func(c *Config) { c.Host, c.From = "", "" }, []string{"email.host", "email.from"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := ok
			tc.mod(&c)
			errs := c.Validate()
			if len(errs) != len(tc.want) {
				t.Fatalf("Validate = %v, want errors for %v", errs, tc.want)
			}
			for i, key := range tc.want {
				if !strings.HasPrefix(errs[i].Error(), key+":") && !containsKey(errs, key) {
					t.Errorf("errors %v do not name %s", errs, key)
				}
			}
		})
	}
}

func containsKey(errs []error, key string) bool {
	for _, e := range errs {
		if strings.HasPrefix(e.Error(), key+":") {
			return true
		}
	}
	return false
}

// STARTTLS is required unless the configuration says "none": a server that
// does not offer it gets nothing, never the message in plain text.
func TestStartTLSRequired(t *testing.T) {
	for _, tc := range []struct {
		mode    string
		wantErr string
	}{
		{"", "does not offer STARTTLS"}, // the default on a port other than 465
		{TLSStartTLS, "does not offer STARTTLS"},
		{TLSNone, ""},
	} {
		t.Run("tls="+tc.mode, func(t *testing.T) {
			e := newEnv(t, func(c *Config) { c.TLS, c.Username, c.Password = tc.mode, "", "" })
			err := e.a.send(e.ctx, "ann@example.com", []byte("Subject: hi\r\n\r\nhello\r\n"))
			switch {
			case tc.wantErr == "" && err != nil:
				t.Fatalf("send: %v", err)
			case tc.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tc.wantErr)):
				t.Fatalf("send = %v, want an error containing %q", err, tc.wantErr)
			}
			select {
			case m := <-e.smtp.mail:
				if tc.wantErr != "" {
					t.Fatalf("the message went out in plain text: %+v", m)
				}
			default:
				if tc.wantErr == "" {
					t.Fatalf("nothing was sent")
				}
			}
		})
	}
}
