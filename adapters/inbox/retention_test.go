package inbox

import (
	"slices"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestConversationState(t *testing.T) {
	cs := ConversationState([]string{"ann", "bob"})
	keys, _ := cs.Keys(bridge.Conversation{ID: "c_1"}, func(string) string { return "" })
	for _, l := range []string{"ann", "bob"} {
		if k := stateKey(seenKey{l, "c_1"}); cs.Namespace != stateNamespace || !slices.Contains(keys, k) {
			t.Errorf("declared %s %q, want %s", cs.Namespace, keys, k)
		}
	}
}
