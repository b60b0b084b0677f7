package commands

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/canned"
)

func TestParse(t *testing.T) {
	const mention = "<@UBOT>"
	cmd := func(name, args, prefix string) Parsed {
		return Parsed{Kind: KindCommand, Name: name, Args: args, Prefix: prefix}
	}
	unknown := func(name, prefix string) Parsed { return Parsed{Kind: KindUnknown, Name: name, Prefix: prefix} }
	reply := func(text string) Parsed { return Parsed{Kind: KindReply, Text: text} }
	note := func(text string) Parsed { return Parsed{Kind: KindNote, Text: text} }
	tests := []struct {
		name string
		in   string
		want Parsed
	}{
		{"bang", "!help", cmd("help", "", "!")},
		{"slash", "/help", cmd("help", "", "/")},
		{"double slash", "//help", cmd("help", "", "//")},
		{"triple slash", "///help", cmd("help", "", "//")},
		{"mention", "<@UBOT> help", cmd("help", "", "@")},
		{"mention colon", "<@UBOT>: ticket Broken  printer", cmd("ticket", "Broken  printer", "@")},
		{"mention comma", "<@UBOT>, history", cmd("history", "", "@")},
		{"mention glued", "<@UBOT>help", cmd("help", "", "@")},
		{"mention case", "<@ubot> help", cmd("help", "", "@")},
		{"mention then bang", "<@UBOT> !help", cmd("help", "", "@")},
		{"bare mention is help", "<@UBOT>", cmd("help", "", "@")},
		{"mention unknown word", "<@UBOT> thanks a lot", Parsed{Kind: KindUnknown, Name: "thanks", Args: "a lot", Prefix: "@"}},
		{"mention later is a reply", "ask <@UBOT> help", reply("ask <@UBOT> help")},
		{"uppercase", "!HELP", cmd("help", "", "!")},
		{"mixed case alias", "!TiCkEt  Printer   jam ", cmd("ticket", "Printer   jam", "!")},
		{"args keep newlines", "!note line one\nline two", Parsed{Kind: KindNote, Text: "line one\nline two", Name: "note", Prefix: "!"}},
		{"trailing punctuation", "!help?", cmd("help", "", "!")},
		{"leading spaces", "   !help", cmd("help", "", "!")},
		{"nbsp", "\u00a0!help\u00a0", cmd("help", "", "!")},
		{"tab newline", "\t\n!help\n", cmd("help", "", "!")},
		{"zero width space", "\u200b!help", cmd("help", "", "!")},
		{"bom", "\ufeff/help", cmd("help", "", "/")},
		{"ideographic space", "\u3000!help", cmd("help", "", "!")},
		{"zero width after prefix", "!\u200bhelp", cmd("help", "", "!")},
		{"fullwidth bang", "！help", cmd("help", "", "!")},
		{"fullwidth slash", "／help", cmd("help", "", "/")},
		{"fullwidth letters", "！ｈｅｌｐ", cmd("help", "", "!")},
		{"small bang", "﹗help", cmd("help", "", "!")},
		{"click letter bang", "ǃhelp", cmd("help", "", "!")},
		// Look-alikes (DESIGN §4.1): a prefix only before a command name or
		// a near miss of one.
		{"double exclamation", "‼help", cmd("help", "", "!")},
		{"double exclamation typo", "‼helpdsk", unknown("helpdsk", "!")},
		{"double exclamation text", "‼Important: your order shipped", reply("‼Important: your order shipped")},
		{"double exclamation space", "‼ Important: your order shipped", reply("‼ Important: your order shipped")},
		{"exclamation question", "⁉help", Parsed{Kind: KindMistyped, Name: "help", Prefix: "!"}},
		{"heavy exclamation", "❗ticket Printer", cmd("ticket", "Printer", "!")},
		{"heavy exclamation emoji", "❗️help", cmd("help", "", "!")},
		{"white exclamation", "❕note secret", Parsed{Kind: KindNote, Text: "secret", Name: "note", Prefix: "!"}},
		{"modifier exclamation", "ꜝhistory", cmd("history", "", "!")},
		{"inverted exclamation command", "¡help", cmd("help", "", "!")},
		{"spanish", "¡Hola! ¿En qué puedo ayudarle?", reply("¡Hola! ¿En qué puedo ayudarle?")},
		{"inverted exclamation near miss", "¡Helo", unknown("helo", "!")},
		{"inverted exclamation space note", "¡ note secret", Parsed{Kind: KindMistyped, Name: "note", Prefix: "!"}},
		{"click letter word", "ǃKung people", reply("ǃKung people")},
		{"division slash", "∕help", cmd("help", "", "/")},
		{"fraction slash", "⁄ticket x", cmd("ticket", "x", "/")},
		{"double solidus", "⫽help", cmd("help", "", "//")},
		{"katakana no", "ノート", reply("ノート")},
		{"look-alike slash path", "∕home∕user", reply("∕home∕user")},
		{"vertical bang word", "︕wow", unknown("wow", "!")},
		{"mixed run is strong", "!ǃwow", unknown("wow", "!")},
		{"arabic semicolons", "؛؛ private", note("private")},
		{"reversed semicolon", "⁏; private", note("private")},
		{"arabic semicolon spaced", "؛ ؛ private", Parsed{Kind: KindMistyped, Name: "note", Prefix: ";;"}},
		{"arabic semicolon alone", "؛ hello", reply("؛ hello")},
		{"double bang", "!!help", cmd("help", "", "!")},
		{"args", "!helpdesk_search #12", cmd("helpdesk_search", "#12", "!")},
		{"typo", "!helpdsk", unknown("helpdsk", "!")},
		{"slash typo", "/histroy", unknown("histroy", "/")},
		{"short typo", "!ticke", unknown("ticke", "!")},
		{"cyrillic e", "!hеlp", unknown("hеlp", "!")},
		{"cyrillic word", "!Привет", unknown("привет", "!")},
		{"slash me", "/me waves", Parsed{Kind: KindUnknown, Name: "me", Args: "waves", Prefix: "/"}},
		{"slash trailing slash", "/help/", unknown("help/", "/")},
		{"path", "/home/user/file", reply("/home/user/file")},
		{"subreddit", "/r/golang", reply("/r/golang")},
		{"protocol relative url", "//example.com/x", reply("//example.com/x")},
		{"bangs only", "!!!", reply("!!!")},
		{"bang space", "! wow", reply("! wow")},
		{"bang digit", "!1", reply("!1")},
		{"bang alone", "!", reply("!")},
		{"slash alone", "/", reply("/")},
		{"slash digit", "/2", reply("/2")},
		{"inverted bang", "¡Hola!", reply("¡Hola!")},
		{"bang inside", "hello !help", reply("hello !help")},
		{"note", ";; call back tomorrow", note("call back tomorrow")},
		{"note glued", ";;x", note("x")},
		{"empty note", ";;", note("")},
		{"triple semicolon", ";;;", note(";")},
		{"bang note", "!note call back", Parsed{Kind: KindNote, Text: "call back", Name: "note", Prefix: "!"}},
		{"bang note empty", "!note", cmd("note", "", "!")},
		{"single semicolon", "; hi", reply("; hi")},
		{"list canned", ":", Parsed{Kind: KindListCanned}},
		{"canned query", ":so", Parsed{Kind: KindCannedQuery, Text: "so"}},
		{"canned query spaces", "  :sorry  ", Parsed{Kind: KindCannedQuery, Text: "sorry"}},
		{"canned digits", ":30", Parsed{Kind: KindCannedQuery, Text: "30"}},
		{"canned in text", "hello :sorry", reply("hello :sorry")},
		{"capitalised query", ":Sorry", Parsed{Kind: KindCannedQuery, Text: "sorry"}},
		{"uppercase query", ":ZZZ", Parsed{Kind: KindCannedQuery, Text: "zzz"}},
		{"fullwidth colon query", "：Ｓｏ", Parsed{Kind: KindCannedQuery, Text: "so"}},
		{"fullwidth colon alone", "：", Parsed{Kind: KindListCanned}},
		{"invisible inside query", ":so\u200brry", Parsed{Kind: KindCannedQuery, Text: "sorry"}},
		{"emoticon D", ":D", reply(":D")},
		{"emoticon P", ":P", reply(":P")},
		{"emoticon p", ":p", reply(":p")},
		{"emoticon O", ":O", reply(":O")},
		{"emoticon 3", ":3", reply(":3")},
		{"emoticon nose P", ":-P", reply(":-P")},
		{"emoticon nose D", ":-D", reply(":-D")},
		{"dash alone", ":-", reply(":-")},
		{"two letters", ":xd", Parsed{Kind: KindCannedQuery, Text: "xd"}},
		{"look-alike colon is no query", "꞉zzz", reply("꞉zzz")},
		{"smiley", ":)", reply(":)")},
		{"smiley nose", ":-)", reply(":-)")},
		{"time", "10:30", reply("10:30")},
		{"emoji code", ":smile:", reply(":smile:")},
		{"url", "https://x.y/a:b", reply("https://x.y/a:b")},
		{"empty", "", reply("")},
		{"blank", " \t\u200b\u00a0", reply("")},
		{"reply fallback", "> <@alice:example.org> earlier\n\nThanks!", reply("Thanks!")},
		{"reply fallback multi-line with command", "> <@alice:example.org> one\n> two\n\n!help", cmd("help", "", "!")},
		{"edited fallback", "> * <@alice:example.org> one\n\n:sorry", Parsed{Kind: KindCannedQuery, Text: "sorry"}},
		{"quote without blank line", "> <@a:b> x\nreply", reply("> <@a:b> x\nreply")},
		{"plain quote", "> to be or not", reply("> to be or not")},
		// Invisible and look-alike characters in front of and inside prefixes.
		{"rlm note", "\u200f;; customer is on the blacklist", note("customer is on the blacklist")},
		{"lrm bang note", "\u200e!note internal: refund denied", Parsed{Kind: KindNote, Text: "internal: refund denied", Name: "note", Prefix: "!"}},
		{"isolate", "\u2068!helpdesk Printer broken\u2069", cmd("helpdesk", "Printer broken", "!")},
		{"soft hyphen", "\u00ad!help", cmd("help", "", "!")},
		{"fullwidth semicolons", "；；内部メモ: VIP customer", note("内部メモ: VIP customer")},
		{"greek question mark", "\u037e\u037e x", note("x")},
		{"small semicolons", "\ufe54\ufe54 x", note("x")},
		{"mixed semicolons", ";；x", note("x")},
		{"invisible between semicolons", ";\u200f; x", note("x")},
		{"arabic letter mark", "\u061c/help", cmd("help", "", "/")},
		{"override", "\u202e!help", cmd("help", "", "!")},
		{"cgj", "\u034f!help", cmd("help", "", "!")},
		{"variation selector", "\ufe0f!help", cmd("help", "", "!")},
		{"supplementary variation selector", "\U000e0100!help", cmd("help", "", "!")},
		{"leading combining mark", "\u0301!help", cmd("help", "", "!")},
		{"enclosing mark", "\u20dd;; x", note("x")},
		{"hangul filler", "\u3164!help", cmd("help", "", "!")},
		{"tag character", "\U000e0041<@UBOT> help", cmd("help", "", "@")},
		{"invisible between bangs", "!\u200b!help", cmd("help", "", "!")},
		{"combining mark after bang", "!\u0301help", cmd("help", "", "!")},
		{"rlm after name", "!help\u200f", cmd("help", "", "!")},
		{"fullwidth mention", "＜＠ＵＢＯＴ＞ help", cmd("help", "", "@")},
		{"invisible inside mention", "<@U\u200bBOT> help", cmd("help", "", "@")},
		{"mention then invisible word", "<@UBOT>\u200fhelp", cmd("help", "", "@")},
		{"bang space note", "! note secret", Parsed{Kind: KindMistyped, Name: "note", Prefix: "!"}},
		{"bang underscore note", "!_note x", Parsed{Kind: KindMistyped, Name: "note", Prefix: "!"}},
		{"bang question help", "!? help", Parsed{Kind: KindMistyped, Name: "help", Prefix: "!"}},
		{"bang nbsp uppercase", "!\u00a0HELP me", Parsed{Kind: KindMistyped, Name: "help", Prefix: "!"}},
		{"slash space", "/ ticket x", Parsed{Kind: KindMistyped, Name: "ticket", Prefix: "/"}},
		{"comment slashes", "// note: internal", Parsed{Kind: KindMistyped, Name: "note", Prefix: "//"}},
		{"spaced semicolons", "; ; x", Parsed{Kind: KindMistyped, Name: "note", Prefix: ";;"}},
		{"bang space word", "! wow", reply("! wow")},
		{"bang space longer word", "! helpful tip", reply("! helpful tip")},
		{"bangs space command word", "!!! Help is on the way", reply("!!! Help is on the way")},
		{"semicolon smiley", "; ) ok", reply("; ) ok")},
		{"rlm inside", "שלום\u200f עולם", reply("שלום\u200f עולם")},
		{"leading rlm trimmed", "\u200fשלום", reply("שלום")},
		{"trailing isolate trimmed", "\u2068hello\u2069", reply("hello")},
		{"emoji variation selector kept", "thanks ❤️", reply("thanks ❤️")},
		{"emoji first", "❤️ thanks", reply("❤️ thanks")},
		{"greek question", "Τι κάνεις;", reply("Τι κάνεις;")},
		{"mention as a longer word", "<@UBOT2> hi", reply("<@UBOT2> hi")},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Parse(tt.in, mention); got != tt.want {
				t.Errorf("Parse(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
		})
	}
}

