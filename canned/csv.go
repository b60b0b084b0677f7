package canned

import (
	"encoding/csv"
	"errors"
	"fmt"
	"io"
	"slices"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// MaxImportBytes caps the size of an import file.
const MaxImportBytes = 64 << 20

// CSV columns, in the order WriteCSV writes them.
var csvColumns = []string{"shortcut", "text", "description", "owner"}

// ParseCSV reads canned responses from CSV with a header row naming the
// columns: shortcut and text are required, description and owner optional,
// in any order (WriteCSV writes shortcut,text,description,owner). Fields
// may be quoted and span lines. Shortcut, owner and the ends of text and
// description are trimmed of white space. Every problem is reported at once,
// with its line, in an *ImportError; on any problem no entries are returned.
func ParseCSV(r io.Reader) ([]bridge.CannedResponse, error) {
	lr := &limitReader{r: r, n: MaxImportBytes}
	cr := csv.NewReader(lr)
	cr.FieldsPerRecord = -1
	var (
		probs  []Problem
		list   []bridge.CannedResponse
		lines  []int
		header map[string]int
		width  int
	)
	fail := func(line int, format string, args ...any) {
		probs = append(probs, Problem{Line: line, Msg: fmt.Sprintf(format, args...)})
	}
	for {
		rec, err := cr.Read()
		if errors.Is(err, io.EOF) {
			break
		}
		var pe *csv.ParseError
		if errors.As(err, &pe) {
			fail(pe.Line, "%v", pe.Err)
			continue
		}
		if err != nil {
			return nil, fmt.Errorf("parse csv: %w", err)
		}
		line, _ := cr.FieldPos(0)
		if header == nil {
			header, width = parseHeader(rec, line, fail)
			if _, ok := header["text"]; !ok {
				break // without the columns the rows cannot be read
			}
			if _, ok := header["shortcut"]; !ok {
				break
			}
			continue
		}
		if len(rec) != width {
			fail(line, "%d fields, the header has %d", len(rec), width)
			continue
		}
		if len(list) == MaxEntries {
			fail(line, "too many entries: the limit is %d", MaxEntries)
			break
		}
		field := func(name string) string {
			if i, ok := header[name]; ok {
				return rec[i]
			}
			return ""
		}
		list = append(list, bridge.CannedResponse{
			Shortcut:    strings.TrimSpace(field("shortcut")),
			Text:        strings.TrimSpace(field("text")),
			Description: strings.TrimSpace(field("description")),
			Owner:       strings.TrimSpace(field("owner")),
		})
		lines = append(lines, line)
	}
	if lr.over {
		fail(0, "the input is larger than %d MiB", MaxImportBytes>>20)
	}
	if header == nil && len(probs) == 0 {
		fail(0, "the input is empty: it needs a header row %q", strings.Join(csvColumns, ","))
	}
	probs = append(probs, checkList(list, lines, nil)...)
	if len(probs) > 0 {
		sortProblems(probs)
		return nil, &ImportError{Op: "parse csv", Problems: probs}
	}
	return list, nil
}

// parseHeader maps column names to indexes, reporting unknown, repeated and
// missing columns.
func parseHeader(rec []string, line int, fail func(int, string, ...any)) (map[string]int, int) {
	header := map[string]int{}
	for i, name := range rec {
		if i == 0 {
			name = strings.TrimPrefix(name, "\ufeff") // Excel's byte order mark
		}
		name = strings.ToLower(strings.TrimSpace(name))
		if !slices.Contains(csvColumns, name) {
			fail(line, "unknown column %q (the columns are %s)", clip(name, 40), strings.Join(csvColumns, ", "))
			continue
		}
		if _, dup := header[name]; dup {
			fail(line, "column %q appears twice", name)
			continue
		}
		header[name] = i
	}
	for _, req := range csvColumns[:2] {
		if _, ok := header[req]; !ok {
			fail(line, "the header has no %q column", req)
		}
	}
	return header, len(rec)
}

// WriteCSV writes list as CSV with the header shortcut,text,description,owner,
// in the order given. ParseCSV reads it back.
func WriteCSV(w io.Writer, list []bridge.CannedResponse) error {
	cw := csv.NewWriter(w)
	if err := cw.Write(csvColumns); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	for _, c := range list {
		if err := cw.Write([]string{c.Shortcut, c.Text, c.Description, c.Owner}); err != nil {
			return fmt.Errorf("write csv: %w", err)
		}
	}
	cw.Flush()
	if err := cw.Error(); err != nil {
		return fmt.Errorf("write csv: %w", err)
	}
	return nil
}

// limitReader reads at most n bytes and then reports EOF, remembering that
// the input was longer.
type limitReader struct {
	r    io.Reader
	n    int64
	over bool
}

// Read implements io.Reader.
func (l *limitReader) Read(p []byte) (int, error) {
	if l.n <= 0 {
		var one [1]byte
		if k, _ := io.ReadFull(l.r, one[:]); k > 0 {
			l.over = true
		}
		return 0, io.EOF
	}
	if int64(len(p)) > l.n {
		p = p[:l.n]
	}
	k, err := l.r.Read(p)
	l.n -= int64(k)
	return k, err
}
