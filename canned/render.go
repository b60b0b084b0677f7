package canned

import "strings"

// Vars are the values a canned response's variables render to.
type Vars struct {
	VisitorName    string
	VisitorEmail   string
	OperatorName   string
	ConversationID string
}

// lookup returns the value of a known variable, and false for an unknown one.
func (v Vars) lookup(name string) (string, bool) {
	switch strings.ToLower(name) {
	case "visitor.name":
		return v.VisitorName, true
	case "visitor.email":
		return v.VisitorEmail, true
	case "operator.name":
		return v.OperatorName, true
	case "conversation.id":
		return v.ConversationID, true
	}
	return "", false
}

// maxVarLen bounds the text between "{{" and "}}" that is read as a variable.
const maxVarLen = 200

// Render replaces the variables of a canned text: {{visitor.name}},
// {{visitor.email}}, {{operator.name}} and {{conversation.id}}, each with an
// optional fallback after '|' used when the value is empty
// ({{visitor.name|there}}). Names are case-insensitive and may be surrounded
// by spaces. An empty value without a fallback renders as "". Unknown
// variables and malformed braces are left as typed: Validate refuses them,
// and a caller about to send a stored text (which an older version may have
// stored unchecked) runs CheckVariables on it first. Values are inserted
// verbatim and never expanded again, so a visitor named "{{operator.name}}"
// stays exactly that.
func Render(text string, vars Vars) string {
	if !strings.Contains(text, "{{") {
		return text
	}
	var b strings.Builder
	b.Grow(len(text))
	rest := text
	for {
		i := strings.Index(rest, "{{")
		if i < 0 {
			b.WriteString(rest)
			return b.String()
		}
		j := strings.Index(rest[i+2:], "}}")
		if j < 0 {
			b.WriteString(rest)
			return b.String()
		}
		inner := rest[i+2 : i+2+j]
		// "{{ {{visitor.name}}": the last "{{" before "}}" opens the variable.
		if k := strings.LastIndex(inner, "{{"); k >= 0 {
			b.WriteString(rest[:i+2+k])
			rest = rest[i+2+k:]
			continue
		}
		b.WriteString(rest[:i])
		if value, ok := renderVar(inner, vars); ok {
			b.WriteString(value)
		} else {
			b.WriteString(rest[i : i+2+j+2])
		}
		rest = rest[i+2+j+2:]
	}
}

// renderVar renders the inside of "{{…}}", or reports false when it is not a
// known variable.
func renderVar(inner string, vars Vars) (string, bool) {
	if len(inner) > maxVarLen || strings.ContainsAny(inner, "\n\r") {
		return "", false
	}
	name, fallback, hasFallback := strings.Cut(inner, "|")
	value, ok := vars.lookup(strings.TrimSpace(name))
	if !ok {
		return "", false
	}
	value = strings.TrimSpace(value)
	if value == "" && hasFallback {
		return strings.TrimSpace(fallback), true
	}
	return value, true
}
