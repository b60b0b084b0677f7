package commands

import (
	"context"
	"fmt"
	"slices"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// maxTitleLen caps ticket and lead titles, in characters.
const maxTitleLen = 200

// title reads a ticket or lead title from a command's arguments: words
// joined by single spaces. problem is set when there is none or it is too
// long.
func title(c call) (t string, problem *bridge.Outcome) {
	t = joinWords(c.args)
	if t == "" {
		out := usageOf(c)
		return "", &out
	}
	if n := len([]rune(t)); n > maxTitleLen {
		return "", &bridge.Outcome{Whisper: fmt.Sprintf("The title is %d characters long; at most %d, please. Nothing was created.", n, maxTitleLen)}
	}
	return t, nil
}

// visitorAndTranscript loads the conversation's visitor and its public
// transcript ("Author: text" lines).
func (r *Router) visitorAndTranscript(ctx context.Context, conv bridge.Conversation) (bridge.Visitor, string, error) {
	v, err := r.e.VisitorOf(ctx, conv)
	if err != nil {
		return bridge.Visitor{}, "", fmt.Errorf("load visitor: %w", err)
	}
	msgs, err := r.e.Messages(ctx, conv.ID, 0, 0)
	if err != nil {
		return bridge.Visitor{}, "", fmt.Errorf("load conversation: %w", err)
	}
	return v, bridge.FormatTranscript(msgs), nil
}

// links renders sink links (" — odoo: https://…"), sorted by sink name.
func links(m map[string]string) string {
	if len(m) == 0 {
		return ""
	}
	names := make([]string, 0, len(m))
	for k := range m {
		names = append(names, k)
	}
	slices.Sort(names)
	var b strings.Builder
	for _, k := range names {
		b.WriteString(" — " + k + ": " + m[k])
	}
	return b.String()
}
