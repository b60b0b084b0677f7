package main

import (
	"encoding/json"
	"fmt"
	"net/http"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

// TestStoreCopyCLI: a single node's data moves into etcd and back with
// `chatbridge store copy`, verified; the CLI refuses a bbolt file held by
// a running server and a non-empty target without --force; the copy in
// etcd serves a cluster node, and the copy back reads the same offline.
func TestStoreCopyCLI(t *testing.T) {
	etcd := testpeer.Etcd(t, 1)
	eps, _ := json.Marshal(etcd.Endpoints())
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, fmt.Sprintf("[store]\nendpoints = %s\nprefix = \"/copy-test/\"\n", eps))
	s := startServer(t, cfgPath)
	for i, name := range []string{"Ann", "Bob", "Cid"} {
		v := newVisitor(t, s.base, name)
		v.send("m1", "hello from "+name)
		v.send("m2", "second line")
		if i == 0 {
			if code := v.do("POST", "/api/v1/conversation/close", nil, nil); code != http.StatusNoContent {
				t.Fatalf("close: %d", code)
			}
		}
	}
	run := func(args ...string) (string, error) {
		out, err := exec.Command(binPath, append(args, "--config", cfgPath)...).CombinedOutput()
		return string(out), err
	}
	out, err := run("store", "copy", "--from", "bolt", "--to", "etcd")
	if err == nil || !strings.Contains(out, "in use by a running chatbridge") {
		t.Fatalf("copy of a file the server holds: %v\n%s", err, out)
	}
	list := func(args ...string) []bridge.ConversationSummary {
		t.Helper()
		out, err := exec.Command(binPath, append([]string{"conversations", "list", "--json"}, args...)...).Output()
		var rows []bridge.ConversationSummary
		if err != nil || json.Unmarshal(out, &rows) != nil {
			t.Fatalf("conversations list %v: %v\n%s", args, err, out)
		}
		return rows
	}
	before := list("--config", cfgPath)
	s.stop(t)

	out, err = run("store", "copy", "--from", "bolt", "--to", "etcd")
	if err != nil || !strings.Contains(out, "Verified") || !strings.Contains(out, "conversation=3") {
		t.Fatalf("copy to etcd: %v\n%s", err, out)
	}
	t.Logf("store copy --from bolt --to etcd:\n%s", out)
	out, err = run("store", "copy", "--from", "bolt", "--to", "etcd")
	if err == nil || !strings.Contains(out, "holds data already") {
		t.Fatalf("copy into a non-empty etcd without --force: %v\n%s", err, out)
	}
	out, err = run("store", "copy", "--from", "bolt", "--to", "etcd", "--force")
	if err != nil || !strings.Contains(out, "Deleted what") || !strings.Contains(out, "Verified") {
		t.Fatalf("copy with --force: %v\n%s", err, out)
	}
	back := filepath.Join(t.TempDir(), "back")
	out, err = run("store", "copy", "--from", "etcd", "--to", "bolt:"+filepath.Join(back, "chatbridge.db"))
	if err != nil || !strings.Contains(out, "Verified") {
		t.Fatalf("copy back: %v\n%s", err, out)
	}
	after := list("--config", cfgPath, "--data-dir", back)
	if len(after) != len(before) || len(before) != 3 {
		t.Fatalf("conversations: %d before, %d after the round trip", len(before), len(after))
	}
	for i := range before {
		if b, a := before[i], after[i]; b.Conversation.ID != a.Conversation.ID || b.Conversation.LastSeq != a.Conversation.LastSeq || b.Visitor.Name != a.Visitor.Name {
			t.Errorf("conversation %d: %+v before, %+v after", i, b, a)
		}
	}

	// A node on the etcd copy serves the visitors of the single node.
	ndir := t.TempDir()
	ncfg := writeConfig(t, ndir, fmt.Sprintf("[store]\nbackend = \"etcd\"\nendpoints = %s\nprefix = \"/copy-test/\"\nlease_ttl = \"2s\"\n", eps))
	n := startServer(t, ncfg)
	defer n.stop(t)
	rows := list("--config", ncfg)
	if len(rows) != 3 {
		t.Fatalf("the cluster node lists %d conversations, want 3", len(rows))
	}
	v := newVisitor(t, n.base, "Dan")
	if seq := v.send("d1", "new on the cluster"); seq != 1 {
		t.Fatalf("a new visitor's first message: seq %d", seq)
	}
	out, err = run("store", "copy", "--from", "etcd", "--to", "etcd")
	if err == nil || !strings.Contains(out, "same store") {
		t.Fatalf("copy onto itself: %v\n%s", err, out)
	}
}
