package httpapi

import (
	"net/http"
	"time"

	"github.com/go-chi/chi/v5"
)

// Observer is told of every answered request (metrics, ADR 0024), but
// Engine.IO's and the plain WebSocket's, which their own packages count.
type Observer interface {
	// Request: a request matched route (chi's pattern, e.g.
	// "/api/v1/providers/{providerId}/slots", or RouteUnmatched) and was
	// answered status after took.
	Request(route, method string, status int, took time.Duration)
}

// RouteUnmatched is the route of a request no route of the table matched.
const RouteUnmatched = "unmatched"

// routePattern returns the pattern of the route r matched: bounded (the
// route table's), never the path with its ids.
func routePattern(r *http.Request) string {
	if rc := chi.RouteContext(r.Context()); rc != nil {
		if p := rc.RoutePattern(); p != "" {
			return p
		}
	}
	return RouteUnmatched
}

// answered is the status a request was answered with (200 when the handler
// wrote nothing).
func answered(sw *statusWriter) int {
	if sw.status == 0 {
		return http.StatusOK
	}
	return sw.status
}
