package commands

import (
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

// seedStale stores responses the way an older version could: without
// checking their variables.
func (h *harness) seedStale() {
	h.t.Helper()
	h.update(func(tx bridge.Tx) error {
		for _, c := range []bridge.CannedResponse{
			{Shortcut: "stale", Text: "Hello {{visitor.nme}}, how can I help?"},
			{Shortcut: "unclosed", Text: "Hello {{visitor.name, how can I help?"},
			{Shortcut: "nested", Text: "Hello {{ {{visitor.name}} }}"},
			{Shortcut: "mystale", Text: "Regards, {{operator.nam}}", Owner: alice.Key()},
		} {
			if err := tx.PutCanned(c); err != nil {
				return err
			}
		}
		return nil
	})
}

// TestStaleVariablesNeverSent: a stored response with an unknown or
// malformed variable is not sent, in any of the ways a response is sent; the
// operator is told which variable.
func TestStaleVariablesNeverSent(t *testing.T) {
	h := newHarness(t)
	h.seedCanned()
	h.seedStale()
	conv := h.conversation("Nora", "", "", "")
	for _, tc := range []struct{ in, want string }{
		{":stale", "the canned response :stale cannot be filled in: unknown variable {{visitor.nme}} (the variables are {{visitor.name}}, "},
		{"hello :stale", "unknown variable {{visitor.nme}}"},
		{":sorry :stale", "unknown variable {{visitor.nme}}"},
		{"!canned stale", "unknown variable {{visitor.nme}}"},
		{":unclosed", "{{visitor.name, how can I help? is not closed with }}"},
		{":nested", "has braces inside a variable"},
		{":mystale", "unknown variable {{operator.nam}}"},
		{":mystale", "Fix it with !canned add --mine mystale <text>."},
		{":stale", "Fix it with !canned add stale <text>."},
	} {
		added := h.send(conv, alice, tc.in)
		if len(added) != 1 || added[0].Visibility != bridge.VisibilityWhisper || !strings.Contains(added[0].Text, tc.want) {
			t.Errorf("%q added %q, want one whisper containing %q", tc.in, describe(added), tc.want)
		}
	}
	if got := h.visitorSees(conv, 0); len(got) != 1 {
		t.Errorf("the visitor sees %d messages, want only their own: %+v", len(got), got)
	}
	var uses uint64
	h.update(func(tx bridge.Tx) error {
		c, err := tx.Canned("", "sorry")
		uses = c.Uses
		return err
	})
	if uses != 7 {
		t.Errorf(":sorry use count %d, want 7 (nothing was sent)", uses)
	}
}

// TestCannedAddRefusesVariables: "!canned add" refuses unknown variables and
// malformed braces, naming the known variables, and stores nothing.
func TestCannedAddRefusesVariables(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("Nora", "", "", "")
	for _, tc := range []struct{ in, want string }{
		{`!canned add hi "Hello {{visitor.nme}}"`, "Nothing was saved: unknown variable {{visitor.nme}} (the variables are {{visitor.name}}, {{visitor.email}}, {{operator.name}} and {{conversation.id}}"},
		{"!canned add hi Hello {{visitor.name", "Nothing was saved: {{visitor.name is not closed with }}"},
		{"!canned add hi Hello {{ }}", "Nothing was saved: {{ }} names no variable"},
		{"!canned add --mine hi Hello {visitor.name}", "Nothing was saved: {visitor.name} has single braces"},
	} {
		added := h.send(conv, alice, tc.in)
		if len(added) != 1 || !strings.HasPrefix(added[0].Text, tc.want) {
			t.Errorf("%q added %q, want a whisper starting with %q", tc.in, describe(added), tc.want)
		}
	}
	h.update(func(tx bridge.Tx) error {
		all, err := tx.AllCanned()
		if len(all) != 0 {
			t.Errorf("stored %+v", all)
		}
		return err
	})
	if got := h.send(conv, alice, "!canned add hi Hello {{ Visitor.Name | there }}"); len(got) != 1 || !strings.HasPrefix(got[0].Text, "Added the shared canned response :hi.") {
		t.Errorf("a valid variable: %q", describe(got))
	}
}

// TestCannedArgumentsAnyCase: "!canned <shortcut>" and "!canned remove"
// read the shortcut without regard to case, after ':' or "：".
func TestCannedArgumentsAnyCase(t *testing.T) {
	h := newHarness(t)
	h.seedCanned()
	conv := h.conversation("Nora", "", "", "")
	if got := h.send(conv, alice, "!canned ：SORRY"); len(got) != 2 || got[0].Text != "I am sorry to hear that." {
		t.Errorf("!canned ：SORRY: %q", describe(got))
	}
	if got := h.send(conv, alice, "!canned remove Reason"); len(got) != 1 || got[0].Text != "Removed the shared canned response :reason." {
		t.Errorf("!canned remove Reason: %q", describe(got))
	}
}
