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
	var st cannedState
	err := r.e.Store().View(ctx, func(tx bridge.Tx) error {
		var err error
		if st.all, err = tx.AllCanned(); err != nil {
			return err
		}
		v, err := visitorOf(tx, conv)
		st.vars = canned.Vars{VisitorName: v.Name, VisitorEmail: v.Email, OperatorName: in.Operator.Name, ConversationID: conv.ID}
		return err
	})
	if err != nil {
		return cannedState{}, fmt.Errorf("load canned responses: %w", err)
	}
	return st, nil
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
	out := r.relay(in, expanded, sentNotice(used))
	if out.Relay != "" {
		r.recordUse(ctx, used, key)
	}
	return out, nil
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
	out = r.relay(in, text, sentNotice([]string{shortcut}))
	if out.Relay != "" {
		r.recordUse(ctx, []string{shortcut}, in.Operator.Key())
	}
	return out, true
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

// recordUse counts uses. A failure is logged, not returned: the reply still
// goes out.
func (r *Router) recordUse(ctx context.Context, used []string, owner string) {
	now := r.e.Now()
	err := r.e.Store().Update(ctx, func(tx bridge.Tx) error { return canned.Use(tx, used, owner, now) })
	if err != nil {
		r.log.Warn("canned use not recorded", "operator", owner, "err", err)
	}
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
