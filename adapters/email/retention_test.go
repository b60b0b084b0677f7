package email

import (
	"slices"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestConversationState(t *testing.T) {
	cs := ConversationState()
	keys, _ := cs.Keys(bridge.Conversation{ID: "c_1"}, func(string) string { return "" })
	if cs.Namespace != stateNS || !slices.Contains(keys, convKey("c_1")) {
		t.Fatalf("declared %s %q, want %s", cs.Namespace, keys, convKey("c_1"))
	}
}
