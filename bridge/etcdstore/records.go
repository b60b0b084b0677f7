package etcdstore

import (
	"encoding/hex"
	"encoding/json"
	"fmt"
	"math/rand/v2"
	"strings"

	"github.com/chatbridge/chatbridge/bridge"
)

var _ bridge.Tx = (*tx)(nil)

// getJSON reads key into v; false when missing.
func (t *tx) getJSON(key string, v any) (bool, error) {
	b, ok, err := t.get(key)
	if err != nil || !ok {
		return false, err
	}
	if err := json.Unmarshal(b, v); err != nil {
		return false, fmt.Errorf("decode %s: %w", strings.TrimPrefix(key, t.s.p), err)
	}
	return true, nil
}

func (t *tx) putJSON(key string, v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return err
	}
	t.put(key, b, 0)
	return nil
}

// ---- visitors

func (t *tx) visitorKey(id string) string { return t.s.p + rVisitor + id }

// Visitor returns a visitor by id.
func (t *tx) Visitor(id string) (bridge.Visitor, error) {
	var v bridge.Visitor
	if !validParts(id) {
		return v, errNotFound("visitor", id)
	}
	// A visitor's record is usually read with their conversations.
	if err := t.prefetch(t.visitorKey(id)); err != nil {
		return v, err
	}
	ok, err := t.getJSON(t.visitorKey(id), &v)
	if err != nil {
		return bridge.Visitor{}, err
	}
	if !ok {
		return v, errNotFound("visitor", id)
	}
	return v, nil
}

// PutVisitor creates or replaces v.
func (t *tx) PutVisitor(v bridge.Visitor) error {
	if err := t.writable("put visitor"); err != nil {
		return err
	}
	if err := checkParts("put visitor", v.ID); err != nil {
		return err
	}
	return t.putJSON(t.visitorKey(v.ID), v)
}

// VisitorByToken resolves a token hash.
func (t *tx) VisitorByToken(h []byte) (string, error) {
	if len(h) == 0 {
		return "", errNotFound("token", "")
	}
	v, ok, err := t.get(t.s.p + rToken + hex.EncodeToString(h))
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotFound("token", "")
	}
	return string(v), nil
}

// PutToken maps a token hash to a visitor.
func (t *tx) PutToken(h []byte, visitorID string) error {
	if err := t.writable("put token"); err != nil {
		return err
	}
	if len(h) == 0 {
		return fmt.Errorf("put token: %w: empty hash", bridge.ErrInvalid)
	}
	if err := checkParts("put token", visitorID); err != nil {
		return err
	}
	hx := hex.EncodeToString(h)
	t.put(t.s.p+rToken+hx, []byte(visitorID), 0)
	// A blind put: a token hash is random and never moves to another
	// visitor (DeleteVisitor checks the mapping before deleting it).
	t.put(t.s.p+rTokenByVis+visitorID+sep+hx, nil, 0)
	return nil
}

// VisitorByExternalID resolves a site user id.
func (t *tx) VisitorByExternalID(ext string) (string, error) {
	if !validParts(ext) {
		return "", errNotFound("external id", ext)
	}
	v, ok, err := t.get(t.s.p + rExternal + ext)
	if err != nil {
		return "", err
	}
	if !ok {
		return "", errNotFound("external id", ext)
	}
	return string(v), nil
}

// PutExternalID maps a site user id to a visitor.
func (t *tx) PutExternalID(ext, visitorID string) error {
	if err := t.writable("put external id"); err != nil {
		return err
	}
	if err := checkParts("put external id", ext, visitorID); err != nil {
		return err
	}
	t.put(t.s.p+rExternal+ext, []byte(visitorID), 0)
	return nil
}

// pageViewsKept is how many page views a visitor keeps at least; they are
// trimmed back to it once they pass pageViewsTrim.
const (
	pageViewsKept = 100
	pageViewsTrim = 150
)

// AddPageView records a page view, trimming the oldest beyond the kept
// ones.
func (t *tx) AddPageView(pv bridge.PageView) error {
	if err := t.writable("add page view"); err != nil {
		return err
	}
	if err := checkParts("add page view", pv.VisitorID); err != nil {
		return err
	}
	pfx := t.s.p + rPageView + pv.VisitorID + sep
	nonce := fmt.Sprintf("%0*x", nonceWidth, rand.Uint32())
	if err := t.putJSON(pfx+num(timeKey(pv.At))+nonce, pv); err != nil {
		return fmt.Errorf("add page view: %w", err)
	}
	n, err := t.counts(keyRange{pfx, prefixEnd(pfx)})
	if err != nil {
		return err
	}
	if n[0] <= pageViewsTrim {
		return nil
	}
	old, err := t.scan1(scan{start: pfx, end: prefixEnd(pfx), limit: n[0] - pageViewsKept, keysOnly: true})
	if err != nil {
		return err
	}
	for _, e := range old {
		t.del(e.key)
	}
	return nil
}

// PageViews returns a visitor's page views, newest first.
func (t *tx) PageViews(visitorID string, limit int) ([]bridge.PageView, error) {
	if !validParts(visitorID) {
		return nil, nil
	}
	pfx := t.s.p + rPageView + visitorID + sep
	kvs, err := t.scan1(scan{start: pfx, end: prefixEnd(pfx), limit: max(limit, 0), desc: true})
	if err != nil {
		return nil, err
	}
	out := make([]bridge.PageView, 0, len(kvs))
	for _, e := range kvs {
		var pv bridge.PageView
		if err := json.Unmarshal(e.val, &pv); err != nil {
			return nil, fmt.Errorf("page views: %w", err)
		}
		out = append(out, pv)
	}
	return out, nil
}
