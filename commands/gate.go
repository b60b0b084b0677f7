package commands

import (
	"fmt"
	"strings"
	"unicode"
	"unicode/utf8"
)

// The relay gate is the last check before operator text goes to a visitor.
// It does not trust Parse: it reads a skeleton of the text and refuses
// anything that looks like a command, a note or a message to the bot, so
// that a bug in the parser cannot leak operator-only text.

// skeleton returns text as the relay gate reads it: every invisible
// character (format characters, variation selectors, default-ignorable code
// points, combining marks) removed, fullwidth forms folded to ASCII (see
// foldRune), leading white space trimmed. White space inside is kept: it
// decides between "!help" and "! wow". Prefix look-alikes are read with
// readPrefix.
func skeleton(text string) string {
	// Most texts need no change: find the first character that does.
	i := 0
	for i < len(text) {
		if text[i] < utf8.RuneSelf {
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(text[i:])
		if n == 1 || isInvisible(r) || foldRune(r) != r {
			break // invalid UTF-8 (read as U+FFFD), invisible or fullwidth
		}
		i += n
	}
	if i == len(text) {
		return strings.TrimLeftFunc(text, isGap)
	}
	var b strings.Builder
	b.Grow(len(text))
	b.WriteString(text[:i])
	for _, r := range text[i:] {
		if !isInvisible(r) {
			b.WriteRune(foldRune(r))
		}
	}
	return strings.TrimLeftFunc(b.String(), isGap)
}

// isGap is white space as the gate sees it (invisible characters are gone
// from the skeleton already).
func isGap(r rune) bool { return unicode.IsSpace(r) || r == '\u2800' }

// relayable reports whether text may be sent to a visitor; mentions are the
// ways the bot is addressed ("<@U123>", "@chatbridge"). See relayRefusal.
// The Router checks the text the operator typed, the reply before canned
// shortcuts are expanded and the final text.
func relayable(text string, mentions ...string) bool {
	return relayRefusal(text, mentions...) == ""
}

// relayRefusal says why text must not be sent to a visitor, or returns "" if
// it may be. On the skeleton of text, reading '!', '/' and ';' with their
// equivalents and look-alikes (lookalike.go), it refuses:
//
//   - ";" then ";" (white space between them allowed): a note;
//   - a mention of the bot, as a whole word, in any case;
//   - a run of '!' or of '/' directly followed by a letter: a command —
//     except "/word/more" after '/', a path or URL ("/home/user",
//     "//example.com/x"), which Parse also relays, and except a run made
//     only of look-alikes ("‼", "¡", "∕") followed by a word that is
//     neither a command name nor a near miss of one (nearCommand):
//     "¡Hola!" and "‼Important" pass, "‼help" and "¡helpdsk" do not;
//   - a lone '!', or a run of '/', then white space, punctuation or symbols,
//     then a known command name as a whole word ("! note x", "!_note x",
//     "/ help"). "! wow" and "!!! Help is on the way" pass.
func relayRefusal(text string, mentions ...string) string {
	s := skeleton(text)
	if r, n := utf8.DecodeRuneInString(s); isSemicolon(r) {
		if r, _ := utf8.DecodeRuneInString(strings.TrimLeftFunc(s[n:], isGap)); isSemicolon(r) {
			return `it starts with ";;"`
		}
	}
	for _, m := range mentions {
		if m = skeleton(m); m != "" && startsWithMention(s, m) {
			return "it starts with the bot's mention"
		}
	}
	// The run of '!' or '/' readings at the start.
	var c byte
	count, end, strong, tail := 0, 0, false, ""
	for end < len(s) && tail == "" {
		r, n := utf8.DecodeRuneInString(s[end:])
		reading, equivalent := readPrefix(r)
		if reading == "" || reading[0] != '!' && reading[0] != '/' || c != 0 && reading[0] != c {
			break
		}
		c = reading[0]
		k := len(reading) - len(strings.TrimLeft(reading, reading[:1]))
		count, strong, tail = count+k, strong || equivalent, reading[k:]
		end += n
	}
	if count == 0 {
		return ""
	}
	run, rest := s[:end], tail+s[end:]
	if r, _ := utf8.DecodeRuneInString(rest); isNameStart(r) {
		if c == '/' && pathWord(rest) {
			return ""
		}
		if !strong && !nearCommand(commandWord(rest), Known) {
			return "" // "¡Hola", "‼Important"
		}
		word := rest
		if i := strings.IndexFunc(rest, isGap); i >= 0 {
			word = rest[:i]
		}
		return fmt.Sprintf("it starts with %q", clip(run+word, 30))
	}
	if c == '!' && count > 1 {
		return ""
	}
	rest = strings.TrimLeftFunc(rest, func(r rune) bool {
		return isGap(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || isPrefixChar(r)
	})
	wordEnd := strings.IndexFunc(rest, func(r rune) bool { return !isWordRune(r) })
	if wordEnd < 0 {
		wordEnd = len(rest)
	}
	if name := strings.ToLower(rest[:wordEnd]); name != "" && Known(name) {
		return fmt.Sprintf("it starts with %q and the command name %q", run, name)
	}
	return ""
}

// startsWithMention reports whether skeleton s starts with mention m (also a
// skeleton), ignoring case, as a whole word.
func startsWithMention(s, m string) bool {
	for _, w := range m {
		r, n := utf8.DecodeRuneInString(s)
		if n == 0 || !equalFoldRune(r, w) {
			return false
		}
		s = s[n:]
	}
	last, _ := utf8.DecodeLastRuneInString(m)
	return mentionEnds(last, s)
}

// pathWord reports whether the first word of s has a '/' followed by more
// text.
func pathWord(s string) bool {
	if i := strings.IndexFunc(s, isGap); i >= 0 {
		s = s[:i]
	}
	i := strings.IndexByte(s, '/')
	return i >= 0 && i+1 < len(s)
}
