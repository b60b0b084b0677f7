package canned

import (
	"errors"
	"fmt"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Use records that owner (an Operator.Key()) sent the given shortcuts at now:
// each response's use count goes up by one and LastUsed becomes now. It
// updates the response the owner sees: their personal one, else the shared
// one. Shortcuts that no longer exist are skipped. Call it inside a
// Store.Update.
func Use(tx bridge.Tx, shortcuts []string, owner string, now time.Time) error {
	for _, s := range shortcuts {
		c, err := resolve(tx, s, owner)
		if errors.Is(err, bridge.ErrNotFound) {
			continue
		}
		if err != nil {
			return fmt.Errorf("use canned %s: %w", s, err)
		}
		c.Uses++
		c.LastUsed = now
		if err := tx.PutCanned(c); err != nil {
			return fmt.Errorf("use canned %s: %w", s, err)
		}
	}
	return nil
}

// resolve loads the response with this shortcut that owner sees.
func resolve(tx bridge.Tx, shortcut, owner string) (bridge.CannedResponse, error) {
	if owner != "" {
		c, err := tx.Canned(owner, shortcut)
		if !errors.Is(err, bridge.ErrNotFound) {
			return c, err
		}
	}
	return tx.Canned("", shortcut)
}

// Put validates c and stores it, keeping the use count and last use of an
// existing response with the same owner and shortcut. It reports whether one
// was replaced.
func Put(tx bridge.Tx, c bridge.CannedResponse) (replaced bool, err error) {
	if err := Validate(c); err != nil {
		return false, fmt.Errorf("put canned: %w", err)
	}
	old, err := tx.Canned(c.Owner, c.Shortcut)
	switch {
	case err == nil:
		replaced = true
		c.Uses, c.LastUsed = max(c.Uses, old.Uses), laterOf(c.LastUsed, old.LastUsed)
	case !errors.Is(err, bridge.ErrNotFound):
		return false, fmt.Errorf("put canned: %w", err)
	}
	if err := tx.PutCanned(c); err != nil {
		return false, fmt.Errorf("put canned: %w", err)
	}
	return replaced, nil
}

// Import stores every response of list with Put, validating all of them
// first: when any is invalid nothing is stored. Run it in one Store.Update so
// that a failing write stores nothing either.
func Import(tx bridge.Tx, list []bridge.CannedResponse) (added, replaced int, err error) {
	if err := ValidateAll(list); err != nil {
		return 0, 0, fmt.Errorf("import canned: %w", err)
	}
	for _, c := range list {
		r, err := Put(tx, c)
		if err != nil {
			return 0, 0, fmt.Errorf("import canned: %w", err)
		}
		if r {
			replaced++
		} else {
			added++
		}
	}
	return added, replaced, nil
}

func laterOf(a, b time.Time) time.Time {
	if a.After(b) {
		return a
	}
	return b
}
