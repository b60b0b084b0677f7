package inbox

import "github.com/chatbridge/chatbridge/bridge"

// ConversationState says where the inbox keeps state about a conversation
// (each operator's last viewed message, stateKey), so that
// bridge.Engine.Purge deletes it with the conversation. logins are the
// operators' logins (the marks of an operator removed from the
// configuration stay).
func ConversationState(logins []string) bridge.ConversationState {
	return bridge.ConversationState{
		Namespace: stateNamespace,
		Keys: func(c bridge.Conversation, _ func(string) string) ([]string, []string) {
			keys := make([]string, len(logins))
			for i, l := range logins {
				keys[i] = stateKey(seenKey{l, c.ID})
			}
			return keys, nil
		},
	}
}
