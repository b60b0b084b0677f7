package canned

import (
	"bytes"
	"errors"
	"fmt"
	"reflect"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
)

var sample = []bridge.CannedResponse{
	{Shortcut: "sorry", Text: "I am sorry to hear that.", Description: "apology"},
	{Shortcut: "hi", Text: "Hello {{visitor.name|there}},\nhow can I help?\n\"Quotes\", commas; and 'apostrophes'"},
	{Shortcut: "mine", Text: "a personal one", Owner: "slack:U123"},
	{Shortcut: "x_1-2", Text: "ünïcödé 👋 = +1 @here"},
}

func TestRoundTrip(t *testing.T) {
	for _, f := range []struct {
		name  string
		write func(*bytes.Buffer, []bridge.CannedResponse) error
		parse func(*bytes.Buffer) ([]bridge.CannedResponse, error)
	}{
		{"csv", func(b *bytes.Buffer, l []bridge.CannedResponse) error { return WriteCSV(b, l) }, func(b *bytes.Buffer) ([]bridge.CannedResponse, error) { return ParseCSV(b) }},
		{"toml", func(b *bytes.Buffer, l []bridge.CannedResponse) error { return WriteTOML(b, l) }, func(b *bytes.Buffer) ([]bridge.CannedResponse, error) { return ParseTOML(b) }},
	} {
		t.Run(f.name, func(t *testing.T) {
			var b bytes.Buffer
			if err := f.write(&b, sample); err != nil {
				t.Fatal(err)
			}
			got, err := f.parse(&b)
			if err != nil {
				t.Fatalf("parse what we wrote: %v", err)
			}
			if !reflect.DeepEqual(got, sample) {
				t.Errorf("round trip:\n got %+v\nwant %+v", got, sample)
			}
		})
	}
}

