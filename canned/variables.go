package canned

import (
	"errors"
	"fmt"
	"regexp"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// Variables are the names a canned text may use between "{{" and "}}", in
// the order the documentation lists them. Each takes an optional fallback
// after '|' ({{visitor.name|there}}).
var Variables = []string{"visitor.name", "visitor.email", "operator.name", "conversation.id"}

// ErrInvalidVariable: a canned text uses a variable that does not exist or
// has malformed braces, so that a visitor would receive "{{…}}" as typed.
var ErrInvalidVariable = errors.New("invalid variable")

// knownVariables says how the variables are written, for error messages.
var knownVariables = "the variables are {{visitor.name}}, {{visitor.email}}, {{operator.name}} and " +
	"{{conversation.id}}, each with an optional |fallback as in {{visitor.name|there}}"

// maxVariableProblems caps the problems variableProblems lists for one text.
const maxVariableProblems = 5

// singleBraced finds a variable written with single braces ("{visitor.name}"),
// which Render leaves as typed.
var singleBraced = regexp.MustCompile(`(?i)\{\s*(?:visitor|operator|conversation)\.[^{}\n]{0,40}\}`)

// CheckVariables reports whether every "{{" in text opens a known variable
// that Render replaces. It refuses:
//
//   - an unknown variable: {{visitor.nme}}, {{visitor.phone}};
//   - an empty one: {{}}, {{ }}, {{|there}};
//   - "{{" without a closing "}}" ("Hello {{visitor.name"), and "}}" without
//     an opening "{{";
//   - braces inside a variable: {{ {{visitor.name}} }}, {{{visitor.name}}};
//   - a variable over several lines or longer than 200 characters;
//   - a variable written with single braces ({visitor.name}).
//
// Names are case-insensitive and may be surrounded by spaces, as Render reads
// them. The error, a *VariableError, names the offending text, lists the
// known variables and wraps ErrInvalidVariable and bridge.ErrInvalid. Validate (and so every way
// a response is added or imported) uses it; callers also run it on stored
// texts before rendering them, because an older version stored any text.
func CheckVariables(text string) error {
	probs := variableProblems(text)
	if len(probs) == 0 {
		return nil
	}
	return &VariableError{Problems: probs}
}

// VariableError is what CheckVariables returns: the problems with a text's
// variables, the last one followed by the list of known variables.
type VariableError struct {
	Problems []string
}

// Error joins the problems: "invalid variable: unknown variable
// {{visitor.nme}} (the variables are …)".
func (e *VariableError) Error() string {
	return "invalid variable: " + e.Detail()
}

// Detail joins the problems without the "invalid variable" prefix, for a
// sentence of its own ("Nothing was sent: :hi has …").
func (e *VariableError) Detail() string { return strings.Join(e.Problems, "; ") }

// Unwrap makes errors.Is true for ErrInvalidVariable and bridge.ErrInvalid.
func (e *VariableError) Unwrap() []error { return []error{ErrInvalidVariable, bridge.ErrInvalid} }

// variableProblems lists what is wrong with the variables of text, ending
// the last problem with the list of known variables.
func variableProblems(text string) []string {
	if !strings.ContainsAny(text, "{}") {
		return nil
	}
	var out []string
	add := func(format string, args ...any) {
		if len(out) < maxVariableProblems {
			out = append(out, fmt.Sprintf(format, args...))
		}
	}
	literal := func(s string) {
		if strings.Contains(s, "}}") {
			add(`"}}" without an opening "{{"`)
		}
		for _, m := range singleBraced.FindAllString(s, -1) {
			add("%s has single braces: a variable is written {{name}}", clip(m, 40))
		}
	}
	rest := text
	for rest != "" {
		i := strings.Index(rest, "{{")
		if i < 0 {
			literal(rest)
			break
		}
		literal(rest[:i])
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			add("%s is not closed with }}", clip(strings.TrimSpace(firstLine(rest[i:])), 40))
			break
		}
		inner := rest[i+2 : i+2+j]
		whole := "{{" + inner + "}}"
		name, _, _ := strings.Cut(inner, "|")
		name = strings.TrimSpace(name)
		switch {
		case strings.ContainsAny(inner, "{}"):
			add("%s has braces inside a variable", clip(whole, 40))
		case strings.ContainsAny(inner, "\n\r"):
			add("%s spans several lines", clip(strings.ReplaceAll(whole, "\n", " "), 40))
		case len(inner) > maxVarLen:
			add("%s is longer than %d characters", clip(whole, 40), maxVarLen)
		case name == "":
			add("%s names no variable", clip(whole, 40))
		default:
			if _, ok := (Vars{}).lookup(name); !ok {
				add("unknown variable %s", clip(whole, 40))
			}
		}
		rest = rest[i+2+j+2:]
	}
	if len(out) > 0 {
		out[len(out)-1] += " (" + knownVariables + ")"
	}
	return out
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\n")
	return line
}
