// Package blobtest is the contract suite of bridge.BlobStore. Every
// implementation runs it from its own tests:
//
//	func TestContract(t *testing.T) {
//		blobtest.Run(t, func(t *testing.T) bridge.BlobStore { … an empty store … })
//	}
package blobtest

import (
	"bytes"
	"context"
	"crypto/rand"
	"errors"
	"io"
	"strconv"
	"strings"
	"sync"
	"testing"
	"testing/iotest"

	"github.com/chatbridge/chatbridge/bridge"
)

// Run runs the suite; open returns an empty store for each subtest.
func Run(t *testing.T, open func(t *testing.T) bridge.BlobStore) {
	tests := []struct {
		name string
		fn   func(t *testing.T, s bridge.BlobStore)
	}{
		{"PutGet", testPutGet},
		{"Missing", testMissing},
		{"Replace", testReplace},
		{"ShortReadStoresNothing", testShortRead},
		{"FailingReaderStoresNothing", testFailingReader},
		{"CancelledStoresNothing", testCancelled},
		{"Delete", testDelete},
		{"DeletePrefix", testDeletePrefix},
		{"BadKeys", testBadKeys},
		{"Concurrent", testConcurrent},
		{"Large", testLarge},
		{"LargeStream", testLargeStream},
		{"Empty", testEmpty},
		{"DeletePrefixNested", testDeletePrefixNested},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) { tc.fn(t, open(t)) })
	}
}

var ctx = context.Background()

func put(t *testing.T, s bridge.BlobStore, key string, data []byte) {
	t.Helper()
	if err := s.Put(ctx, key, bytes.NewReader(data), int64(len(data))); err != nil {
		t.Fatalf("Put(%s): %v", key, err)
	}
}

func get(t *testing.T, s bridge.BlobStore, key string) []byte {
	t.Helper()
	r, n, err := s.Get(ctx, key)
	if err != nil {
		t.Fatalf("Get(%s): %v", key, err)
	}
	defer r.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("read %s: %v", key, err)
	}
	if int64(len(b)) != n {
		t.Fatalf("Get(%s) said %d bytes, read %d", key, n, len(b))
	}
	return b
}

func wantMissing(t *testing.T, s bridge.BlobStore, key string) {
	t.Helper()
	r, _, err := s.Get(ctx, key)
	if err == nil {
		r.Close()
		t.Fatalf("Get(%s) found an object, want none", key)
	}
	if !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("Get(%s) = %v, want bridge.ErrNotFound", key, err)
	}
}

func testPutGet(t *testing.T, s bridge.BlobStore) {
	data := []byte("hello, files\x00\xff")
	put(t, s, "sha256/ab/abcdef", data)
	if got := get(t, s, "sha256/ab/abcdef"); !bytes.Equal(got, data) {
		t.Fatalf("got %q, want %q", got, data)
	}
}

func testMissing(t *testing.T, s bridge.BlobStore) {
	wantMissing(t, s, "sha256/00/nothing")
	if err := s.Delete(ctx, "sha256/00/nothing"); err != nil {
		t.Errorf("Delete of a missing key: %v", err)
	}
}

func testReplace(t *testing.T, s bridge.BlobStore) {
	put(t, s, "k/one", []byte("first"))
	put(t, s, "k/one", []byte("second, longer"))
	if got := get(t, s, "k/one"); string(got) != "second, longer" {
		t.Fatalf("got %q after a replace", got)
	}
}

func testShortRead(t *testing.T, s bridge.BlobStore) {
	err := s.Put(ctx, "k/short", strings.NewReader("only 12 byte"), 100)
	if err == nil {
		t.Fatal("Put with fewer bytes than its size succeeded")
	}
	wantMissing(t, s, "k/short")
	// More bytes than the size is refused too.
	if err := s.Put(ctx, "k/long", strings.NewReader("0123456789"), 4); err == nil {
		t.Fatal("Put with more bytes than its size succeeded")
	}
	wantMissing(t, s, "k/long")
}

func testFailingReader(t *testing.T, s bridge.BlobStore) {
	r := io.MultiReader(strings.NewReader("half of it"), iotest.ErrReader(errors.New("connection reset")))
	if err := s.Put(ctx, "k/broken", r, 1000); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	wantMissing(t, s, "k/broken")
	// An existing object survives a failed replace.
	put(t, s, "k/keep", []byte("kept"))
	r = io.MultiReader(strings.NewReader("new"), iotest.ErrReader(errors.New("reset")))
	if err := s.Put(ctx, "k/keep", r, 50); err == nil {
		t.Fatal("Put from a failing reader succeeded")
	}
	if got := get(t, s, "k/keep"); string(got) != "kept" {
		t.Fatalf("a failed replace changed the object to %q", got)
	}
}

