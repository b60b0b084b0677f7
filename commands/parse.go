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
	// KindListCanned is a message of just ":" (or "：").
	KindListCanned
	// KindCannedQuery is a message of just ":prefix" (see Parse for which
	// words count): Parsed.Text is the prefix, lowercased. An exact shortcut
	// is sent; otherwise matches are listed and nothing is sent.
	KindCannedQuery
	// KindMistyped is a known command name after a lone prefix and white
	// space or punctuation ("! note secret", "!_note x") or ";" then white
	// space then ";": Parsed.Name is the command ("note" for the latter),
	// Parsed.Prefix the prefix ("!", "/", "//" or ";;"). Never relayed: the
	// operator is asked what was meant.
	KindMistyped
)

var kindNames = [...]string{"reply", "command", "unknown", "note", "list-canned", "canned-query", "mistyped"}

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
	// Text is the reply (KindReply) as typed, trimmed (see Parse) and
	// without a Matrix reply fallback; the note (KindNote); the shortcut
	// prefix, lowercased (KindCannedQuery).
	Text string
	// Prefix is how a command was typed: "!", "/", "//" or "@" (a mention),
	// or ";;" (KindMistyped "; ;"); fullwidth prefixes and look-alikes are
	// reported as their ASCII forms.
	Prefix string
}

// Parse classifies an operator message using the registered commands. mention
// is how the bot is mentioned on the platform ("<@U123>"; "" for none).
//
// The rules, applied after trimming all Unicode white space and invisible
// characters (every format character — zero-width spaces and joiners, bidi
// marks, embeddings and isolates, soft hyphen, byte order mark, … —,
// variation selectors and combining marks with nothing to combine with) and
// removing a Matrix reply fallback ("> <@user> …" lines and the blank line
// after them). Invisible characters are also skipped inside the prefix
// ("!\u200b!help", ";\u200f;").
//
// Prefix characters are read with their equivalents and look-alikes
// (lookalike.go, from Unicode's data): an equivalent — the fullwidth "！",
// "／", "；", "：" (CJK keyboards), the small and vertical forms, the Greek
// question mark ";" — counts exactly like the ASCII character; a look-alike
// — "‼", "⁉", "❗", "❕", "ꜝ", "¡", "ǃ", "∕", "⁄", "؛", "꞉", … — counts only
// where the result is a command, a note or a shortcut (DESIGN §4.1):
//
//   - ";;text" is a note: two ';' characters, equivalents or look-alikes
//     ("；；", "؛؛", ";⁏"). "!note text" is a note too.
//   - A message starting with the mention (optionally followed by ':' or ',')
//     is addressed to the bot: the next word is a command name; a bare
//     mention means help; any other word is an unknown command. Fullwidth
//     forms and case do not matter.
//   - A command prefix followed by a letter is a command attempt: "!",
//     repeated or not ("!!help", "‼help"), and "/" or "//" — except
//     "/word/more", which is a path or URL ("/home/user/file", "/r/golang")
//     and a reply. Fullwidth letters in the name are read as ASCII
//     ("！ｈｅｌｐ" is help). A command attempt whose name is not a known
//     command or alias (by Unicode lowercase, so a Cyrillic "е" in "!hеlp"
//     makes it unknown) is KindUnknown: the operator is told, the visitor
//     never sees it. When every character of the prefix is a look-alike, only
//     a command name or a near miss of one (four letters or more, one edit
//     away: "¡helo", "‼histroy") makes a command attempt: "¡Hola!",
//     "‼Important: your order shipped" and "ǃKung" are replies.
//   - A lone "!", or one or more "/", then white space or punctuation, then
//     a known command name as a whole word is KindMistyped ("! note secret",
//     "!_note x", "/ help", "⁉ help"): nothing is sent, the operator is asked
//     "Did you mean !note?". So is ";" then white space then ";" ("; ; x").
//     Only a lone "!" counts, because "!!! Help is on the way" is ordinary
//     text ("‼ note" is two).
//   - Any other prefix not followed by a letter is ordinary text: "!!!",
//     "! wow", "!1", "/ 2", "‼ Important".
//   - ":" alone (or an equivalent: "：") lists the canned responses.
//     ":word" alone, where word is letters, digits, '_' and '-' in any case
//     with at least two letters or digits, is a canned query, Parsed.Text
//     the word lowercased (":so", ":Sorry", ":30"): an exact shortcut is
//     sent, anything else listed, and nothing is sent as typed. A shorter
//     word is an emoticon and a reply (":D", ":P", ":3", ":-P"), like any
//     ":word" after a look-alike colon ("꞉zzz"): the Router expands it only
//     if it is exactly a shortcut.
//   - Anything else is a reply. Its text is as typed, less the leading and
//     trailing white space and invisible characters (trailing variation
//     selectors and combining marks are kept: they belong to the last
//     character). The Router expands the :shortcuts in it (see
//     canned.ExpandWith), whatever their case and after ':' or any
//     equivalent or look-alike of it.
//
// Whatever Parse says, the Router relays nothing that the relay gate
// (relayable, gate.go) refuses.
func Parse(text, mention string) Parsed {
	return ParseWith(text, mention, Known)
}