func TestParseWithoutMention(t *testing.T) {
	if got := Parse("<@UBOT> help", ""); got.Kind != KindReply {
		t.Errorf("no mention configured: %+v", got)
	}
	if got := Parse("@botanist hi", "@bot"); got.Kind != KindReply {
		t.Errorf("@bot inside @botanist: %+v", got)
	}
	if got := Parse("@bot\u200btle hi", "@bot"); got.Kind != KindReply {
		t.Errorf("@bot inside @bot\\u200btle: %+v", got)
	}
	if got := Parse("@bot: help", "@bot"); got.Kind != KindCommand || got.Name != "help" {
		t.Errorf("@bot: help: %+v", got)
	}
}

func TestKnownAndSuggest(t *testing.T) {
	for _, n := range []string{"help", "helpdesk", "ticket", "helpdesk_search", "search_tickets", "history", "lead", "leave", "close", "note", "canned"} {
		if !Known(n) {
			t.Errorf("%s is not known", n)
		}
	}
	for typo, want := range map[string]string{"helpdsk": "helpdesk", "histroy": "history", "ticke": "ticket", "hlep": "help", "xyzzy": ""} {
		if got := suggest(typo); got != want {
			t.Errorf("suggest(%q) = %q, want %q", typo, got, want)
		}
	}
}

