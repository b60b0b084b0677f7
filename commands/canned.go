package commands

import (
	"context"
	"fmt"
	"strings"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/canned"
)

var cannedCommand = command{
	name: "canned",
	usage: "!canned list [query] | add [--mine] <shortcut> <text> | remove <shortcut> | <shortcut> — " +
		"manage canned responses, or send one",
	run: runCanned,
}

// runCanned dispatches the canned subcommands. "!canned <shortcut>" sends
// the response, a second way besides ":shortcut" (Element may turn ":name"
// into an emoji). The words list, add and remove are subcommands, so a
// shortcut with one of those names is sent with ":name".
func runCanned(ctx context.Context, r *Router, c call) (bridge.Outcome, error) {
	sub, rest, _ := cutWord(c.args)
	rest = trimSpace(rest)
	switch strings.ToLower(sub) {
	case "":
		return usageOf(c), nil
	case "list", "ls":
		st, err := r.loadCanned(ctx, c.in, c.conv)
		if err != nil {
			return bridge.Outcome{}, err
		}
		return bridge.Outcome{Whisper: listing(st.all, strings.TrimPrefix(joinWords(rest), ":"), c.in.Operator.Key(), "")}, nil
	case "add", "set":
		return cannedAdd(ctx, r, c, rest)
	case "remove", "rm", "delete":
		return cannedRemove(ctx, r, c, rest)
	}
	if rest != "" {
		return bridge.Outcome{Whisper: "Nothing was sent. To send a canned response type !canned <shortcut> alone; " +
			"to add one, !canned add <shortcut> <text>."}, nil
	}
	shortcut := strings.ToLower(trimColon(sub))
	st, err := r.loadCanned(ctx, c.in, c.conv)
	if err != nil {
		return bridge.Outcome{}, err
	}
	if out, ok := r.sendCanned(ctx, c.in, st, shortcut); ok {
		return out, nil
	}
	return bridge.Outcome{Whisper: listing(st.all, shortcut, c.in.Operator.Key(), "Nothing was sent. ")}, nil
}

// trimColon removes a leading ':' (or an equivalent or look-alike of it)
// from a shortcut typed as an argument ("!canned :sorry", "!canned ：sorry").
func trimColon(s string) string {
	if r, n := utf8.DecodeRuneInString(s); isColon(r) {
		return s[n:]
	}
	return s
}

const cannedAddUsage = "Usage: !canned add [--mine] <shortcut> <text> — shared with every operator unless --mine (or --personal)"

// cannedAdd stores a shared (or, with --mine/--personal, personal) response.
func cannedAdd(ctx context.Context, r *Router, c call, args string) (bridge.Outcome, error) {
	personal := false
	var shortcut string
	for shortcut == "" {
		word, rest, _ := cutWord(args)
		args = trimSpace(rest)
		switch {
		case word == "":
			return bridge.Outcome{Whisper: cannedAddUsage}, nil
		case word == "--mine" || word == "--personal":
			personal = true
		case word == "--shared":
			personal = false
		case strings.HasPrefix(word, "--"):
			return bridge.Outcome{Whisper: fmt.Sprintf("Unknown option %s. %s", clip(word, 30), cannedAddUsage)}, nil
		default:
			shortcut = strings.TrimPrefix(word, ":")
		}
	}
	if word, rest, _ := cutWord(args); word == "--mine" || word == "--personal" {
		personal, args = true, trimSpace(rest)
	}
	if args == "" {
		return bridge.Outcome{Whisper: cannedAddUsage}, nil
	}
	resp := bridge.CannedResponse{Shortcut: shortcut, Text: args}
	if personal {
		resp.Owner = c.in.Operator.Key()
	}
	if err := canned.Validate(resp); err != nil {
		return bridge.Outcome{Whisper: "Nothing was saved: " + strings.TrimPrefix(err.Error(), bridge.ErrInvalid.Error()+": ") + "."}, nil
	}
	return bridge.Outcome{Actions: []bridge.Action{bridge.SaveCannedAction(resp, func(replaced bool) string {
		verb := "Added"
		if replaced {
			verb = "Replaced"
		}
		if personal {
			return fmt.Sprintf("%s your personal canned response :%s (only you can use it).", verb, shortcut)
		}
		return fmt.Sprintf("%s the shared canned response :%s.", verb, shortcut)
	})}}, nil
}

// cannedRemove deletes the operator's personal response with that shortcut,
// or else the shared one (--shared: the shared one only).
func cannedRemove(ctx context.Context, r *Router, c call, args string) (bridge.Outcome, error) {
	sharedOnly := false
	var shortcut string
	for _, w := range strings.FieldsFunc(args, isSpace) {
		switch {
		case w == "--shared":
			sharedOnly = true
		case shortcut == "" && !strings.HasPrefix(w, "--"):
			shortcut = strings.ToLower(trimColon(w))
		default:
			return bridge.Outcome{Whisper: "Usage: !canned remove [--shared] <shortcut>"}, nil
		}
	}
	if shortcut == "" {
		return bridge.Outcome{Whisper: "Usage: !canned remove [--shared] <shortcut>"}, nil
	}
	owners := []string{c.in.Operator.Key(), ""}
	if sharedOnly {
		owners = owners[1:]
	}
	return bridge.Outcome{Actions: []bridge.Action{bridge.RemoveCannedAction(shortcut, owners, func(removed bridge.CannedResponse, found bool) string {
		switch {
		case !found:
			return fmt.Sprintf("There is no canned response :%s. Nothing was removed.", clip(shortcut, 40))
		case removed.Owner != "":
			return fmt.Sprintf("Removed your personal canned response :%s.", shortcut)
		}
		return fmt.Sprintf("Removed the shared canned response :%s.", shortcut)
	})}}, nil
}
