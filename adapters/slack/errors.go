package slack

import "errors"

// Sentinel errors of the adapter. Callers test them with errors.Is.
var (
	// ErrUnhealthy: posting is paused because Slack reported a problem that
	// a person must fix (see Adapter.Health).
	ErrUnhealthy = errors.New("slack is unhealthy")
	// ErrBadSignature: an HTTP event's signature did not verify.
	ErrBadSignature = errors.New("bad slack request signature")
)