func TestParseCSV(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []bridge.CannedResponse
		wantErr []string // each must appear in the error, in this order
	}{
		{"columns in any order, optional ones missing", "text,shortcut\nHello,hi\n", []bridge.CannedResponse{{Shortcut: "hi", Text: "Hello"}}, nil},
		{"excel byte order mark and CRLF", "\ufeffShortcut,Text\r\nhi,Hello\r\n", []bridge.CannedResponse{{Shortcut: "hi", Text: "Hello"}}, nil},
		{"blank lines skipped", "shortcut,text\n\nhi,Hello\n\n", []bridge.CannedResponse{{Shortcut: "hi", Text: "Hello"}}, nil},
		{"header only", "shortcut,text\n", nil, nil},
		{"empty input", "", nil, []string{"the input is empty"}},
		{"missing text column", "shortcut,description\na,b\n", nil, []string{`line 1: the header has no "text" column`}},
		{"unknown and repeated columns", "shortcut,text,text,colour\n", nil, []string{`line 1: column "text" appears twice`, `line 1: unknown column "colour"`}},
		{"every problem with its line", "shortcut,text\nOK,fine\nok,\n\"x\"y,z\nok,again\nlong," + strings.Repeat("é", MaxTextLen+1) + "\na,b,c\n",
			nil, []string{
				`line 2: shortcut "OK" may only contain`,
				"line 3: text is empty",
				`line 4: extraneous or missing " in quoted-field`,
				`line 5: shortcut "ok" is already defined at line 3`,
				`line 6: text is 4001 characters, the limit is 4000`,
				"line 7: 3 fields, the header has 2",
			}},
		{"duplicate across lines", "shortcut,text,owner\na,\"multi\nline\",\nb,x,\na,again,\na,personal,inbox:al\n", nil, []string{`line 5: shortcut "a" is already defined at line 2`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseCSV(strings.NewReader(tt.in))
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func TestParseTOML(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    []bridge.CannedResponse
		wantErr []string
	}{
		{"ok", "[[canned]]\nshortcut = \"hi\"\ntext = \"\"\"\nHello\nthere\"\"\"\ndescription = \"greeting\"\n",
			[]bridge.CannedResponse{{Shortcut: "hi", Text: "Hello\nthere", Description: "greeting"}}, nil},
		{"empty file", "", nil, nil},
		{"syntax error", "[[canned]]\nshortcut = \"hi\n", nil, []string{"line 2:"}},
		{"every problem with its line", "title = 1\n\n[[canned]]\nshortcut = \"A\"\ntext = \"x\"\ncolour = \"red\"\n\n[[canned]]\nshortcut = 5\ntext = \"\"\n[[canned]]\nshortcut = \"a\"\ntext = \"y\"\n[[canned]]\nshortcut = \"a\"\ntext = \"z\"\n",
			nil, []string{
				`line 1: unknown key "title"`,
				`line 3: unknown key "colour"`,
				`line 3: shortcut "A" may only contain`,
				"line 8: shortcut must be a string",
				"line 8: text is empty",
				`line 14: shortcut "a" is already defined at line 11`,
			}},
		{"not an array of tables", "canned = \"x\"\n", nil, []string{"line 1: canned must be an array of tables"}},
		{"inline array reported by entry", "canned = [{shortcut = \"ok\", text = \"t\"}, {shortcut = \"B\", text = \"t\"}]\n", nil, []string{`entry 2: shortcut "B"`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseTOML(strings.NewReader(tt.in))
			checkParse(t, got, err, tt.want, tt.wantErr)
		})
	}
}

func checkParse(t *testing.T, got []bridge.CannedResponse, err error, want []bridge.CannedResponse, wantErr []string) {
	t.Helper()
	if len(wantErr) == 0 {
		if err != nil {
			t.Fatalf("unexpected error: %v", err)
		}
		if len(got) != len(want) || (len(want) > 0 && !reflect.DeepEqual(got, want)) {
			t.Fatalf("got %+v, want %+v", got, want)
		}
		return
	}
	if err == nil {
		t.Fatalf("no error, got %+v", got)
	}
	if got != nil {
		t.Errorf("entries returned with an error: %+v", got)
	}
	var ie *ImportError
	if !errors.As(err, &ie) || !errors.Is(err, bridge.ErrInvalid) {
		t.Errorf("error %T is not an *ImportError wrapping ErrInvalid", err)
	}
	msg := err.Error()
	pos := 0
	for _, w := range wantErr {
		i := strings.Index(msg[pos:], w)
		if i < 0 {
			t.Fatalf("error does not contain %q (in order):\n%s", w, msg)
		}
		pos += i + len(w)
	}
	if ie != nil && len(ie.Problems) != len(wantErr) {
		t.Errorf("%d problems, want %d:\n%s", len(ie.Problems), len(wantErr), msg)
	}
}

func TestImportLimits(t *testing.T) {
	var b strings.Builder
	b.WriteString("shortcut,text\n")
	for i := range MaxEntries + 1 {
		fmt.Fprintf(&b, "s%d,text %d\n", i, i)
	}
	_, err := ParseCSV(strings.NewReader(b.String()))
	if err == nil || !strings.Contains(err.Error(), fmt.Sprintf("line %d: too many entries: the limit is %d", MaxEntries+2, MaxEntries)) {
		t.Errorf("10,001 CSV entries: %v", err)
	}
	list := make([]bridge.CannedResponse, MaxEntries)
	for i := range list {
		list[i] = bridge.CannedResponse{Shortcut: fmt.Sprintf("s%d", i), Text: "t"}
	}
	if err := ValidateAll(list); err != nil {
		t.Errorf("10,000 entries: %v", err)
	}
	if err := ValidateAll(append(list, bridge.CannedResponse{Shortcut: "one-more", Text: "t"})); err == nil || !strings.Contains(err.Error(), "entry 10001: too many entries") {
		t.Errorf("10,001 entries: %v", err)
	}
	var tb bytes.Buffer
	if err := WriteTOML(&tb, append(list, bridge.CannedResponse{Shortcut: "one-more", Text: "t"})); err != nil {
		t.Fatal(err)
	}
	if _, err := ParseTOML(&tb); err == nil || !strings.Contains(err.Error(), "too many entries") {
		t.Errorf("10,001 TOML entries: %v", err)
	}
}

func TestImportTooLarge(t *testing.T) {
	big := strings.NewReader("shortcut,text\na,\"" + strings.Repeat("x", MaxImportBytes) + "\"\n")
	if _, err := ParseCSV(big); err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("huge CSV: %v", err)
	}
	bigT := strings.NewReader("# " + strings.Repeat("x", MaxImportBytes))
	if _, err := ParseTOML(bigT); err == nil || !strings.Contains(err.Error(), "larger than 64 MiB") {
		t.Errorf("huge TOML: %v", err)
	}
}

func FuzzParseCSV(f *testing.F) {
	f.Add("shortcut,text\nhi,Hello\n")
	f.Add("shortcut,text,description,owner\n\"a\",\"multi\nline\",d,inbox:x\n")
	f.Add("text,shortcut\n,\n\"\"\"\",x\n")
	f.Add("\ufeffshortcut,text\r\nA,b\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		list, err := ParseCSV(strings.NewReader(in))
		if err != nil {
			var ie *ImportError
			if !errors.As(err, &ie) || len(ie.Problems) == 0 || list != nil {
				t.Fatalf("error %v (%T) with %d entries", err, err, len(list))
			}
			return
		}
		if err := ValidateAll(list); err != nil {
			t.Fatalf("accepted invalid entries: %v", err)
		}
		var b bytes.Buffer
		if err := WriteCSV(&b, list); err != nil {
			t.Fatal(err)
		}
		again, err := ParseCSV(&b)
		if err != nil {
			t.Fatalf("cannot read back what was written: %v", err)
		}
		if len(again) != len(list) || (len(list) > 0 && !reflect.DeepEqual(again, list)) {
			t.Fatalf("round trip: %+v != %+v", again, list)
		}
	})
}
