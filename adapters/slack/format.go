package slack

import (
	"strings"
	"unicode"

	"github.com/slack-go/slack/slackutilsx"
)

// This file converts text between Slack's markup and the plain text the
// bridge stores. The functions are pure; users are resolved by a function
// the caller passes in.

// Escape makes text safe to post to Slack as it is: & < > become entities,
// so that no <!channel>, <@U…> ping or <url|disguised link> can be formed.
func Escape(text string) string { return slackutilsx.EscapeMessage(text) }

// lineBreaks normalises every character Slack may show as a line break.
var lineBreaks = strings.NewReplacer("\r\n", "\n", "\r", "\n", "\u0085", "\n", "\u2028", "\n", "\u2029", "\n")

// zwsp is a zero-width space: put before a formatting character, it keeps
// that character from starting a bold, italic, strike or code run.
const zwsp = "\u200b"

// Quote escapes text and renders it as a block quote: every line starts
// with "> ", and a line's first visible character, when it is one of
// * _ ~ `, is preceded by a zero-width space. So no line of the text can
// pass for a line of another author (such as "*Bob (inbox)*: ...").
func Quote(text string) string {
	lines := strings.Split(lineBreaks.Replace(Escape(text)), "\n")
	for i, l := range lines {
		lines[i] = "> " + neutralise(l)
	}
	return strings.Join(lines, "\n")
}

// multiline reports whether Slack would show text on more than one line.
func multiline(text string) bool {
	return strings.Contains(lineBreaks.Replace(text), "\n")
}

// neutralise puts a zero-width space before a line's first non-blank
// character when that character could start formatting.
func neutralise(line string) string {
	i := strings.IndexFunc(line, func(r rune) bool { return !unicode.IsSpace(r) })
	if i >= 0 && strings.IndexByte("*_~`", line[i]) >= 0 {
		return line[:i] + zwsp + line[i:]
	}
	return line
}

// entities decodes the three entities Slack uses in message text. A
// strings.Replacer replaces in one pass, so "&amp;lt;" becomes "&lt;".
var entities = strings.NewReplacer("&lt;", "<", "&gt;", ">", "&amp;", "&")

// ToVisitor converts the text of a Slack message to plain text for the
// visitor: <@U…> becomes @Display Name (userName resolves an id; "" falls
// back to the mention's label or the id), <#C…|name> #name, <!here> @here,
// <url|label> "label (url)", <url> the URL, <!date^…|fallback> the fallback;
// &amp; &lt; &gt; are decoded last, so that decoded text never forms a token.
// userName may be nil.
func ToVisitor(text string, userName func(id string) string) string {
	var b strings.Builder
	b.Grow(len(text))
	for {
		i := strings.IndexByte(text, '<')
		if i < 0 {
			b.WriteString(entities.Replace(text))
			return b.String()
		}
		b.WriteString(entities.Replace(text[:i]))
		rest := text[i+1:]
		j := strings.IndexAny(rest, "<>")
		if j < 0 || rest[j] == '<' {
			// Not a token: Slack sends a literal < as &lt;, so this is
			// malformed input; keep the character.
			b.WriteByte('<')
			text = rest
			continue
		}
		b.WriteString(token(rest[:j], userName))
		text = rest[j+1:]
	}
}

// token converts the inside of one <…> token.
func token(tok string, userName func(id string) string) string {
	target, label, _ := strings.Cut(tok, "|")
	label = entities.Replace(label)
	switch {
	case strings.HasPrefix(target, "@"):
		id := target[1:]
		name := ""
		if userName != nil && id != "" {
			name = userName(id)
		}
		if name == "" {
			name = label
		}
		if name == "" {
			name = entities.Replace(id)
		}
		return "@" + strings.TrimPrefix(name, "@")
	case strings.HasPrefix(target, "#"):
		if label != "" {
			return "#" + label
		}
		return "#channel"
	case strings.HasPrefix(target, "!"):
		cmd := target[1:]
		switch {
		case cmd == "here" || cmd == "channel" || cmd == "everyone":
			return "@" + cmd
		case strings.HasPrefix(cmd, "subteam^"):
			if label != "" {
				return "@" + strings.TrimPrefix(label, "@")
			}
			return "@group"
		case strings.HasPrefix(cmd, "date^"):
			return label
		case label != "":
			return label
		default:
			return entities.Replace(cmd)
		}
	}
	url := entities.Replace(target)
	switch {
	case label == "" || label == url:
		return url
	case strings.HasPrefix(url, "mailto:") && url[len("mailto:"):] == label:
		return label
	default:
		return label + " (" + url + ")"
	}
}

// cleanName makes a display name safe to put in a Slack username or inside
// *bold* markup: no control characters, no asterisks, one line, at most max
// runes. It does not escape (see Escape).
func cleanName(name string, max int) string {
	name = strings.Map(func(r rune) rune {
		switch {
		case r == '*':
			return -1
		case unicode.IsControl(r) || unicode.IsSpace(r):
			return ' '
		case unicode.Is(unicode.Cf, r):
			return -1
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	if r := []rune(name); len(r) > max {
		name = string(r[:max-1]) + "…"
	}
	return name
}

// cutBotMention splits text that starts with the bot's mention (<@UBOT> or
// <@UBOT|name>, after white space) into the mention and the rest.
func cutBotMention(text, botUserID string) (rest string, ok bool) {
	if botUserID == "" {
		return text, false
	}
	t := strings.TrimLeftFunc(text, unicode.IsSpace)
	prefix := "<@" + botUserID
	if !strings.HasPrefix(t, prefix) {
		return text, false
	}
	t = t[len(prefix):]
	switch {
	case strings.HasPrefix(t, ">"):
		return t[1:], true
	case strings.HasPrefix(t, "|"):
		if i := strings.IndexByte(t, '>'); i >= 0 {
			return t[i+1:], true
		}
	}
	return text, false
}
