package config

import (
	"bufio"
	"bytes"
	"os"
	"reflect"
	"regexp"
	"slices"
	"strings"
	"testing"
)

const examplePath = "../../bridge.example.toml"

func readExample(t *testing.T) []byte {
	t.Helper()
	data, err := os.ReadFile(examplePath)
	if err != nil {
		t.Fatalf("read example: %v", err)
	}
	return data
}

// The example must always parse and validate, and say exactly the defaults
// (it documents them).
func TestExampleParsesAndValidates(t *testing.T) {
	got, err := Parse(readExample(t), nil)
	if err != nil {
		t.Fatalf("bridge.example.toml does not parse:\n%v", err)
	}
	if want := Default(); !reflect.DeepEqual(got, want) {
		t.Errorf("bridge.example.toml differs from Default():\n got %+v\nwant %+v", got, want)
	}
}

// leafKeys lists the dotted toml paths of every leaf field of t; arrays of
// tables contribute "path.key" for their element fields.
func leafKeys(t reflect.Type, prefix string) []string {
	var out []string
	for i := range t.NumField() {
		f := t.Field(i)
		name, _, _ := strings.Cut(f.Tag.Get("toml"), ",")
		if name == "" || name == "-" {
			continue
		}
		path := prefix + name
		ft := f.Type
		switch {
		case ft.Kind() == reflect.Struct && !reflect.PointerTo(ft).Implements(textUnmarshaler):
			out = append(out, leafKeys(ft, path+".")...)
		case ft.Kind() == reflect.Slice && ft.Elem().Kind() == reflect.Struct:
			out = append(out, leafKeys(ft.Elem(), path+".")...)
		default:
			out = append(out, path)
		}
	}
	return out
}

var (
	// "[a.b]", "[[a.b]]", also commented out ("# [[inbox.operators]]").
	sectionRE = regexp.MustCompile(`^#?\s*\[\[?([a-z0-9_.]+)\]\]?\s*$`)
	// "key = value", also commented out ("# login = ...", "# # ...").
	keyRE = regexp.MustCompile(`^#?\s*([a-z_]+)\s*=`)
)

// exampleKeys lists the dotted keys the example documents, commented-out
// ones included.
func exampleKeys(data []byte) []string {
	var out []string
	section := ""
	sc := bufio.NewScanner(bytes.NewReader(data))
	for sc.Scan() {
		line := strings.TrimSpace(sc.Text())
		if m := sectionRE.FindStringSubmatch(line); m != nil {
			section = m[1] + "."
			continue
		}
		if m := keyRE.FindStringSubmatch(line); m != nil {
			out = append(out, section+m[1])
		}
	}
	return out
}

func TestExampleDocumentsEveryKey(t *testing.T) {
	want := leafKeys(reflect.TypeFor[Config](), "")
	if len(want) < 40 {
		t.Fatalf("reflection found only %d keys: %v", len(want), want)
	}
	have := exampleKeys(readExample(t))
	for _, k := range want {
		if !slices.Contains(have, k) {
			t.Errorf("key %s is not documented in bridge.example.toml", k)
		}
	}
	for _, k := range have {
		if !slices.Contains(want, k) {
			t.Errorf("bridge.example.toml documents %s, which Config does not have", k)
		}
	}
}

// The scanner itself must see commented-out keys and sections.
func TestExampleKeysScanner(t *testing.T) {
	got := exampleKeys([]byte("a = 1\n[s]\nb = 2\n# [[s.ops]]\n# login = \"x\"\n# a comment = no\n[f.s3]\nc = 3\n"))
	want := []string{"a", "s.b", "s.ops.login", "f.s3.c"}
	if !slices.Equal(got, want) {
		t.Errorf("got %v, want %v", got, want)
	}
}
