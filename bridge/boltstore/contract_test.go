package boltstore_test

import (
	"path/filepath"
	"testing"

	"github.com/chatbridge/chatbridge/bridge"
	"github.com/chatbridge/chatbridge/bridge/boltstore"
	"github.com/chatbridge/chatbridge/bridge/storetest"
)

func TestContract(t *testing.T) {
	storetest.Run(t, func(t *testing.T) bridge.Store {
		s, err := boltstore.Open(filepath.Join(t.TempDir(), "chatbridge.db"), boltstore.Options{NoSync: true})
		if err != nil {
			t.Fatalf("Open: %v", err)
		}
		return s
	})
}
