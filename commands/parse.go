package commands

import (
	"strconv"
	"strings"
	"unicode"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/canned"
)

// Kind is what an operator message is.
type Kind int

// Kinds of operator messages, in the order Parse tests them.
const (
	// KindReply is text for the visitor (canned shortcuts inside are
	// expanded by the Router).
	KindReply Kind = iota
	// KindCommand is a known command: Parsed.Name and Parsed.Args.
	KindCommand
	// KindUnknown is something typed as a command that is not one
	// ("!helpdsk"): answered to the operator only, never relayed.
	KindUnknown
	// KindNote is a private note for the operators: Parsed.Text.
	KindNote
	// KindListCanned is a message of just ":".
	KindListCanned
	// KindCannedQuery is a message of just ":prefix": Parsed.Text is the
	// prefix. An exact shortcut is sent; otherwise matches are listed and
	// nothing is sent.
	KindCannedQuery
)

var kindNames = [...]string{"reply", "command", "unknown", "note", "list-canned", "canned-query"}

// String names the kind ("command", "note", …) for logs and tests.
func (k Kind) String() string {
	if int(k) < len(kindNames) {
		return kindNames[k]
	}
	return "kind(" + strconv.Itoa(int(k)) + ")"
}

// Parsed is the classification of one operator message.
type Parsed struct {
	Kind Kind
	// Name is the command name, lowercased: a known name or alias for
	// KindCommand, the word as typed for KindUnknown.
	Name string
	// Args is the text after the command name, trimmed (KindCommand).
	Args string
	// Text is the reply (KindReply), trimmed and without a Matrix reply
	// fallback; the note (KindNote); the shortcut prefix (KindCannedQuery).
	Text string
	// Prefix is how a command was typed: "!", "/", "//" or "@" (a mention);
	// fullwidth prefixes are reported as their ASCII forms.
	Prefix string
}

// Parse classifies an operator message using the registered commands. mention
// is how the bot is mentioned on the platform ("<@U123>"; "" for none).
//
// The rules, applied after trimming all Unicode white space (including
// no-break and zero-width spaces and the byte order mark) and removing a
// Matrix reply fallback ("> <@user> …" lines and the blank line after them):
//
//   - ";;text" is a note. "!note text" is a note too.
//   - A message starting with the mention (optionally followed by ':' or ',')
//     is addressed to the bot: the next word is a command name; a bare
//     mention means help; any other word is an unknown command.
//   - A command prefix followed by a letter is a command attempt: "!",
//     repeated or not ("!!help"), and "/" or "//" — except "/word/more",
//     which is a path or URL ("/home/user/file", "/r/golang") and a reply.
//     The fullwidth forms "！" and "／" (CJK keyboards) and the look-alikes
//     "﹗" and "ǃ" count as prefixes, and fullwidth letters in the name are
//     read as ASCII ("！ｈｅｌｐ" is help). Invisible format characters
//     between the prefix and the name are skipped ("!\u200bhelp" is help).
//     A command attempt whose name is not a known command or alias (by
//     Unicode lowercase, so a Cyrillic "е" in "!hеlp" makes it unknown) is
//     KindUnknown: the operator is told, the visitor never sees it.
//   - A prefix not followed by a letter is ordinary text: "!!!", "! wow",
//     "!1", "/ 2", "¡Hola!".
//   - ":" alone lists the canned responses; ":prefix" alone (lowercase
//     [a-z0-9_-]) is a canned query.
//   - Anything else is a reply.
func Parse(text, mention string) Parsed {
	return ParseWith(text, mention, Known)
}

// ParseWith is Parse with another set of known command names (known gets a
// lowercased name and reports whether it is a command or an alias).
func ParseWith(text, mention string, known func(name string) bool) Parsed {
	t := normalize(text)
	if rest, ok := strings.CutPrefix(t, ";;"); ok {
		return Parsed{Kind: KindNote, Text: trimSpace(rest)}
	}
	if rest, ok := cutMention(t, mention); ok {
		if rest == "" {
			return Parsed{Kind: KindCommand, Name: "help", Prefix: "@"}
		}
		if p, r := cutPrefix(rest); p != "" && startsWithLetter(r) {
			rest = skipFormat(r) // "@bot !help"
		}
		return classifyCommand(rest, "@", known)
	}
	if prefix, rest := cutPrefix(t); prefix != "" && startsWithLetter(rest) {
		if rest = skipFormat(rest); prefix == "!" || !isPath(rest) {
			return classifyCommand(rest, prefix, known)
		}
	}
	if t == ":" {
		return Parsed{Kind: KindListCanned}
	}
	if len(t) > 1 && t[0] == ':' && allShortcutBytes(t[1:]) {
		return Parsed{Kind: KindCannedQuery, Text: t[1:]}
	}
	return Parsed{Kind: KindReply, Text: t}
}

// normalize trims white space and removes a reply fallback.
func normalize(text string) string {
	return trimSpace(stripReplyFallback(trimSpace(text)))
}

// isSpace is unicode.IsSpace plus the invisible characters that clients and
// copy-paste leave around messages.
func isSpace(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u180e':
		return true
	}
	return unicode.IsSpace(r)
}

func trimSpace(s string) string { return strings.TrimFunc(s, isSpace) }

