package email

import (
	"encoding/json"
	"errors"
	"fmt"
	"slices"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

const keyPending = "pending"

// convState is what the adapter remembers about one conversation.
type convState struct {
	// SentAt and SentSeq describe the last e-mail sent.
	SentAt  time.Time `json:"sent_at,omitzero"`
	SentSeq uint64    `json:"sent_seq,omitempty"`
	// Seqs are the replies waiting for the next e-mail, Due is when it is.
	Seqs     []uint64  `json:"seqs,omitempty"`
	Due      time.Time `json:"due,omitzero"`
	Attempts int       `json:"attempts,omitempty"`
}

func (s convState) has(seq uint64) bool { return slices.Contains(s.Seqs, seq) }

func convKey(id string) string { return "conv:" + id }

func loadConv(tx bridge.Tx, id string) (convState, error) {
	var st convState
	b, err := tx.GetState(stateNS, convKey(id))
	if errors.Is(err, bridge.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, err
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return convState{}, fmt.Errorf("decode e-mail state of %s: %w", id, err)
	}
	return st, nil
}

// saveConv stores st and keeps the index of conversations with pending
// replies in step.
func saveConv(tx bridge.Tx, id string, st convState) error {
	if len(st.Seqs) == 0 {
		st.Due, st.Attempts = time.Time{}, 0
	}
	b, err := json.Marshal(st)
	if err != nil {
		return err
	}
	if err := tx.PutState(stateNS, convKey(id), b); err != nil {
		return err
	}
	ids, err := pendingIDs(tx)
	if err != nil {
		return err
	}
	i := slices.Index(ids, id)
	switch {
	case len(st.Seqs) > 0 && i < 0:
		ids = append(ids, id)
	case len(st.Seqs) == 0 && i >= 0:
		ids = slices.Delete(ids, i, i+1)
	default:
		return nil
	}
	b, err = json.Marshal(ids)
	if err != nil {
		return err
	}
	return tx.PutState(stateNS, keyPending, b)
}

func pendingIDs(tx bridge.Tx) ([]string, error) {
	b, err := tx.GetState(stateNS, keyPending)
	if errors.Is(err, bridge.ErrNotFound) {
		return nil, nil
	}
	if err != nil {
		return nil, err
	}
	var ids []string
	if err := json.Unmarshal(b, &ids); err != nil {
		return nil, fmt.Errorf("decode pending e-mails: %w", err)
	}
	return ids, nil
}

// loadPending returns the state of every conversation with pending replies.
func loadPending(tx bridge.Tx) (map[string]convState, error) {
	ids, err := pendingIDs(tx)
	if err != nil {
		return nil, err
	}
	out := make(map[string]convState, len(ids))
	for _, id := range ids {
		st, err := loadConv(tx, id)
		if err != nil {
			return nil, err
		}
		if len(st.Seqs) > 0 {
			out[id] = st
		}
	}
	return out, nil
}
