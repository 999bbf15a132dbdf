package apperr

import (
	"errors"
	"fmt"
)

// Error codes. Transports translate them; the domain never speaks HTTP.
const (
	CodeInvalid            = "invalid"             // 400: the input is wrong (Field names it)
	CodeUnauthorized       = "unauthorized"        // 401: no or bad credentials
	CodeForbidden          = "forbidden"           // 403: credentials fine, not allowed
	CodeNotFound           = "not_found"           // 404
	CodeConflict           = "conflict"            // 409: clashes with current state
	CodePreconditionFailed = "precondition_failed" // 412: stale version
	CodeGone               = "gone"                // 410: no longer kept (e.g. events past retention)
	CodeTooLarge           = "too_large"           // 413
	CodeInternal           = "internal"            // 500: everything else
)

// Error is an application error: a machine-readable Code, a message safe to
// show to the caller, and optionally the input Field it is about.
type Error struct {
	Code    string
	Message string
	Field   string
	// Err is an optional underlying cause, kept for logs and errors.Is/As;
	// it is never shown to clients.
	Err error
}

// Error returns the message (prefixed by the field when there is one).
func (e *Error) Error() string {
	if e.Field != "" {
		return e.Field + ": " + e.Message
	}
	return e.Message
}

// Unwrap returns the cause, if any.
func (e *Error) Unwrap() error { return e.Err }

// Errorf returns an *Error with code and a formatted message. A %w verb in
// format wraps its argument as the cause.
func Errorf(code, format string, args ...any) *Error {
	err := fmt.Errorf(format, args...)
	return &Error{Code: code, Message: err.Error(), Err: errors.Unwrap(err)}
}

// Invalid returns an "invalid" error about the input field.
func Invalid(field, msg string) *Error {
	return &Error{Code: CodeInvalid, Message: msg, Field: field}
}

// Wrap returns an *Error with code and message that keeps cause for logs.
func Wrap(code string, cause error, msg string) *Error {
	return &Error{Code: code, Message: msg, Err: cause}
}

// CodeOf returns the code of the first *Error in err's chain, "" for nil,
// and CodeInternal for any other error.
func CodeOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Code
	}
	return CodeInternal
}

// MessageOf returns the message of the first *Error in err's chain; for any
// other error it returns a generic text, so internal details never leak.
func MessageOf(err error) string {
	if err == nil {
		return ""
	}
	var e *Error
	if errors.As(err, &e) {
		return e.Message
	}
	return "internal error"
}

// FieldOf returns the field of the first *Error in err's chain, or "".
func FieldOf(err error) string {
	var e *Error
	if errors.As(err, &e) {
		return e.Field
	}
	return ""
}

// Is reports whether err carries code.
func Is(err error, code string) bool { return err != nil && CodeOf(err) == code }
