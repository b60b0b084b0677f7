package bridge

import (
	"context"
	"fmt"
	"time"
)

// Claim records key until expires and reports whether this call made the
// record: false when a live record of key already existed (someone claimed
// it first). It suits things that may be used once, such as the code of a
// resume link. The record is purged after expires, like the platform
// events' de-duplication records.
func (e *Engine) Claim(ctx context.Context, key string, expires time.Time) (bool, error) {
	var existed bool
	err := e.update(ctx, func(t *txn) error {
		var err error
		existed, err = t.tx.MarkSeen(key, t.now, expires)
		return err
	})
	if err != nil {
		return false, fmt.Errorf("claim %s: %w", key, err)
	}
	return !existed, nil
}
