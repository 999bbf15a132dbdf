package httpapi

import (
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"

	"github.com/eventide/realtime/internal/apperr"
)

// problem is an RFC 9457 problem details body.
type problem struct {
	Type   string         `json:"type"`
	Title  string         `json:"title"`
	Status int            `json:"status"`
	Detail string         `json:"detail,omitempty"`
	Field  string         `json:"field,omitempty"`
	Errors []fieldProblem `json:"errors,omitempty"`
}

type fieldProblem struct {
	Field   string `json:"field"`
	Message string `json:"message"`
}

// statusOf is the one mapping from apperr codes to HTTP statuses.
func statusOf(code string) int {
	switch code {
	case apperr.CodeInvalid:
		return http.StatusBadRequest
	case apperr.CodeUnauthorized:
		return http.StatusUnauthorized
	case apperr.CodeForbidden:
		return http.StatusForbidden
	case apperr.CodeNotFound:
		return http.StatusNotFound
	case apperr.CodeConflict:
		return http.StatusConflict
	case apperr.CodePreconditionFailed:
		return http.StatusPreconditionFailed
	case apperr.CodeGone:
		return http.StatusGone
	case apperr.CodeTooLarge:
		return http.StatusRequestEntityTooLarge
	}
	return http.StatusInternalServerError
}

// statusError is an error of the HTTP exchange itself, with no apperr
// code: the domain has no word for a slow client.
type statusError struct {
	status int
	detail string
}

func (e *statusError) Error() string { return e.detail }

// errBodyTimeout: the request body did not arrive within the read timeout.
var errBodyTimeout = &statusError{http.StatusRequestTimeout, "the request body did not arrive in time"}

// statusClientClosed is recorded (in the request log) for a request
// whose client went away before it was answered; nothing reaches the
// client. The number is nginx's.
const statusClientClosed = 499

// writeProblem writes err as problem+json. Internal errors are logged and
// answered with a generic detail; application errors are not logged. An
// internal error of a request whose client has gone (its context is
// cancelled: the client closed the connection, or its body broke off) is
// no fault of the server: it is logged at debug level only and answered
// with 499, which nobody reads.
func writeProblem(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	var se *statusError
	if errors.As(err, &se) {
		if se.status == http.StatusRequestTimeout {
			w.Header().Set("Connection", "close")
		}
		sendProblem(w, problem{Type: "about:blank", Title: http.StatusText(se.status), Status: se.status, Detail: se.detail})
		return
	}
	code := apperr.CodeOf(err)
	status := statusOf(code)
	if status == http.StatusInternalServerError && r.Context().Err() != nil {
		logger.Debug("request abandoned by the client", "method", r.Method, "path", r.URL.Path, "err", err)
		w.WriteHeader(statusClientClosed)
		return
	}
	p := problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: apperr.MessageOf(err)}
	if status == http.StatusInternalServerError {
		logger.Error("request failed", "method", r.Method, "path", r.URL.Path, "err", err)
	}
	if f := apperr.FieldOf(err); f != "" {
		p.Field = f
		p.Errors = []fieldProblem{{Field: f, Message: apperr.MessageOf(err)}}
	}
	if status == http.StatusUnauthorized {
		w.Header().Set("WWW-Authenticate", `Bearer realm="eventide"`)
	}
	sendProblem(w, p)
}

// writeStatusProblem writes a problem for a status with no apperr code (405, 503).
func writeStatusProblem(w http.ResponseWriter, status int, detail string) {
	sendProblem(w, problem{Type: "about:blank", Title: http.StatusText(status), Status: status, Detail: detail})
}

func sendProblem(w http.ResponseWriter, p problem) {
	w.Header().Set("Content-Type", "application/problem+json")
	w.Header().Set("Cache-Control", "no-store")
	w.WriteHeader(p.Status)
	_ = json.NewEncoder(w).Encode(p)
}

func errNotFoundRoute(r *http.Request) error {
	return apperr.Errorf(apperr.CodeNotFound, "no route for %s %s", r.Method, r.URL.Path)
}

// handleAdminOnly answers a path of the admin listener's (/metrics,
// /debug/pprof/) on the public one: 404, naming where it is served.
func handleAdminOnly(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, d.Logger, apperr.Errorf(apperr.CodeNotFound,
			"%s is served on the admin listener (--admin-addr, loopback only), not on this one", r.URL.Path))
	})
}

func handleNotFound(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, d.Logger, errNotFoundRoute(r))
	})
}