// ParseWith is Parse with another set of known command names (known gets a
// lowercased name and reports whether it is a command or an alias).
func ParseWith(text, mention string, known func(name string) bool) Parsed {
	t := normalize(text)
	if rest, spaced, ok := cutNote(t); ok {
		if spaced {
			return Parsed{Kind: KindMistyped, Name: "note", Prefix: ";;"}
		}
		return Parsed{Kind: KindNote, Text: trimSpace(rest)}
	}
	if rest, ok := cutMention(t, mention); ok {
		if rest == "" {
			return Parsed{Kind: KindCommand, Name: "help", Prefix: "@"}
		}
		if p := cutPrefix(rest); p.prefix != "" && startsWithLetter(p.rest) {
			rest = skipInvisible(p.rest) // "@bot !help"
		}
		return classifyCommand(rest, "@", known)
	}
	if p := cutPrefix(t); p.prefix != "" {
		if startsWithLetter(p.rest) {
			rest := skipInvisible(p.rest)
			if (p.prefix == "!" || !isPath(rest)) && (!p.lookalike || nearCommand(commandWord(rest), known)) {
				return classifyCommand(rest, p.prefix, known)
			}
		} else if p.prefix != "!" || p.count == 1 {
			if name := spacedName(p.rest, known); name != "" {
				return Parsed{Kind: KindMistyped, Name: name, Prefix: p.prefix}
			}
		}
	}
	if c, n := utf8.DecodeRuneInString(t); isColonEquivalent(c) {
		if name, ok := shortcutWord(t[n:]); ok && name == "" {
			return Parsed{Kind: KindListCanned}
		} else if ok && shortcutLike(name) {
			return Parsed{Kind: KindCannedQuery, Text: name}
		}
	}
	return Parsed{Kind: KindReply, Text: t}
}

// shortcutWord reads s (the text after a ':') as a shortcut name: ASCII
// letters, digits, '_' and '-', in any case and width, invisible characters
// skipped. It returns the name lowercased, and false when s holds anything
// else.
func shortcutWord(s string) (name string, ok bool) {
	var b []byte
	for _, r := range s {
		if isInvisible(r) {
			continue
		}
		r = foldRune(r)
		if r >= 'A' && r <= 'Z' {
			r += 'a' - 'A'
		}
		if r >= 0x80 || !canned.IsShortcutByte(byte(r)) {
			return "", false
		}
		b = append(b, byte(r))
	}
	return string(b), true
}

