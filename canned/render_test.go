package canned

import (
	"strings"
	"testing"
)

func TestRender(t *testing.T) {
	full := Vars{VisitorName: "Alice", VisitorEmail: "alice@example.com", OperatorName: "Bob", ConversationID: "c_1"}
	tests := []struct {
		name string
		text string
		vars Vars
		want string
	}{
		{"no variables", "Hello there", full, "Hello there"},
		{"name", "Hello {{visitor.name}}!", full, "Hello Alice!"},
		{"all", "{{visitor.name}} {{visitor.email}} {{operator.name}} {{conversation.id}}", full, "Alice alice@example.com Bob c_1"},
		{"fallback unused", "Hi {{visitor.name|there}}", full, "Hi Alice"},
		{"fallback used", "Hi {{visitor.name|there}}", Vars{}, "Hi there"},
		{"fallback with spaces", "Hi {{ visitor.name | dear customer }}!", Vars{}, "Hi dear customer!"},
		{"blank value uses fallback", "Hi {{visitor.name|there}}", Vars{VisitorName: "  "}, "Hi there"},
		{"empty without fallback", "Mail: {{visitor.email}}.", Vars{}, "Mail: ."},
		{"empty fallback", "Hi{{visitor.name|}}.", Vars{}, "Hi."},
		{"case-insensitive name", "{{Visitor.Name}}", full, "Alice"},
		{"unknown left as typed", "{{visitor.phone}} and {{foo|bar}}", full, "{{visitor.phone}} and {{foo|bar}}"},
		{"unclosed", "Hi {{visitor.name", full, "Hi {{visitor.name"},
		{"single braces", "{visitor.name}", full, "{visitor.name}"},
		{"nested opening", "{{ {{visitor.name}}", full, "{{ Alice"},
		{"newline inside is not a variable", "{{visitor.\nname}}", full, "{{visitor.\nname}}"},
		{"repeated", "{{visitor.name}}{{visitor.name}}", full, "AliceAlice"},
		{"value not re-expanded", "Hi {{visitor.name}}", Vars{VisitorName: "{{operator.name}}", OperatorName: "Bob"}, "Hi {{operator.name}}"},
		{"value building a variable", "{{visitor.name}}operator.name}}", Vars{VisitorName: "{{", OperatorName: "Bob"}, "{{operator.name}}"},
		{"fallback not expanded", "{{visitor.name|{{operator.name}}}}", Vars{OperatorName: "Bob"}, "{{visitor.name|Bob}}"},
		{"triple braces", "{{{visitor.name}}}", full, "{{{visitor.name}}}"},
		{"unicode around", "¡Hola {{visitor.name|amigo}}! 👋", Vars{}, "¡Hola amigo! 👋"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Render(tt.text, tt.vars); got != tt.want {
				t.Errorf("Render(%q) = %q, want %q", tt.text, got, tt.want)
			}
		})
	}
}

func FuzzRender(f *testing.F) {
	for _, s := range []string{"Hi {{visitor.name|there}}", "{{ {{visitor.email}}", "{{operator.name}}}}", "{{x|y}}", "{{", "}}{{"} {
		f.Add(s, "Alice")
	}
	f.Fuzz(func(t *testing.T, text, name string) {
		got := Render(text, Vars{VisitorName: name, OperatorName: "OP"})
		if !strings.Contains(text, "{{") && got != text {
			t.Fatalf("text without variables changed: %q -> %q", text, got)
		}
		// A value is inserted verbatim, never expanded again.
		if v := Render("{{visitor.name}}", Vars{VisitorName: text, OperatorName: "OP"}); v != strings.TrimSpace(text) {
			t.Fatalf("value %q rendered as %q", text, v)
		}
	})
}
