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
	return bridge.Outcome{Actions: []bridge.Action{bridge.LeaveAction(leftText)}}, nil
}

// leftText tells the operator who left what became of the conversation.
func leftText(stillFollowed bool, conv bridge.Conversation) string {
	text := "You left this conversation; the visitor was not told."
	switch {
	case conv.Status != bridge.StatusOpen:
	case stillFollowed:
		text += " Other operators still follow it."
	default:
		text += " No operator follows it now: it is waiting for an operator again."
	}
	return text
}
