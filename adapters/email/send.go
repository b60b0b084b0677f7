package email

import (
	"errors"
	"fmt"
	"net/textproto"
)

// permanent reports SMTP errors that retrying cannot fix (5xx replies, such
// as an unknown recipient).
func permanent(err error) bool {
	var te *textproto.Error
	if errors.As(err, &te) {
		return te.Code >= 500
	}
	var pe *permanentError
	return errors.As(err, &pe)
}

// permanentError is a failure of ours that retrying cannot fix (a bad
// address).
type permanentError struct{ msg string }

func (e *permanentError) Error() string { return e.msg }

func permanentf(format string, args ...any) error {
	return &permanentError{msg: fmt.Sprintf(format, args...)}
}
