package commands

import (
	"context"
	"errors"
	"fmt"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/canned"
)

// Listing limits.
const (
	maxListed   = 20
	listTextLen = 60
)

// cannedState is what the canned paths read from the store at once.
type cannedState struct {
	all  []bridge.CannedResponse
	vars canned.Vars
}

func (r *Router) loadCanned(ctx context.Context, in bridge.OperatorInput, conv bridge.Conversation) (cannedState, error) {
	all, err := r.e.CannedResponses(ctx)
	if err != nil {
		return cannedState{}, fmt.Errorf("load canned responses: %w", err)
	}
	v, err := r.e.VisitorOf(ctx, conv)
	if err != nil {
		return cannedState{}, fmt.Errorf("load visitor: %w", err)
	}
	vars := canned.Vars{VisitorName: v.Name, VisitorEmail: v.Email, OperatorName: in.Operator.Name, ConversationID: conv.ID}
	return cannedState{all: all, vars: vars}, nil
}

// reply relays text with its :shortcuts expanded.
func (r *Router) reply(ctx context.Context, in bridge.OperatorInput, conv bridge.Conversation, text string) (bridge.Outcome, error) {
	if text == "" {
		return bridge.Outcome{Whisper: "Nothing was sent: the message is empty."}, nil
	}
	if !mayHaveShortcut(text) {
		return r.relay(in, text, ""), nil
	}
	st, err := r.loadCanned(ctx, in, conv)
	if err != nil {
		return bridge.Outcome{}, err
	}
	key := in.Operator.Key()
	var broken string
	expanded, used := canned.ExpandWith(text, func(name string) (string, bool) {
		c, ok := canned.Find(st.all, name, key)
		if !ok {
			return "", false
		}
		if why := unrenderable(c); why != "" && broken == "" {
			broken = why
		}
		return canned.Render(c.Text, st.vars), true
	}, shortcutSyntax)
	if broken != "" {
		return bridge.Outcome{Whisper: broken}, nil
	}
	if len(used) == 0 {
		return r.relay(in, text, ""), nil
	}
	expanded = trimSpace(expanded)
	if expanded == "" {
		return bridge.Outcome{Whisper: "Nothing was sent: " + shortcutList(used) + " rendered to an empty text for this visitor."}, nil
	}
	return r.relayCanned(in, expanded, used), nil
}

// shortcutSyntax is how shortcut tokens are read in a reply: after ':' or
// any of its equivalents and look-alikes (isColon: "：", "꞉", "∶", …), with
// invisible characters ignored and fullwidth letters read as ASCII. A
// look-alike colon only matters in front of an existing shortcut: anything
// else stays as typed.
var shortcutSyntax = canned.Syntax{IsColon: isColon, Ignore: isInvisible, Fold: foldRune}

// mayHaveShortcut reports whether text has a ':' or a look-alike of one, so
// that the store is read only for such replies.
func mayHaveShortcut(text string) bool {
	if strings.IndexByte(text, ':') >= 0 {
		return true
	}
	for i := 0; i < len(text); i++ {
		if text[i] >= 0x80 {
			return strings.ContainsFunc(text[i:], isColon)
		}
	}
	return false
}

// sendCanned relays one shortcut's rendered text (":sorry" alone, or
// "!canned sorry"). found is false when no such shortcut is visible.
func (r *Router) sendCanned(ctx context.Context, in bridge.OperatorInput, st cannedState, shortcut string) (out bridge.Outcome, found bool) {
	c, ok := canned.Find(st.all, shortcut, in.Operator.Key())
	if !ok {
		return bridge.Outcome{}, false
	}
	if why := unrenderable(c); why != "" {
		return bridge.Outcome{Whisper: why}, true
	}
	text := trimSpace(canned.Render(c.Text, st.vars))
	if text == "" {
		return bridge.Outcome{Whisper: "Nothing was sent: :" + shortcut + " rendered to an empty text for this visitor."}, true
	}
	return r.relayCanned(in, text, []string{shortcut}), true
}

