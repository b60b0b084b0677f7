package canned

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"regexp"
	"slices"
	"strings"

	"github.com/BurntSushi/toml"

	"github.com/chatbridge/chatbridge/bridge"
)

// tomlFile is the TOML import/export format:
//
//	[[canned]]
//	shortcut = "sorry"
//	text = "I am sorry to hear that."
//	description = "apology"     # optional
//	owner = "slack:U123"        # optional; absent = shared
//
// ParseTOML decodes it generically (a map per table), so that a wrongly typed
// value is reported with its entry's line alongside every other problem.
type tomlFile struct {
	Canned []tomlEntry `toml:"canned"`
}

type tomlEntry struct {
	Shortcut    string `toml:"shortcut"`
	Text        string `toml:"text"`
	Description string `toml:"description,omitempty"`
	Owner       string `toml:"owner,omitempty"`
}

var tableHeader = regexp.MustCompile(`^\s*\[\[\s*canned\s*\]\]`)

// ParseTOML reads canned responses from TOML: one [[canned]] table per
// response with the keys shortcut, text, description and owner (see
// WriteTOML). Unknown keys are errors. Every problem is reported at once,
// with its line, in an *ImportError; on any problem no entries are returned.
// A TOML syntax or type error stops the parse and is reported with its line.
func ParseTOML(r io.Reader) ([]bridge.CannedResponse, error) {
	lr := &limitReader{r: r, n: MaxImportBytes}
	src, err := io.ReadAll(lr)
	if err != nil {
		return nil, fmt.Errorf("parse toml: %w", err)
	}
	if lr.over {
		return nil, &ImportError{Op: "parse toml", Problems: []Problem{{Msg: fmt.Sprintf("the input is larger than %d MiB", MaxImportBytes>>20)}}}
	}
	var doc map[string]any
	if _, err := toml.NewDecoder(bytes.NewReader(src)).Decode(&doc); err != nil {
		var pe toml.ParseError
		if errors.As(err, &pe) {
			return nil, &ImportError{Op: "parse toml", Problems: []Problem{{Line: pe.Position.Line, Msg: pe.Message}}}
		}
		return nil, &ImportError{Op: "parse toml", Problems: []Problem{{Msg: strings.TrimPrefix(err.Error(), "toml: ")}}}
	}
	var probs []Problem
	for k := range doc {
		if k != "canned" {
			probs = append(probs, Problem{Line: keyLine(src, k), Msg: fmt.Sprintf("unknown key %q (the file holds [[canned]] tables)", k)})
		}
	}
	var entries []map[string]any
	switch v := doc["canned"].(type) {
	case nil:
	case []map[string]any:
		entries = v
	case []any: // an inline array of inline tables
		for _, e := range v {
			m, ok := e.(map[string]any)
			if !ok {
				probs = append(probs, Problem{Line: keyLine(src, "canned"), Msg: "canned must be an array of tables: [[canned]]"})
				entries = nil
				break
			}
			entries = append(entries, m)
		}
	default:
		probs = append(probs, Problem{Line: keyLine(src, "canned"), Msg: "canned must be an array of tables: [[canned]]"})
	}
	lines := entryLines(src)
	if len(lines) != len(entries) {
		lines = nil // e.g. an inline array: report entries by position
	}
	list := make([]bridge.CannedResponse, len(entries))
	skip := map[int]map[string]bool{}
	for i, e := range entries {
		at := Problem{Entry: i + 1}
		if lines != nil {
			at.Line = lines[i]
		}
		str := func(key string) string {
			v, ok := e[key]
			if !ok {
				return ""
			}
			s, ok := v.(string)
			if !ok {
				if skip[i] == nil {
					skip[i] = map[string]bool{}
				}
				skip[i][key] = true
				p := at
				p.Msg = fmt.Sprintf("%s must be a string, not %T", key, v)
				probs = append(probs, p)
			}
			return strings.TrimSpace(s)
		}
		list[i] = bridge.CannedResponse{Shortcut: str("shortcut"), Text: str("text"), Description: str("description"), Owner: str("owner")}
		for _, k := range sortedKeys(e) {
			if !slices.Contains(csvColumns, k) {
				p := at
				p.Msg = fmt.Sprintf("unknown key %q (the keys are %s)", clip(k, 40), strings.Join(csvColumns, ", "))
				probs = append(probs, p)
			}
		}
	}
	probs = append(probs, checkList(list, lines, skip)...)
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &ImportError{Op: "parse toml", Problems: probs}
	}
	return list, nil
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// entryLines returns the line of every [[canned]] table header.
func entryLines(src []byte) []int {
	var lines []int
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, len(src)+1)
	for n := 1; sc.Scan(); n++ {
		if tableHeader.Match(sc.Bytes()) {
			lines = append(lines, n)
		}
	}
	return lines
}

// keyLine finds, as well as it can, the line defining a top-level key; 0
// when it finds none.
func keyLine(src []byte, name string) int {
	re, err := regexp.Compile(`^\s*(?:\[+\s*)?(?:"` + regexp.QuoteMeta(name) + `"|` + regexp.QuoteMeta(name) + `)\s*[=\].]`)
	if err != nil {
		return 0
	}
	sc := bufio.NewScanner(bytes.NewReader(src))
	sc.Buffer(nil, len(src)+1)
	for n := 1; sc.Scan(); n++ {
		if re.Match(sc.Bytes()) {
			return n
		}
	}
	return 0
}

// WriteTOML writes list as [[canned]] tables, in the order given. ParseTOML
// reads it back.
func WriteTOML(w io.Writer, list []bridge.CannedResponse) error {
	f := tomlFile{Canned: make([]tomlEntry, len(list))}
	for i, c := range list {
		f.Canned[i] = tomlEntry{Shortcut: c.Shortcut, Text: c.Text, Description: c.Description, Owner: c.Owner}
	}
	if _, err := io.WriteString(w, "# chatbridge canned responses: one [[canned]] table each.\n# Keys: shortcut, text, description (optional), owner (optional; absent = shared).\n\n"); err != nil {
		return fmt.Errorf("write toml: %w", err)
	}
	enc := toml.NewEncoder(w)
	enc.Indent = ""
	if err := enc.Encode(f); err != nil {
		return fmt.Errorf("write toml: %w", err)
	}
	return nil
}
