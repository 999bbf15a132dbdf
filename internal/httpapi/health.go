package httpapi

import (
	"context"
	"net/http"
	"sync"
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
//
// It logs when readiness changes, not at every probe: one warning when the
// node stops being ready (with the reason), one more if the reason
// changes, and one line when it is ready again. Probes come every few
// seconds from every load balancer, so a line per probe would bury the
// log during an outage.
func handleReady(d Deps) http.Handler {
	var (
		mu     sync.Mutex
		notOK  bool   // the last probe failed
		reason string // and why
	)
	report := func(err error) {
		mu.Lock()
		defer mu.Unlock()
		switch {
		case err == nil && notOK:
			d.Logger.Info("ready again")
			notOK, reason = false, ""
		case err != nil && (!notOK || err.Error() != reason):
			d.Logger.Warn("not ready", "err", err)
			notOK, reason = true, err.Error()
		}
	}
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if d.Draining != nil && d.Draining() {
			writeStatusProblem(w, http.StatusServiceUnavailable, "this node is shutting down (draining): send new requests to another node")
			return
		}
		if d.Ready != nil {
			ctx, cancel := context.WithTimeout(r.Context(), 2*time.Second)
			defer cancel()
			err := d.Ready(ctx)
			report(err)
			if err != nil {
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
