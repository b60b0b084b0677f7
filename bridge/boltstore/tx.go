package boltstore

import (
	"bytes"
	"encoding/json"
	"fmt"

	"github.com/chatbridge/chatbridge/bridge"
	bolt "go.etcd.io/bbolt"
)

// maxPageViews is how many page views are kept per visitor.
const maxPageViews = 200

// tx implements bridge.Tx on a bbolt transaction.
type tx struct {
	tx *bolt.Tx
}

var _ bridge.Tx = (*tx)(nil)

func (t *tx) b(name []byte) *bolt.Bucket { return t.tx.Bucket(name) }

// getJSON decodes the value of k in bucket b into v; ok is false when k is
// missing. json.Unmarshal copies, so v does not alias the transaction.
func getJSON(b *bolt.Bucket, k []byte, v any) (bool, error) {
	data := b.Get(k)
	if data == nil {
		return false, nil
	}
	if err := json.Unmarshal(data, v); err != nil {
		return true, fmt.Errorf("decode: %w", err)
	}
	return true, nil
}

func putJSON(b *bolt.Bucket, k []byte, v any) error {
	data, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("encode: %w", err)
	}
	return b.Put(k, data)
}

// Visitor returns a visitor by id.
func (t *tx) Visitor(id string) (bridge.Visitor, error) {
	var data []byte
	if id != "" {
		data = t.b(bVisitors).Get([]byte(id))
	}
	if data == nil {
		return bridge.Visitor{}, errNotFound("visitor", id)
	}
	v, err := decodeVisitor(data)
	if err != nil {
		return bridge.Visitor{}, fmt.Errorf("visitor %s: decode: %w", id, err)
	}
	return v, nil
}

// PutVisitor stores v under v.ID.
func (t *tx) PutVisitor(v bridge.Visitor) error {
	if err := t.writable("put visitor"); err != nil {
		return err
	}
	if err := checkParts("put visitor", v.ID); err != nil {
		return err
	}
	if err := t.b(bVisitors).Put([]byte(v.ID), encodeVisitor(v)); err != nil {
		return fmt.Errorf("put visitor: %w", err)
	}
	return nil
}

// VisitorByToken resolves a token hash to a visitor id.
func (t *tx) VisitorByToken(tokenHash []byte) (string, error) {
	if len(tokenHash) == 0 {
		return "", errNotFound("token", "(empty)")
	}
	v := t.b(bTokens).Get(tokenHash)
	if v == nil {
		return "", errNotFound("token", "(hash)")
	}
	return string(v), nil
}

// PutToken maps a token hash to a visitor id.
func (t *tx) PutToken(tokenHash []byte, visitorID string) error {
	if err := t.writable("put token"); err != nil {
		return err
	}
	if len(tokenHash) == 0 {
		return fmt.Errorf("put token: %w: empty token hash", bridge.ErrInvalid)
	}
	if err := checkParts("put token", visitorID); err != nil {
		return err
	}
	tokens, byVis := t.b(bTokens), t.b(bTokensByVis)
	if prev := tokens.Get(tokenHash); prev != nil && string(prev) != visitorID {
		if err := byVis.Delete(key([]string{string(prev)}, tokenHash)); err != nil {
			return fmt.Errorf("put token: %w", err)
		}
	}
	if err := tokens.Put(bytes.Clone(tokenHash), []byte(visitorID)); err != nil {
		return fmt.Errorf("put token: %w", err)
	}
	if err := byVis.Put(key([]string{visitorID}, tokenHash), []byte{}); err != nil {
		return fmt.Errorf("put token: %w", err)
	}
	return nil
}

// VisitorByExternalID resolves a site user id to a visitor id.
func (t *tx) VisitorByExternalID(externalID string) (string, error) {
	var v []byte
	if externalID != "" {
		v = t.b(bExternalIDs).Get([]byte(externalID))
	}
	if v == nil {
		return "", errNotFound("external id", externalID)
	}
	return string(v), nil
}

// PutExternalID maps a site user id to a visitor id.
func (t *tx) PutExternalID(externalID, visitorID string) error {
	if err := t.writable("put external id"); err != nil {
		return err
	}
	if externalID == "" {
		return fmt.Errorf("put external id: %w: empty external id", bridge.ErrInvalid)
	}
	if err := checkParts("put external id", visitorID); err != nil {
		return err
	}
	if err := t.b(bExternalIDs).Put([]byte(externalID), []byte(visitorID)); err != nil {
		return fmt.Errorf("put external id: %w", err)
	}
	return nil
}

// AddPageView records pv under visitor\0time\0seq and keeps the newest
// maxPageViews of the visitor.
func (t *tx) AddPageView(pv bridge.PageView) error {
	if err := t.writable("add page view"); err != nil {
		return err
	}
	if err := checkParts("add page view", pv.VisitorID); err != nil {
		return err
	}
	b := t.b(bPageViews)
	seq, err := b.NextSequence()
	if err != nil {
		return fmt.Errorf("add page view: %w", err)
	}
	if err := putJSON(b, key([]string{pv.VisitorID}, u64(timeKey(pv.At)), u64(seq)), pv); err != nil {
		return fmt.Errorf("add page view: %w", err)
	}
	var old [][]byte
	n := 0
	for it := newRevPrefix(b, prefix(pv.VisitorID)); it.k != nil; it.prev() {
		if n++; n > maxPageViews {
			old = append(old, bytes.Clone(it.k))
		}
	}
	for _, k := range old {
		if err := b.Delete(k); err != nil {
			return fmt.Errorf("prune page views: %w", err)
		}
	}
	return nil
}

// PageViews returns up to limit page views of a visitor, newest first
// (limit <= 0: all that are kept).
func (t *tx) PageViews(visitorID string, limit int) ([]bridge.PageView, error) {
	if !validParts(visitorID) {
		return nil, nil
	}
	var out []bridge.PageView
	for it := newRevPrefix(t.b(bPageViews), prefix(visitorID)); it.k != nil; it.prev() {
		var pv bridge.PageView
		if err := json.Unmarshal(it.v, &pv); err != nil {
			return nil, fmt.Errorf("page views: decode: %w", err)
		}
		out = append(out, pv)
		if limit > 0 && len(out) == limit {
			break
		}
	}
	return out, nil
}