// commandLike is an oracle written independently of Parse, on the Unicode
// data (unicodeReading): a message whose trimmed form starts with a run of
// '!' (or '/') readings followed by a letter (for '/', with no further '/'
// inside the first word) must never be a reply — when the run is made only
// of look-alikes, only if the word is a command name or one edit from one
// (four letters or more).
func commandLike(text string) bool {
	s := normalize(text)
	var kind byte
	strong := false
	for s != "" {
		r, n := utf8.DecodeRuneInString(s)
		if kind != 0 && unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			s = s[n:]
			continue
		}
		reading, eq := dataReading(r)
		if reading == "" || reading[0] != '!' && reading[0] != '/' || kind != 0 && reading[0] != kind {
			break
		}
		if strings.Trim(reading, reading[:1]) != "" {
			return false // "⁉": '!' then '?'
		}
		kind, strong, s = reading[0], strong || eq, s[n:]
	}
	if kind == 0 {
		return false
	}
	s = strings.TrimLeftFunc(s, func(r rune) bool {
		return unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector)
	})
	if r, _ := utf8.DecodeRuneInString(s); !unicode.IsLetter(r) {
		return false
	} else if reading, _ := dataReading(r); reading != "" {
		return false // another prefix character ("!〳help" is "!/help")
	}
	word := strings.FieldsFunc(s, isSpace)[0]
	if kind == '/' {
		for i, r := range word {
			if (r == '/' || r == '／') && i+utf8.RuneLen(r) < len(word) {
				return false // a path: "/home/user"
			}
		}
	}
	if strong {
		return true
	}
	word = strings.ToLower(strings.TrimRightFunc(strings.Map(func(r rune) rune {
		if r >= 0xFF01 && r <= 0xFF5E {
			return r - 0xFEE0
		}
		return r
	}, word), func(r rune) bool {
		reading, _ := dataReading(r)
		return unicode.IsPunct(r) || reading != "" // "help!", "help…", "help❗"
	}))
	for _, c := range Commands() {
		for _, n := range append([]string{c.Name}, c.Aliases...) {
			if word == n || utf8.RuneCountInString(word) >= 4 && distance(word, n) <= 1 {
				return true
			}
		}
	}
	return false
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"!help", "/home/x", "//help", "！ｈｅｌｐ", ";; x", ":so", ":", "> <@a:b> q\n\n!help", "<@UBOT> help", "!\u200bhelp", "\u200b", "!!!", "/a/", "ǃx",
		"‼help", "¡Hola!", "⁉ x", "∕help", "؛؛x", "：Sorry", ":D", "❗\ufe0fhelp", "ǃhlep"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		p := Parse(text, "<@UBOT>")
		if commandLike(text) && p.Kind == KindReply {
			t.Fatalf("command-like %q classified as a reply: %+v", text, p)
		}
		switch p.Kind {
		case KindReply:
			if p.Text != normalize(text) {
				t.Fatalf("reply text %q, want %q", p.Text, normalize(text))
			}
		case KindCommand:
			if !Known(p.Name) {
				t.Fatalf("command %q is not known", p.Name)
			}
		case KindCannedQuery:
			c, _ := utf8.DecodeRuneInString(normalize(text))
			if !shortcutLike(p.Text) || canned.ValidateShortcut(p.Text) != nil && len(p.Text) <= canned.MaxShortcutLen || !isColonEquivalent(c) {
				t.Fatalf("canned query %q from %q", p.Text, text)
			}
		}
	})
}

