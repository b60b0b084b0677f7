package commands

import (
	"context"

	"github.com/chatbridge/chatbridge/bridge"
)

var leaveCommand = command{
	name:  "leave",
	usage: "!leave — stop following this conversation (the chat goes on; the visitor is not told)",
	run:   runLeave,
}

func runLeave(ctx context.Context, r *Router, c call) (bridge.Outcome, error) {
	if !c.conv.HasOperator(c.in.Operator) {
		return bridge.Outcome{Whisper: "You are not following this conversation; nothing changed."}, nil
	}
	stillFollowed, err := r.e.Leave(ctx, c.conv.ID, c.in.Operator)
	if err != nil {
		return bridge.Outcome{}, err
	}
	text := "You left this conversation; the visitor was not told."
	switch {
	case c.conv.Status != bridge.StatusOpen:
	case stillFollowed:
		text += " Other operators still follow it."
	default:
		text += " No operator follows it now: it is waiting for an operator again."
	}
	return bridge.Outcome{Whisper: text}, nil
}
