package etcdstore

import (
	"encoding/json"
	"fmt"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

// ---- canned responses

func (t *tx) cannedKey(owner, shortcut string) string {
	return t.s.p + rCanned + shortcut + sep + owner
}

// PutCanned creates or replaces c.
func (t *tx) PutCanned(c bridge.CannedResponse) error {
	if err := t.writable("put canned response"); err != nil {
		return err
	}
	if err := checkParts("put canned response", c.Shortcut); err != nil {
		return err
	}
	if strings.Contains(c.Owner, sep) {
		return fmt.Errorf("put canned response: %w: owner contains a NUL byte", bridge.ErrInvalid)
	}
	return t.putJSON(t.cannedKey(c.Owner, c.Shortcut), c)
}

// Canned returns one response.
func (t *tx) Canned(owner, shortcut string) (bridge.CannedResponse, error) {
	var c bridge.CannedResponse
	if !validParts(shortcut) || strings.Contains(owner, sep) {
		return c, errNotFound("canned response", shortcut)
	}
	ok, err := t.getJSON(t.cannedKey(owner, shortcut), &c)
	if err != nil {
		return bridge.CannedResponse{}, err
	}
	if !ok {
		return bridge.CannedResponse{}, errNotFound("canned response", shortcut)
	}
	return c, nil
}

// DeleteCanned removes one response.
func (t *tx) DeleteCanned(owner, shortcut string) error {
	if _, err := t.Canned(owner, shortcut); err != nil {
		return fmt.Errorf("delete canned response: %w", err)
	}
	if err := t.writable("delete canned response"); err != nil {
		return err
	}
	t.del(t.cannedKey(owner, shortcut))
	return nil
}

// AllCanned lists every response by shortcut, then owner.
func (t *tx) AllCanned() ([]bridge.CannedResponse, error) {
	pfx := t.s.p + rCanned
	kvs, err := t.scan1(scan{start: pfx, end: prefixEnd(pfx)})
	if err != nil {
		return nil, err
	}
	out := make([]bridge.CannedResponse, 0, len(kvs))
	for _, e := range kvs {
		var c bridge.CannedResponse
		if err := json.Unmarshal(e.val, &c); err != nil {
			return nil, fmt.Errorf("canned responses: %w", err)
		}
		out = append(out, c)
	}
	return out, nil
}
