package boltstore_test

import (
	"context"
	"errors"
	"testing"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	bolt "go.etcd.io/bbolt"
)

// A store of schema 4 (tokens not indexed by visitor) opens as schema 5
// with its tokens indexed: deleting a visitor deletes the tokens it had
// before the upgrade.
func TestMigrateTokenIndex(t *testing.T) {
	ctx := context.Background()
	s, path := openTemp(t)
	_, h := bridge.NewToken()
	err := s.Update(ctx, func(tx bridge.Tx) error {
		if err := tx.PutVisitor(bridge.Visitor{ID: "v_1"}); err != nil {
			return err
		}
		return tx.PutToken(h, "v_1")
	})
	if err != nil {
		t.Fatal(err)
	}
	s.Close()
	db, err := bolt.Open(path, 0o600, &bolt.Options{Timeout: time.Second})
	if err != nil {
		t.Fatal(err)
	}
	err = db.Update(func(tx *bolt.Tx) error {
		if err := tx.DeleteBucket([]byte("tokens_by_visitor")); err != nil {
			return err
		}
		return tx.Bucket([]byte("meta")).Put([]byte("schema_version"), []byte{0, 0, 0, 0, 0, 0, 0, 4})
	})
	db.Close()
	if err != nil {
		t.Fatal(err)
	}
	s, err = boltstore.Open(path, boltstore.Options{})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	if err := s.Update(ctx, func(tx bridge.Tx) error { return tx.DeleteVisitor("v_1") }); err != nil {
		t.Fatal(err)
	}
	err = s.View(ctx, func(tx bridge.Tx) error {
		_, err := tx.VisitorByToken(h)
		return err
	})
	if !errors.Is(err, bridge.ErrNotFound) {
		t.Fatalf("token of a deleted visitor after the migration: %v", err)
	}
}
