package commands

import (
	"strings"
	"testing"
	"unicode"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

var testMentions = []string{"<@UBOT>", "@chatbridge"}

func TestRelayGate(t *testing.T) {
	refused := []string{
		";;x", "; ; x", ";\t;", "；；内部メモ", "\u037e; x", "\ufe54\ufe54", "\u200f;; x", ";\u200b;",
		"!help", "!!help", "!x", "! note x", "!_note x", "!? help", "! ! close", "!\u00a0HELP",
		"/help", "//help", "///x", "/ help", "// note: x", "/me waves", "/help/",
		"！help", "！ｈｅｌｐ", "／help", "﹗help", "︕help", "ǃhelp", "\u2068!help\u2069", "\u00ad!help",
		"\u0301!help", "!\u0301help", "!\u200b!help", "\ufe0f/help", "\U000e0100!help", "  \u200e !note x",
		"<@UBOT> help", "<@ubot>", "<@UBOT>: x", "\u2068<@UBOT>\u2069", "＜＠ＵＢＯＴ＞ x", "<@U\u200bBOT> x",
		"@chatbridge help", "@ChatBridge", "＠chatbridge x", "@chatbridge, x", "@chatbridge's x",
		"!hеlp", "!Привет", "!帮助",
		// Look-alikes before a command name or a near miss, a second ';'-like.
		"‼help", "‼helpdsk", "⁉ help", "❗\ufe0fhelp", "❕note x", "ꜝhistory", "¡help", "¡Helo", "¡ note x", "ǃhlep",
		"∕help", "⁄ticket x", "⫽help", "ノhelp", "؛؛ x", "⁏; x", "؛ ؛ x", "︕wow", "!ǃwow", "᥄〳 note", "⁄ ǃnote", "❗not0❗", "¡Helo…",
	}
	allowed := []string{
		"", "hello", "10:30", ":)", ":sorry", "¡Hola!", "!!!", "!", "!1", "!?", "! wow", "! helpful",
		"!! help", "!!! Help is on the way", "hello !help", "a ;; b", ";", "; not a note", "; ) ok",
		"/ 2", "/2", "/home/user/file", "/r/golang", "//example.com/x", "/ home", "https://x.y/help",
		"❤️ thanks", "thanks ❤️", "שלום\u200f עולם", "مرحبا\u200f بك", "Τι κάνεις;",
		"<@UBOT2> hi", "@chatbridgebot hi", "@chatbridge.example.org", "ask <@UBOT> help",
		"> <@a:b> !help", "\u200fשלום", "!1 help",
		"¡Hola! ¿En qué puedo ayudarle?", "‼ Important: your order shipped", "‼Important", "⁉ really?",
		"❗Attention", "ǃKung people", "ノート", "؛ hello", "∕home∕user", "‼ note", "：sorry", "꞉zzz",
	}
	for _, s := range refused {
		if why := relayRefusal(s, testMentions...); why == "" {
			t.Errorf("relayRefusal(%q) = \"\", want a refusal", s)
		}
	}
	for _, s := range allowed {
		if why := relayRefusal(s, testMentions...); why != "" {
			t.Errorf("relayRefusal(%q) = %q, want it relayable", s, why)
		}
	}
	if why := relayRefusal(";; x"); why != `it starts with ";;"` {
		t.Errorf("reason for a note: %q", why)
	}
	if why := relayRefusal("! note x"); why != `it starts with "!" and the command name "note"` {
		t.Errorf("reason for a spaced command: %q", why)
	}
	if !relayable("<@UBOT> help") || !relayable("@chatbridge help", "") {
		t.Error("a mention is refused although no mention is configured")
	}
}

// TestInvisiblePrefixes is the property: for every command name and alias and
// every invisible character c, c+"!"+name, c+"/"+name, c+";; x",
// "\u2068!"+name+"\u2069", "!"+c+name and c+"<@UBOT> "+name are refused by
// the gate and never relayed by the Router.
func TestInvisiblePrefixes(t *testing.T) {
	h := newHarness(t)
	conv := h.conversation("Nora", "", "", "")
	conv.Status = bridge.StatusClosed // "!close" answers without closing it
	var names []string
	for _, c := range Commands() {
		names = append(names, c.Name)
		names = append(names, c.Aliases...)
	}
	checked := 0
	for _, c := range append(testInvisibles, ' ', '\u00a0', '\u3000', '\u2800') {
		ch := string(c)
		inputs := []string{ch + ";; x", ch + "；；x", "\u2068;; x\u2069"}
		for _, n := range names {
			inputs = append(inputs, ch+"!"+n, ch+"/"+n, "\u2068!"+n+"\u2069", "!"+ch+n, ch+"<@UBOT> "+n, ch+"!"+n+" x")
		}
		for _, in := range inputs {
			checked++
			if relayable(in, testMentions...) {
				t.Errorf("the gate lets %q through", in)
			}
			op := bridge.OperatorInput{EventID: "ev", ConversationID: conv.ID, Operator: alice, Text: in, Mention: "<@UBOT>"}
			out, err := h.router.Intercept(h.ctx, op, conv)
			if err != nil {
				t.Fatalf("Intercept(%q): %v", in, err)
			}
			if out.Relay != "" {
				t.Errorf("Intercept(%q) relays %q", in, out.Relay)
			}
			if out.Whisper == "" && out.Note == "" && len(out.Actions) == 0 {
				t.Errorf("Intercept(%q) tells the operator nothing", in)
			}
		}
	}
	if want := len(testInvisibles) * len(names) * 6; checked < want {
		t.Fatalf("checked %d inputs, want at least %d", checked, want)
	}
}

// TestGateOnFinalText: the gate also checks the text after canned shortcuts
// are expanded, so a canned response that looks like a note or a command is
// not sent (the parser never sees that text).
func TestGateOnFinalText(t *testing.T) {
	h := newHarness(t)
	h.update(func(tx bridge.Tx) error {
		if err := tx.PutCanned(bridge.CannedResponse{Shortcut: "odd", Text: "\u200f;; looks like a note"}); err != nil {
			return err
		}
		return tx.PutCanned(bridge.CannedResponse{Shortcut: "cmd", Text: "!help"})
	})
	conv := h.conversation("Nora", "", "", "")
	for _, in := range []string{":odd", ":odd and more", ":cmd", "!canned cmd", "!canned odd"} {
		added := h.send(conv, alice, in)
		if len(added) != 1 || added[0].Visibility != bridge.VisibilityWhisper ||
			!strings.HasPrefix(added[0].Text, "Not sent: this looks like a command or a note (") {
			t.Errorf("%q added %q, want one whisper starting with Not sent", in, describe(added))
		}
	}
	if got := h.visitorSees(conv, 0); len(got) != 1 {
		t.Errorf("the visitor sees %d messages, want only their own", len(got))
	}
	r := New(nil, Options{})
	if out := r.relay(bridge.OperatorInput{Mention: "<@UBOT>"}, "\u2068<@UBOT> help\u2069", ""); out.Relay != "" || out.Whisper == "" {
		t.Errorf("relay of a mention: %+v", out)
	}
}

// shapedLike is the fuzz oracle, written apart from the gate and reading
// prefix characters from the Unicode data (unicodeReading): after dropping
// invisible characters (by category) and leading white space, does s start
// with ";" (white space) ";", with a run of '!' or '/' readings directly
// followed by a letter (a '/' path excepted; after a run of look-alikes only,
// a command name or a word one edit from one), with a lone '!' (or '/' run),
// gaps and punctuation, then a command name, or with a mention?
func shapedLike(s string) bool {
	var rs []rune
	strong := map[int]bool{} // index in rs of a prefix equivalent
	for _, r := range s {
		if unicode.In(r, unicode.Cf, unicode.Mn, unicode.Me, unicode.Variation_Selector, unicode.Other_Default_Ignorable_Code_Point) {
			continue
		}
		if r >= 0xFF01 && r <= 0xFF5E {
			r -= 0xFEE0
		}
		reading, eq := dataReading(r)
		switch {
		case reading == "":
			rs = append(rs, r)
		case reading == "!?":
			rs = append(rs, '!', '?')
		default:
			for _, c := range reading {
				strong[len(rs)] = eq
				rs = append(rs, c)
			}
		}
	}
	gap := func(r rune) bool { return unicode.IsSpace(r) || r == '\u2800' }
	for len(rs) > 0 && gap(rs[0]) {
		rs = rs[1:]
		shifted := map[int]bool{}
		for i, v := range strong {
			shifted[i-1] = v
		}
		strong = shifted
	}
	if len(rs) == 0 {
		return false
	}
	for _, m := range testMentions {
		if len(rs) >= utf8.RuneCountInString(m) && strings.EqualFold(string(rs[:utf8.RuneCountInString(m)]), m) {
			rest := rs[utf8.RuneCountInString(m):]
			if m[len(m)-1] == '>' || len(rest) == 0 || !(isWordRune(rest[0]) || rest[0] == '.' || rest[0] == '-') {
				return true
			}
		}
	}
	if rs[0] == ';' {
		i := 1
		for i < len(rs) && gap(rs[i]) {
			i++
		}
		return i < len(rs) && rs[i] == ';'
	}
	if rs[0] != '!' && rs[0] != '/' {
		return false
	}
	i, anyStrong := 0, false
	for i < len(rs) && rs[i] == rs[0] {
		anyStrong = anyStrong || strong[i]
		i++
	}
	if i < len(rs) && unicode.IsLetter(rs[i]) {
		word := strings.FieldsFunc(string(rs[i:]), gap)[0]
		if rs[0] == '/' {
			if j := strings.Index(word, "/"); j >= 0 && j < len(word)-1 {
				return false // a path
			}
		}
		if anyStrong {
			return true
		}
		word = strings.ToLower(strings.TrimRightFunc(word, unicode.IsPunct)) // "help!", "help…"
		for _, c := range Commands() {
			for _, n := range append([]string{c.Name}, c.Aliases...) {
				if word == n || utf8.RuneCountInString(word) >= 4 && distance(word, n) <= 1 {
					return true
				}
			}
		}
		return false
	}
	if rs[0] == '!' && i > 1 {
		return false
	}
	for i < len(rs) && (gap(rs[i]) || unicode.IsPunct(rs[i]) || unicode.IsSymbol(rs[i])) {
		i++
	}
	j := i
	for j < len(rs) && (unicode.IsLetter(rs[j]) || unicode.IsDigit(rs[j]) || rs[j] == '_') {
		j++
	}
	return j > i && Known(strings.ToLower(string(rs[i:j])))
}

// FuzzNoLeak checks the leak invariant without I/O, at the level the Router
// decides: text shaped like a command, a note or a mention (by an oracle
// independent of the gate) is never relayable, and whatever the Router would
// relay as a reply (Router.classify: the parser, then the gate) is not
// shaped like one. The parser and the gate must agree: the gate never has to
// stop a reply of the parser.
func FuzzNoLeak(f *testing.F) {
	for _, tc := range leakCorpus {
		if len(tc.in) < 200 {
			f.Add(tc.in)
		}
	}
	r := New(nil, Options{BotName: "chatbridge"})
	f.Fuzz(func(t *testing.T, text string) { checkNoLeak(t, r, text) })
}

// checkNoLeak is the invariant of FuzzNoLeak for one text.
func checkNoLeak(t *testing.T, r *Router, text string) {
	t.Helper()
	shaped := shapedLike(text)
	if shaped && relayable(text, testMentions...) {
		t.Fatalf("the gate lets %q through", text)
	}
	p, refused := r.classify(bridge.OperatorInput{Text: text, Mention: "<@UBOT>"})
	if p.Kind != KindReply {
		if refused != "" {
			t.Fatalf("%q: refusal %q for a %v", text, refused, p.Kind)
		}
		return
	}
	if refused != "" {
		t.Fatalf("the parser relays %q but the gate refuses it: %s", text, refused)
	}
	if shaped || shapedLike(p.Text) {
		t.Fatalf("the Router would relay %q (%q)", text, p.Text)
	}
}

// FuzzLookalikes is FuzzNoLeak on texts built around the prefix characters,
// which random bytes rarely hit: two characters picked from the look-alike
// table, the ASCII prefixes and a few invisible characters and spaces, with
// fuzzed text between and after them.
func FuzzLookalikes(f *testing.F) {
	pick := []rune{'!', '/', ';', ':', ' ', '\u00a0', '\u200b', '\u200f', '\u2068', '\ufe0f', '\u0301'}
	for _, l := range lookalikes {
		pick = append(pick, l.r)
	}
	f.Add(uint16(0), uint16(0), "", "help")
	f.Add(uint16(12), uint16(4), " ", "Hola amigo")
	f.Add(uint16(30), uint16(30), "", " note")
	f.Add(uint16(50), uint16(2), "\u200b", "helpdsk x")
	r := New(nil, Options{BotName: "chatbridge"})
	f.Fuzz(func(t *testing.T, a, b uint16, between, after string) {
		text := string(pick[int(a)%len(pick)]) + between + string(pick[int(b)%len(pick)]) + after
		checkNoLeak(t, r, text)
		checkNoLeak(t, r, string(pick[int(a)%len(pick)])+after)
	})
}

// TestSkeleton: the fast path (nothing to change) and the slow one give what
// reading every character does.
func TestSkeleton(t *testing.T) {
	slow := func(text string) string {
		var b strings.Builder
		for _, r := range text {
			if !isInvisible(r) {
				b.WriteRune(foldRune(r))
			}
		}
		return strings.TrimLeftFunc(b.String(), isGap)
	}
	for _, s := range []string{"", "  hello", "¡Hola!", "ノート", "\u200f;; x", "！ｈｅｌｐ", "a\xffb", "é\u0301", "\u2800 x", "日本語\u200bです"} {
		if got, want := skeleton(s), slow(s); got != want {
			t.Errorf("skeleton(%q) = %q, want %q", s, got, want)
		}
	}
}
