package canned

import (
	"errors"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

// Limits on canned responses, enforced by Validate and the importers.
const (
	// MaxShortcutLen is the longest shortcut, in bytes (shortcuts are ASCII).
	MaxShortcutLen = 32
	// MaxTextLen is the longest substitution text, in characters (runes).
	MaxTextLen = 4000
	// MaxDescriptionLen is the longest description, in characters.
	MaxDescriptionLen = 200
	// MaxOwnerLen is the longest owner key, in bytes.
	MaxOwnerLen = 256
	// MaxEntries is the most responses one import may hold.
	MaxEntries = 10000
)

// ErrInvalidShortcut: a shortcut is not 1 to 32 characters of [a-z0-9_-].
var ErrInvalidShortcut = errors.New("invalid shortcut")

// IsShortcutByte reports whether b may appear in a shortcut.
func IsShortcutByte(b byte) bool {
	return b >= 'a' && b <= 'z' || b >= '0' && b <= '9' || b == '_' || b == '-'
}

// ValidateShortcut checks that s is 1 to MaxShortcutLen characters of
// lowercase [a-z0-9_-]. The error wraps ErrInvalidShortcut and bridge.ErrInvalid.
func ValidateShortcut(s string) error {
	if p := shortcutProblem(s); p != "" {
		return fmt.Errorf("%w: %w: %s", bridge.ErrInvalid, ErrInvalidShortcut, p)
	}
	return nil
}

func shortcutProblem(s string) string {
	if s == "" {
		return "the shortcut is empty"
	}
	if len(s) > MaxShortcutLen {
		return fmt.Sprintf("shortcut %q is longer than %d characters", clip(s, 40), MaxShortcutLen)
	}
	for i := 0; i < len(s); i++ {
		if !IsShortcutByte(s[i]) {
			return fmt.Sprintf("shortcut %q may only contain lowercase letters a-z, digits, '_' and '-'", clip(s, 40))
		}
	}
	return ""
}

// Validate checks every field of c: the shortcut, a non-blank text of at most
// MaxTextLen characters whose variables are all known and well formed (see
// CheckVariables), the description and the owner (either "" or an
// "adapter:id" operator key). It returns every problem joined in one error
// wrapping bridge.ErrInvalid, or nil. Every way a response is added — the
// CLI, "!canned add", the TOML and CSV imports — goes through it.
func Validate(c bridge.CannedResponse) error {
	problems := problems(c, nil)
	if len(problems) == 0 {
		return nil
	}
	return fmt.Errorf("%w: %s", bridge.ErrInvalid, strings.Join(problems, "; "))
}

// problems lists what is wrong with c, one string per problem, skipping the
// fields in skip (already reported, e.g. with a wrong type).
func problems(c bridge.CannedResponse, skip map[string]bool) []string {
	var out []string
	if p := shortcutProblem(c.Shortcut); p != "" && !skip["shortcut"] {
		out = append(out, p)
	}
	if !skip["text"] {
		switch {
		case !utf8.ValidString(c.Text):
			out = append(out, "text is not valid UTF-8")
		case strings.TrimSpace(c.Text) == "":
			out = append(out, "text is empty")
		case utf8.RuneCountInString(c.Text) > MaxTextLen:
			out = append(out, fmt.Sprintf("text is %d characters, the limit is %d", utf8.RuneCountInString(c.Text), MaxTextLen))
		case strings.ContainsRune(c.Text, 0):
			out = append(out, "text contains a NUL character")
		default:
			out = append(out, variableProblems(c.Text)...)
		}
	}
	if !skip["description"] {
		switch {
		case !utf8.ValidString(c.Description):
			out = append(out, "description is not valid UTF-8")
		case utf8.RuneCountInString(c.Description) > MaxDescriptionLen:
			out = append(out, fmt.Sprintf("description is %d characters, the limit is %d", utf8.RuneCountInString(c.Description), MaxDescriptionLen))
		case strings.ContainsFunc(c.Description, unicode.IsControl):
			out = append(out, "description contains control characters")
		}
	}
	if c.Owner != "" && !skip["owner"] {
		adapter, id, ok := strings.Cut(c.Owner, ":")
		switch {
		case len(c.Owner) > MaxOwnerLen:
			out = append(out, fmt.Sprintf("owner is longer than %d bytes", MaxOwnerLen))
		case !ok || adapter == "" || id == "":
			out = append(out, fmt.Sprintf("owner %q is not an operator key like \"slack:U123\" (leave it empty for a shared response)", clip(c.Owner, 60)))
		case !utf8.ValidString(c.Owner) || strings.ContainsFunc(c.Owner, func(r rune) bool { return unicode.IsControl(r) || unicode.IsSpace(r) }):
			out = append(out, "owner contains white space or control characters")
		}
	}
	return out
}

// clip shortens s to at most n runes, adding "…" when it cut.
func clip(s string, n int) string {
	if utf8.RuneCountInString(s) <= n {
		return s
	}
	r := []rune(s)
	return string(r[:n]) + "…"
}
