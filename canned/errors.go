package canned

import (
	"cmp"
	"fmt"
	"slices"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// Problem is one thing wrong with an imported file or list.
type Problem struct {
	// Line is the line of the input where the entry starts (1-based); 0 when
	// the input had no lines (a list) or the line is not known.
	Line int
	// Entry is the entry's position (1-based); 0 for file-level problems.
	Entry int
	Msg   string
}

// String renders the problem as "line 3: text is empty".
func (p Problem) String() string {
	switch {
	case p.Line > 0:
		return fmt.Sprintf("line %d: %s", p.Line, p.Msg)
	case p.Entry > 0:
		return fmt.Sprintf("entry %d: %s", p.Entry, p.Msg)
	}
	return p.Msg
}

// maxReported caps the problems spelled out in ImportError.Error.
const maxReported = 50

// ImportError lists every problem found in an import, so that a file can be
// fixed in one go. It wraps bridge.ErrInvalid.
type ImportError struct {
	// Op names the operation ("parse csv", "parse toml", "validate canned").
	Op       string
	Problems []Problem
}

// Error lists the problems, one per line after the first.
func (e *ImportError) Error() string {
	var b strings.Builder
	if len(e.Problems) == 1 {
		fmt.Fprintf(&b, "%s: %s", e.Op, e.Problems[0])
		return b.String()
	}
	fmt.Fprintf(&b, "%s: %d problems:", e.Op, len(e.Problems))
	for i, p := range e.Problems {
		if i == maxReported {
			fmt.Fprintf(&b, "\n  … and %d more", len(e.Problems)-maxReported)
			break
		}
		fmt.Fprintf(&b, "\n  %s", p)
	}
	return b.String()
}

// Unwrap makes errors.Is(err, bridge.ErrInvalid) true.
func (e *ImportError) Unwrap() error { return bridge.ErrInvalid }

// ValidateAll checks a list of responses as a whole: every entry (Validate),
// no two with the same owner and shortcut, at most MaxEntries. It returns an
// *ImportError with every problem, or nil.
func ValidateAll(list []bridge.CannedResponse) error {
	if probs := checkList(list, nil, nil); len(probs) > 0 {
		return &ImportError{Op: "validate canned", Problems: probs}
	}
	return nil
}

// checkList validates entries; lines[i], when given, is the input line of
// entry i, and skip[i] names fields of entry i not to check again.
func checkList(list []bridge.CannedResponse, lines []int, skip map[int]map[string]bool) []Problem {
	var out []Problem
	at := func(i int, msg string) Problem {
		p := Problem{Entry: i + 1, Msg: msg}
		if i < len(lines) {
			p.Line = lines[i]
		}
		return p
	}
	if len(list) > MaxEntries {
		out = append(out, at(MaxEntries, fmt.Sprintf("too many entries: the limit is %d", MaxEntries)))
		list = list[:MaxEntries]
	}
	type key struct{ owner, shortcut string }
	first := make(map[key]int, len(list))
	for i, c := range list {
		for _, msg := range problems(c, skip[i]) {
			out = append(out, at(i, msg))
		}
		k := key{c.Owner, c.Shortcut}
		if j, dup := first[k]; dup {
			where := fmt.Sprintf("entry %d", j+1)
			if j < len(lines) {
				where = fmt.Sprintf("line %d", lines[j])
			}
			out = append(out, at(i, fmt.Sprintf("shortcut %q%s is already defined at %s", c.Shortcut, ownerSuffix(c.Owner), where)))
			continue
		}
		first[k] = i
	}
	return out
}

func ownerSuffix(owner string) string {
	if owner == "" {
		return ""
	}
	return " (owner " + owner + ")"
}

// sortProblems orders problems by line, keeping the order of equal lines;
// file-level problems (line 0) come first.
func sortProblems(p []Problem) {
	slices.SortStableFunc(p, func(a, b Problem) int { return cmp.Compare(a.Line, b.Line) })
}
