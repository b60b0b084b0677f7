package bridge

import "strings"

// SystemKind says what a system line reports.
type SystemKind string

// System line kinds.
const (
	// SystemClosedByOperator: an operator (SystemEvent.Name) ended the chat.
	SystemClosedByOperator SystemKind = "closed_by_operator"
	// SystemClosedByVisitor: the visitor ended the chat.
	SystemClosedByVisitor SystemKind = "closed_by_visitor"
	// SystemDeadLetter: a delivery to a platform (Name) failed for good
	// (an operators' note; its Text says what and how to retry it).
	SystemDeadLetter SystemKind = "dead_letter"
)

// SystemEvent is what a system line says, as a kind with parameters, so that
// each side renders it in its own language: the widget in the visitor's,
// the operator platforms in the operators'. Message.Text holds the English
// rendering for clients that do not know the kind.
type SystemEvent struct {
	Kind SystemKind `json:"kind"`
	// Name is who did it, when a person did (an operator's display name).
	Name string `json:"name,omitempty"`
}

// systemTexts are the renderings by language, then kind; "%s" is Name.
var systemTexts = map[string]map[SystemKind][2]string{
	// [0] with a name, [1] without.
	"en": {
		SystemClosedByOperator: {"%s ended the chat.", "The operator ended the chat."},
		SystemClosedByVisitor:  {"The visitor ended the chat.", "The visitor ended the chat."},
	},
	"fr": {
		SystemClosedByOperator: {"%s a mis fin à la conversation.", "L’opérateur a mis fin à la conversation."},
		SystemClosedByVisitor:  {"Le visiteur a mis fin à la conversation.", "Le visiteur a mis fin à la conversation."},
	},
}

// SystemLanguages are the languages Text renders.
var SystemLanguages = []string{"en", "fr"}

// Text renders ev in lang (a language tag such as "fr" or "fr-CA"; English
// for any other).
func (ev SystemEvent) Text(lang string) string {
	lang, _, _ = strings.Cut(strings.ToLower(lang), "-")
	texts, ok := systemTexts[lang]
	if !ok {
		texts = systemTexts["en"]
	}
	t, ok := texts[ev.Kind]
	if !ok {
		return string(ev.Kind)
	}
	if ev.Name == "" {
		return t[1]
	}
	return strings.Replace(t[0], "%s", ev.Name, 1)
}

// Rendered is m's text in lang: a system line rendered from its kind, any
// other message as it was written.
// A kind without renderings (a note that says more than its kind, or a
// kind newer than this version) keeps the text it was stored with.
func (m Message) Rendered(lang string) string {
	if m.System != nil && m.System.Kind.rendered() {
		return m.System.Text(lang)
	}
	return m.Text
}

// rendered reports whether k has renderings (English at least).
func (k SystemKind) rendered() bool {
	_, ok := systemTexts["en"][k]
	return ok
}

// Localize returns m with its text rendered in lang when it is a system
// line (a copy; m is not changed), else m itself. Operator platforms call
// it with their operators' language.
func Localize(m *Message, lang string) *Message {
	if m == nil || m.System == nil {
		return m
	}
	l := *m
	l.Text = m.Rendered(lang)
	return &l
}
