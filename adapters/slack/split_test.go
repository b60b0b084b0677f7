package slack

import (
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

// checkParts checks what every split must give: the parts join into the
// text, none is empty, each fits the budget once escaped and quoted, and
// no cut is inside a character or between \r and \n.
func checkParts(t *testing.T, text string, budget int, parts []string) {
	t.Helper()
	if got := strings.Join(parts, ""); got != text {
		t.Fatalf("parts do not join into the text: %d parts, %d bytes of %d", len(parts), len(got), len(text))
	}
	for i, p := range parts {
		if p == "" {
			t.Fatalf("part %d is empty", i)
		}
		if utf8.ValidString(text) && !utf8.ValidString(p) {
			t.Errorf("part %d is cut inside a character", i)
		}
		cost := 0
		for _, r := range p {
			cost += postCost(r)
		}
		if q := len(Quote(p)); q > budget+len("> ")+len(zwsp) || cost > budget {
			t.Errorf("part %d takes %d bytes quoted (cost %d), budget %d", i, q, cost, budget)
		}
		if i > 0 && strings.HasSuffix(parts[i-1], "\r") && strings.HasPrefix(p, "\n") {
			t.Errorf("cut between \\r and \\n before part %d", i)
		}
	}
}

func TestSplitText(t *testing.T) {
	tests := []struct {
		name   string
		text   string
		budget int
		parts  int      // 0: do not check the count
		cuts   []string // each part but the last must end with one of these
		avoid  []string // no cut inside these
	}{
		{"fits", "hello & <world>", 100, 1, nil, nil},
		{"ampersands", strings.Repeat("&", 100), 50, 10, nil, nil},
		{"after white space", strings.Repeat("word ", 40), 60, 0, []string{" "}, nil},
		{"after a line", strings.Repeat("line one\n", 20), 100, 0, []string{"\n"}, nil},
		{"CRLF kept together", strings.Repeat("ab\r\n", 30), 23, 0, nil, []string{"\r\n"}},
		{"multi-byte", strings.Repeat("été ", 30), 17, 0, nil, nil},
		{"combining marks", strings.Repeat("e\u0301", 40), 10, 0, nil, []string{"e\u0301"}},
		{"family emoji", strings.Repeat("👨\u200d👩\u200d👧", 10), 40, 0, nil, []string{"👨\u200d👩\u200d👧"}},
		{"flags", strings.Repeat("🇫🇷", 20), 18, 0, nil, []string{"🇫🇷"}},
		{"skin tone", strings.Repeat("👍🏽", 20), 18, 0, nil, []string{"👍🏽"}},
		{"only marks", strings.Repeat("\u0301", 100), 20, 0, nil, nil},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			parts := splitText(tc.text, tc.budget)
			checkParts(t, tc.text, tc.budget, parts)
			if tc.parts > 0 && len(parts) != tc.parts {
				t.Errorf("%d parts, want %d", len(parts), tc.parts)
			}
			for i, p := range parts[:len(parts)-1] {
				if len(tc.cuts) > 0 {
					ok := false
					for _, c := range tc.cuts {
						ok = ok || strings.HasSuffix(p, c)
					}
					if !ok {
						t.Errorf("part %d ends with %q, want a cut after one of %q", i, p[max(0, len(p)-5):], tc.cuts)
					}
				}
			}
			cuts, at := map[int]bool{}, 0
			for _, p := range parts[:len(parts)-1] {
				at += len(p)
				cuts[at] = true
			}
			for _, unit := range tc.avoid {
				for j := 0; j < len(tc.text); j++ {
					if !strings.HasPrefix(tc.text[j:], unit) {
						continue
					}
					for k := j + 1; k < j+len(unit); k++ {
						if cuts[k] {
							t.Errorf("cut inside %q at byte %d", unit, k)
						}
					}
				}
			}
		})
	}
}

func FuzzSplitText(f *testing.F) {
	for _, s := range []string{"", "a", "&<>", "ab\r\ncd", "e\u0301e\u0301", "🇫🇷🇩🇪", "👨\u200d👩\u200d👧 x", "\xff\xfe", "line\n*bold*\n"} {
		f.Add(s, 12)
	}
	f.Fuzz(func(t *testing.T, text string, budget int) {
		budget = 12 + abs(budget)%200
		checkParts(t, text, budget, splitText(text, budget))
	})
}

func abs(n int) int {
	if n < 0 {
		return -n
	}
	return n
}

// A long message is rendered as parts that each fit in a post, labelled
// and shown the same way as a short one.
func TestRenderLongMessage(t *testing.T) {
	text := strings.Repeat("&<", 5000) + "\n*Bob (inbox)*: refund approved" + strings.Repeat("&", 40000)
	for _, tc := range []struct {
		name      string
		m         bridge.Message
		customize bool
		prefix    string
	}{
		{"visitor", bridge.Message{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Vera"}, false, "*Vera (visitor)* (part "},
		{"visitor customize", bridge.Message{From: bridge.FromVisitor, Visibility: bridge.VisibilityPublic, Author: "Vera"}, true, "_part "},
		{"inbox reply", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityPublic, Operator: &bridge.Operator{Adapter: "inbox", Name: "Alice"}}, false, "*Alice (inbox)* (part "},
		{"note", bridge.Message{From: bridge.FromOperator, Visibility: bridge.VisibilityNote, Operator: &bridge.Operator{Adapter: "inbox", Name: "Alice"}}, false, "📝 note by Alice (inbox) (part "},
	} {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.m
			m.Text = text
			r := render(m, bridge.Visitor{}, tc.customize)
			if len(r.texts) < 2 {
				t.Fatalf("%d posts for %d bytes", len(r.texts), len(text))
			}
			for i, p := range r.texts {
				if len(p) > maxPostBytes {
					t.Errorf("part %d is %d bytes", i, len(p))
				}
				if !strings.HasPrefix(p, tc.prefix) {
					t.Errorf("part %d starts %q, want %q", i, p[:min(40, len(p))], tc.prefix)
				}
				if m.From == bridge.FromVisitor {
					for _, l := range strings.Split(p, "\n")[1:] {
						if !strings.HasPrefix(l, "> ") || strings.HasPrefix(l, "> *") {
							t.Errorf("part %d: line %q can pass for another author's", i, l[:min(30, len(l))])
						}
					}
				}
			}
		})
	}
}
