package matrix

import (
	"html"
	"strings"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/id"
)

// Content fields chatbridge adds to the events it sends.
const (
	// fieldOperatorOnly marks whispers (command output for one operator).
	fieldOperatorOnly = "org.chatbridge.operator_only"
	// stateConversation is a state event in every room the bot creates,
	// naming the conversation (for people and tools looking at the room).
	stateConversation = "org.chatbridge.conversation"
)

// helpLine is the how-to line of the context card.
const helpLine = "Reply here. !help for commands, ;; text for a private note. Element: type !help (Element handles /help itself)."

// content is the JSON content of an m.room.message event.
type content map[string]any

// noMentions is m.mentions for text that must ping nobody.
func noMentions() map[string]any { return map[string]any{} }

// textContent returns an m.text or m.notice with a plain body and the same
// text as HTML (escaped, line breaks kept). mentions are the user ids pinged
// (m.mentions); nil pings nobody.
func textContent(msgtype, body, formatted string, mentions []id.UserID) content {
	m := noMentions()
	if len(mentions) > 0 {
		ids := make([]string, len(mentions))
		for i, u := range mentions {
			ids[i] = string(u)
		}
		m["user_ids"] = ids
	}
	c := content{"msgtype": msgtype, "body": body, "m.mentions": m}
	if formatted != "" {
		c["format"] = "org.matrix.custom.html"
		c["formatted_body"] = formatted
	}
	return c
}

// visitorContent shows a visitor's message, pinging nobody, so that no
// line of it can pass for another author's: the HTML quotes the whole text
// ("<b>Vera</b> (visitor)<blockquote>…</blockquote>"), and the plain body
// ("Vera (visitor): first line\n> next line") starts every line after the
// first with "> ", which lines of operators and the bridge never do.
func visitorContent(author, text string) content {
	name := defang(strings.Join(lines(author), " "))
	var plain, rich strings.Builder
	plain.WriteString(name + " (visitor): ")
	rich.WriteString("<b>" + escape(name) + "</b> (visitor)<blockquote>")
	for i, l := range lines(defang(text)) {
		if i > 0 {
			plain.WriteString("\n> ")
			rich.WriteString("<br>")
		}
		plain.WriteString(l)
		rich.WriteString(html.EscapeString(l))
	}
	rich.WriteString("</blockquote>")
	return textContent("m.text", plain.String(), rich.String(), nil)
}

// lineBreaks are what clients may show as the start of a new line.
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\v", "\n", "\f", "\n",
	"\u0085", "\n", "\u2028", "\n", "\u2029", "\n")

// lines splits s at every kind of line break.
func lines(s string) []string {
	return strings.Split(lineBreaks.Replace(s), "\n")
}

// messageContent shows a message of the conversation that did not come from
// this room: a visitor's message, a reply or note of an operator on another
// platform, or a public system line. ok is false for messages that are not
// shown in Matrix (whispers, this platform's own operators).
func messageContent(m bridge.Message) (c content, ok bool) {
	switch {
	case m.Visibility == bridge.VisibilityWhisper:
		return nil, false
	case m.From == bridge.FromVisitor:
		return visitorContent(m.Author, m.Text), true
	case m.From == bridge.FromOperator:
		if m.Operator != nil && m.Operator.Adapter == adapterName {
			return nil, false
		}
		author := defang(operatorLabel(m))
		text := defang(m.Text)
		if m.Visibility == bridge.VisibilityNote {
			author += ", private note"
			return textContent("m.notice", author+": "+text, "<i>"+escape(author)+"</i>: "+escape(text), nil), true
		}
		if m.Emote { // "/me waves" on another platform
			return textContent("m.text", "* "+author+" "+text, "* <b>"+escape(author)+"</b> "+escape(text), nil), true
		}
		return textContent("m.text", author+": "+text, "<b>"+escape(author)+"</b>: "+escape(text), nil), true
	default: // system lines
		t := defang(m.Text)
		return textContent("m.notice", t, "", nil), true
	}
}

// operatorLabel is "Alice (inbox)".
func operatorLabel(m bridge.Message) string {
	name := m.Author
	if name == "" {
		name = "Operator"
	}
	if m.Operator != nil && m.Operator.Adapter != "" {
		name += " (" + m.Operator.Adapter + ")"
	}
	return name
}

