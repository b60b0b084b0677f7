package email

import (
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"html"
	"mime"
	"mime/multipart"
	"mime/quotedprintable"
	"net/mail"
	"net/textproto"
	"strings"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/files"
)

// texts are the words of the e-mail in one language.
type texts struct {
	subject, hello, helloName, repliedOne, repliedMany, link, personal, why string
	// file names a file sent with a reply: its name and size, then the
	// link to the conversation, where the visitor can open it.
	file string
}

var languages = map[string]texts{
	"en": {
		subject:     "New reply to your chat on %s",
		hello:       "Hello,",
		helloName:   "Hello %s,",
		repliedOne:  "%s replied to your chat on %s:",
		repliedMany: "You have new replies to your chat on %s:",
		link:        "Continue the conversation",
		personal:    "This link is personal: it opens your conversation, so please do not forward this e-mail.",
		why:         "You receive this e-mail because you left your address in the chat on %s.",
		file:        "Attached file: %s (%s). Open the conversation to see it: %s",
	},
	"fr": {
		subject:     "Nouvelle réponse à votre discussion sur %s",
		hello:       "Bonjour,",
		helloName:   "Bonjour %s,",
		repliedOne:  "%s a répondu à votre discussion sur %s :",
		repliedMany: "Vous avez de nouvelles réponses à votre discussion sur %s :",
		link:        "Reprendre la discussion",
		personal:    "Ce lien est personnel : il ouvre votre discussion, merci de ne pas transférer cet e-mail.",
		why:         "Vous recevez cet e-mail car vous avez laissé votre adresse dans le chat sur %s.",
		file:        "Fichier joint : %s (%s). Ouvrez la discussion pour le voir : %s",
	},
}

func textsFor(locale string) texts {
	if strings.HasPrefix(strings.ToLower(locale), "fr") {
		return languages["fr"]
	}
	return languages["en"]
}

// oneLine removes line breaks (header values, names in sentences).
func oneLine(s string) string {
	return strings.Join(strings.Fields(s), " ")
}