func testCancelled(t *testing.T, s bridge.BlobStore) {
	c, cancel := context.WithCancel(ctx)
	cancel()
	if err := s.Put(c, "k/cancelled", strings.NewReader("data"), 4); err == nil {
		t.Fatal("Put with a cancelled context succeeded")
	}
	wantMissing(t, s, "k/cancelled")
}

func testDelete(t *testing.T, s bridge.BlobStore) {
	put(t, s, "k/a", []byte("a"))
	put(t, s, "k/b", []byte("b"))
	if err := s.Delete(ctx, "k/a"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "k/a")
	if got := get(t, s, "k/b"); string(got) != "b" {
		t.Fatal("Delete removed another key")
	}
}

func testDeletePrefix(t *testing.T, s bridge.BlobStore) {
	for _, k := range []string{"c/1/x", "c/1/y", "c/12/z", "c/2/x"} {
		put(t, s, k, []byte(k))
	}
	if err := s.Delete(ctx, "c/1/"); err != nil {
		t.Fatal(err)
	}
	wantMissing(t, s, "c/1/x")
	wantMissing(t, s, "c/1/y")
	for _, k := range []string{"c/12/z", "c/2/x"} {
		if got := get(t, s, k); string(got) != k {
			t.Fatalf("prefix delete of c/1/ removed %s", k)
		}
	}
	if err := s.Delete(ctx, "c/9/"); err != nil {
		t.Errorf("Delete of a missing prefix: %v", err)
	}
}

func testBadKeys(t *testing.T, s bridge.BlobStore) {
	for _, k := range []string{"", "/abs", "../up", "a/../b", "a//b", "a/./b", "sp ace", "a\x00b", "ü", strings.Repeat("x", 600), "k/dir/"} {
		if err := s.Put(ctx, k, strings.NewReader("x"), 1); !errors.Is(err, bridge.ErrBlobKey) {
			t.Errorf("Put(%q) = %v, want ErrBlobKey", k, err)
		}
		if _, _, err := s.Get(ctx, k); !errors.Is(err, bridge.ErrBlobKey) && !errors.Is(err, bridge.ErrNotFound) {
			t.Errorf("Get(%q) = %v, want ErrBlobKey or ErrNotFound", k, err)
		}
	}
}

func testConcurrent(t *testing.T, s bridge.BlobStore) {
	data := bytes.Repeat([]byte("same bytes "), 1000)
	var wg sync.WaitGroup
	errs := make(chan error, 8)
	for range 8 {
		wg.Go(func() {
			errs <- s.Put(ctx, "k/same", bytes.NewReader(data), int64(len(data)))
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatalf("concurrent Put: %v", err)
		}
	}
	if got := get(t, s, "k/same"); !bytes.Equal(got, data) {
		t.Fatal("concurrent Puts of the same bytes left something else")
	}
}

func testLarge(t *testing.T, s bridge.BlobStore) {
	data := make([]byte, 7<<20+13)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	put(t, s, "k/large", data)
	if got := get(t, s, "k/large"); !bytes.Equal(got, data) {
		t.Fatal("large object changed")
	}
}

// testLargeStream is testLarge from a reader that is only a stream (no
// Seek, no ReadAt), as an upload's body is.
func testLargeStream(t *testing.T, s bridge.BlobStore) {
	data := make([]byte, 11<<20+7)
	if _, err := rand.Read(data); err != nil {
		t.Fatal(err)
	}
	stream := struct{ io.Reader }{bytes.NewReader(data)}
	if err := s.Put(ctx, "k/stream", stream, int64(len(data))); err != nil {
		t.Fatalf("Put from a stream: %v", err)
	}
	if got := get(t, s, "k/stream"); !bytes.Equal(got, data) {
		t.Fatal("large object from a stream changed")
	}
}

func testEmpty(t *testing.T, s bridge.BlobStore) {
	put(t, s, "k/empty", nil)
	if got := get(t, s, "k/empty"); len(got) != 0 {
		t.Fatalf("empty object reads %q", got)
	}
}

// A prefix delete reaches every depth under the prefix, and only there.
func testDeletePrefixNested(t *testing.T, s bridge.BlobStore) {
	var under []string
	for i := range 30 {
		k := "c/7/" + strings.Repeat("d/", i%4) + "f" + strconv.Itoa(i)
		under = append(under, k)
		put(t, s, k, []byte(k))
	}
	kept := []string{"c/70/x", "c/7x", "c/x/7/y"}
	for _, k := range kept {
		put(t, s, k, []byte(k))
	}
	if err := s.Delete(ctx, "c/7/"); err != nil {
		t.Fatal(err)
	}
	for _, k := range under {
		wantMissing(t, s, k)
	}
	for _, k := range kept {
		if got := get(t, s, k); string(got) != k {
			t.Fatalf("prefix delete of c/7/ changed %s", k)
		}
	}
}
