package slack

import "github.com/chatbridge/chatbridge/bridge"

// ConversationState says where the adapter keeps state about a
// conversation (a post record per message it posted, recordKey), so that
// bridge.Engine.Purge deletes it with the conversation.
func ConversationState() bridge.ConversationState {
	return bridge.ConversationState{
		Namespace: AdapterName,
		Keys: func(c bridge.Conversation, _ func(string) string) ([]string, []string) {
			return nil, []string{"msg:" + c.ID + ":"}
		},
	}
}
