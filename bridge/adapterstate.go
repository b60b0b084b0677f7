package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// Ref returns a conversation's thread or room on an adapter (ErrNotFound
// when it has none yet).
func (e *Engine) Ref(ctx context.Context, adapter, conversationID string) (string, error) {
	var ref string
	err := e.view(ctx, func(tx Tx) error {
		var err error
		ref, err = tx.Ref(adapter, conversationID)
		return err
	})
	return ref, err
}

// ConversationByRef resolves an adapter's thread or room to its
// conversation (ErrNotFound for a thread or room of no conversation).
func (e *Engine) ConversationByRef(ctx context.Context, adapter, ref string) (string, error) {
	var id string
	err := e.view(ctx, func(tx Tx) error {
		var err error
		id, err = tx.ConversationByRef(adapter, ref)
		return err
	})
	return id, err
}

// AdapterState returns the value an adapter stored under key in its
// namespace (ErrNotFound when none).
func (e *Engine) AdapterState(ctx context.Context, namespace, key string) ([]byte, error) {
	var v []byte
	err := e.view(ctx, func(tx Tx) error {
		var err error
		v, err = tx.GetState(namespace, key)
		return err
	})
	return v, err
}

// AdapterChange is a set of writes to one adapter's own records, committed
// together.
type AdapterChange struct {
	// Refs maps conversation ids to their thread or room.
	Refs map[string]string
	// State maps keys of the adapter's namespace to values; a nil value
	// deletes the key.
	State map[string][]byte
}

// SaveAdapter commits ch for the adapter (its refs under that adapter name,
// its state under that namespace).
func (e *Engine) SaveAdapter(ctx context.Context, adapter string, ch AdapterChange) error {
	err := e.update(ctx, func(t *txn) error {
		for conv, ref := range ch.Refs {
			if err := t.tx.PutRef(adapter, conv, ref); err != nil {
				return err
			}
		}
		for k, v := range ch.State {
			var err error
			if v == nil {
				err = t.tx.DeleteState(adapter, k)
			} else {
				err = t.tx.PutState(adapter, k, v)
			}
			if err != nil {
				return err
			}
		}
		return nil
	})
	if err != nil {
		return fmt.Errorf("save %s state: %w", adapter, err)
	}
	return nil
}

// UpdateAdapterState replaces the value under (namespace, key) with what fn
// makes of the current one (found is false when there is none) in one
// transaction. fn must be pure: it may run more than once. When fn returns
// write false, nothing is written.
func (e *Engine) UpdateAdapterState(ctx context.Context, namespace, key string, fn func(old []byte, found bool) (value []byte, write bool)) error {
	err := e.update(ctx, func(t *txn) error {
		old, err := t.tx.GetState(namespace, key)
		found := err == nil
		if err != nil && !errors.Is(err, ErrNotFound) {
			return err
		}
		v, write := fn(old, found)
		if !write {
			return nil
		}
		if v == nil {
			return t.tx.DeleteState(namespace, key)
		}
		return t.tx.PutState(namespace, key, v)
	})
	if err != nil {
		return fmt.Errorf("update %s state: %w", namespace, err)
	}
	return nil
}

// Once runs fn unless key was handled within ttl (0: Config.DedupTTL), and
// remembers key for ttl when fn succeeds. It suits platform events that
// change nothing in the store themselves (a Matrix transaction, whose
// operator messages go through HandleOperator with their own keys): a crash
// between fn and the record runs fn again, so fn must tolerate that.
func (e *Engine) Once(ctx context.Context, key string, ttl time.Duration, fn func(context.Context) error) error {
	if ttl <= 0 {
		ttl = e.cfg.DedupTTL
	}
	seen, err := e.seen(ctx, key)
	if err != nil {
		return fmt.Errorf("once %s: %w", key, err)
	}
	if seen {
		return nil
	}
	if err := fn(ctx); err != nil {
		return err
	}
	err = e.update(ctx, func(t *txn) error {
		_, err := t.tx.MarkSeen(key, t.now, t.now.Add(ttl))
		return err
	})
	if err != nil {
		return fmt.Errorf("once %s: %w", key, err)
	}
	return nil
}
