package etcdstore_test

import (
	"context"
	"fmt"
	"sync/atomic"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/etcdstore"
	"github.com/chatbridge/chatbridge/bridge/storetest"
	"github.com/chatbridge/chatbridge/internal/testpeer"
)

var prefixes atomic.Int64

// openOn opens a store under a fresh prefix of cluster c: every test gets
// an empty store without a cluster of its own.
func openOn(t *testing.T, c *testpeer.EtcdCluster, cfg etcdstore.Config) *etcdstore.Store {
	t.Helper()
	cfg.Endpoints = c.Endpoints()
	if cfg.Prefix == "" {
		cfg.Prefix = fmt.Sprintf("/test-%d/", prefixes.Add(1))
	}
	s, err := etcdstore.Open(context.Background(), cfg, nil)
	if err != nil {
		t.Fatalf("Open: %v", err)
	}
	return s
}

func TestContract(t *testing.T) {
	c := testpeer.Etcd(t, 1)
	storetest.Run(t, func(t *testing.T) bridge.Store { return openOn(t, c, etcdstore.Config{}) })
}
