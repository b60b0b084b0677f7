package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"image"
	"image/color"
	"image/png"
	"io"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// pngOf is a small PNG whose bytes depend on shade.
func pngOf(t *testing.T, shade uint8) []byte {
	t.Helper()
	img := image.NewGray(image.Rect(0, 0, 4, 4))
	for i := range img.Pix {
		img.Pix[i] = shade
	}
	img.Set(0, 0, color.Gray{Y: shade + 1})
	var b bytes.Buffer
	if err := png.Encode(&b, img); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestPurgeCLI: `chatbridge purge` through a running server (dry run,
// then for real: conversations, visitors and unshared files go, the
// metrics count them, the log says so) and offline on the stopped
// server's data directory.
func TestPurgeCLI(t *testing.T) {
	dir := t.TempDir()
	cfgPath := writeConfig(t, dir, "")
	s := startServer(t, cfgPath)
	shared, own := pngOf(t, 10), pngOf(t, 200)
	blobPath := func(data []byte) string {
		sum := sha256.Sum256(data)
		return filepath.Join(dir, "data", "files", filepath.FromSlash(bridge.BlobKey(hex.EncodeToString(sum[:]))))
	}
	exists := func(data []byte) bool { _, err := os.Stat(blobPath(data)); return err == nil }

	ann := newVisitor(t, s.base, "Ann")
	ann.send("a1", "hello")
	ann.upload("a2", "shot.png", shared)
	ann.upload("a3", "shot.png", own)
	bob := newVisitor(t, s.base, "Bob")
	bob.upload("b1", "shot.png", shared)
	cid := newVisitor(t, s.base, "Cid")
	cid.send("c1", "bye")
	for _, v := range []*visitorClient{ann, cid} {
		if code := v.do("POST", "/api/v1/conversation/close", nil, nil); code != http.StatusNoContent {
			t.Fatalf("close: %d", code)
		}
	}
	if !exists(shared) || !exists(own) {
		t.Fatalf("uploaded files not in %s", filepath.Join(dir, "data", "files"))
	}
	time.Sleep(1100 * time.Millisecond) // the cutoff is to the second
	cutoff := time.Now().UTC().Format(time.RFC3339)

	purge := func(args ...string) []byte {
		t.Helper()
		out, err := exec.Command(binPath, append([]string{"purge", "--config", cfgPath, "--closed-before", cutoff}, args...)...).CombinedOutput()
		if err != nil {
			t.Fatalf("purge %v: %v\n%s", args, err, out)
		}
		return out
	}
	var rep struct {
		Conversations, Messages, Visitors int
		Blobs                             []string
		DryRun                            bool `json:"dry_run"`
		FilesDeleted                      int  `json:"files_deleted"`
	}
	if err := json.Unmarshal(purge("--dry-run", "--json"), &rep); err != nil {
		t.Fatal(err)
	}
	if rep.Conversations != 2 || rep.Visitors != 2 || len(rep.Blobs) != 1 || !rep.DryRun || rep.FilesDeleted != 0 {
		t.Fatalf("dry run %+v: want Ann's and Cid's conversations and visitors, Ann's own file", rep)
	}
	if !exists(own) {
		t.Fatal("a dry run deleted a file")
	}
	out := purge()
	if !strings.Contains(string(out), "Deleted 2 conversations") || !strings.Contains(string(out), "1 files") {
		t.Fatalf("purge said:\n%s", out)
	}
	if exists(own) || !exists(shared) {
		t.Fatalf("after the purge: Ann's own file exists %v (want false), the shared one %v (want true)", exists(own), exists(shared))
	}
	if code := ann.do("GET", "/api/v1/messages", nil, nil); code != http.StatusUnauthorized {
		t.Errorf("Ann's token after the purge: %d, want 401", code)
	}
	if code := bob.do("GET", "/api/v1/messages", nil, nil); code != http.StatusOK {
		t.Errorf("Bob's token after the purge: %d, want 200", code)
	}
	list := func() []bridge.ConversationSummary {
		t.Helper()
		out, err := exec.Command(binPath, "conversations", "list", "--json", "--config", cfgPath).Output()
		var rows []bridge.ConversationSummary
		if err != nil || json.Unmarshal(out, &rows) != nil {
			t.Fatalf("conversations list: %v\n%s", err, out)
		}
		return rows
	}
	if rows := list(); len(rows) != 1 || rows[0].Visitor.Name != "Bob" {
		t.Fatalf("conversations after the purge: %+v", rows)
	}
	resp, err := http.Get(s.ops + "/metrics")
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	for _, want := range []string{`chatbridge_purged_total{what="conversations"} 2`, `chatbridge_purged_total{what="files"} 1`, `chatbridge_purged_total{what="visitors"} 2`} {
		if !strings.Contains(string(body), want) {
			t.Errorf("metrics lack %s", want)
		}
	}
	if !strings.Contains(s.out.String(), "msg=purged") {
		t.Errorf("no log line of the purge:\n%s", s.out.String())
	}

	// Offline: the server is stopped, the CLI opens the data directory.
	if code := bob.do("POST", "/api/v1/conversation/close", nil, nil); code != http.StatusNoContent {
		t.Fatalf("close: %d", code)
	}
	s.stop(t)
	time.Sleep(1100 * time.Millisecond)
	cutoff = time.Now().UTC().Format(time.RFC3339)
	out = purge()
	if !strings.Contains(string(out), "Deleted 1 conversations") {
		t.Fatalf("offline purge said:\n%s", out)
	}
	if exists(shared) {
		t.Fatal("the shared file outlived its last conversation")
	}
	if rows := list(); len(rows) != 0 {
		t.Fatalf("conversations after the offline purge: %+v", rows)
	}
	// Bad input is refused before anything is done.
	bad, err := exec.Command(binPath, "purge", "--config", cfgPath, "--closed-before", "someday").CombinedOutput()
	if err == nil || !strings.Contains(string(bad), "not a date") {
		t.Fatalf("purge --closed-before someday: %v\n%s", err, bad)
	}
}
