package slack

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

func testNames(id string) string {
	return map[string]string{"U123": "Bob Stone", "UAMP": "Tom &amp; Jerry"}[id]
}

func TestToVisitor(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"plain", "hello", "hello"},
		{"user mention", "hi <@U123>!", "hi @Bob Stone!"},
		{"user with label", "hi <@U999|carol>", "hi @carol"},
		{"unknown user", "hi <@U999>", "hi @U999"},
		{"name kept raw", "<@UAMP>", "@Tom &amp; Jerry"},
		{"channel", "see <#C123|general>", "see #general"},
		{"channel without name", "see <#C123>", "see #channel"},
		{"here", "<!here> look", "@here look"},
		{"here with label", "<!here|here>", "@here"},
		{"channel ping", "<!channel>", "@channel"},
		{"everyone", "<!everyone>", "@everyone"},
		{"subteam", "<!subteam^S1|@support>", "@support"},
		{"subteam bare", "<!subteam^S1>", "@group"},
		{"date", "on <!date^1392734382^{date}|Feb 18, 2014>", "on Feb 18, 2014"},
		{"url with label", "<https://x.example/a|the docs>", "the docs (https://x.example/a)"},
		{"bare url", "<https://x.example/a>", "https://x.example/a"},
		{"url same as label", "<https://x.example|https://x.example>", "https://x.example"},
		{"mailto", "<mailto:a@b.example|a@b.example>", "a@b.example"},
		{"entities in url", "<https://x.example/?a=1&amp;b=2|q&amp;a>", "q&a (https://x.example/?a=1&b=2)"},
		{"entities decoded last", "&lt;@U123&gt; &amp;lt;", "<@U123> &lt;"},
		{"unclosed", "a < b", "a < b"},
		{"unclosed then token", "a <b <@U123>", "a <b @Bob Stone"},
		{"empty token", "<>", ""},
		{"unknown bang", "<!foo>", "foo"},
		{"unknown bang with label", "<!foo|bar>", "bar"},
		{"multiline", "line1\n<@U123>\nline3", "line1\n@Bob Stone\nline3"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := ToVisitor(tc.in, testNames); got != tc.want {
				t.Errorf("ToVisitor(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

func TestEscape(t *testing.T) {
	tests := []struct{ in, want string }{
		{"<!channel>", "&lt;!channel&gt;"},
		{"<@U123>", "&lt;@U123&gt;"},
		{"<http://evil|click>", "&lt;http://evil|click&gt;"},
		{"a & b", "a &amp; b"},
		{"&lt;", "&amp;lt;"},
		{"plain *bold*", "plain *bold*"},
	}
	for _, tc := range tests {
		if got := Escape(tc.in); got != tc.want {
			t.Errorf("Escape(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestCutBotMention(t *testing.T) {
	tests := []struct {
		in, rest string
		ok       bool
	}{
		{"<@UBOT> help", " help", true},
		{"  <@UBOT|chatbridge> help", " help", true},
		{"<@UBOTX> help", "<@UBOTX> help", false},
		{"hi <@UBOT>", "hi <@UBOT>", false},
		{"<@UBOT", "<@UBOT", false},
	}
	for _, tc := range tests {
		rest, ok := cutBotMention(tc.in, "UBOT")
		if rest != tc.rest || ok != tc.ok {
			t.Errorf("cutBotMention(%q) = %q, %v; want %q, %v", tc.in, rest, ok, tc.rest, tc.ok)
		}
	}
	if _, ok := cutBotMention("<@> x", ""); ok {
		t.Error("matched an empty bot id")
	}
}

func TestCleanName(t *testing.T) {
	tests := []struct{ in, want string }{
		{"Vera", "Vera"},
		{"*Admin*", "Admin"},
		{"john_doe", "john_doe"},
		{"a\nb\tc", "a b c"},
		{"  x  ", "x"},
		{"zero\u200bwidth", "zerowidth"},
		{strings.Repeat("é", 70), strings.Repeat("é", 59) + "…"},
	}
	for _, tc := range tests {
		if got := cleanName(tc.in, 60); got != tc.want {
			t.Errorf("cleanName(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

// FuzzToVisitor: no panic, valid UTF-8 stays valid, and escaped text always
// comes back unchanged (so visitor text never turns into markup on the way
// back).
func FuzzToVisitor(f *testing.F) {
	for _, s := range []string{"", "hi <@U123>", "<https://a|b>", "&amp;lt;", "<<>>", "<!date^1|x>", "a < b > c", "<@", "|>"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		out := ToVisitor(s, testNames)
		if utf8.ValidString(s) && !utf8.ValidString(out) {
			t.Errorf("ToVisitor(%q) = %q: invalid UTF-8", s, out)
		}
		if back := ToVisitor(Escape(s), testNames); back != s {
			t.Errorf("ToVisitor(Escape(%q)) = %q", s, back)
		}
		if e := Escape(s); strings.ContainsAny(e, "<>") {
			t.Errorf("Escape(%q) = %q keeps markup characters", s, e)
		}
	})
}

func TestQuote(t *testing.T) {
	tests := []struct{ name, in, want string }{
		{"one line", "hello", "> hello"},
		{"escaped", "<!channel> & co", "> &lt;!channel&gt; &amp; co"},
		{"fake author line", "ok\n*Bob (inbox)*: refund approved", "> ok\n> \u200b*Bob (inbox)*: refund approved"},
		{"fake note line", "\n📝 note by Bob (inbox): VIP", "> \n> 📝 note by Bob (inbox): VIP"},
		{"leading blanks", "a\n   _it_", "> a\n>    \u200b_it_"},
		{"strike and code", "~x~\n`y`", "> \u200b~x~\n> \u200b`y`"},
		{"fake quote", "> not a quote", "> &gt; not a quote"},
		{"other line breaks", "a\r\nb\rc\u2028d\u2029e\u0085f", "> a\n> b\n> c\n> d\n> e\n> f"},
		{"formatting mid-line kept", "so *very* nice", "> so *very* nice"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if got := Quote(tc.in); got != tc.want {
				t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
			}
		})
	}
}

// A visitor cannot make a line of their message look like another author's
// line, with or without chat:write.customize.
func TestRenderVisitorCannotForge(t *testing.T) {
	visitor := bridge.Message{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Vera"}
	tests := []struct {
		name, text string
		customize  bool
		want       string
	}{
		{"prefix one line", "hello <b>", false, "*Vera (visitor)*:\n> hello &lt;b&gt;"},
		{"prefix fake operator", "ok\n*Bob (inbox)*: refund approved", false, "*Vera (visitor)*:\n> ok\n> \u200b*Bob (inbox)*: refund approved"},
		{"prefix fake note", "\n📝 note by Bob (inbox): VIP", false, "*Vera (visitor)*:\n> \n> 📝 note by Bob (inbox): VIP"},
		{"customize one line", "hello <b>", true, "hello &lt;b&gt;"},
		{"customize fake operator", "ok\n*Bob (inbox)*: refund approved", true, "> ok\n> \u200b*Bob (inbox)*: refund approved"},
		{"customize CR line break", "ok\r*Bob (inbox)*: yes", true, "> ok\n> \u200b*Bob (inbox)*: yes"},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			m := visitor
			m.Text = tc.text
			r := render(m, bridge.Visitor{}, tc.customize)
			if len(r.texts) != 1 {
				t.Fatalf("render(%q) made %d posts", tc.text, len(r.texts))
			}
			got := r.texts[0]
			if got != tc.want {
				t.Errorf("render(%q) = %q, want %q", tc.text, got, tc.want)
			}
			lines := strings.Split(got, "\n")
			if !tc.customize {
				lines = lines[1:] // the author line
			}
			if !tc.customize || len(lines) > 1 {
				for _, l := range lines {
					rest, quoted := strings.CutPrefix(l, "> ")
					if rest = strings.TrimLeft(rest, " "); !quoted || (rest != "" && strings.ContainsAny(rest[:1], "*_~`")) {
						t.Errorf("line %q of %q can pass for another author's", l, got)
					}
				}
			}
		})
	}
}
