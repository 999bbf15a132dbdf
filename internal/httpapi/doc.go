// Package httpapi is Eventide's HTTP surface: the REST API for availability
// slots and for catching up on their changes (events.go), health and
// readiness, the OpenAPI document, the dev-only token and
// emit endpoints, and the mounts for Socket.IO (/socket.io/), the plain
// WebSocket endpoint (/ws) and the dashboard (/). NewServer returns one
// http.Handler; routes.go lists every route in one table.
//
// Writes are rate limited per token subject (writes.go): over
// Config.WriteRate a write is answered 429 with Retry-After before its
// body is read.
//
// It is the only package that imports go-chi/chi and go-chi/cors. Errors
// become application/problem+json (RFC 9457) in exactly one place,
// problem.go, which maps apperr codes to HTTP statuses.
package httpapi
