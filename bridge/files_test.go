package bridge_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/blobdir"
)

// An upload's bytes are dropped after a failed send only when no message
// refers to them and no other upload of the same bytes is under way.
func TestDropUnusedBlob(t *testing.T) {
	ctx := context.Background()
	blobs, err := blobdir.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, newFakeDest("fake"))
	put := func(hex string) string {
		key := bridge.BlobKey(strings.Repeat(hex, 32))
		if err := blobs.Put(ctx, key, bytes.NewReader([]byte("png")), 3); err != nil {
			t.Fatal(err)
		}
		return key
	}
	exists := func(key string) bool {
		r, _, err := blobs.Get(ctx, key)
		if err == nil {
			r.Close()
			return true
		}
		if !errors.Is(err, bridge.ErrNotFound) {
			t.Fatal(err)
		}
		return false
	}
	drop := func(key string) bool {
		t.Helper()
		dropped, err := e.engine.DropUnusedBlob(ctx, blobs, key)
		if err != nil {
			t.Fatal(err)
		}
		return dropped
	}

	// Two uploads of the same bytes: the first fails while the second
	// holds them.
	a := put("ab")
	releaseFirst, releaseSecond := e.engine.HoldBlob(a), e.engine.HoldBlob(a)
	releaseFirst()
	releaseFirst() // releasing twice counts once
	if drop(a) || !exists(a) {
		t.Fatal("bytes held by another upload were dropped")
	}
	// The second stores its message: the bytes are referred to for good.
	v := e.visitor("A")
	if _, err := e.engine.VisitorSend(ctx, v.ID, bridge.VisitorInput{ClientID: "f1", File: &bridge.Attachment{
		Key: a, Name: "a.png", Type: "image/png", Size: 3, SHA256: strings.Repeat("ab", 32)}}); err != nil {
		t.Fatal(err)
	}
	releaseSecond()
	if drop(a) || !exists(a) {
		t.Fatal("bytes a message refers to were dropped")
	}
	// Bytes nobody uses go.
	b := put("cd")
	release := e.engine.HoldBlob(b)
	release()
	if !drop(b) || exists(b) {
		t.Fatal("unused bytes were kept")
	}
}
