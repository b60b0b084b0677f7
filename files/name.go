package files

import (
	"path"
	"strings"
	"unicode"
	"unicode/utf8"
)

// maxName is the longest name kept, in characters.
const maxName = 100

// CleanName makes a sender's file name safe to show and to offer as a
// download name: the last path element only (either slash), without
// control, format (bidi) or unassigned characters, without leading dots or
// surrounding spaces, at most maxName characters with the extension kept,
// "file" when nothing is left. ext, when not "", is the extension the
// content needs (".png"): a name without it gets it.
func CleanName(name, ext string) string {
	if i := strings.LastIndexAny(name, `/\`); i >= 0 {
		name = name[i+1:]
	}
	if !utf8.ValidString(name) {
		name = strings.ToValidUTF8(name, "")
	}
	name = strings.Map(func(r rune) rune {
		switch {
		case unicode.IsSpace(r):
			return ' '
		case unicode.IsControl(r), unicode.Is(unicode.Cf, r), r == utf8.RuneError:
			return -1
		case r == '"' || r == '<' || r == '>' || r == ':' || r == '*' || r == '?' || r == '|':
			return '_'
		}
		return r
	}, name)
	name = strings.Join(strings.Fields(name), " ")
	name = strings.TrimLeft(name, ". ")
	if ext != "" && !strings.EqualFold(path.Ext(name), ext) && !(ext == ".jpg" && strings.EqualFold(path.Ext(name), ".jpeg")) {
		name += ext
	}
	if name == "" || name == ext {
		name = "file" + ext
	}
	if utf8.RuneCountInString(name) > maxName {
		e := path.Ext(name)
		if utf8.RuneCountInString(e) > 10 {
			e = ""
		}
		r := []rune(strings.TrimSuffix(name, e))
		name = strings.TrimSpace(string(r[:maxName-utf8.RuneCountInString(e)])) + e
	}
	return name
}