// mentionContent is an m.text that pings ops: their ids lead the body (so
// that homeservers without intentional mentions match them too) and are
// pills in the HTML.
func mentionContent(ops []id.UserID, lines []string) content {
	var plain, rich strings.Builder
	for _, u := range ops {
		plain.WriteString(string(u) + " ")
		rich.WriteString(pill(u) + " ")
	}
	for i, l := range lines {
		if i > 0 {
			plain.WriteString("\n")
			rich.WriteString("<br>")
		}
		plain.WriteString(l)
		rich.WriteString(escape(l))
	}
	return textContent("m.text", plain.String(), rich.String(), ops)
}

// cardLines is the context card of a new conversation: who the visitor is,
// where they are, and how to answer.
func cardLines(v bridge.Visitor) []string {
	who := v.DisplayName()
	if v.Email != "" {
		who += " <" + v.Email + ">"
	}
	lines := []string{"New chat with " + who}
	for _, f := range []struct{ label, value string }{
		{"Page", v.CurrentURL},
		{"Referrer", v.Referrer},
		{"Language", v.Locale},
		{"Country", v.Country},
		{"Browser", v.UserAgent},
	} {
		if f.value != "" {
			lines = append(lines, f.label+": "+clip(f.value, 300))
		}
	}
	lines = append(lines, helpLine)
	for i := range lines {
		lines[i] = defang(lines[i])
	}
	return lines
}

// whisperContent is command output for one operator: an m.notice in the
// thread rooted at root (the command, or the thread it was typed in), as a
// reply to the command, mentioning the operator and marked operator-only.
// "@room" is defanged: whispers quote visitor-controlled text (page titles
// in !history, names).
func whisperContent(text string, op id.UserID, root, command id.EventID) content {
	c := textContent("m.notice", defang(text), "", []id.UserID{op})
	c[fieldOperatorOnly] = true
	if root != "" {
		if command == "" {
			command = root
		}
		c["m.relates_to"] = map[string]any{
			"rel_type":        "m.thread",
			"event_id":        string(root),
			"is_falling_back": true,
			"m.in_reply_to":   map[string]any{"event_id": string(command)},
		}
	}
	return c
}

// roomName fills the room name template.
func roomName(template string, v bridge.Visitor) string {
	if template == "" {
		template = DefaultRoomName
	}
	return clip(strings.ReplaceAll(template, "{visitor}", v.DisplayName()), 255)
}

// roomTopic describes the conversation in the room topic.
func roomTopic(v bridge.Visitor) string {
	t := "Live chat with " + v.DisplayName()
	if v.CurrentURL != "" {
		t += " on " + v.CurrentURL
	}
	return clip(t, 500)
}

func pill(u id.UserID) string {
	return `<a href="https://matrix.to/#/` + escape(string(u)) + `">` + escape(string(u)) + `</a>`
}

// escape renders text as HTML: escaped, line breaks kept.
func escape(s string) string {
	return strings.ReplaceAll(html.EscapeString(s), "\n", "<br>")
}

// defang breaks "@room" (any case) with a word joiner, so that text from
// visitors cannot notify a whole room on homeservers that still apply the
// legacy body-matching push rule; m.mentions {} covers the others.
func defang(s string) string {
	var b strings.Builder
	last := 0
	for i := 0; i+len("@room") <= len(s); i++ {
		if s[i] == '@' && strings.EqualFold(s[i+1:i+5], "room") {
			b.WriteString(s[last : i+1])
			b.WriteString("\u2060")
			last = i + 1
		}
	}
	if last == 0 {
		return s
	}
	b.WriteString(s[last:])
	return b.String()
}

// clip cuts s to at most n bytes on a rune boundary.
func clip(s string, n int) string {
	if len(s) <= n {
		return s
	}
	for n > 0 && !utf8.RuneStart(s[n]) {
		n--
	}
	return s[:n] + "…"
}

// editContent replaces the event orig with nc (m.replace): clients that
// know edits show nc; others show the "* " fallback.
func editContent(nc content, orig id.EventID) content {
	c := content{}
	for k, v := range nc {
		c[k] = v
	}
	if b, ok := nc["body"].(string); ok {
		c["body"] = "* " + b
	}
	if f, ok := nc["formatted_body"].(string); ok {
		c["formatted_body"] = "* " + f
	}
	c["m.new_content"] = nc
	c["m.relates_to"] = map[string]any{"rel_type": "m.replace", "event_id": string(orig)}
	return c
}
