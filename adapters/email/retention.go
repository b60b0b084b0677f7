package email

import "github.com/chatbridge/chatbridge/bridge"

// ConversationState says where the adapter keeps state about a
// conversation (what was sent to the visitor while away, convKey), so
// that bridge.Engine.Purge deletes it with the conversation.
func ConversationState() bridge.ConversationState {
	return bridge.ConversationState{
		Namespace: stateNS,
		Keys: func(c bridge.Conversation, _ func(string) string) ([]string, []string) {
			return []string{convKey(c.ID)}, nil
		},
	}
}