// unrenderable returns the whisper for a stored response whose variables
// Render would leave as typed ("{{visitor.nme}}": stored by an older version
// that did not check them), or "". Such a response is never sent: the
// visitor would see the braces.
func unrenderable(c bridge.CannedResponse) string {
	var ve *canned.VariableError
	if err := canned.CheckVariables(c.Text); !errors.As(err, &ve) {
		return ""
	}
	fix := "!canned add " + c.Shortcut + " <text>"
	if c.Owner != "" {
		fix = "!canned add --mine " + c.Shortcut + " <text>"
	}
	return "Nothing was sent: the canned response :" + c.Shortcut + " cannot be filled in: " + ve.Detail() +
		". Fix it with " + fix + "."
}

// relayCanned relays text made of the canned responses used: their use
// counts go up in the same commit as the reply.
func (r *Router) relayCanned(in bridge.OperatorInput, text string, used []string) bridge.Outcome {
	out := r.relay(in, text, sentNotice(used))
	if out.Relay != "" {
		out.Actions = append(out.Actions, bridge.UseCannedAction(used, in.Operator.Key()))
	}
	return out
}

func sentNotice(used []string) string {
	if len(used) == 1 {
		return "Sent canned response " + shortcutList(used) + "."
	}
	return "Sent canned responses " + shortcutList(used) + "."
}

func shortcutList(used []string) string {
	return ":" + strings.Join(used, ", :")
}

// listCanned answers ":" alone.
func (r *Router) listCanned(ctx context.Context, in bridge.OperatorInput, conv bridge.Conversation) (bridge.Outcome, error) {
	st, err := r.loadCanned(ctx, in, conv)
	if err != nil {
		return bridge.Outcome{}, err
	}
	return bridge.Outcome{Whisper: listing(st.all, "", in.Operator.Key(), "")}, nil
}

// cannedQuery answers ":prefix" alone: an exact shortcut is sent, otherwise
// the matches are listed and nothing is sent.
func (r *Router) cannedQuery(ctx context.Context, in bridge.OperatorInput, conv bridge.Conversation, query string) (bridge.Outcome, error) {
	st, err := r.loadCanned(ctx, in, conv)
	if err != nil {
		return bridge.Outcome{}, err
	}
	if out, ok := r.sendCanned(ctx, in, st, query); ok {
		return out, nil
	}
	return bridge.Outcome{Whisper: listing(st.all, query, in.Operator.Key(), "Nothing was sent. ")}, nil
}

// listing renders the responses matching query for operatorKey: numbered
// ":shortcut — text" lines, at most maxListed, then "and N more".
func listing(all []bridge.CannedResponse, query, operatorKey, lead string) string {
	hits := canned.Match(all, query, operatorKey)
	var b strings.Builder
	b.WriteString(lead)
	switch {
	case len(hits) == 0 && query == "" && len(all) == 0:
		b.WriteString("There are no canned responses yet. Add one with !canned add <shortcut> <text>.")
		return b.String()
	case len(hits) == 0 && query == "":
		b.WriteString("There are no canned responses you can use yet. Add one with !canned add <shortcut> <text>.")
		return b.String()
	case len(hits) == 0:
		fmt.Fprintf(&b, "No canned response matches :%s. Type : to list them all.", query)
		return b.String()
	case query == "":
		fmt.Fprintf(&b, "Canned responses (%d) — type :shortcut to send one:", len(hits))
	default:
		fmt.Fprintf(&b, "Canned responses matching :%s (%d) — type :shortcut to send one:", query, len(hits))
	}
	for i, c := range hits {
		if i == maxListed {
			fmt.Fprintf(&b, "\nand %d more", len(hits)-maxListed)
			break
		}
		mine := ""
		if c.Owner != "" {
			mine = " (yours)"
		}
		fmt.Fprintf(&b, "\n%d. :%s%s — %s", i+1, c.Shortcut, mine, clip(joinWords(c.Text), listTextLen))
	}
	return b.String()
}
