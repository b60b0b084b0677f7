package etcdstore_test

import (
	"context"
	"errors"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/internal/testpeer"
	clientv3 "go.etcd.io/etcd/client/v3"
)

// A store of layout 1 (tokens not indexed by visitor) is indexed when
// opened: deleting a visitor deletes the tokens it had before.
func TestMigrateTokenIndex(t *testing.T) {
	ctx := context.Background()
	c := testpeer.Etcd(t, 1)
	s := openOn(t, c, etcdstore.Config{})
	p := s.Prefix()
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
	cli := s.Client()
	if _, err := cli.Delete(ctx, p+"vtok/", clientv3.WithPrefix()); err != nil {
		t.Fatal(err)
	}
	if _, err := cli.Put(ctx, p+"meta/schema", "1"); err != nil {
		t.Fatal(err)
	}
	s.Close()
	s = openOn(t, c, etcdstore.Config{Prefix: p})
	defer s.Close()
	resp, err := s.Client().Get(ctx, p+"meta/schema")
	if err != nil || len(resp.Kvs) != 1 || string(resp.Kvs[0].Value) != "2" {
		t.Fatalf("layout after the migration: %v, %v", resp, err)
	}
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
