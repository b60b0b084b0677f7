package main

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestCannedImportWhileServing imports a 500-entry CSV through the admin
// socket of a running server, then lists it as JSON, and checks that a bad
// file is refused whole with every problem reported.
func TestCannedImportWhileServing(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "")
	s := startServer(t, cfgPath)
	defer s.stop(t)

	var b strings.Builder
	b.WriteString("shortcut,text,description\n")
	for i := range 500 {
		fmt.Fprintf(&b, "reply%03d,\"Hello {{visitor.name|there}}, answer number %d, with a comma\",entry %d\n", i, i, i)
	}
	csvPath := filepath.Join(dir, "canned.csv")
	if err := os.WriteFile(csvPath, []byte(b.String()), 0o600); err != nil {
		t.Fatal(err)
	}
	cli := func(args ...string) (string, error) {
		out, err := exec.Command(binPath, append(args, "--config", cfgPath)...).CombinedOutput()
		return string(out), err
	}
	out, err := cli("canned", "import", csvPath)
	if err != nil || !strings.Contains(out, "Imported 500") {
		t.Fatalf("import: %v\n%s", err, out)
	}
	out, err = cli("canned", "list", "--json")
	if err != nil {
		t.Fatalf("list: %v\n%s", err, out)
	}
	var list []struct{ Shortcut, Text string }
	if err := json.Unmarshal([]byte(out), &list); err != nil || len(list) != 500 {
		t.Fatalf("list --json: %d entries (%v)", len(list), err)
	}
	if list[7].Shortcut != "reply007" || !strings.Contains(list[7].Text, "with a comma") {
		t.Errorf("entry 7 = %+v", list[7])
	}

	bad := filepath.Join(dir, "bad.csv")
	os.WriteFile(bad, []byte("shortcut,text\nGood-Not,x\nok,\nfine,text\n"), 0o600)
	out, err = cli("canned", "import", bad)
	if err == nil {
		t.Fatalf("bad import succeeded:\n%s", out)
	}
	if !strings.Contains(out, "line 2") || !strings.Contains(out, "line 3") {
		t.Errorf("want both problems with their lines:\n%s", out)
	}
	out, _ = cli("canned", "list", "fine", "--json")
	if strings.Contains(out, `"fine"`) {
		t.Errorf("a refused import stored an entry:\n%s", out)
	}
	// The export round-trips.
	exp := filepath.Join(dir, "out.toml")
	if out, err := cli("canned", "export", "-o", exp); err != nil {
		t.Fatalf("export: %v\n%s", err, out)
	}
	data, _ := os.ReadFile(exp)
	if n := strings.Count(string(data), "\n[[canned]]\n"); n != 500 {
		t.Errorf("export has %d entries", n)
	}
}
