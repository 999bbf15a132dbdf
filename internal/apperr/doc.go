// Package apperr is Eventide's one application error type. Every layer returns
// *Error for conditions a caller can act on (bad input, missing thing,
// conflict); transports map Code to their own status (HTTP in
// internal/httpapi, connect_error in internal/realtime) in exactly one place.
// Anything that is not an *Error is an internal error.
package apperr
