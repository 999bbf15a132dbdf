package httpapi

import (
	"fmt"
	"math"
	"net/http"
	"strconv"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
)

// Catch-up: GET /api/v1/providers/{providerId}/events?after=<seq>&limit=<n>
// returns the provider's changes after a seq (ADR 0014).

// DefaultEventsPage is the page size of the events endpoint without ?limit.
const DefaultEventsPage = 100

// DefaultEventsPageMax is the largest ?limit accepted by default.
const DefaultEventsPageMax = 1000

// Limit names reported to limits.Reporter by this file.
const (
	limitEventsPage      = "httpapi.events_page"
	limitEventsRetention = "httpapi.events_retention"
)

type eventPage struct {
	ProviderID string                `json:"providerId"`
	Seq        int64                 `json:"seq"`
	Events     []availability.Change `json:"events"`
}

func (c Config) eventsPageMax() int {
	if c.EventsPageMax <= 0 {
		return DefaultEventsPageMax
	}
	return c.EventsPageMax
}

func handleListEvents(cfg Config, d Deps) http.Handler {
	pageMax := cfg.eventsPageMax()
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		providerID, err := providerParam(r, false)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		q := r.URL.Query()
		if q.Get("after") == "" {
			writeProblem(w, r, d.Logger, apperr.Invalid("after", "is required: the last seq the client has (0 for none)"))
			return
		}
		after, err := intParam(q.Get("after"), "after", 0, 0, math.MaxInt64)
		if err != nil {
			writeProblem(w, r, d.Logger, err)
			return
		}
		limit, err := intParam(q.Get("limit"), "limit", DefaultEventsPage, 1, int64(pageMax))
		if err != nil {
			if n, perr := strconv.ParseInt(q.Get("limit"), 10, 64); perr == nil && n > int64(pageMax) {
				d.Limits.Hit(limitEventsPage, r.RemoteAddr, "limit", n, "max", pageMax)
			}
			writeProblem(w, r, d.Logger, err)
			return
		}
		events, seq, err := d.Slots.Events(r.Context(), providerID, after, int(limit))
		if err != nil {
			if apperr.Is(err, apperr.CodeGone) {
				d.Limits.Hit(limitEventsRetention, r.RemoteAddr, "provider_id", providerID, "after", after)
			}
			writeProblem(w, r, d.Logger, err)
			return
		}
		encode(w, http.StatusOK, eventPage{ProviderID: providerID, Seq: seq, Events: events})
	})
}

// intParam parses an optional decimal query parameter within [lo, hi]; an
// empty value is def.
func intParam(v, name string, def, lo, hi int64) (int64, error) {
	if v == "" {
		return def, nil
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n < lo || n > hi || strconv.FormatInt(n, 10) != v {
		return 0, apperr.Invalid(name, fmt.Sprintf("must be a whole number from %d to %d", lo, hi))
	}
	return n, nil
}
