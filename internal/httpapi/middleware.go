package httpapi

import (
	"bufio"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"os"
	"runtime/debug"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/limits"
)

// statusWriter records the status for the request log. It passes Flush and
// Hijack through (long-polling and WebSocket upgrades run behind it) and
// supports http.ResponseController via Unwrap.
type statusWriter struct {
	http.ResponseWriter
	status int
	bytes  int64
	// writeTimedOut: a write failed on the write deadline.
	writeTimedOut bool
}

func (w *statusWriter) WriteHeader(code int) {
	if w.status == 0 {
		w.status = code
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *statusWriter) Write(b []byte) (int, error) {
	if w.status == 0 {
		w.status = http.StatusOK
	}
	n, err := w.ResponseWriter.Write(b)
	w.bytes += int64(n)
	if err != nil && errors.Is(err, os.ErrDeadlineExceeded) {
		w.writeTimedOut = true
	}
	return n, err
}

func (w *statusWriter) Flush() {
	if f, ok := w.ResponseWriter.(http.Flusher); ok {
		f.Flush()
	}
}

func (w *statusWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	h, ok := w.ResponseWriter.(http.Hijacker)
	if !ok {
		return nil, nil, fmt.Errorf("httpapi: %T cannot hijack", w.ResponseWriter)
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	return h.Hijack()
}

func (w *statusWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Limit names reported by this package.
const (
	LimitBodyBytes    = "http.body_bytes"        // a JSON body over MaxBodyBytes (413)
	LimitBodyTimeout  = "http.body_read_timeout" // a body not sent within ReadTimeout (408)
	LimitWriteTimeout = "http.write_timeout"     // an answer not read within WriteTimeout
)

// logRequests logs method, path (never the query: it may hold a token),
// status and duration, and reports the limits a request hit. Socket.IO and
// WebSocket traffic (every long-poll is a request) is logged at debug
// level.
func logRequests(logger *slog.Logger, rep *limits.Reporter, obs Observer) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			start := time.Now()
			sw := &statusWriter{ResponseWriter: w}
			next.ServeHTTP(sw, r)
			// Socket.IO and the plain WebSocket keep their own limits and
			// report them under their own names; a 413 or 408 of theirs is
			// not one of these.
			engine := strings.HasPrefix(r.URL.Path, "/socket.io") || r.URL.Path == "/ws"
			if obs != nil && !engine {
				obs.Request(routePattern(r), r.Method, answered(sw), time.Since(start))
			}
			switch {
			case engine:
			case sw.status == http.StatusRequestEntityTooLarge:
				rep.Hit(LimitBodyBytes, r.RemoteAddr, "path", r.URL.Path)
			case sw.status == http.StatusRequestTimeout:
				rep.Hit(LimitBodyTimeout, r.RemoteAddr, "path", r.URL.Path)
			case sw.writeTimedOut:
				rep.Hit(LimitWriteTimeout, r.RemoteAddr, "path", r.URL.Path)
			}
			level := slog.LevelInfo
			if engine {
				level = slog.LevelDebug
			}
			// Checked first so a disabled level costs no attributes, and
			// LogAttrs so an enabled one does not box them into []any.
			if !logger.Enabled(r.Context(), level) {
				return
			}
			logger.LogAttrs(r.Context(), level, "http request",
				slog.String("method", r.Method), slog.String("path", r.URL.Path), slog.Int("status", sw.status),
				slog.Int64("bytes", sw.bytes), slog.Duration("duration", time.Since(start)))
		})
	}
}

// recoverer turns a panic into a logged 500 problem.
func recoverer(logger *slog.Logger) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			defer func() {
				v := recover()
				if v == nil {
					return
				}
				if err, ok := v.(error); ok && errors.Is(err, http.ErrAbortHandler) {
					panic(v)
				}
				logger.Error("panic in handler", "method", r.Method, "path", r.URL.Path, "panic", fmt.Sprint(v), "stack", string(debug.Stack()))
				writeProblem(w, r, logger, fmt.Errorf("panic: %v", v))
			}()
			next.ServeHTTP(w, r)
		})
	}
}

// requireAuth verifies the bearer token and puts its claims in the context.
func requireAuth(d Deps) func(http.Handler) http.Handler {
	return func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			tok := auth.TokenFromRequest(r)
			if tok == "" {
				writeProblem(w, r, d.Logger, apperr.Errorf(apperr.CodeUnauthorized, "missing bearer token (Authorization: Bearer <jwt>)"))
				return
			}
			if d.Verifier == nil {
				writeProblem(w, r, d.Logger, errors.New("httpapi: no token verifier configured"))
				return
			}
			c, err := d.Verifier.Verify(tok)
			if err != nil {
				writeProblem(w, r, d.Logger, err)
				return
			}
			next.ServeHTTP(w, r.WithContext(auth.WithClaims(r.Context(), c)))
		})
	}
}

// claims returns the request's verified claims (requireAuth ran).
func claims(r *http.Request) auth.Claims {
	c, _ := auth.ClaimsFrom(r.Context())
	return c
}
