package bridge

import (
	"context"
	"fmt"
)

// IssueToken adds a new bearer token to an existing visitor and returns it.
// It is used when the visitor proved who they are some other way (a signed
// resume link from an offline e-mail); the visitor's other tokens stay valid.
// It returns an error wrapping ErrNotFound for an unknown visitor.
func (e *Engine) IssueToken(ctx context.Context, visitorID string) (string, error) {
	token, hash := NewToken()
	err := e.store.Update(ctx, func(tx Tx) error {
		if _, err := tx.Visitor(visitorID); err != nil {
			return err
		}
		return tx.PutToken(hash, visitorID)
	})
	if err != nil {
		return "", fmt.Errorf("issue token: %w", err)
	}
	return token, nil
}
