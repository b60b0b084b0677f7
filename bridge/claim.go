package bridge

import (
	"context"
	"errors"
	"fmt"
	"time"
)

// ErrAlreadyUsed is wrapped by the errors of things that may be used once
// and were (see Claim): a resume link opened a second time.
var ErrAlreadyUsed = errors.New("already used")

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
