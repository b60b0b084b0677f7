package slack

import (
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

// The declared state covers the post records of the conversation's
// messages, and not those of a conversation whose id extends it.
func TestConversationState(t *testing.T) {
	cs := ConversationState()
	_, prefixes := cs.Keys(bridge.Conversation{ID: "c_1"}, func(string) string { return "" })
	covered := func(k string) bool { return strings.HasPrefix(k, prefixes[0]) }
	if cs.Namespace != AdapterName || !covered(recordKey("c_1", 7)) || covered(recordKey("c_10", 7)) {
		t.Fatalf("declared %s %q: does not cover exactly the records of c_1", cs.Namespace, prefixes)
	}
}
