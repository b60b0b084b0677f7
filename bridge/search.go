package bridge

import (
	"strings"
	"unicode"
)

// SearchTerms splits text into lowercase index terms: runs of letters and
// digits, with '@', '.', '_' and '-' kept inside e-mail-like words split into
// their parts too. Stores index tickets with it and search with it, so both
// agree on what a word is.
func SearchTerms(text string) []string {
	seen := map[string]bool{}
	var out []string
	add := func(w string) {
		if w == "" || seen[w] || len([]rune(w)) > 64 {
			return
		}
		seen[w] = true
		out = append(out, w)
	}
	for _, field := range strings.FieldsFunc(strings.ToLower(text), func(r rune) bool {
		return !(unicode.IsLetter(r) || unicode.IsDigit(r) || r == '@' || r == '.' || r == '_' || r == '-')
	}) {
		field = strings.Trim(field, ".-_@")
		if strings.ContainsAny(field, "@._-") {
			add(field)
		}
		for _, part := range strings.FieldsFunc(field, func(r rune) bool {
			return !(unicode.IsLetter(r) || unicode.IsDigit(r))
		}) {
			add(part)
		}
	}
	return out
}
