package etcdstore

import (
	"bytes"
	"fmt"

	"github.com/chatbridge/chatbridge/bridge"
)

// ---- adapters' refs and state

func (t *tx) refKey(adapter, conv string) string { return t.s.p + rRef + adapter + sep + conv }

func (t *tx) refReverseKey(adapter, ref string) string {
	return t.s.p + rRefReverse + adapter + sep + ref
}

// PutRef maps a conversation to its thread or room, both ways, dropping
// the mappings it replaces.
func (t *tx) PutRef(adapter, conv, ref string) error {
	if err := t.writable("put ref"); err != nil {
		return err
	}
	if err := checkParts("put ref", adapter, conv); err != nil {
		return err
	}
	if ref == "" {
		return fmt.Errorf("put ref: %w: empty ref", bridge.ErrInvalid)
	}
	vals, oks, err := t.getMany([]string{t.refKey(adapter, conv), t.refReverseKey(adapter, ref)})
	if err != nil {
		return err
	}
	if oks[0] && string(vals[0]) != ref {
		t.del(t.refReverseKey(adapter, string(vals[0])))
	}
	if oks[1] && string(vals[1]) != conv {
		t.del(t.refKey(adapter, string(vals[1])))
	}
	t.put(t.refKey(adapter, conv), []byte(ref), 0)
	t.put(t.refReverseKey(adapter, ref), []byte(conv), 0)
	return nil
}

// Ref returns a conversation's thread or room on an adapter.
func (t *tx) Ref(adapter, conv string) (string, error) {
	if !validParts(adapter, conv) {
		return "", errNotFound("ref", conv)
	}
	v, ok, err := t.get(t.refKey(adapter, conv))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotFound("ref", conv)
	}
	return string(v), nil
}

// ConversationByRef resolves a thread or room.
func (t *tx) ConversationByRef(adapter, ref string) (string, error) {
	if !validParts(adapter) || ref == "" {
		return "", errNotFound("conversation of ref", ref)
	}
	v, ok, err := t.get(t.refReverseKey(adapter, ref))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotFound("conversation of ref", ref)
	}
	return string(v), nil
}

func (t *tx) stateKey(ns, key string) string { return t.s.p + rState + ns + sep + key }

// GetState returns the value under (namespace, key).
func (t *tx) GetState(ns, key string) ([]byte, error) {
	if !validParts(ns) || key == "" {
		return nil, errNotFound("state", key)
	}
	v, ok, err := t.get(t.stateKey(ns, key))
	if err != nil {
		return nil, err
	}
	if !ok {
		return nil, errNotFound("state", key)
	}
	return bytes.Clone(v), nil
}

// PutState stores value under (namespace, key).
func (t *tx) PutState(ns, key string, value []byte) error {
	if err := t.writable("put state"); err != nil {
		return err
	}
	if err := checkParts("put state", ns); err != nil {
		return err
	}
	if key == "" {
		return fmt.Errorf("put state: %w: empty key", bridge.ErrInvalid)
	}
	t.put(t.stateKey(ns, key), bytes.Clone(value), 0)
	return nil
}

// DeleteState removes the key.
func (t *tx) DeleteState(ns, key string) error {
	if err := t.writable("delete state"); err != nil {
		return err
	}
	if !validParts(ns) || key == "" {
		return nil
	}
	t.del(t.stateKey(ns, key))
	return nil
}
