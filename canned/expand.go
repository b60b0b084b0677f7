package canned

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Lookup returns the text a shortcut expands to, already rendered, or false
// when the name is not a shortcut the operator may use.
type Lookup func(name string) (text string, ok bool)

// closers are the characters that may directly follow a :shortcut token
// (besides white space and the end of the message): "Thanks :bye!" expands,
// ":smile:" (an emoji code) and ":sorryX" do not.
const closers = `.,;!?)]}"'…»`

// Expand replaces every token ":name" that starts the message or follows
// white space, where name is a shortcut lookup knows, by the shortcut's text.
// The token must end at white space, the end of the message or one of
// . , ; ! ? ) ] } " ' … ». Everything else stays exactly as typed: "10:30",
// ":)", ":-)", "http://x", "a:b", ":smile:", unknown ":words" and
// uppercase ":Sorry". Inserted texts are not scanned again, so a response
// containing ":other" inserts that literally. used lists each expanded
// shortcut once, in order of first use.
func Expand(text string, lookup Lookup) (expanded string, used []string) {
	if lookup == nil || !strings.Contains(text, ":") {
		return text, nil
	}
	var b strings.Builder
	last := 0 // text[last:] is not yet written
	for i := 0; i < len(text); i++ {
		if text[i] != ':' {
			continue
		}
		if i > 0 {
			if r, _ := utf8.DecodeLastRuneInString(text[:i]); !unicode.IsSpace(r) {
				continue
			}
		}
		end := i + 1
		for end < len(text) && IsShortcutByte(text[end]) {
			end++
		}
		name := text[i+1 : end]
		if name == "" || len(name) > MaxShortcutLen {
			continue
		}
		if end < len(text) {
			if r, _ := utf8.DecodeRuneInString(text[end:]); !unicode.IsSpace(r) && !strings.ContainsRune(closers, r) {
				continue
			}
		}
		repl, ok := lookup(name)
		if !ok {
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(text) + len(repl))
		}
		b.WriteString(text[last:i])
		b.WriteString(repl)
		last = end
		i = end - 1
		if !slices.Contains(used, name) {
			used = append(used, name)
		}
	}
	if used == nil {
		return text, nil
	}
	b.WriteString(text[last:])
	return b.String(), used
}
