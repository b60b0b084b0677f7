package canned

import (
	"slices"
	"strings"
	"unicode"
	"unicode/utf8"
)

// Lookup returns the text a shortcut expands to, already rendered, or false
// when the name is not a shortcut the operator may use. It gets the name
// lowercased.
type Lookup func(name string) (text string, ok bool)

// closers are the characters that may directly follow a :shortcut token
// (besides white space and the end of the message): "Thanks :bye!" expands,
// ":smile:" (an emoji code) and ":sorryX" do not.
const closers = `.,;!?)]}"'…»`

// Syntax widens what ExpandWith reads as a :shortcut token. Each function may
// be nil.
type Syntax struct {
	// IsColon reports the characters read as ':' in front of a name besides
	// ':' itself (the fullwidth "：", look-alikes such as "꞉").
	IsColon func(r rune) bool
	// Ignore reports characters skipped in front of a token and inside it
	// (invisible characters: zero-width spaces, bidi marks, …).
	Ignore func(r rune) bool
	// Fold maps a character of a name before it is read (fullwidth letters
	// to ASCII).
	Fold func(r rune) rune
}

// Expand is ExpandWith with the zero Syntax: ':' and ASCII names only.
func Expand(text string, lookup Lookup) (expanded string, used []string) {
	return ExpandWith(text, lookup, Syntax{})
}

// ExpandWith replaces every token ":name" that starts the message or follows
// white space, where name is a shortcut lookup knows, by the shortcut's text.
// Names are read without regard to case: ":Sorry" and ":SORRY" are
// ":sorry", and lookup gets the lowercased name. The token must end at white
// space, the end of the message or one of . , ; ! ? ) ] } " ' … ». Everything
// else stays exactly as typed: "10:30", ":)", ":-)", "http://x", "a:b",
// ":smile:", unknown ":words" and emoticons that are no shortcut (":D",
// ":P"). Inserted texts are not scanned again, so a response containing
// ":other" inserts that literally. used lists each expanded shortcut once,
// lowercased, in order of first use. syn adds colon look-alikes, ignored
// characters and folding (see Syntax).
func ExpandWith(text string, lookup Lookup, syn Syntax) (expanded string, used []string) {
	if lookup == nil || syn.IsColon == nil && !strings.Contains(text, ":") {
		return text, nil
	}
	var b strings.Builder
	var name []byte
	last := 0 // text[last:] is not yet written
	for i := 0; i < len(text); {
		r, n := utf8.DecodeRuneInString(text[i:])
		if r != ':' && (syn.IsColon == nil || r < 0x80 || !syn.IsColon(r)) {
			i += n
			continue
		}
		if !tokenStart(text[:i], syn.Ignore) {
			i += n
			continue
		}
		name = name[:0]
		end := i + n // end of the token
		for j := end; j < len(text); {
			c, m := utf8.DecodeRuneInString(text[j:])
			if syn.Ignore != nil && c >= 0x80 && syn.Ignore(c) {
				j += m
				continue
			}
			if syn.Fold != nil && c >= 0x80 {
				c = syn.Fold(c)
			}
			if c >= 'A' && c <= 'Z' {
				c += 'a' - 'A'
			}
			if c >= 0x80 || !IsShortcutByte(byte(c)) {
				break
			}
			name = append(name, byte(c))
			j += m
			end = j
		}
		if len(name) == 0 || len(name) > MaxShortcutLen || !tokenEnd(text[end:], syn.Ignore) {
			i += n
			continue
		}
		repl, ok := lookup(string(name))
		if !ok {
			i += n
			continue
		}
		if b.Len() == 0 {
			b.Grow(len(text) + len(repl))
		}
		b.WriteString(text[last:i])
		b.WriteString(repl)
		last, i = end, end
		if s := string(name); !slices.Contains(used, s) {
			used = append(used, s)
		}
	}
	if used == nil {
		return text, nil
	}
	b.WriteString(text[last:])
	return b.String(), used
}

// tokenStart reports whether a token may start after before: at the start
// of the message or after white space, ignored characters skipped.
func tokenStart(before string, ignore func(rune) bool) bool {
	for before != "" {
		r, n := utf8.DecodeLastRuneInString(before)
		if ignore == nil || r < 0x80 || !ignore(r) {
			return unicode.IsSpace(r)
		}
		before = before[:len(before)-n]
	}
	return true
}

// tokenEnd reports whether a token may end before after: at the end of the
// message, white space or a closer, ignored characters skipped.
func tokenEnd(after string, ignore func(rune) bool) bool {
	for _, r := range after {
		if ignore == nil || r < 0x80 || !ignore(r) {
			return unicode.IsSpace(r) || strings.ContainsRune(closers, r)
		}
	}
	return true
}