// stripReplyFallback removes the quoted lines an older Matrix client puts in
// front of a reply ("> <@alice:example.org> original\n\nreply"), like
// mautrix's RemoveReplyFallback.
func stripReplyFallback(s string) string {
	if !(strings.HasPrefix(s, "> <") || strings.HasPrefix(s, "> * <")) || !strings.Contains(s, "\n") {
		return s
	}
	lines := strings.Split(s, "\n")
	i := 0
	for i < len(lines) && (strings.HasPrefix(lines[i], "> ") || strings.TrimRight(lines[i], "\r") == ">") {
		i++
	}
	if i == len(lines) || trimSpace(lines[i]) != "" {
		return s // not a fallback: no blank line after the quote
	}
	return strings.Join(lines[i:], "\n")
}

// cutMention reports whether t starts with the bot's mention and returns the
// rest without separators.
func cutMention(t, mention string) (string, bool) {
	if mention == "" || len(t) < len(mention) || !strings.EqualFold(t[:len(mention)], mention) {
		return "", false
	}
	rest := t[len(mention):]
	if last, _ := utf8.DecodeLastRuneInString(mention); isWordRune(last) {
		if next, _ := utf8.DecodeRuneInString(rest); rest != "" && (isWordRune(next) || next == '.' || next == '-') {
			return "", false // "@bot" inside "@bottle"
		}
	}
	rest = trimSpace(rest)
	if r, ok := strings.CutPrefix(rest, ":"); ok {
		rest = r
	} else if r, ok := strings.CutPrefix(rest, ","); ok {
		rest = r
	}
	return trimSpace(rest), true
}

func isWordRune(r rune) bool { return unicode.IsLetter(r) || unicode.IsDigit(r) || r == '_' }

// cutPrefix splits a leading run of '!' (or one to three '/') look-alikes
// from t, returning the ASCII prefix ("!", "/" or "//") and the rest.
func cutPrefix(t string) (prefix, rest string) {
	bangs, slashes := 0, 0
	i := 0
	for i < len(t) {
		r, n := utf8.DecodeRuneInString(t[i:])
		switch r {
		case '!', '！', '﹗', 'ǃ':
			if slashes > 0 {
				return prefixOf(bangs, slashes), t[i:]
			}
			bangs++
		case '/', '／':
			if bangs > 0 {
				return prefixOf(bangs, slashes), t[i:]
			}
			slashes++
		default:
			return prefixOf(bangs, slashes), t[i:]
		}
		i += n
	}
	return prefixOf(bangs, slashes), ""
}

func prefixOf(bangs, slashes int) string {
	switch {
	case bangs > 0:
		return "!"
	case slashes == 1:
		return "/"
	case slashes > 1:
		return "//"
	}
	return ""
}

// skipFormat drops invisible format characters (zero-width space, joiners,
// …) at the start of s.
func skipFormat(s string) string {
	return strings.TrimLeftFunc(s, func(r rune) bool { return unicode.Is(unicode.Cf, r) })
}

// startsWithLetter reports whether s starts with a letter, after invisible
// format characters.
func startsWithLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(skipFormat(s))
	return unicode.IsLetter(r)
}

// isPath reports whether the first word of s (after a '/' prefix) has a '/'
// followed by more text: "home/user/file", "r/golang", "example.com/x".
func isPath(s string) bool {
	word, _, _ := cutWord(s)
	i := strings.IndexAny(word, "/／")
	if i < 0 {
		return false
	}
	_, n := utf8.DecodeRuneInString(word[i:])
	return i+n < len(word)
}

// cutWord splits s at its first white space.
func cutWord(s string) (word, rest string, found bool) {
	i := strings.IndexFunc(s, isSpace)
	if i < 0 {
		return s, "", false
	}
	_, n := utf8.DecodeRuneInString(s[i:])
	return s[:i], s[i+n:], true
}

// classifyCommand classifies "name args" typed after a prefix.
func classifyCommand(s, prefix string, known func(string) bool) Parsed {
	word, args, _ := cutWord(s)
	args = trimSpace(args)
	name := strings.ToLower(strings.TrimRight(foldWidth(word), ".,:;!?"))
	switch {
	case name == "note" && args != "":
		return Parsed{Kind: KindNote, Text: args, Name: name, Prefix: prefix}
	case name != "" && known != nil && known(name):
		return Parsed{Kind: KindCommand, Name: name, Args: args, Prefix: prefix}
	}
	return Parsed{Kind: KindUnknown, Name: strings.ToLower(word), Args: args, Prefix: prefix}
}

// foldWidth maps fullwidth ASCII forms (U+FF01–U+FF5E) to ASCII.
func foldWidth(s string) string {
	if !strings.ContainsFunc(s, isFullwidth) {
		return s
	}
	return strings.Map(func(r rune) rune {
		if isFullwidth(r) {
			return r - 0xFF01 + '!'
		}
		return r
	}, s)
}

func isFullwidth(r rune) bool { return r >= 0xFF01 && r <= 0xFF5E }

func allShortcutBytes(s string) bool {
	for i := 0; i < len(s); i++ {
		if !canned.IsShortcutByte(s[i]) {
			return false
		}
	}
	return true
}