// compose builds the e-mail (headers and a multipart/alternative body with
// plain text and escaped HTML) for the replies msgs.
func (a *Adapter) compose(v bridge.Visitor, msgs []bridge.Message, link string) ([]byte, error) {
	to, err := mail.ParseAddress(v.Email)
	if err != nil || strings.ContainsAny(v.Email, "\r\n") {
		return nil, permanentf("visitor %s has an invalid e-mail address", v.ID)
	}
	to.Name = oneLine(v.Name)
	from, err := mail.ParseAddress(a.cfg.From)
	if err != nil {
		return nil, permanentf("invalid sender address: %v", err)
	}
	t := textsFor(v.Locale)
	site := oneLine(a.cfg.SiteName)
	authors := map[string]bool{}
	for _, m := range msgs {
		authors[oneLine(m.Author)] = true
	}
	var intro string
	if len(authors) == 1 && oneLine(msgs[0].Author) != "" {
		intro = fmt.Sprintf(t.repliedOne, oneLine(msgs[0].Author), site)
	} else {
		intro = fmt.Sprintf(t.repliedMany, site)
	}
	hello := t.hello
	if name := oneLine(v.Name); name != "" {
		hello = fmt.Sprintf(t.helloName, name)
	}

	var plain, rich strings.Builder
	fmt.Fprintf(&plain, "%s\n\n%s\n\n", hello, intro)
	fmt.Fprintf(&rich, `<!doctype html><html><body style="font-family:sans-serif;font-size:15px;line-height:1.5;color:#111">`+
		"<p>%s</p><p>%s</p>", html.EscapeString(hello), html.EscapeString(intro))
	for _, m := range msgs {
		author := oneLine(m.Author)
		if author == "" {
			author = "Support"
		}
		text := m.Text
		if m.Emote {
			text = "* " + author + " " + text
		}
		fmt.Fprintf(&plain, "%s (%s):\n", author, m.At.UTC().Format("2006-01-02 15:04 MST"))
		if text != "" {
			for _, line := range strings.Split(text, "\n") {
				plain.WriteString("> " + line + "\n")
			}
		}
		var fileLine string
		if f := m.File; f != nil {
			// The file itself stays in the conversation: a link in an
			// e-mail could be forwarded, the conversation needs the visitor.
			fileLine = fmt.Sprintf(t.file, oneLine(f.Name), files.Size(f.Size), link)
			plain.WriteString("> " + fileLine + "\n")
		}
		plain.WriteString("\n")
		fmt.Fprintf(&rich, `<p style="margin:16px 0 4px;color:#555;font-size:13px"><b>%s</b></p>`+
			`<blockquote style="margin:0;padding:8px 12px;border-left:3px solid #2563eb;background:#f5f6f8;white-space:pre-wrap">%s`,
			html.EscapeString(author), html.EscapeString(text))
		if m.File != nil {
			if text != "" {
				rich.WriteString("<br>")
			}
			name, size := html.EscapeString(oneLine(m.File.Name)), html.EscapeString(files.Size(m.File.Size))
			before, rest, _ := strings.Cut(t.file, "%s (%s)")
			label, _, _ := strings.Cut(rest, "%s")
			fmt.Fprintf(&rich, `%s<b>%s</b> (%s)%s<a href="%s">%s</a>`, html.EscapeString(before), name, size,
				html.EscapeString(label), html.EscapeString(link), html.EscapeString(t.link))
		}
		rich.WriteString("</blockquote>")
	}
	fmt.Fprintf(&plain, "%s: %s\n\n%s\n\n-- \n%s\n", t.link, link, t.personal, fmt.Sprintf(t.why, site))
	fmt.Fprintf(&rich, `<p style="margin:24px 0"><a href="%s" style="background:#2563eb;color:#fff;padding:10px 18px;border-radius:8px;text-decoration:none">%s</a></p>`+
		`<p style="color:#555;font-size:13px">%s<br>%s</p><p style="color:#888;font-size:12px">%s</p></body></html>`,
		html.EscapeString(link), html.EscapeString(t.link), html.EscapeString(t.personal), html.EscapeString(link),
		html.EscapeString(fmt.Sprintf(t.why, site)))

	var buf bytes.Buffer
	mw := multipart.NewWriter(&buf)
	hdr := func(k, v string) { fmt.Fprintf(&buf, "%s: %s\r\n", k, v) }
	hdr("From", from.String())
	hdr("To", to.String())
	hdr("Subject", mime.QEncoding.Encode("utf-8", oneLine(fmt.Sprintf(t.subject, site))))
	hdr("Date", a.now().Format(time.RFC1123Z))
	hdr("Message-ID", "<"+randomID()+"@"+domainOf(from.Address)+">")
	hdr("MIME-Version", "1.0")
	hdr("Auto-Submitted", "auto-generated")
	hdr("Content-Type", `multipart/alternative; boundary="`+mw.Boundary()+`"`)
	buf.WriteString("\r\n")
	for _, part := range []struct{ typ, body string }{{"text/plain", plain.String()}, {"text/html", rich.String()}} {
		w, err := mw.CreatePart(textproto.MIMEHeader{
			"Content-Type":              {part.typ + "; charset=utf-8"},
			"Content-Transfer-Encoding": {"quoted-printable"},
		})
		if err != nil {
			return nil, err
		}
		qp := quotedprintable.NewWriter(w)
		if _, err := qp.Write([]byte(part.body)); err != nil {
			return nil, err
		}
		if err := qp.Close(); err != nil {
			return nil, err
		}
	}
	if err := mw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}

func randomID() string {
	var b [12]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func domainOf(addr string) string {
	if i := strings.LastIndexByte(addr, '@'); i >= 0 && i < len(addr)-1 {
		return addr[i+1:]
	}
	return "chatbridge.invalid"
}
