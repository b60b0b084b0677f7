package visitor

import (
	"encoding/json"
	"errors"
	"net/http"
	"strconv"
	"time"

	"github.com/chatbridge/chatbridge/bridge"
)

// Stable error codes of the API's JSON errors.
const (
	CodeBadRequest       = "bad_request"
	CodeUnauthorized     = "unauthorized"
	CodeForbidden        = "forbidden"
	CodeNotFound         = "not_found"
	CodeMethodNotAllowed = "method_not_allowed"
	CodeTooLarge         = "too_large"
	CodeRateLimited      = "rate_limited"
	CodeInternal         = "internal"
	// CodeResumeUsed: a resume link that was used before (410).
	CodeResumeUsed = "resume_used"
)

// apiError is an error with its HTTP status and stable code.
type apiError struct {
	status     int
	code       string
	message    string
	retryAfter time.Duration
	// reason says why a file was refused (Reason*), so that a client can
	// say it in its visitor's language; "" for other errors.
	reason string
}

// Reasons of refused uploads, in error.reason.
const (
	ReasonEmpty    = "empty"     // the file is empty
	ReasonTooLarge = "too_large" // over files.max_bytes
	ReasonType     = "type"      // a kind of file not accepted (HTML, SVG, a false image)
	ReasonDamaged  = "damaged"   // damaged, incomplete or cut off
	ReasonQuota    = "quota"     // the conversation's files of the day
)

// withReason returns e with reason set.
func (e *apiError) withReason(reason string) *apiError {
	c := *e
	c.reason = reason
	return &c
}

func (e *apiError) Error() string { return e.code + ": " + e.message }

func errBadRequest(msg string) *apiError {
	return &apiError{status: http.StatusBadRequest, code: CodeBadRequest, message: msg}
}

func errUnauthorized(msg string) *apiError {
	return &apiError{status: http.StatusUnauthorized, code: CodeUnauthorized, message: msg}
}

func errTooLarge(msg string) *apiError {
	return &apiError{status: http.StatusRequestEntityTooLarge, code: CodeTooLarge, message: msg}
}

func errRateLimited(msg string, retry time.Duration) *apiError {
	return &apiError{status: http.StatusTooManyRequests, code: CodeRateLimited, message: msg, retryAfter: retry}
}

var (
	errForbiddenOrigin = &apiError{status: http.StatusForbidden, code: CodeForbidden, message: "this origin is not allowed to use the chat"}
	errNotFound        = &apiError{status: http.StatusNotFound, code: CodeNotFound, message: "no such endpoint"}
	errInternal        = &apiError{status: http.StatusInternalServerError, code: CodeInternal, message: "internal error, please try again"}
)

// errorBody is the JSON shape of every error: {"error":{"code","message"}}.
type errorBody struct {
	Error struct {
		Code    string `json:"code"`
		Message string `json:"message"`
		Reason  string `json:"reason,omitempty"`
	} `json:"error"`
}

// writeError writes err as a JSON error. Errors that are not an *apiError
// are mapped from the bridge sentinels; anything else is logged and becomes
// a 500 without details.
func (s *Server) writeError(w http.ResponseWriter, r *http.Request, err error) {
	var ae *apiError
	switch {
	case errors.As(err, &ae):
	case errors.Is(err, bridge.ErrTooLarge):
		ae = errTooLarge(bridgeMessage(err))
	case errors.Is(err, bridge.ErrInvalid):
		ae = errBadRequest(bridgeMessage(err))
	case errors.Is(err, bridge.ErrUnauthorized):
		ae = errUnauthorized("unknown or expired token: start a new session")
	default:
		s.log.Error("visitor api request failed", "method", r.Method, "path", r.URL.Path, "err", err)
		ae = errInternal
	}
	if ae.retryAfter > 0 {
		secs := int64((ae.retryAfter + time.Second - 1) / time.Second)
		w.Header().Set("Retry-After", strconv.FormatInt(secs, 10))
	}
	var body errorBody
	body.Error.Code, body.Error.Message, body.Error.Reason = ae.code, ae.message, ae.reason
	writeJSON(w, ae.status, body)
}

// bridgeMessage strips the "invalid input: " style prefixes of bridge
// errors down to the part written for people.
func bridgeMessage(err error) string {
	msg := err.Error()
	for _, p := range []string{"visitor message: ", "invalid input: ", "too large: "} {
		for len(msg) > len(p) && msg[:len(p)] == p {
			msg = msg[len(p):]
		}
	}
	return msg
}

// writeJSON writes v with status. API responses are never cached and never
// sniffed as HTML.
func writeJSON(w http.ResponseWriter, status int, v any) {
	b, err := json.Marshal(v)
	if err != nil {
		status = http.StatusInternalServerError
		b = []byte(`{"error":{"code":"internal","message":"internal error, please try again"}}`)
	}
	h := w.Header()
	h.Set("Content-Type", "application/json; charset=utf-8")
	h.Set("Content-Length", strconv.Itoa(len(b)+1))
	w.WriteHeader(status)
	_, _ = w.Write(append(b, '\n'))
}
