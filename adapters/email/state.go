package email

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// convState is what the adapter remembers about one conversation: the last
// e-mail sent, for coalescing and to skip replies it already carried.
type convState struct {
	SentAt  time.Time `json:"sent_at,omitzero"`
	SentSeq uint64    `json:"sent_seq,omitempty"`
}

func convKey(id string) string { return "conv:" + id }

func (a *Adapter) state(ctx context.Context, convID string) (convState, error) {
	var st convState
	b, err := a.engine.AdapterState(ctx, stateNS, convKey(convID))
	if errors.Is(err, bridge.ErrNotFound) {
		return st, nil
	}
	if err != nil {
		return st, fmt.Errorf("e-mail state of %s: %w", convID, err)
	}
	if err := json.Unmarshal(b, &st); err != nil {
		return convState{}, fmt.Errorf("decode e-mail state of %s: %w", convID, err)
	}
	return st, nil
}

// saveSent records an e-mail sent at with the replies up to seq; the
// recorded seq never moves back.
func (a *Adapter) saveSent(ctx context.Context, convID string, at time.Time, seq uint64) error {
	return a.engine.UpdateAdapterState(context.WithoutCancel(ctx), stateNS, convKey(convID), func(old []byte, found bool) ([]byte, bool) {
		var st convState
		if found {
			_ = json.Unmarshal(old, &st) // a damaged record is replaced
		}
		st.SentAt, st.SentSeq = at, max(st.SentSeq, seq)
		b, err := json.Marshal(st)
		return b, err == nil
	})
}
