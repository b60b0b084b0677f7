package commands

import (
	"context"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

var helpCommand = command{
	name:  "help",
	usage: "!help — who you are talking to and what you can do here",
	run:   runHelp,
}

// platformTips are the built-in how-to lines per adapter; Options.PlatformHelp
// replaces them. %s is the bot's name.
var platformTips = map[string]string{
	"inbox": "Type !command (or /command). Mention a colleague inside a note: ;; @alice can you take this?",
	"slack": "In this thread type !command or @%s command. Slack's /commands do not work in threads: " +
		"type !helpdesk, not /helpdesk.\nMention a colleague inside a note (;; @alice can you take this?): " +
		"a plain message with an @mention goes to the visitor.",
	"matrix": "Type !command. Element takes /command for itself: use !command, or choose \"Send as message\".\n" +
		"If Element turns :name into an emoji, send !canned name instead. " +
		"Mention a colleague inside a note: ;; @alice can you take this?",
}

func runHelp(ctx context.Context, r *Router, c call) (bridge.Outcome, error) {
	v, err := r.e.VisitorOf(ctx, c.conv)
	if err != nil {
		return bridge.Outcome{}, err
	}
	var b strings.Builder
	if name := joinWords(v.Name); name != "" {
		b.WriteString("You are in a private conversation with " + name + ".")
	} else {
		b.WriteString("You are in a private conversation with a visitor.")
	}
	if c.conv.Status == bridge.StatusClosed {
		b.WriteString(" The conversation is closed.")
	}
	b.WriteString("\nWhat you type here is sent to the visitor, except:" +
		"\n  !command — runs a command; only you see the result" +
		"\n  ;; text — a private note for the operators" +
		"\n  :shortcut — inserts a canned response (: alone lists them)")
	tips, ok := r.opts.PlatformHelp[c.in.Operator.Adapter]
	if !ok {
		tips = strings.ReplaceAll(platformTips[c.in.Operator.Adapter], "%s", r.opts.BotName)
	}
	if tips == "" {
		tips = "Type !command."
	}
	b.WriteString("\n" + tips + "\nCommands:")
	for _, cmd := range registry {
		b.WriteString("\n  " + cmd.usage)
	}
	return bridge.Outcome{Whisper: b.String()}, nil
}
