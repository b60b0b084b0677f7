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
	if err := r.e.Close(ctx, c.conv.ID, c.in.Operator); err != nil {
		return bridge.Outcome{}, err
	}
	return bridge.Outcome{Whisper: "Conversation closed."}, nil
}
