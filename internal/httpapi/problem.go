package httpapi

import (
	"encoding/json"
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

// writeProblem writes err as problem+json. Internal errors are logged and
// answered with a generic detail; application errors are not logged.
func writeProblem(w http.ResponseWriter, r *http.Request, logger *slog.Logger, err error) {
	code := apperr.CodeOf(err)
	status := statusOf(code)
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

func handleNotFound(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, d.Logger, errNotFoundRoute(r))
	})
}
