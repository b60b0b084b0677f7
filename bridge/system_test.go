package bridge_test

import (
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestSystemLinesRendered(t *testing.T) {
	closed := bridge.Message{From: bridge.FromSystem, Text: "Alice ended the chat.",
		System: &bridge.SystemEvent{Kind: bridge.SystemClosedByOperator, Name: "Alice"}}
	for _, tc := range []struct {
		m    bridge.Message
		lang string
		want string
	}{
		{closed, "fr", "Alice a mis fin à la conversation."},
		{closed, "fr-CA", "Alice a mis fin à la conversation."},
		{closed, "en", "Alice ended the chat."},
		{closed, "de", "Alice ended the chat."}, // unknown: English
		{closed, "", "Alice ended the chat."},
		{bridge.Message{From: bridge.FromSystem, System: &bridge.SystemEvent{Kind: bridge.SystemClosedByVisitor}}, "fr",
			"Le visiteur a mis fin à la conversation."},
		// A note whose text says more than its kind keeps its text.
		{bridge.Message{From: bridge.FromSystem, Text: "Could not deliver …", System: &bridge.SystemEvent{Kind: bridge.SystemDeadLetter, Name: "slack"}}, "fr",
			"Could not deliver …"},
		// A kind this version does not know shows the text it came with.
		{bridge.Message{From: bridge.FromSystem, Text: "Something new.", System: &bridge.SystemEvent{Kind: "from_the_future"}}, "fr", "Something new."},
		{bridge.Message{From: bridge.FromOperator, Text: "hello"}, "fr", "hello"},
	} {
		if got := tc.m.Rendered(tc.lang); got != tc.want {
			t.Errorf("Rendered(%q) of %+v = %q, want %q", tc.lang, tc.m.System, got, tc.want)
		}
		l := bridge.Localize(&tc.m, tc.lang)
		if l.Text != tc.want {
			t.Errorf("Localize(%q) = %q, want %q", tc.lang, l.Text, tc.want)
		}
	}
	if bridge.Localize(nil, "fr") != nil {
		t.Error("Localize(nil) is not nil")
	}
	orig := closed
	bridge.Localize(&closed, "fr")
	if closed.Text != orig.Text {
		t.Error("Localize changed its argument")
	}
}
