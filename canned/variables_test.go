package canned

import (
	"errors"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

func TestCheckVariables(t *testing.T) {
	tests := []struct {
		name string
		text string
		// want is "" for a valid text, else a part of the error.
		want string
	}{
		{"no variables", "Hello there", ""},
		{"every variable", "{{visitor.name}} {{visitor.email}} {{operator.name}} {{conversation.id}}", ""},
		{"fallbacks", "Hi {{visitor.name|there}}, {{ visitor.email | no mail }} {{visitor.name|}}", ""},
		{"case and spaces", "{{ Visitor.Name }}", ""},
		{"single braces elsewhere", "Use {curly} braces and a } or {", ""},
		{"json", `{"a": {"b": 1}}`, `"}}" without an opening "{{"`},
		{"typo", "Hello {{visitor.nme}}", "unknown variable {{visitor.nme}}"},
		{"unknown with fallback", "{{visitor.phone|none}}", "unknown variable {{visitor.phone|none}}"},
		{"unknown namespace", "{{foo}}", "unknown variable {{foo}}"},
		{"lists the known variables", "{{x}}", "the variables are {{visitor.name}}, {{visitor.email}}, {{operator.name}} and {{conversation.id}}"},
		{"empty", "Hi {{}}", "{{}} names no variable"},
		{"blank", "Hi {{ }}", "{{ }} names no variable"},
		{"only a fallback", "Hi {{|there}}", "{{|there}} names no variable"},
		{"unclosed", "Hello {{visitor.name", "{{visitor.name is not closed with }}"},
		{"unclosed by one brace", "Hello {{visitor.name}.", "{{visitor.name}. is not closed"},
		{"closing without opening", "Hello visitor.name}}", `"}}" without an opening "{{"`},
		{"nested", "{{ {{visitor.name}} }}", "has braces inside a variable"},
		{"triple braces", "{{{visitor.name}}}", "{{{visitor.name}} has braces inside a variable"},
		{"brace in fallback", "{{visitor.name|{x}}}", "has braces inside a variable"},
		{"several lines", "{{visitor.\nname}}", "spans several lines"},
		{"too long", "{{" + strings.Repeat("x", 201) + "}}", "longer than 200 characters"},
		{"single braces", "Hello {visitor.name}!", "{visitor.name} has single braces"},
		{"single braces typo", "Hello { Operator.nme }", "{ Operator.nme } has single braces"},
		{"several problems", "{{a}} {{b}} {{visitor.name", "unknown variable {{a}}; unknown variable {{b}}; {{visitor.name is not closed"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			err := CheckVariables(tt.text)
			switch {
			case tt.want == "" && err != nil:
				t.Fatalf("CheckVariables(%q) = %v, want nil", tt.text, err)
			case tt.want == "":
				return
			case err == nil:
				t.Fatalf("CheckVariables(%q) = nil, want an error with %q", tt.text, tt.want)
			case !strings.Contains(err.Error(), tt.want):
				t.Fatalf("CheckVariables(%q) = %v, want it to contain %q", tt.text, err, tt.want)
			case !errors.Is(err, ErrInvalidVariable) || !errors.Is(err, bridge.ErrInvalid):
				t.Fatalf("CheckVariables(%q) = %v, does not wrap ErrInvalidVariable and bridge.ErrInvalid", tt.text, err)
			}
		})
	}
}

// TestValidateRefusesVariables: every way in (Validate, Put, ParseTOML,
// ParseCSV, Import) refuses a text with an unknown variable.
func TestValidateRefusesVariables(t *testing.T) {
	bad := bridge.CannedResponse{Shortcut: "hi", Text: "Hello {{visitor.nme}}"}
	if err := Validate(bad); err == nil || !strings.Contains(err.Error(), "unknown variable {{visitor.nme}}") ||
		!strings.Contains(err.Error(), "{{visitor.name}}") {
		t.Errorf("Validate: %v", err)
	}
	if err := ValidateAll([]bridge.CannedResponse{bad}); err == nil {
		t.Error("ValidateAll accepts an unknown variable")
	}
	_, err := ParseTOML(strings.NewReader("[[canned]]\nshortcut = \"ok\"\ntext = \"fine\"\n\n[[canned]]\nshortcut = \"hi\"\ntext = \"Hello {{visitor.nme}}\"\n"))
	if err == nil || !strings.Contains(err.Error(), "line 5: unknown variable {{visitor.nme}}") {
		t.Errorf("ParseTOML: %v", err)
	}
	_, err = ParseCSV(strings.NewReader("shortcut,text\nok,fine\nhi,Hello {{visitor.name}\n"))
	if err == nil || !strings.Contains(err.Error(), "line 3: {{visitor.name} is not closed with }}") {
		t.Errorf("ParseCSV: %v", err)
	}
	e := newEngine(t, nil)
	if _, err := e.PutCanned(t.Context(), bad); !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("PutCanned: %v", err)
	}
	if got := all(t, e); len(got) != 0 {
		t.Errorf("stored %+v", got)
	}
}

// FuzzCheckVariables: a text that passes CheckVariables renders without any
// "{{" left in it (values without braces), whatever the values are.
func FuzzCheckVariables(f *testing.F) {
	for _, s := range []string{"Hi {{visitor.name|there}}", "{{ {{visitor.email}}", "{{operator.name}}}}", "{{x|y}}", "{{", "}}{{", "{ {{visitor.email}}{", "}{{visitor.email}}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		if CheckVariables(text) != nil {
			return
		}
		for _, v := range []Vars{{}, {VisitorName: "A", VisitorEmail: "b@c", OperatorName: "O", ConversationID: "c_1"}} {
			if got := Render(text, v); strings.Contains(got, "{{") {
				t.Fatalf("Render(%q) = %q: an unexpanded variable after CheckVariables passed", text, got)
			}
		}
	})
}
