package commands

import (
	"strings"
	"testing"
	"unicode"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/canned"
)

// TestEveryCodePoint is the proof over every code point, 0 to 0x10FFFF,
// with each character's reading taken from the Unicode data
// (unicodeReading: NFKC, the UTS #39 skeleton, the character's name), not
// from the compiled table:
//
//   - a look-alike of '!' or '/' in front of a command name, a command with
//     arguments, a near miss of a name or "note text" (also with invisible
//     characters around it) is never a reply, and the relay gate refuses it;
//   - two look-alikes of ';' make a note, and "; ;"-style a mistyped one;
//   - a look-alike of ':' in front of a known shortcut expands it;
//   - the other way: every other character in front of "help", doubled in
//     front of "note", in front of "sorry", leaves an ordinary reply that
//     the gate lets through and no shortcut expands; after a look-alike that
//     is no equivalent, a word that is no command ("Hola amigo") is a reply
//     too, and so is a look-alike followed by a space and a word.
func TestEveryCodePoint(t *testing.T) {
	r := New(nil, Options{BotName: "chatbridge"})
	readings := unicodeReadings()
	lookup := func(name string) (string, bool) { return "EXPANDED", name == "sorry" }
	isReply := func(text string) bool {
		p, refused := r.classify(bridge.OperatorInput{Text: text, Mention: "<@UBOT>"})
		return p.Kind == KindReply && refused == ""
	}
	failures := 0
	fail := func(format string, args ...any) {
		t.Helper()
		if failures++; failures <= 50 {
			t.Errorf(format, args...)
		}
	}
	counts := map[byte]int{}
	for c := rune(0); c <= unicode.MaxRune; c++ {
		if c >= 0xD800 && c <= 0xDFFF {
			continue // surrogates are no characters
		}
		ch := string(c)
		var reading string
		var equivalent bool
		if c < 0x80 {
			reading, _, equivalent = unicodeReading(c)
		} else if e, ok := readings[c]; ok {
			reading, equivalent = e.reading, e.equivalent
		}
		if reading == "" {
			// Ordinary text stays ordinary.
			for _, in := range []string{ch + "help", ch + ch + "note", ch + "sorry"} {
				if !isReply(in) {
					fail("U+%04X: %q is not relayed as a reply", c, in)
				}
			}
			if got, _ := canned.ExpandWith(ch+"sorry x", lookup, shortcutSyntax); got != ch+"sorry x" {
				fail("U+%04X: %q expands to %q", c, ch+"sorry x", got)
			}
			continue
		}
		counts[reading[0]]++
		switch reading[0] {
		case '!', '/':
			ins := []string{ch + "help", ch + "ticket Printer broken", ch + "note secret", "\u200f" + ch + "help",
				ch + "\u200bhelp", "\u2068" + ch + "HELP\u2069", ch + "\ufe0fhelp"}
			if strings.Trim(reading, reading[:1]) == "" { // not "⁉" ("!?helpdsk" is text, as in ASCII)
				ins = append(ins, ch+"helpdsk", ch+"histroy x")
			}
			for _, in := range ins {
				if isReply(in) || relayable(in, testMentions...) {
					fail("U+%04X %q (reads %q): %q would be relayed", c, ch, reading, in)
				}
			}
			if !equivalent && !isReply(ch+"Hola amigo") {
				fail("U+%04X %q (a look-alike): %q is not relayed", c, ch, ch+"Hola amigo")
			}
			if !isReply(ch + " wow") {
				fail("U+%04X %q: %q is not relayed", c, ch, ch+" wow")
			}
		case ';':
			for in, want := range map[string]Kind{ch + ch + "note": KindNote, ch + ";x": KindNote, ";" + ch + " x": KindNote,
				"\u200f" + ch + "\u200b" + ch + " x": KindNote, ch + " " + ch + " x": KindMistyped} {
				if p := Parse(in, ""); p.Kind != want || relayable(in) {
					fail("U+%04X %q: Parse(%q) = %v (relayable %v), want %v", c, ch, in, p.Kind, relayable(in), want)
				}
			}
			if !isReply(ch + " hello") {
				fail("U+%04X %q: %q is not relayed", c, ch, ch+" hello")
			}
		case ':':
			if !mayHaveShortcut("hello " + ch + "sorry") {
				fail("U+%04X %q: the Router would not look for shortcuts in %q", c, ch, "hello "+ch+"sorry")
			}
			for _, in := range []string{ch + "sorry", "hello " + ch + "sorry", ch + "Sorry!", ch + "\u200bsorry"} {
				if got, used := canned.ExpandWith(in, lookup, shortcutSyntax); !strings.Contains(got, "EXPANDED") || len(used) != 1 {
					fail("U+%04X %q: %q expands to %q", c, ch, in, got)
				}
				if p := Parse(in, ""); p.Kind != KindReply && p.Kind != KindCannedQuery {
					fail("U+%04X %q: Parse(%q) = %v", c, ch, in, p.Kind)
				}
			}
			if !isReply(ch + "D") {
				fail("U+%04X %q: the emoticon %q is not relayed", c, ch, ch+"D")
			}
			if got, _ := canned.ExpandWith(ch+"D "+ch+"zzz", lookup, shortcutSyntax); got != ch+"D "+ch+"zzz" {
				fail("U+%04X %q: %q expands to %q", c, ch, ch+"D "+ch+"zzz", got)
			}
		default:
			fail("U+%04X: unexpected reading %q", c, reading)
		}
	}
	if failures > 50 {
		t.Errorf("… %d failures in all", failures)
	}
	// The data has look-alikes of every prefix character.
	for _, c := range []byte("!/;:") {
		if counts[c] < 3 {
			t.Errorf("only %d characters read as %q", counts[c], c)
		}
	}
}
