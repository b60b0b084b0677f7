package app

import (
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

const module = "github.com/chatbridge/chatbridge"

// source is one non-test Go file of the module.
type source struct {
	dir     string // relative to the module root, with slashes
	path    string
	file    *ast.File
	imports []string
}

// sources parses every non-test Go file of the module.
func sources(t *testing.T) []source {
	t.Helper()
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(root, "go.mod")); err != nil {
		t.Fatalf("module root not found at %s: %v", root, err)
	}
	fset := token.NewFileSet()
	var out []source
	err = filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() && (strings.HasPrefix(d.Name(), ".") || d.Name() == "testdata") && path != root {
			return filepath.SkipDir
		}
		if d.IsDir() || !strings.HasSuffix(path, ".go") || strings.HasSuffix(path, "_test.go") {
			return nil
		}
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly|parser.ParseComments)
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(root, filepath.Dir(path))
		s := source{dir: filepath.ToSlash(rel), path: path, file: f}
		for _, imp := range f.Imports {
			p, _ := strconv.Unquote(imp.Path.Value)
			s.imports = append(s.imports, p)
		}
		out = append(out, s)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

func isStd(p string) bool { return !strings.Contains(strings.SplitN(p, "/", 2)[0], ".") }

// The import rules of DESIGN.md §2 and of the core: bridge imports only the
// standard library; no adapter imports another; bbolt is imported by the
// bolt store only, and the store packages by the wiring only (everything
// else goes through the engine).
func TestImportRules(t *testing.T) {
	srcs := sources(t)
	if len(srcs) < 50 {
		t.Fatalf("found only %d source files", len(srcs))
	}
	storeUsers := map[string]bool{"internal/app": true, "internal/fixture": true}
	for _, s := range srcs {
		for _, p := range s.imports {
			switch {
			case s.dir == "bridge" && !isStd(p):
				t.Errorf("%s imports %s: package bridge imports only the standard library", s.path, p)
			case strings.HasPrefix(s.dir, "adapters/") && strings.HasPrefix(p, module+"/adapters/") &&
				!strings.HasPrefix(p, module+"/"+s.dir):
				t.Errorf("%s imports %s: adapters do not import each other", s.path, p)
			case strings.HasPrefix(p, "go.etcd.io/bbolt") && s.dir != "bridge/boltstore":
				t.Errorf("%s imports %s: only bridge/boltstore uses bbolt", s.path, p)
			case strings.HasPrefix(p, "github.com/minio/minio-go/") && s.dir != "bridge/blobs3" && s.dir != "internal/testpeer":
				t.Errorf("%s imports %s: only bridge/blobs3 uses the S3 client", s.path, p)
			case strings.HasPrefix(p, "go.etcd.io/etcd/server") && s.dir != "internal/testpeer/etcdpeer":
				t.Errorf("%s imports %s: only the etcd test peer runs an etcd server", s.path, p)
			case strings.HasPrefix(p, "go.etcd.io/etcd/") && s.dir != "bridge/etcdstore" && s.dir != "internal/testpeer/etcdpeer":
				t.Errorf("%s imports %s: only bridge/etcdstore uses the etcd client", s.path, p)
			case strings.HasPrefix(p, module+"/bridge/") && p != module+"/bridge/storetest" &&
				!strings.HasPrefix(s.dir, "bridge/") && !storeUsers[s.dir]:
				t.Errorf("%s imports %s: only the wiring (internal/app) opens a store; everything else goes through the engine", s.path, p)
			}
		}
	}
}

// Test helpers stay out of the binary.
func TestBinaryHasNoTestHelpers(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", module+"/cmd/chatbridge").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	client := false
	for _, p := range strings.Fields(string(out)) {
		switch {
		case p == "net/http/httptest", p == "testing", p == module+"/internal/fixture", p == module+"/internal/fakeslack",
			strings.HasPrefix(p, module+"/internal/testpeer"):
			t.Errorf("the chatbridge binary links %s", p)
		case strings.HasPrefix(p, "go.etcd.io/etcd/server/"), strings.HasPrefix(p, "go.etcd.io/raft/"):
			// The cluster store is a client of etcd; members run etcd.
			t.Errorf("the chatbridge binary links the etcd server (%s)", p)
		case p == "go.etcd.io/etcd/client/v3":
			client = true
		}
	}
	if !client {
		t.Error("the chatbridge binary does not link the etcd client: no cluster store")
	}
}

// CLI subcommands are listed explicitly in root.go: no init functions in
// cmd/chatbridge.
func TestNoInitInCmd(t *testing.T) {
	for _, s := range sources(t) {
		if s.dir != "cmd/chatbridge" {
			continue
		}
		full, err := parser.ParseFile(token.NewFileSet(), s.path, nil, 0)
		if err != nil {
			t.Fatal(err)
		}
		for _, d := range full.Decls {
			if fd, ok := d.(*ast.FuncDecl); ok && fd.Recv == nil && fd.Name.Name == "init" {
				t.Errorf("%s has an init function: list the command in root.go instead", s.path)
			}
		}
	}
}
