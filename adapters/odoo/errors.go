package odoo

import (
	"errors"
	"fmt"
)

// ErrAuth means Odoo refused the login or API key (authenticate answered
// false, or an object call was denied twice). It is retried like any other
// failure, so that records wait in the outbox until the key is fixed.
var ErrAuth = errors.New("odoo refused the login or API key")

// RPCError is a JSON-RPC error answer from Odoo.
type RPCError struct {
	// Code is the JSON-RPC error code (Odoo uses 200 for server errors,
	// 100 for an expired session).
	Code int
	// Name is Odoo's exception class ("odoo.exceptions.AccessDenied",
	// "odoo.exceptions.ValidationError").
	Name string
	// Message is Odoo's explanation (data.message, else message).
	Message string
}

// Error returns Odoo's message with its exception name.
func (e *RPCError) Error() string {
	if e.Name != "" {
		return fmt.Sprintf("odoo says: %s (%s)", e.Message, e.Name)
	}
	return fmt.Sprintf("odoo says: %s (code %d)", e.Message, e.Code)
}

// denied reports whether the error says the credentials or session are no
// longer accepted, so that logging in again may help.
func (e *RPCError) denied() bool {
	switch e.Name {
	case "odoo.exceptions.AccessDenied", "odoo.http.SessionExpiredException":
		return true
	}
	return e.Code == 100 // "Odoo Session Expired"
}
