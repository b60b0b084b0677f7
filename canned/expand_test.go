package canned

import (
	"slices"
	"strings"
	"testing"
)

func lookupOf(m map[string]string) Lookup {
	return func(name string) (string, bool) {
		s, ok := m[name]
		return s, ok
	}
}

func TestExpand(t *testing.T) {
	lookup := lookupOf(map[string]string{
		"sorry": "I am sorry to hear that.",
		"bye":   "Goodbye!",
		"30":    "thirty",
		"b":     "BEE",
		"loop":  "see :sorry",
		"empty": "",
	})
	tests := []struct {
		name     string
		text     string
		want     string
		wantUsed []string
	}{
		{"alone", ":sorry", "I am sorry to hear that.", []string{"sorry"}},
		{"in text", "hello :sorry", "hello I am sorry to hear that.", []string{"sorry"}},
		{"start and middle", ":sorry again :bye", "I am sorry to hear that. again Goodbye!", []string{"sorry", "bye"}},
		{"repeated once in used", ":bye :bye", "Goodbye! Goodbye!", []string{"bye"}},
		{"closing punctuation", "Thanks :bye!", "Thanks Goodbye!!", []string{"bye"}},
		{"comma", ":sorry, really", "I am sorry to hear that., really", []string{"sorry"}},
		{"after newline", "line\n:bye", "line\nGoodbye!", []string{"bye"}},
		{"after tab", "a\t:bye", "a\tGoodbye!", []string{"bye"}},
		{"after no-break space", "a\u00a0:bye", "a\u00a0Goodbye!", []string{"bye"}},
		{"time", "at 10:30 ok", "at 10:30 ok", nil},
		{"time digits shortcut", "at 10:30", "at 10:30", nil},
		{"digits shortcut alone", "see :30", "see thirty", []string{"30"}},
		{"smiley", ":)", ":)", nil},
		{"smiley nose", ":-)", ":-)", nil},
		{"emoji code", ":bye:", ":bye:", nil},
		{"capitalised", ":Sorry", "I am sorry to hear that.", []string{"sorry"}},
		{"uppercase in text", "ok :SORRY, and :Bye!", "ok I am sorry to hear that., and Goodbye!!", []string{"sorry", "bye"}},
		{"emoticon D", ":D", ":D", nil},
		{"emoticon P", "ok :P", "ok :P", nil},
		{"emoticon p", ":p", ":p", nil},
		{"emoticon O", ":O", ":O", nil},
		{"emoticon 3", ":3 nice", ":3 nice", nil},
		{"emoticon nose", ":-P :-D", ":-P :-D", nil},
		{"emoticon matching a shortcut", "that :B", "that BEE", []string{"b"}},
		{"unknown", "hi :nope", "hi :nope", nil},
		{"url", "http://x :b", "http://x BEE", []string{"b"}},
		{"url colon path", "https://x.y/a:b", "https://x.y/a:b", nil},
		{"glued", "a:b", "a:b", nil},
		{"letter after", ":sorryX", ":sorryX", nil},
		{"hyphen continues name", ":sorry-x", ":sorry-x", nil},
		{"no recursion", ":loop", "see :sorry", []string{"loop"}},
		{"empty text", ":empty x", " x", []string{"empty"}},
		{"double colon", "::sorry", "::sorry", nil},
		{"colon alone", ":", ":", nil},
		{"no colon", "plain", "plain", nil},
		{"unicode before", "é :bye", "é Goodbye!", []string{"bye"}},
		{"ideographic space", "はい\u3000:bye", "はい\u3000Goodbye!", []string{"bye"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used := Expand(tt.text, lookup)
			if got != tt.want || !slices.Equal(used, tt.wantUsed) {
				t.Errorf("Expand(%q) = %q, %q; want %q, %q", tt.text, got, used, tt.want, tt.wantUsed)
			}
		})
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{":sorry", "hello :sorry", "10:30", ":)", "http://x", "a :b: c", " :-x", ":sorry:sorry :sorry."} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, text string) {
		// Every token maps to itself (lowercased): the text must come back
		// unchanged but for the case of names.
		same, used := Expand(text, func(name string) (string, bool) { return ":" + name, true })
		if !strings.EqualFold(same, text) || len(same) != len(text) {
			t.Fatalf("identity expansion changed %q to %q", text, same)
		}
		for _, u := range used {
			if ValidateShortcut(u) != nil {
				t.Fatalf("used %q is not a shortcut", u)
			}
			if !strings.Contains(strings.ToLower(text), ":"+u) {
				t.Fatalf("used %q not in %q", u, text)
			}
		}
		// Unknown shortcuts leave the text alone.
		if got, used := Expand(text, lookupOf(nil)); got != text || used != nil {
			t.Fatalf("no shortcuts: %q -> %q %q", text, got, used)
		}
		// Expanded text is inserted once, never scanned again.
		got, _ := Expand(text, func(name string) (string, bool) { return "[:" + name + "]", true })
		if strings.Count(got, "[:") != strings.Count(got, "]")-strings.Count(text, "]")+strings.Count(text, "[:") {
			t.Fatalf("unbalanced expansion of %q: %q", text, got)
		}
	})
}

func TestExpandWith(t *testing.T) {
	syn := Syntax{
		IsColon: func(r rune) bool { return r == '：' || r == '꞉' },
		Ignore:  func(r rune) bool { return r == '\u200b' || r == '\u200f' },
		Fold: func(r rune) rune {
			if r >= 0xFF01 && r <= 0xFF5E {
				return r - 0xFF01 + '!'
			}
			return r
		},
	}
	lookup := lookupOf(map[string]string{"sorry": "SORRY", "bye": "BYE"})
	tests := []struct {
		name     string
		text     string
		want     string
		wantUsed []string
	}{
		{"fullwidth colon", "：sorry", "SORRY", []string{"sorry"}},
		{"look-alike colon in text", "ok ꞉Sorry!", "ok SORRY!", []string{"sorry"}},
		{"fullwidth letters", "：ｓｏｒｒｙ", "SORRY", []string{"sorry"}},
		{"invisible inside", ":so\u200brry and :\u200fbye", "SORRY and BYE", []string{"sorry", "bye"}},
		{"invisible before", "hi \u200f:bye", "hi \u200fBYE", []string{"bye"}},
		{"invisible after", ":bye\u200f x", "BYE\u200f x", []string{"bye"}},
		{"glued after a letter", "a：sorry", "a：sorry", nil},
		{"unknown stays", "：nope ꞉D", "：nope ꞉D", nil},
		{"time", "10：30", "10：30", nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, used := ExpandWith(tt.text, lookup, syn)
			if got != tt.want || !slices.Equal(used, tt.wantUsed) {
				t.Errorf("ExpandWith(%q) = %q, %q; want %q, %q", tt.text, got, used, tt.want, tt.wantUsed)
			}
		})
	}
	// The zero Syntax reads none of them.
	if got, used := Expand("：sorry ꞉sorry :so\u200brry", lookup); used != nil {
		t.Errorf("Expand without a syntax expanded %v: %q", used, got)
	}
}
