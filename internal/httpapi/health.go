package httpapi

import (
	"context"
	"net/http"
	"time"
)

type status struct {
	Status string `json:"status"`
}

// handleHealth answers while the process serves HTTP (liveness).
func handleHealth() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		encode(w, http.StatusOK, status{Status: "ok"})
	})
}

// handleReady answers 200 when the store (and, with a Redis adapter, Redis)
// answers, 503 otherwise (readiness), and 503 while the process drains.
func handleReady(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Draining != nil && d.Draining() {
			writeStatusProblem(w, http.StatusServiceUnavailable, "this node is shutting down (draining): send new requests to another node")
			return
		}
		if d.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			if err := d.Ready(ctx); err != nil {
				d.Logger.Warn("not ready", "err", err)
				writeStatusProblem(w, http.StatusServiceUnavailable, "the database or Redis is not reachable")
				return
			}
		}
		encode(w, http.StatusOK, status{Status: "ok"})
	})
}

// handleOpenAPI serves the API contract.
func handleOpenAPI(d Deps) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if len(d.OpenAPI) == 0 {
			writeProblem(w, r, d.Logger, errNotFoundRoute(r))
			return
		}
		w.Header().Set("Content-Type", "application/yaml")
		_, _ = w.Write(d.OpenAPI)
	})
}
