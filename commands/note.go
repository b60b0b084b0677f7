package commands

import (
	"context"

	"github.com/chatbridge/chatbridge/bridge"
)

var noteCommand = command{
	name:  "note",
	usage: "!note <text> (or ;; <text>) — a private note for the operators",
	run:   runNote,
}

// runNote is reached for "!note" without text ("!note text" is parsed as a
// note directly); it also serves a note given as arguments.
func runNote(_ context.Context, _ *Router, c call) (bridge.Outcome, error) {
	if c.args == "" {
		return usageOf(c), nil
	}
	return bridge.Outcome{Note: c.args}, nil
}
