package keygate

import (
	"errors"
	"fmt"
)

// Application error codes. They are part of the API: clients switch on them.
const (
	EINVALID      = "INVALID"      // the request is malformed or names something impossible
	ENOTFOUND     = "NOT_FOUND"    // the addressed entity does not exist
	ECONFLICT     = "CONFLICT"     // the request clashes with existing state (duplicate name, in use)
	EUNAUTHORIZED = "UNAUTHORIZED" // no or bad credentials
	EFORBIDDEN    = "FORBIDDEN"    // credentials are fine but not allowed to do this
	ETOOLARGE     = "TOO_LARGE"    // the request body is over the limit
	EUNAVAILABLE  = "UNAVAILABLE"  // a dependency (store, cache) is down; retrying may help
	EINTERNAL     = "INTERNAL"     // a bug or an unexpected fault; details are logged, not shown
)

// Error is an application error: a code for programs and a message for people.
// The message is shown to clients as is, so it must never contain a secret.
type Error struct {
	Code    string
	Message string
	// Cause is the underlying fault, for logs only; clients never see it.
	Cause error
}

func (e *Error) Error() string {
	if e.Cause != nil {
		return fmt.Sprintf("keygate: %s: %s: %v", e.Code, e.Message, e.Cause)
	}
	return fmt.Sprintf("keygate: %s: %s", e.Code, e.Message)
}

func (e *Error) Unwrap() error { return e.Cause }

// Unavailable wraps a dependency's failure (store down, timeout) so that it
// reaches clients as 503 with message, and logs with its cause.
func Unavailable(cause error, message string) *Error {
	return &Error{Code: EUNAVAILABLE, Message: message, Cause: cause}
}

// Errorf returns an application error with a formatted message.
func Errorf(code, format string, args ...any) *Error {
	return &Error{Code: code, Message: fmt.Sprintf(format, args...)}
}

// ErrorCode returns the code of an application error, EINTERNAL for any other
// non-nil error and "" for nil.
func ErrorCode(err error) string {
	var e *Error
	switch {
	case err == nil:
		return ""
	case errors.As(err, &e):
		return e.Code
	}
	return EINTERNAL
}

// ErrorMessage returns the client-facing message of err. Internal errors get a
// generic message so that no detail (SQL, paths, secrets) leaks to a client.
func ErrorMessage(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}
