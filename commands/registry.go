package commands

import (
	"context"
	"strings"
	"unicode/utf8"

	"github.com/chatbridge/chatbridge/bridge"
)

// command is one operator command. Each lives in its own file.
type command struct {
	name    string
	aliases []string
	// usage is one line: "!ticket <title> — create a ticket …".
	usage string
	run   func(ctx context.Context, r *Router, c call) (bridge.Outcome, error)
}

// call is one invocation of a command.
type call struct {
	in   bridge.OperatorInput
	conv bridge.Conversation
	// name is the name or alias as typed (lowercased), for usage texts.
	name string
	args string
}

// registry lists every command, in the order help shows them. It is filled
// in init so that help, which lists the registry, does not form an
// initialisation cycle with it.
var (
	registry []*command
	byName   map[string]*command
)

func init() {
	registry = []*command{
		&helpCommand,
		&helpdeskCommand,
		&helpdeskSearchCommand,
		&historyCommand,
		&leadCommand,
		&leaveCommand,
		&closeCommand,
		&noteCommand,
		&cannedCommand,
	}
	byName = map[string]*command{}
	for _, c := range registry {
		for _, n := range append([]string{c.name}, c.aliases...) {
			if _, dup := byName[n]; dup {
				panic("commands: duplicate command name " + n)
			}
			byName[n] = c
		}
	}
}

// Known reports whether name (lowercase) is a command or an alias.
func Known(name string) bool {
	_, ok := byName[name]
	return ok
}

// Info describes a command for help texts and documentation.
type Info struct {
	Name    string
	Aliases []string
	// Usage is the one-line usage, written with the "!" prefix.
	Usage string
}

// Commands lists the commands in the order help shows them.
func Commands() []Info {
	out := make([]Info, len(registry))
	for i, c := range registry {
		out[i] = Info{Name: c.name, Aliases: append([]string(nil), c.aliases...), Usage: c.usage}
	}
	return out
}

// usageOf answers a command typed without its arguments.
func usageOf(c call) bridge.Outcome {
	cmd := byName[c.name]
	return bridge.Outcome{Whisper: "Usage: " + cmd.usage}
}

// suggest returns the known name closest to typo (at most two edits), or "".
func suggest(typo string) string {
	best, bestDist := "", 3
	if len([]rune(typo)) > 40 {
		return ""
	}
	for _, c := range registry {
		for _, n := range append([]string{c.name}, c.aliases...) {
			if d := distance(typo, n); d < bestDist {
				best, bestDist = n, d
			}
		}
	}
	return best
}

// nearCommand reports whether word (lowercased) is a command name (known) or
// a near miss of a command name or alias: at least four characters and one
// edit away ("helpdsk", "hlep", "histroy"). After a look-alike prefix only
// such words make a command attempt ("‼help" is held back, "¡Hola" and
// "‼Important" are text). Parse and the relay gate both use it.
func nearCommand(word string, known func(string) bool) bool {
	if word == "" {
		return false
	}
	if known != nil && known(word) {
		return true
	}
	if n := utf8.RuneCountInString(word); n < 4 || n > 40 {
		return false
	}
	for n := range byName {
		if oneEdit(word, n) {
			return true
		}
	}
	return false
}

// oneEdit reports whether a and b are at most one edit apart (insert, delete,
// substitute, swap two neighbours): distance(a, b) <= 1 without allocating,
// as nearCommand runs on the hot path. Invalid UTF-8 is compared byte by
// byte.
func oneEdit(a, b string) bool {
	if len(a) > len(b)+4 || len(b) > len(a)+4 { // a rune is at most 4 bytes
		return false
	}
	// Skip the common prefix.
	for a != "" && b != "" {
		ra, na := utf8.DecodeRuneInString(a)
		rb, nb := utf8.DecodeRuneInString(b)
		if ra != rb {
			break
		}
		a, b = a[na:], b[nb:]
	}
	if a == "" || b == "" {
		return utf8.RuneCountInString(a)+utf8.RuneCountInString(b) <= 1
	}
	ra, na := utf8.DecodeRuneInString(a)
	rb, nb := utf8.DecodeRuneInString(b)
	switch {
	case a[na:] == b[nb:], a[na:] == b, a == b[nb:]: // substitute, delete, insert
		return true
	}
	// Swap: "ab…" and "ba…" with the same rest.
	ra2, na2 := utf8.DecodeRuneInString(a[na:])
	rb2, nb2 := utf8.DecodeRuneInString(b[nb:])
	return ra == rb2 && rb == ra2 && a[na+na2:] == b[nb+nb2:]
}

// distance is the optimal string alignment distance between a and b (edits:
// insert, delete, substitute, swap two neighbours).
func distance(a, b string) int {
	ra, rb := []rune(a), []rune(b)
	prev2 := make([]int, len(rb)+1)
	prev := make([]int, len(rb)+1)
	cur := make([]int, len(rb)+1)
	for j := range prev {
		prev[j] = j
	}
	for i := 1; i <= len(ra); i++ {
		cur[0] = i
		for j := 1; j <= len(rb); j++ {
			cost := 1
			if ra[i-1] == rb[j-1] {
				cost = 0
			}
			cur[j] = min(prev[j]+1, cur[j-1]+1, prev[j-1]+cost)
			if i > 1 && j > 1 && ra[i-1] == rb[j-2] && ra[i-2] == rb[j-1] {
				cur[j] = min(cur[j], prev2[j-2]+1)
			}
		}
		prev2, prev, cur = prev, cur, prev2
	}
	return prev[len(rb)]
}

// joinWords collapses white space runs into single spaces.
func joinWords(s string) string { return strings.Join(strings.FieldsFunc(s, isSpace), " ") }
