package commands

import (
	"context"

	"github.com/chatbridge/chatbridge/bridge"
)

var closeCommand = command{
	name:  "close",
	usage: "!close — end the conversation for both sides (the visitor sees that the chat ended)",
	run:   runClose,
}

func runClose(ctx context.Context, r *Router, c call) (bridge.Outcome, error) {
	if c.conv.Status == bridge.StatusClosed {
		return bridge.Outcome{Whisper: "This conversation is already closed."}, nil
	}
	return bridge.Outcome{Actions: []bridge.Action{bridge.CloseAction("Conversation closed.")}}, nil
}