// TestOneEdit: oneEdit agrees with distance(a, b) <= 1.
func TestOneEdit(t *testing.T) {
	words := []string{"", "a", "ab", "ba", "abc", "acb", "help", "hlep", "hepl", "helpp", "hel", "helo", "hola",
		"hеlp", "héLp", "history", "histroy", "histor", "ticket", "ticke", "tickets", "ノート", "ノトー", "note", "nota"}
	for _, a := range words {
		for _, b := range words {
			if got, want := oneEdit(a, b), distance(a, b) <= 1; got != want {
				t.Errorf("oneEdit(%q, %q) = %v, distance %d", a, b, got, distance(a, b))
			}
		}
	}
}

func FuzzOneEdit(f *testing.F) {
	f.Add("help", "hlep")
	f.Add("ノート", "ノトー")
	f.Fuzz(func(t *testing.T, a, b string) {
		if len(a) > 64 || len(b) > 64 || !utf8.ValidString(a) || !utf8.ValidString(b) {
			return // distance reads invalid bytes as U+FFFD, oneEdit compares bytes
		}
		if got, want := oneEdit(a, b), distance(a, b) <= 1; got != want {
			t.Fatalf("oneEdit(%q, %q) = %v, distance %d", a, b, got, distance(a, b))
		}
	})
}
