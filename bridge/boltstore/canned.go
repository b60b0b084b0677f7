package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/chatbridge/chatbridge/bridge"
	berrors "go.etcd.io/bbolt/errors"
)

// errReadOnly is what write methods return in a View.
var errReadOnly = berrors.ErrTxNotWritable

// writable fails in a read-only transaction, before anything is looked up,
// so that a write method in a View fails even when it would change nothing.
func (t *tx) writable(op string) error {
	if !t.tx.Writable() {
		return fmt.Errorf("%s: %w", op, errReadOnly)
	}
	return nil
}

// Canned responses are keyed by shortcut\0owner, so that a scan lists them
// by shortcut then owner.

// PutCanned stores c under (Owner, Shortcut).
func (t *tx) PutCanned(c bridge.CannedResponse) error {
	if err := t.writable("put canned"); err != nil {
		return err
	}
	if err := checkParts("put canned", c.Shortcut); err != nil {
		return err
	}
	if err := putJSON(t.b(bCanned), key([]string{c.Shortcut, c.Owner}), c); err != nil {
		return fmt.Errorf("put canned: %w", err)
	}
	return nil
}

// Canned returns one canned response.
func (t *tx) Canned(owner, shortcut string) (bridge.CannedResponse, error) {
	var c bridge.CannedResponse
	ok := false
	if validParts(shortcut) {
		var err error
		if ok, err = getJSON(t.b(bCanned), key([]string{shortcut, owner}), &c); err != nil {
			return bridge.CannedResponse{}, fmt.Errorf("canned %s: %w", shortcut, err)
		}
	}
	if !ok {
		return bridge.CannedResponse{}, errNotFound("canned response", shortcut)
	}
	return c, nil
}

// DeleteCanned removes a canned response; ErrNotFound when there is none.
func (t *tx) DeleteCanned(owner, shortcut string) error {
	if err := t.writable("delete canned"); err != nil {
		return err
	}
	b := t.b(bCanned)
	k := key([]string{shortcut, owner})
	if !validParts(shortcut) || b.Get(k) == nil {
		return errNotFound("canned response", shortcut)
	}
	if err := b.Delete(k); err != nil {
		return fmt.Errorf("delete canned: %w", err)
	}
	return nil
}

// AllCanned lists every canned response by shortcut, then owner.
func (t *tx) AllCanned() ([]bridge.CannedResponse, error) {
	var out []bridge.CannedResponse
	err := t.b(bCanned).ForEach(func(_, v []byte) error {
		var c bridge.CannedResponse
		if err := json.Unmarshal(v, &c); err != nil {
			return err
		}
		out = append(out, c)
		return nil
	})
	if err != nil {
		return nil, fmt.Errorf("all canned: %w", err)
	}
	return out, nil
}

// GetState returns a copy of the value under (namespace, key).
func (t *tx) GetState(namespace, k string) ([]byte, error) {
	if validParts(namespace) && k != "" {
		fk := key([]string{namespace, k})
		// A cursor tells a stored empty value from a missing key.
		if got, v := t.b(bState).Cursor().Seek(fk); got != nil && bytes.Equal(got, fk) {
			return append([]byte{}, v...), nil
		}
	}
	return nil, errNotFound("state", namespace+"/"+k)
}

// DeleteState removes (namespace, key); a missing key is not an error.
func (t *tx) DeleteState(namespace, k string) error {
	if err := t.writable("delete state"); err != nil {
		return err
	}
	if !validParts(namespace) || k == "" {
		return nil
	}
	if err := t.b(bState).Delete(key([]string{namespace, k})); err != nil {
		return fmt.Errorf("delete state: %w", err)
	}
	return nil
}

// PutState stores value under (namespace, key).
func (t *tx) PutState(namespace, k string, value []byte) error {
	if err := t.writable("put state"); err != nil {
		return err
	}
	if err := checkParts("put state", namespace); err != nil {
		return err
	}
	if k == "" {
		return fmt.Errorf("put state: %w: empty key", bridge.ErrInvalid)
	}
	if err := t.b(bState).Put(key([]string{namespace, k}), append([]byte{}, value...)); err != nil {
		return fmt.Errorf("put state: %w", err)
	}
	return nil
}