// shortcutLike reports whether a word typed alone after ':' is meant as a
// shortcut (and so is never sent as typed when it matches none): it has at
// least two letters or digits. ":D", ":P", ":3", ":-P" and ":-)" are
// emoticons; ":so", ":Sorry", ":zz" and ":30" are shortcuts.
func shortcutLike(name string) bool {
	n := 0
	for i := 0; i < len(name); i++ {
		if c := name[i]; c >= 'a' && c <= 'z' || c >= '0' && c <= '9' {
			n++
		}
	}
	return n >= 2
}

// normalize trims white space and invisible characters (see Parse) and
// removes a reply fallback.
func normalize(text string) string {
	return trimBlank(stripReplyFallback(trimBlank(text)))
}

// isSpace is unicode.IsSpace plus the invisible characters that clients and
// copy-paste leave around messages and the Braille blank: what separates
// words.
func isSpace(r rune) bool {
	switch r {
	case '\u200b', '\u200c', '\u200d', '\u2060', '\ufeff', '\u180e', '\u2800':
		return true
	}
	return unicode.IsSpace(r)
}

// isTrimmed reports whether r is trimmed from both ends of texts and
// arguments: white space and format characters.
func isTrimmed(r rune) bool { return isSpace(r) || isFormat(r) }

// isBlank reports whether r is trimmed from the start of a message: white
// space and every invisible character.
func isBlank(r rune) bool { return isSpace(r) || isInvisible(r) }

func trimSpace(s string) string { return strings.TrimFunc(s, isTrimmed) }

// trimBlank trims blank characters from the start of s and white space and
// format characters from its end.
func trimBlank(s string) string {
	return strings.TrimRightFunc(strings.TrimLeftFunc(s, isBlank), isTrimmed)
}

// cutNote reports whether t starts with ";;" (with look-alikes and invisible
// characters between them) and returns the rest. spaced reports ";" then
// white space then ";": not a note, not a reply either.
func cutNote(t string) (rest string, spaced, ok bool) {
	r, n := utf8.DecodeRuneInString(t)
	if !isSemicolon(r) {
		return "", false, false
	}
	rest = skipInvisible(t[n:])
	if r, n := utf8.DecodeRuneInString(rest); isSemicolon(r) {
		return rest[n:], false, true
	}
	rest = strings.TrimLeftFunc(rest, isBlank)
	if r, _ := utf8.DecodeRuneInString(rest); isSemicolon(r) {
		return "", true, true
	}
	return "", false, false
}

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

// cutMention reports whether t starts with the bot's mention (see cutFold)
// and returns the rest without separators.
func cutMention(t, mention string) (string, bool) {
	if mention == "" {
		return "", false
	}
	rest, ok := cutFold(t, mention)
	if !ok || !mentionEnds(lastVisible(mention), rest) {
		return "", false // "@bot" inside "@bottle"
	}
	rest = trimSpace(rest)
	if r, ok := strings.CutPrefix(rest, ":"); ok {
		rest = r
	} else if r, ok := strings.CutPrefix(rest, ","); ok {
		rest = r
	}
	return trimSpace(rest), true
}

// prefixRun is a leading run of '!' (or '/') characters and look-alikes.
type prefixRun struct {
	// prefix is the ASCII prefix: "!", "/", "//" or "" for none.
	prefix string
	// rest is the text after the run; a reading's tail ("?" of "⁉") comes
	// first.
	rest string
	// count is the number of '!' or '/' read ("‼" counts two).
	count int
	// lookalike: every character of the run is a look-alike, none the ASCII
	// character or an equivalent (see lookalike.go).
	lookalike bool
}

// cutPrefix splits a leading run of '!' (or '/') characters and their
// equivalents and look-alikes from t, skipping invisible characters inside
// it.
func cutPrefix(t string) prefixRun {
	bangs, slashes := 0, 0
	strong := false
	i := 0
	for i < len(t) {
		r, n := utf8.DecodeRuneInString(t[i:])
		reading, equivalent := readPrefix(r)
		switch {
		case reading != "" && (reading[0] == '!' && slashes == 0 || reading[0] == '/' && bangs == 0):
			k := len(reading) - len(strings.TrimLeft(reading, reading[:1]))
			if reading[0] == '!' {
				bangs += k
			} else {
				slashes += k
			}
			strong = strong || equivalent
			if k < len(reading) { // "⁉": '!' then '?'
				return prefixRun{prefixOf(bangs, slashes), reading[k:] + t[i+n:], bangs + slashes, !strong}
			}
		case bangs+slashes > 0 && isInvisible(r):
		default:
			return prefixRun{prefixOf(bangs, slashes), t[i:], bangs + slashes, !strong}
		}
		i += n
	}
	return prefixRun{prefixOf(bangs, slashes), "", bangs + slashes, !strong}
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

// skipInvisible drops invisible characters (zero-width space, joiners, bidi
// marks, combining marks, …) at the start of s.
func skipInvisible(s string) string { return strings.TrimLeftFunc(s, isInvisible) }

// startsWithLetter reports whether s starts with a letter, after invisible
// characters (see isNameStart).
func startsWithLetter(s string) bool {
	r, _ := utf8.DecodeRuneInString(skipInvisible(s))
	return isNameStart(r)
}

// spacedName returns the known command name that s (the text after a prefix
// that is not followed by a letter) starts with after white space,
// punctuation and symbols: "note" for " note secret" or "_note x". The name
// must be a whole word; invisible characters in it are skipped.
func spacedName(s string, known func(string) bool) string {
	s = strings.TrimLeftFunc(s, func(r rune) bool {
		return isBlank(r) || unicode.IsPunct(r) || unicode.IsSymbol(r) || isPrefixChar(r)
	})
	var word strings.Builder
	for _, r := range s {
		if r = foldRune(r); isWordRune(r) {
			word.WriteRune(r)
		} else if !isInvisible(r) {
			break
		}
	}
	name := strings.ToLower(word.String())
	if name == "" || known == nil || !known(name) {
		return ""
	}
	return name
}

// isPath reports whether the first word of s (after a '/' prefix) has a '/'
// followed by more text: "home/user/file", "r/golang", "example.com/x".
func isPath(s string) bool {
	word, _, _ := cutWord(s)
	word = strings.Map(func(r rune) rune {
		if isInvisible(r) {
			return -1
		}
		return r
	}, word)
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

// commandWord returns the first word of s as a command name is compared
// after a look-alike prefix (and as the relay gate reads it): invisible
// characters dropped, fullwidth forms folded, lowercased, up to white space,
// without trailing punctuation or prefix characters ("❗note❗" is "note").
func commandWord(s string) string {
	var b strings.Builder
	for _, r := range s {
		if isInvisible(r) {
			continue
		}
		if isGap(r) {
			break
		}
		b.WriteRune(foldRune(r))
	}
	return strings.TrimRightFunc(strings.ToLower(b.String()), func(r rune) bool {
		return unicode.IsPunct(r) || isPrefixChar(r)
	})
}

// classifyCommand classifies "name args" typed after a prefix.
func classifyCommand(s, prefix string, known func(string) bool) Parsed {
	word, args, _ := cutWord(s)
	args = trimSpace(args)
	name := strings.ToLower(strings.TrimRight(foldWidth(dropFormat(word)), ".,:;!?"))
	switch {
	case name == "note" && args != "":
		return Parsed{Kind: KindNote, Text: args, Name: name, Prefix: prefix}
	case name != "" && known != nil && known(name):
		return Parsed{Kind: KindCommand, Name: name, Args: args, Prefix: prefix}
	}
	return Parsed{Kind: KindUnknown, Name: strings.ToLower(word), Args: args, Prefix: prefix}
}

// dropFormat removes format characters and variation selectors from s.
func dropFormat(s string) string {
	return strings.Map(func(r rune) rune {
		if isFormat(r) || unicode.Is(unicode.Variation_Selector, r) {
			return -1
		}
		return r
	}, s)
}
