package commands

import (
	"strings"
	"unicode"
	"unicode/utf8"
)

// Character classes shared by the parser (parse.go) and the relay gate
// (gate.go). Invisible characters in front of a prefix must never turn a
// command or a note into a reply: clients, bidi-aware editors and copy-paste
// leave them there (a right-to-left mark, an isolate around a pasted line, a
// soft hyphen, a variation selector, …).

// isFormat reports whether r is an invisible format character: Unicode
// category Cf (zero-width space and joiners, bidi marks, embeddings,
// overrides and isolates, soft hyphen, word joiner, byte order mark, tags,
// …) or another default-ignorable code point (combining grapheme joiner,
// Hangul fillers). Variation selectors are not included: at the end of a
// text they belong to the emoji before them ("❤️").
func isFormat(r rune) bool {
	if r < 0x80 {
		return false
	}
	return unicode.Is(unicode.Cf, r) || unicode.Is(unicode.Other_Default_Ignorable_Code_Point, r)
}

// isInvisible reports whether r is ignored in front of and inside a command
// prefix: a format character, a variation selector (U+FE00–FE0F,
// U+E0100–E01EF) or a combining mark (categories Mn and Me) with nothing to
// combine with.
func isInvisible(r rune) bool {
	if r < 0x80 {
		return false
	}
	return isFormat(r) || unicode.Is(unicode.Variation_Selector, r) || unicode.In(r, unicode.Mn, unicode.Me)
}

// foldRune maps the fullwidth forms of ASCII (U+FF01–U+FF5E) to ASCII: how
// names and mentions are read ("！ｈｅｌｐ", "＠chatbridge"). The prefix
// characters and their look-alikes are read with readPrefix (lookalike.go).
func foldRune(r rune) rune {
	if r >= 0xFF01 && r <= 0xFF5E {
		return r - 0xFF01 + '!'
	}
	return r
}

// foldWidth applies foldRune to every character of s.
func foldWidth(s string) string {
	if !strings.ContainsFunc(s, func(r rune) bool { return foldRune(r) != r }) {
		return s
	}
	return strings.Map(foldRune, s)
}

// equalFoldRune reports whether a and b are equal under simple Unicode case
// folding.
func equalFoldRune(a, b rune) bool {
	if a == b {
		return true
	}
	for f := unicode.SimpleFold(a); f != a; f = unicode.SimpleFold(f) {
		if f == b {
			return true
		}
	}
	return false
}

// cutFold reports whether s starts with want, reading both with foldRune,
// ignoring case and skipping invisible characters, and returns the rest of s.
// A want without visible characters matches nothing.
func cutFold(s, want string) (rest string, ok bool) {
	matched := false
	for _, w := range want {
		if isInvisible(w) {
			continue
		}
		s = strings.TrimLeftFunc(s, isInvisible)
		r, n := utf8.DecodeRuneInString(s)
		if n == 0 || !equalFoldRune(foldRune(r), foldRune(w)) {
			return "", false
		}
		s, matched = s[n:], true
	}
	return s, matched
}

// mentionEnds reports whether a mention ending in last may be followed by
// rest: "@bot" is not a mention inside "@bottle" or "@bot.example.org".
func mentionEnds(last rune, rest string) bool {
	if !isWordRune(last) {
		return true
	}
	next, n := utf8.DecodeRuneInString(strings.TrimLeftFunc(rest, isInvisible))
	return n == 0 || !(isWordRune(next) || next == '.' || next == '-')
}

// lastVisible returns the last character of s that is not invisible.
func lastVisible(s string) rune {
	s = strings.TrimRightFunc(s, isInvisible)
	r, _ := utf8.DecodeLastRuneInString(s)
	return r
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }
