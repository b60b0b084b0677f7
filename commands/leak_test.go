package commands

import (
	"fmt"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

// leakCase is one operator input and exactly what the visitor must see.
type leakCase struct {
	in string
	// relay is the exact text the visitor must receive from the operator;
	// "" means nothing at all. "{conv}" stands for the conversation id.
	relay string
	// system is a public system line the input must produce (close).
	system string
}

const ended = "Alice Martin ended the chat."

// leakCorpus: commands with every prefix, case and white-space variants,
// typos, look-alikes, notes, canned shortcuts, text that only resembles
// commands or shortcuts, empty and very long input.
var leakCorpus = append(staticLeakCorpus, invisibleLeakCases()...)

var staticLeakCorpus = []leakCase{
	// Commands, every prefix.
	{in: "!help"}, {in: "/help"}, {in: "//help"}, {in: "///help"},
	{in: "<@UBOT> help"}, {in: "<@UBOT>: help"}, {in: "<@UBOT>, help"}, {in: "<@UBOT>help"},
	{in: "<@UBOT>"}, {in: "<@ubot> HELP"}, {in: "<@UBOT> !help"},
	{in: "@chatbridge help"}, {in: "@chatbridge: ticket typed by hand"}, {in: "@ChatBridge"},
	{in: "！help"}, {in: "／help"}, {in: "！ｈｅｌｐ"}, {in: "﹗help"}, {in: "ǃhelp"},
	// Case variants.
	{in: "!HELP"}, {in: "!Help"}, {in: "/HELP"}, {in: "//Help"}, {in: "!hElP"},
	// White space around and inside.
	{in: "  !help"}, {in: "\u00a0!help"}, {in: "\t!help"}, {in: "\n!help\n"}, {in: "\u200b!help"},
	{in: "\ufeff!help"}, {in: "\u3000!help"}, {in: "\u202f/help"}, {in: "!\u200bhelp"}, {in: "\r\n!help\r\n"},
	{in: "!!help"}, {in: "!help please"}, {in: "!help?"}, {in: "!help\u200d"},
	// Every command, with and without arguments.
	{in: "!helpdesk Printer broken"}, {in: "!ticket Printer broken"}, {in: "/ticket   spaced    title"},
	{in: "//ticket x"}, {in: "<@UBOT> ticket from mention"}, {in: "！ticket fullwidth"}, {in: "!TICKET shouted"},
	{in: "!helpdesk"}, {in: "!ticket"}, {in: "!ticket \u00a0 "},
	{in: "!helpdesk_search printer"}, {in: "!search_tickets #1"}, {in: "/helpdesk_search"},
	{in: "//search_tickets nothing-here"}, {in: "!helpdesk_search ???"}, {in: "!search_tickets 1"},
	{in: "!history"}, {in: "/history"}, {in: "!HISTORY"},
	{in: "!lead Big order"}, {in: "!lead"}, {in: "/lead x"},
	{in: "!leave"}, {in: "/leave"},
	{in: "!canned"}, {in: "!canned list"}, {in: "!canned list so"}, {in: "/canned list"},
	{in: "!canned add newone New text for {{visitor.name}}"}, {in: "!canned add --mine minex Personal"},
	{in: "!canned add Bad text"}, {in: "!canned add"}, {in: "!canned remove nothing-here"},
	{in: "!canned nope"}, {in: "!canned sorry extra words"}, {in: "!canned remove reason"},
	{in: "!close", system: ended}, {in: "/close", system: ended}, {in: "<@UBOT> close", system: ended},
	// Notes.
	{in: "!note remember the invoice"}, {in: "!note"}, {in: "/note via slash"}, {in: "!NOTE upper"},
	{in: "<@UBOT> note via mention"}, {in: ";; private"}, {in: ";;private"}, {in: ";;"}, {in: ";;;"},
	{in: "  ;; indented note"}, {in: "\u00a0;; nbsp note"}, {in: ";; :sorry is not expanded in notes"},
	// Typos and unknown commands.
	{in: "!helpdsk"}, {in: "!helpdsk printer"}, {in: "/histroy"}, {in: "!ticke"}, {in: "!ticke x"},
	{in: "!hlep"}, {in: "!closee"}, {in: "!notee x"}, {in: "//histroy"}, {in: "!cannned list"},
	{in: "!search"}, {in: "!help_desk x"}, {in: "<@UBOT> thanks"}, {in: "<@UBOT> ???"},
	{in: "<@UBOT> can you help?"}, {in: "!foo bar"}, {in: "/foo"}, {in: "/me waves"}, {in: "/s"},
	{in: "!a"}, {in: "!x1"}, {in: "/invite @x:example.org"}, {in: "/help/"},
	// Unicode look-alikes inside names.
	{in: "!hеlp"}, {in: "!һelp"}, {in: "！hеlp"}, {in: "/hеlp"}, {in: "!tіcket x"}, {in: "!Привет"},
	{in: "!帮助"}, {in: "！帮助"}, {in: "!ｔｉｃｋｅｔ fullwidth letters"}, {in: "!ℎelp"},
	// Canned responses.
	{in: ":"}, {in: ":so"}, {in: ":zzz"}, {in: ":30"}, {in: "  :  "},
	{in: ":sorry", relay: "I am sorry to hear that."},
	{in: "  :sorry  ", relay: "I am sorry to hear that."},
	{in: "\u00a0:sorry", relay: "I am sorry to hear that."},
	{in: "hello :sorry", relay: "hello I am sorry to hear that."},
	{in: ":sorry :bye", relay: "I am sorry to hear that. Bye from Alice!"},
	{in: "Thanks :bye!", relay: "Thanks Bye from Alice!!"},
	{in: ":hi", relay: "Hello Nora, I am Alice Martin. How can I help?"},
	{in: ":empty", relay: "nora@example.com"},
	{in: ":ref", relay: "Your reference is {conv}."},
	{in: ":sig", relay: "Alice's own signature"},
	{in: "!canned sorry", relay: "I am sorry to hear that."},
	{in: "!canned :hi", relay: "Hello Nora, I am Alice Martin. How can I help?"},
	{in: ":SORRY", relay: "I am sorry to hear that."},
	{in: ":sorry:", relay: ":sorry:"},
	// Canned variables: an unknown or malformed one is refused when added,
	// and a stored one (from an older version) is never sent.
	{in: "!canned add typo Hello {{visitor.nme}}"}, {in: `!canned add typo "Hello {{visitor.nme}}"`},
	{in: "!canned add typo Hello {{visitor.name"}, {in: "!canned add typo Hello {{ }}"},
	{in: "!canned add typo Hi {{ {{visitor.name}} }}"}, {in: "!canned add typo Hi {visitor.name}"},
	{in: ":stale"}, {in: "hello :stale"}, {in: ":sorry :stale"}, {in: "!canned stale"}, {in: ":unclosed"},
	{in: ":nested"}, {in: ":mystale"}, {in: "!canned :mystale"},
	{in: "(:sorry)", relay: "(:sorry)"},
	{in: "a:sorry", relay: "a:sorry"},
	// Shortcuts in any case (a shortcut-like word alone is never sent as
	// typed), and emoticons that are no shortcut.
	{in: ":Sorry", relay: "I am sorry to hear that."}, {in: "hello :Sorry", relay: "hello I am sorry to hear that."},
	{in: ":Bye :SORRY", relay: "Bye from Alice! I am sorry to hear that."}, {in: "Thanks :BYE!", relay: "Thanks Bye from Alice!!"},
	{in: ":ZZZ"}, {in: ":So"}, {in: ":XD"}, {in: ":Stale"}, {in: "!canned Sorry", relay: "I am sorry to hear that."},
	{in: ":O", relay: ":O"}, {in: ":o", relay: ":o"}, {in: ":3", relay: ":3"}, {in: ":p", relay: ":p"},
	{in: ":-P", relay: ":-P"}, {in: ":-D", relay: ":-D"}, {in: ":'(", relay: ":'("}, {in: "ok :D", relay: "ok :D"},
	{in: ":-", relay: ":-"}, {in: "Bye :P", relay: "Bye :P"},
	// Look-alike prefixes (DESIGN §4.1): before a command name or a near
	// miss, a second ';'-like, a known shortcut.
	{in: "‼help"}, {in: "‼helpdsk"}, {in: "⁉help"}, {in: "❗help"}, {in: "❗️help"}, {in: "❕note secret"},
	{in: "❢ticket Printer broken"}, {in: "ꜝhistory"}, {in: "¡help"}, {in: "¡helpdesk Printer"}, {in: "¡Helo"},
	{in: "¡ note secret"}, {in: "ǃhlep"}, {in: "∕help"}, {in: "⁄ticket x"}, {in: "⫽help"}, {in: "╱lead x"},
	{in: "ノhelp"}, {in: "ⵑhelp"}, {in: "‏‼help"}, {in: "‼​help"}, {in: "⁨❗note x⁩"},
	{in: "︕wow"}, {in: "！Important"}, {in: "!ǃwow"}, {in: "‼ note", relay: "‼ note"}, {in: "<@UBOT> ‼help"},
	{in: "؛؛ private"}, {in: "⁏; private"}, {in: "⸵⸵ x"}, {in: "፤፤ x"}, {in: "؛ ؛ x"}, {in: ";؛x"},
	{in: "：so"}, {in: "：", relay: ""}, {in: "︓Sorry", relay: "I am sorry to hear that."},
	{in: "：sorry", relay: "I am sorry to hear that."}, {in: "꞉sorry", relay: "I am sorry to hear that."},
	{in: "hello ∶sorry", relay: "hello I am sorry to hear that."}, {in: "։Sorry", relay: "I am sorry to hear that."},
	{in: "：ｓｏｒｒｙ", relay: "I am sorry to hear that."}, {in: ":so​rry", relay: "I am sorry to hear that."},
	{in: "꞉zzz", relay: "꞉zzz"}, {in: "꞉D", relay: "꞉D"},
	// Look-alikes where the result is no command, note or shortcut: replies.
	{in: "¡Hola! ¿En qué puedo ayudarle?", relay: "¡Hola! ¿En qué puedo ayudarle?"},
	{in: "‼ Important: your order shipped", relay: "‼ Important: your order shipped"},
	{in: "‼Important: your order shipped", relay: "‼Important: your order shipped"},
	{in: "⁉ really?", relay: "⁉ really?"}, {in: "❗ Attention please", relay: "❗ Attention please"},
	{in: "❗Attention please", relay: "❗Attention please"}, {in: "ǃKung people", relay: "ǃKung people"},
	{in: "ノート", relay: "ノート"}, {in: "؛ hello", relay: "؛ hello"}, {in: "∕ 2", relay: "∕ 2"},
	{in: "¡Claro que sí!", relay: "¡Claro que sí!"}, {in: "∕home∕user", relay: "∕home∕user"},
	// Colons that are not shortcuts.
	{in: "Meeting at 10:30", relay: "Meeting at 10:30"}, {in: "10:30", relay: "10:30"},
	{in: ":)", relay: ":)"}, {in: ":-)", relay: ":-)"}, {in: ":D", relay: ":D"}, {in: ":P", relay: ":P"},
	{in: "ok :)", relay: "ok :)"}, {in: "https://x.y/a:b", relay: "https://x.y/a:b"},
	{in: "see http://example.com:8080/x", relay: "see http://example.com:8080/x"},
	{in: "ratio 1:2", relay: "ratio 1:2"}, {in: ": sorry", relay: ": sorry"}, {in: "::", relay: "::"},
	{in: "mailto:nora@example.com", relay: "mailto:nora@example.com"},
	// Replies that only resemble commands.
	{in: "Hello there", relay: "Hello there"}, {in: "  Hello  ", relay: "Hello"},
	{in: "\u00a0Hello\u00a0", relay: "Hello"}, {in: "Hi!\nHow are you?", relay: "Hi!\nHow are you?"},
	{in: "!!!", relay: "!!!"}, {in: "! wow", relay: "! wow"}, {in: "!1", relay: "!1"}, {in: "!?", relay: "!?"},
	{in: "!", relay: "!"}, {in: "¡Hola!", relay: "¡Hola!"}, {in: "/ 2", relay: "/ 2"}, {in: "/2", relay: "/2"},
	{in: "/home/user/file", relay: "/home/user/file"}, {in: "/r/golang", relay: "/r/golang"},
	{in: "//example.com/x", relay: "//example.com/x"}, {in: "1/2", relay: "1/2"}, {in: "and/or", relay: "and/or"},
	{in: ";", relay: ";"}, {in: "; not a note", relay: "; not a note"}, {in: "a ;; b", relay: "a ;; b"},
	{in: "hello !help", relay: "hello !help"}, {in: "Please type /help in the widget", relay: "Please type /help in the widget"},
	{in: "<@UBOT2> hi", relay: "<@UBOT2> hi"}, {in: "@chatbridgebot hi", relay: "@chatbridgebot hi"},
	{in: "ask <@UBOT> help later", relay: "ask <@UBOT> help later"},
	// Matrix reply fallbacks.
	{in: "> <@alice:example.org> earlier\n\nThanks!", relay: "Thanks!"},
	{in: "> <@a:example.org> x\n> y\n\n!help"},
	{in: "> <@a:example.org> x\n\n;; note after a quote"},
	{in: "> quote without fallback", relay: "> quote without fallback"},
	// Empty and very long.
	{in: ""}, {in: "   "}, {in: "\u200b"}, {in: "\n\t\n"},
	{in: strings.Repeat("a", 9000), relay: strings.Repeat("a", 9000)},
	{in: "!" + strings.Repeat("a", 9000)},
	{in: strings.Repeat("b", bridge.DefaultMaxMessageBytes+1)},
	{in: ":sorry " + strings.Repeat("c", bridge.DefaultMaxMessageBytes-10)},
	// Invisible and full-width characters in front of a prefix (found by a
	// security review: each was relayed). invisibleLeakCases adds every
	// character of testInvisibles in front of every prefix.
	{in: "\u200f;; customer is on the blacklist, stall him"}, {in: "\u200e!note internal: refund denied"},
	{in: "\u2068!helpdesk Printer broken\u2069"}, {in: "\u00ad!help"}, {in: "；；内部メモ: VIP customer"},
	{in: "\u037e\u037e greek question marks"}, {in: "\ufe54\ufe54 small semicolons"}, {in: ";；mixed"},
	{in: ";\u200f; split by a mark"}, {in: "\u2067\u202e\u200f;; stacked"}, {in: "\u0301\ufe0f\u200d!help"},
	{in: "\u2068<@UBOT> help\u2069"}, {in: "\u2068；；x\u2069"}, {in: "\u202a！ｎｏｔｅ fullwidth\u202c"},
	{in: "\u200f＠chatbridge help"}, {in: "＜＠ＵＢＯＴ＞ help"}, {in: "<@U\u200bBOT> help"},
	{in: "!\u200b!help"}, {in: "!\u0301help"}, {in: "/\u200f/help"}, {in: "!help\u200f"},
	{in: "\u3164!help"}, {in: "\ufe15help"}, {in: "\u2800!help"},
	// A command name after a lone prefix and a space or punctuation.
	{in: "! note secret"}, {in: "!_note x"}, {in: "! help"}, {in: "!? help"}, {in: "!\u00a0HELP me"},
	{in: "/ ticket x"}, {in: "// note: internal"}, {in: "; ; x"}, {in: "! ! close"}, {in: "!- helpdesk_search x"},
	// Replies that stay replies.
	{in: "! helpful tip", relay: "! helpful tip"}, {in: "!!! Help is on the way", relay: "!!! Help is on the way"},
	{in: "; ) ok", relay: "; ) ok"}, {in: "❤️ thanks", relay: "❤️ thanks"}, {in: "thanks ❤️", relay: "thanks ❤️"},
	{in: "שלום\u200f עולם", relay: "שלום\u200f עולם"}, {in: "مرحبا\u200f بك", relay: "مرحبا\u200f بك"},
	{in: "\u200fשלום", relay: "שלום"}, {in: "\u2068hello\u2069", relay: "hello"},
	{in: "Τι κάνεις;", relay: "Τι κάνεις;"}, {in: "https://example.com/help?x=1", relay: "https://example.com/help?x=1"},
	{in: "@chatbridge\u200bbot hi", relay: "@chatbridge\u200bbot hi"}, {in: "!! wow", relay: "!! wow"},
	{in: "/ home", relay: "/ home"}, {in: "!1 help", relay: "!1 help"},
}

// testInvisibles are characters that render as nothing (or nearly) and must
// never hide a prefix: format characters (Cf) of every kind, variation
// selectors, default-ignorable fillers and combining marks.
var testInvisibles = []rune{
	'\u00ad', '\u034f', '\u061c', '\u115f', '\u1160', '\u17b4', '\u180b', '\u180e',
	'\u200b', '\u200c', '\u200d', '\u200e', '\u200f', '\u202a', '\u202b', '\u202c', '\u202d', '\u202e',
	'\u2060', '\u2061', '\u2062', '\u2063', '\u2064', '\u2066', '\u2067', '\u2068', '\u2069',
	'\u206a', '\u206f', '\u3164', '\ufe00', '\ufe0e', '\ufe0f', '\ufeff', '\uffa0', '\ufff9',
	'\U0001d173', '\U000e0001', '\U000e0020', '\U000e007f', '\U000e0100', '\U000e01ef',
	'\u0300', '\u0488', '\u20dd',
}

// invisibleLeakCases puts every testInvisibles character in front of a note,
// "!note", "!help", "/help" and a mention (leaving out inputs that
// staticLeakCorpus has already).
func invisibleLeakCases() []leakCase {
	static := map[string]bool{}
	for _, tc := range staticLeakCorpus {
		static[tc.in] = true
	}
	var out []leakCase
	for _, c := range testInvisibles {
		for _, s := range []string{";; x", "!note x", "!help", "/help", "<@UBOT> help"} {
			if in := string(c) + s; !static[in] {
				out = append(out, leakCase{in: in})
			}
		}
	}
	return out
}

// TestNoLeak runs every input of the corpus through engine.HandleOperator in
// a fresh conversation and checks what the visitor sees: exactly the expected
// text, nothing else. Every input that relays nothing must give the operator
// feedback (a whisper or a note): nothing is silently swallowed.
func TestNoLeak(t *testing.T) {
	if len(leakCorpus) < 150 {
		t.Fatalf("the corpus has %d inputs, want at least 150", len(leakCorpus))
	}
	h := newHarness(t)
	h.seedCanned()
	h.seedStale()
	if _, err := h.engine.CreateTicket(h.ctx, bridge.Ticket{Title: "Printer broken", CustomerName: "Earlier Visitor"}); err != nil {
		t.Fatal(err)
	}
	seen := map[string]bool{}
	for i, tc := range leakCorpus {
		if seen[tc.in] {
			t.Errorf("input %q appears twice in the corpus", tc.in)
		}
		seen[tc.in] = true
		name := fmt.Sprintf("%03d_%s", i, clip(strings.Map(func(r rune) rune {
			if r < ' ' || r == '/' || !utf8.ValidRune(r) {
				return '_'
			}
			return r
		}, tc.in), 24))
		t.Run(name, func(t *testing.T) {
			h.t = t
			conv := h.conversation("Nora", "nora@example.com", "en", "")
			added := h.send(conv, alice, tc.in)

			want := []string{"Hello, my printer prints blank pages."}
			if tc.relay != "" {
				want = append(want, "operator: "+strings.ReplaceAll(tc.relay, "{conv}", conv.ID))
			}
			if tc.system != "" {
				want = append(want, "system: "+tc.system)
			}
			var got []string
			for i, m := range h.visitorSees(conv, 0) {
				switch {
				case i == 0:
					got = append(got, m.Text)
				case m.From == bridge.FromOperator:
					got = append(got, "operator: "+m.Text)
				default:
					got = append(got, string(m.From)+": "+m.Text)
				}
			}
			if strings.Join(got, "\x00") != strings.Join(want, "\x00") {
				t.Fatalf("input %q: the visitor sees\n%q\nwant\n%q", clip(tc.in, 80), clipAll(got), clipAll(want))
			}

			var feedback []string
			for _, m := range added {
				switch m.Visibility {
				case bridge.VisibilityWhisper:
					if m.Recipient != alice.Key() {
						t.Errorf("whisper to %q, want %q", m.Recipient, alice.Key())
					}
					feedback = append(feedback, m.Text)
				case bridge.VisibilityNote:
					feedback = append(feedback, m.Text)
				}
			}
			if tc.relay == "" && len(feedback) == 0 {
				t.Fatalf("input %q relayed nothing and told the operator nothing", clip(tc.in, 80))
			}
			// Operator-only text never shows up in what the visitor sees.
			for _, m := range h.visitorSees(conv, 0) {
				for _, f := range feedback {
					if f != "" && strings.Contains(m.Text, f) {
						t.Errorf("operator-only text %q reached the visitor in %q", clip(f, 60), clip(m.Text, 60))
					}
				}
			}
		})
	}
	h.t = t
}

func clipAll(list []string) []string {
	out := make([]string, len(list))
	for i, s := range list {
		out[i] = clip(s, 100)
	}
	return out
}
