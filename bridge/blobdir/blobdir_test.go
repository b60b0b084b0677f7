package blobdir

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobtest"
)

func TestContract(t *testing.T) {
	blobtest.Run(t, func(t *testing.T) bridge.BlobStore {
		s, err := Open(filepath.Join(t.TempDir(), "files"))
		if err != nil {
			t.Fatal(err)
		}
		return s
	})
}

// Objects are private files, and a failed Put leaves no temporary file.
func TestFilesOnDisk(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "files")
	s, err := Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	if err := s.Put(t.Context(), "sha256/ab/abc", strings.NewReader("data"), 4); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(filepath.Join(dir, "sha256", "ab", "abc"))
	if err != nil || st.Mode().Perm() != 0o600 {
		t.Fatalf("object %v, mode %v", err, st.Mode())
	}
	_ = s.Put(t.Context(), "sha256/ab/short", strings.NewReader("da"), 4)
	entries, _ := os.ReadDir(filepath.Join(dir, "sha256", "ab"))
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), ".put-") {
			t.Errorf("temporary file %s left behind", e.Name())
		}
	}
}
