package commands

import (
	"slices"
	"unicode"
)

//go:generate go test -run TestLookalikeTable -update-lookalikes .

// Look-alikes of the prefix characters '!', '/', ';' and ':'.
//
// Which characters a reader takes for a prefix character is decided with
// Unicode's own data, once, by TestLookalikeTable (lookalike_gen_test.go),
// which writes the table in lookalike_table.go and fails when the checked-in
// table no longer matches the data. For every assigned, visible character
// beyond ASCII, in this order:
//
//  1. NFKC (golang.org/x/text/unicode/norm), then the UTS #39 confusables
//     skeleton (github.com/mtibben/confusables): when the result is one of
//     the prefix readings ("!", "!!", …, "!?", "/", "//", "///", ";" or ":")
//     the character reads as that. This finds the fullwidth, small and
//     vertical forms ("！", "﹗", "︕", "；", "︓"), the Greek question mark,
//     "‼" and "⁉", the fraction and division slashes, the click letter "ǃ",
//     the modifier letter colon "꞉", the Armenian full stop "։", …
//  2. Otherwise, when that result is not plain ASCII (so Unicode has no
//     reading of it as other ASCII text, as "⁈" → "?!" or "½" → "l/2"), the
//     character's name (golang.org/x/text/unicode/runenames): a name that
//     ends in "EXCLAMATION MARK" (optionally followed by "ORNAMENT" or
//     "SYMBOL"), "SOLIDUS", "SEMICOLON" or "COLON" as a word — unless the
//     name is of another sign that contains the mark: "REVERSE SOLIDUS" (a
//     backslash), "… WITH …", "… PRECEDING …", "EQUALS COLON" ("=:"),
//     "QUAD COLON" (in a box). This adds what the confusables data leaves
//     out: the emoji and ornament marks "❗", "❕", "❢", the modifier letter
//     "ꜝ", the inverted "¡", the Arabic and Ethiopic semicolons, the
//     Ethiopic and Mongolian colons, …
//
// Invisible characters (see isInvisible) are not in the table: they are
// ignored wherever a prefix is read.
//
// A character is an equivalent of its prefix character when NFKC maps it to
// exactly that one ASCII character (the fullwidth, small and vertical forms
// and the Greek question mark): those are what CJK keyboards and some
// clients type, and count exactly like the ASCII character. Every other
// entry is a look-alike, and counts as a prefix only where the result would
// be a command, a note or a shortcut (DESIGN §4.1; see Parse).

// lookalike is one entry of the table: a character and how it reads.
type lookalike struct {
	r rune
	// reading is the ASCII the character reads as: "!", "!!", "!?", "/",
	// "//", "///", ";" or ":".
	reading string
	// equivalent: NFKC maps the character to reading, one ASCII character.
	equivalent bool
}

// readPrefix returns how r reads at the start of a command, a note or a
// shortcut: "" when r is no prefix character, else its ASCII reading;
// equivalent is true for the ASCII characters themselves and their
// compatibility forms (see lookalike).
func readPrefix(r rune) (reading string, equivalent bool) {
	if r < 0x80 {
		switch r {
		case '!':
			return "!", true
		case '/':
			return "/", true
		case ';':
			return ";", true
		case ':':
			return ":", true
		}
		return "", false
	}
	if r < lookalikes[0].r || r > lookalikes[len(lookalikes)-1].r {
		return "", false
	}
	i, found := slices.BinarySearchFunc(lookalikes[:], r, func(l lookalike, r rune) int { return int(l.r - r) })
	if !found {
		return "", false
	}
	return lookalikes[i].reading, lookalikes[i].equivalent
}

// isPrefixChar reports whether r reads as a prefix character: some
// look-alikes are letters ("ǃ", "ノ"), and read as one they are punctuation.
func isPrefixChar(r rune) bool {
	reading, _ := readPrefix(r)
	return reading != ""
}

// isNameStart reports whether r may start a command name after a prefix: a
// letter that does not read as a prefix character ("!〳help" is "!" then
// "/help", not the command "〳help").
func isNameStart(r rune) bool { return unicode.IsLetter(r) && !isPrefixChar(r) }

// isSemicolon reports whether r reads as ';' (an equivalent or a
// look-alike).
func isSemicolon(r rune) bool {
	reading, _ := readPrefix(r)
	return reading == ";"
}

// isColon reports whether r reads as ':' (an equivalent or a look-alike).
func isColon(r rune) bool {
	reading, _ := readPrefix(r)
	return reading == ":"
}

// isColonEquivalent reports whether r is ':' or one of its compatibility
// forms ("：", "﹕", "︓").
func isColonEquivalent(r rune) bool {
	reading, equivalent := readPrefix(r)
	return reading == ":" && equivalent
}
