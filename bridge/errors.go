package bridge

import "errors"

// Sentinel errors. Callers test them with errors.Is.
var (
	// ErrNotFound: the record does not exist.
	ErrNotFound = errors.New("not found")
	// ErrSchemaTooNew: the store was written by a newer chatbridge.
	ErrSchemaTooNew = errors.New("store schema is newer than this chatbridge")
	// ErrClosed: the conversation is closed.
	ErrClosed = errors.New("conversation is closed")
	// ErrPermanent wraps a delivery error that retrying cannot fix; the
	// outbox entry is dropped (and logged) instead of retried.
	ErrPermanent = errors.New("permanent delivery failure")
	// ErrInvalid: the input is not acceptable (see the message).
	ErrInvalid = errors.New("invalid input")
)
