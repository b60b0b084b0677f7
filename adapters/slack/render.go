package slack

import (
	"fmt"
	"strings"

	"github.com/slack-go/slack"

	"github.com/chatbridge/chatbridge/bridge"
)

// rendered is a message as the thread shows it: the texts of its posts, in
// order (several when the text is too long for one), and the options that
// show who wrote it.
type rendered struct {
	texts []string
	opts  []slack.MsgOption
	// customized: the author is shown by a custom username
	// (chat:write.customize), not by a prefix.
	customized bool
}

// render returns the Slack posts of a message. Who wrote it is shown by a
// custom username when customize (the token has chat:write.customize),
// else by a bold prefix. A visitor's text is shown so that none of its
// lines can pass for another author's: as a block quote under the prefix,
// and under a custom username as a block quote when it has several lines
// or parts. A text too long for one post is split (splitText), each part
// labelled "part k of n" and shown the same way. A message with a file
// is rendered for the upload's comment, which cannot carry a username.
func render(m bridge.Message, v bridge.Visitor, customize bool) rendered {
	if m.File != nil {
		customize = false
		if strings.TrimSpace(m.Text) == "" {
			return rendered{texts: []string{"📎 *" + Escape(author(m, v)) + "* sent a file."}}
		}
	}
	pieces := splitText(m.Text, partBudget)
	if len(pieces) == 0 {
		pieces = []string{""}
	}
	n := len(pieces)
	label := func(k int) string {
		if n == 1 {
			return ""
		}
		return fmt.Sprintf(" (part %d of %d)", k+1, n)
	}
	out := rendered{texts: make([]string, n)}
	for k, piece := range pieces {
		body := Escape(piece)
		switch {
		case m.From == bridge.FromSystem:
			out.texts[k] = ":information_source:" + label(k) + " " + body
		case m.Visibility == bridge.VisibilityNote:
			out.texts[k] = "📝 note by " + Escape(operatorLabel(m)) + label(k) + ": " + body
		case customize:
			if m.From == bridge.FromVisitor && (n > 1 || multiline(m.Text)) {
				body = Quote(piece)
			}
			if n > 1 {
				body = fmt.Sprintf("_part %d of %d_\n", k+1, n) + body
			}
			out.texts[k] = body
		case m.From == bridge.FromVisitor:
			out.texts[k] = "*" + Escape(author(m, v)) + "*" + label(k) + ":\n" + Quote(piece)
		case m.Emote:
			out.texts[k] = "*" + Escape(author(m, v)) + "*" + label(k) + " " + body
		default:
			out.texts[k] = "*" + Escape(author(m, v)) + "*" + label(k) + ": " + body
		}
	}
	if customize && m.From != bridge.FromSystem && m.Visibility != bridge.VisibilityNote {
		icon := ":headphones:"
		if m.From == bridge.FromVisitor {
			icon = ":bust_in_silhouette:"
		}
		out.opts = []slack.MsgOption{slack.MsgOptionUsername(author(m, v)), slack.MsgOptionIconEmoji(icon)}
		out.customized = true
	}
	return out
}

// author is who the thread shows as a message's author: "Vera (visitor)",
// "Alice (inbox)".
func author(m bridge.Message, v bridge.Visitor) string {
	if m.From == bridge.FromVisitor {
		name := m.Author
		if name == "" {
			name = v.DisplayName()
		}
		return cleanName(name, 60) + " (visitor)"
	}
	return operatorLabel(m)
}

// operatorLabel is "Alice (inbox)" for an operator of another platform.
func operatorLabel(m bridge.Message) string {
	name, platform := m.Author, ""
	if m.Operator != nil {
		if m.Operator.Name != "" {
			name = m.Operator.Name
		}
		platform = m.Operator.Adapter
	}
	if name = cleanName(name, 60); name == "" {
		name = "An operator"
	}
	if platform != "" {
		name += " (" + cleanName(platform, 20) + ")"
	}
	return name
}
