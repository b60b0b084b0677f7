package main

import (
	"bytes"
	"fmt"
	"strings"
	"unicode"
	"unicode/utf16"
	"unicode/utf8"
)

// Visitor-controlled text (names, messages, pages, e-mail addresses, and
// the errors of outside systems) goes through these before the CLI prints
// it: a terminal obeys control sequences, so raw text could set the
// window title (ESC ] 0 ; … BEL), clear the screen (ESC [ 2 J), overwrite
// a line (a carriage return) or reorder what follows (U+202E and the other
// bidi controls). Each such character is shown visibly instead: C0
// controls and DEL as \x1b-style escapes, everything else (C1 controls,
// bidi controls, line separators, other invisible format characters) as
// <U+202E>. Printable text, emoji and right-to-left scripts are unchanged.

// escapeLine makes s safe to print on one line: newlines and tabs are
// escaped too.
func escapeLine(s string) string { return escape(s, false) }

// escapeText makes s safe to print; it keeps newlines (print continuation
// lines indented, see indentLines) and tabs.
func escapeText(s string) string { return escape(s, true) }

func escape(s string, keepLines bool) string {
	if !needsEscape(s, keepLines) {
		return s
	}
	var b strings.Builder
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && size == 1:
			fmt.Fprintf(&b, `\x%02x`, s[i])
		case keepLines && (r == '\n' || r == '\t'):
			b.WriteRune(r)
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&b, `\x%02x`, r)
		case unsafeRune(r):
			fmt.Fprintf(&b, "<U+%04X>", r)
		default:
			b.WriteString(s[i : i+size])
		}
		i += size
	}
	return b.String()
}

func needsEscape(s string, keepLines bool) bool {
	for i := 0; i < len(s); {
		r, size := utf8.DecodeRuneInString(s[i:])
		if (r == utf8.RuneError && size == 1) || ((r < 0x20 || r == 0x7f) && !(keepLines && (r == '\n' || r == '\t'))) || unsafeRune(r) {
			return true
		}
		i += size
	}
	return false
}

// unsafeRune reports the characters above ASCII that a terminal may act
// on, or that change how the text around them reads: C1 controls, bidi
// controls (marks, embeddings, overrides, isolates), line and paragraph
// separators, and the other format characters (Cf) except the zero-width
// joiner, which emoji sequences need.
func unsafeRune(r rune) bool {
	switch {
	case r >= 0x80 && r <= 0x9f:
		return true
	case r == 0x2028 || r == 0x2029:
		return true
	case r == 0x200d: // ZERO WIDTH JOINER: part of emoji
		return false
	}
	return unicode.Is(unicode.Cf, r)
}

// indentLines indents every line of s after the first by prefix, so that
// a multi-line message cannot pass for lines of the CLI's own.
func indentLines(s, prefix string) string {
	return strings.ReplaceAll(s, "\n", "\n"+prefix)
}

// escapeJSON rewrites, inside encoded JSON, the characters escapeLine
// shows visibly into \u escapes (encoding/json already escapes C0 controls
// and U+2028/2029, but not DEL, C1, or bidi controls). They can only occur
// inside strings, where the escape means the same character.
func escapeJSON(data []byte) []byte {
	if !bytes.ContainsFunc(data, func(r rune) bool { return r == 0x7f || unsafeRune(r) }) {
		return data
	}
	var b bytes.Buffer
	for i := 0; i < len(data); {
		r, size := utf8.DecodeRune(data[i:])
		if r == 0x7f || (unsafeRune(r) && !(r == utf8.RuneError && size == 1)) {
			if r > 0xffff {
				r1, r2 := utf16.EncodeRune(r)
				fmt.Fprintf(&b, `\u%04x\u%04x`, r1, r2)
			} else {
				fmt.Fprintf(&b, `\u%04x`, r)
			}
		} else {
			b.Write(data[i : i+size])
		}
		i += size
	}
	return b.Bytes()
}
