package matrix

import (
	"slices"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

// The declared state covers the conversation's welcome step, sent events
// and its room's last handled event, not another conversation's.
func TestConversationState(t *testing.T) {
	cs := ConversationState()
	keys, prefixes := cs.Keys(bridge.Conversation{ID: "c_1"}, func(a string) string {
		if a == adapterName {
			return "!room:example.org"
		}
		return ""
	})
	covered := func(k string) bool {
		return slices.Contains(keys, k) || strings.HasPrefix(k, prefixes[0])
	}
	for _, k := range []string{welcomeKey("c_1"), sentKey("c_1", 3), lastKey("!room:example.org")} {
		if !covered(k) {
			t.Errorf("%s is not covered by %q %q", k, keys, prefixes)
		}
	}
	if covered(sentKey("c_10", 3)) || covered(welcomeKey("c_10")) {
		t.Errorf("another conversation's state is covered by %q %q", keys, prefixes)
	}
	if cs.Namespace != stateNamespace || stateNamespace != adapterName {
		t.Errorf("namespace %q: the welcome steps are under %q, the events under %q", cs.Namespace, adapterName, stateNamespace)
	}
}
