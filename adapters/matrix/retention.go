package matrix

import (
	"github.com/chatbridge/chatbridge/bridge"
	"maunium.net/go/mautrix/id"
)

// ConversationState says where the adapter keeps state about a
// conversation (its room's welcome step, the event of every message it
// showed, the last event handled in its room), so that
// bridge.Engine.Purge deletes it with the conversation.
func ConversationState() bridge.ConversationState {
	return bridge.ConversationState{
		Namespace: stateNamespace,
		Keys: func(c bridge.Conversation, ref func(string) string) ([]string, []string) {
			keys := []string{welcomeKey(c.ID)}
			if room := ref(adapterName); room != "" {
				keys = append(keys, lastKey(id.RoomID(room)))
			}
			return keys, []string{"sent/" + c.ID + "/"}
		},
	}
}
