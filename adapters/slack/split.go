package slack

import (
	"unicode"
	"unicode/utf8"
)

// Slack refuses a message whose text is longer than 40,000 characters
// (msg_too_long). A visitor's text grows when it is posted: & becomes
// &amp; (five times longer), every line of a quote gains "> ". So long
// texts are split into parts, each posted as its own message, in order.
const (
	// maxPostBytes bounds a post's text in bytes of UTF-8, which are at
	// least as many as its characters however Slack counts them (code
	// points or UTF-16 units), with a margin under 40,000.
	maxPostBytes = 39000
	// headerBudget is the room kept in every part for what precedes the
	// text: the author, "(part 2 of 3)", a quote's first "> ".
	headerBudget = 1000
	// partBudget is what the escaped and quoted text of a part may take.
	partBudget = maxPostBytes - headerBudget
)

// postCost is an upper bound of the bytes r takes once escaped (Escape)
// and quoted (Quote): & is &amp;, < and > are &lt; and &gt;, and a line
// break starts a new quoted line, "> " and perhaps a zero-width space.
func postCost(r rune) int {
	switch r {
	case '&':
		return len("&amp;")
	case '<', '>':
		return len("&lt;")
	case '\n', '\r', '\u0085', '\u2028', '\u2029':
		return 1 + len("> ") + len(zwsp)
	}
	return utf8.RuneLen(max(r, 0)) // an invalid byte is replaced, 3 bytes
}

// splitText cuts text into parts whose escaped and quoted forms fit in
// budget bytes each, in order; joined they are text again. A cut is never
// made inside a character, between \r and \n, or before a combining mark
// or joiner; it is made after white space when there is some in the last
// fifth of a part. A text that fits is one part.
func splitText(text string, budget int) []string {
	var parts []string
	for text != "" {
		n := prefixFitting(text, budget)
		if n == len(text) {
			return append(parts, text)
		}
		n = cutPoint(text, n, budget)
		parts = append(parts, text[:n])
		text = text[n:]
	}
	return parts
}

// prefixFitting returns the length of the longest prefix of text whose
// cost fits in budget (len(text) when all of it does).
func prefixFitting(text string, budget int) int {
	cost := 0
	for i, r := range text {
		cost += postCost(r)
		if cost > budget {
			return i
		}
	}
	return len(text)
}

// cutPoint chooses where to cut text at or before n (the longest prefix
// that fits, a character boundary): after the last white space in the
// last fifth of the prefix, else at the last boundary in its last half
// where a cut splits nothing that belongs together, else at n (a text of
// nothing but combining marks has no better place). It returns at least
// the length of the first character.
func cutPoint(text string, n, budget int) int {
	if n == 0 {
		_, size := utf8.DecodeRuneInString(text)
		return size
	}
	for i, lowest := n, n-budget/5; i > 0 && i > lowest; {
		r, size := utf8.DecodeLastRuneInString(text[:i])
		if unicode.IsSpace(r) && canCut(text, i) {
			return i
		}
		i -= size
	}
	for i, lowest := n, n-budget/2; i > 0 && i > lowest; {
		if canCut(text, i) {
			return i
		}
		_, size := utf8.DecodeLastRuneInString(text[:i])
		i -= size
	}
	return n
}

// canCut reports whether text may be cut at byte i: on a character
// boundary, not between \r and \n, and not before a character that
// modifies the one before it (a combining mark, a zero-width joiner, a
// variation selector, an emoji modifier).
func canCut(text string, i int) bool {
	if i <= 0 || i >= len(text) || !utf8.RuneStart(text[i]) {
		return false
	}
	if text[i-1] == '\r' && text[i] == '\n' {
		return false
	}
	next, _ := utf8.DecodeRuneInString(text[i:])
	prev, _ := utf8.DecodeLastRuneInString(text[:i])
	switch {
	case unicode.In(next, unicode.Mn, unicode.Me, unicode.Mc):
		return false
	case next == '\u200d' || prev == '\u200d': // zero-width joiner
		return false
	case next >= '\ufe00' && next <= '\ufe0f', next >= 0xe0100 && next <= 0xe01ef: // variation selectors
		return false
	case next >= 0x1f3fb && next <= 0x1f3ff: // emoji skin tones
		return false
	case next >= 0xe0020 && next <= 0xe007f: // emoji tag sequences
		return false
	case isRegionalIndicator(prev) && isRegionalIndicator(next):
		// A flag is a pair: cut only after an even run of indicators.
		run := 0
		for j := i; j > 0; {
			r, size := utf8.DecodeLastRuneInString(text[:j])
			if !isRegionalIndicator(r) {
				break
			}
			run++
			j -= size
		}
		return run%2 == 0
	}
	return true
}

func isRegionalIndicator(r rune) bool { return r >= 0x1f1e6 && r <= 0x1f1ff }
