package httpapi

import (
	"net/http"

	"github.com/go-chi/chi/v5"
)

// routes is the whole HTTP surface in one table.
func routes(r chi.Router, cfg Config, d Deps) {
	r.Method(http.MethodGet, "/healthz", handleHealth())
	r.Method(http.MethodGet, "/readyz", handleReady(d))
	r.Method(http.MethodGet, "/api/openapi.yaml", handleOpenAPI(d))

	r.Route("/api/v1", func(r chi.Router) {
		r.Group(func(r chi.Router) {
			r.Use(requireAuth(d), limitWrites(cfg, d))
			r.Method(http.MethodGet, "/providers/{providerId}/slots", handleListSlots(cfg, d))
			r.Method(http.MethodPost, "/providers/{providerId}/slots", handleCreateSlot(cfg, d))
			r.Method(http.MethodGet, "/providers/{providerId}/slots/{slotId}", handleGetSlot(d))
			r.Method(http.MethodPatch, "/providers/{providerId}/slots/{slotId}", handleUpdateSlot(cfg, d))
			r.Method(http.MethodDelete, "/providers/{providerId}/slots/{slotId}", handleDeleteSlot(d))
			r.Method(http.MethodGet, "/providers/{providerId}/events", handleListEvents(cfg, d))
			if !cfg.production() && d.Emitter != nil {
				r.Method(http.MethodPost, "/dev/emit", handleDevEmit(cfg, d)) // admin token
			}
			if !cfg.production() && d.Attendance != nil {
				r.Method(http.MethodPost, "/dev/attendance/broadcast", handleDevAttendanceBroadcast(cfg, d)) // admin token
			}
		})
		if !cfg.production() && d.Minter != nil {
			r.Method(http.MethodPost, "/dev/token", handleDevToken(cfg, d)) // no token: it hands them out
		}
	})
	// Anything else under /api/ is a problem+json 404, never the dashboard.
	r.Handle("/api/*", handleNotFound(d))
	// The operator's surface is on the admin listener only (ADR 0017,
	// 0024): a scraper pointed here gets a 404 that says where it is.
	r.Handle("/metrics", handleAdminOnly(d))
	r.Handle("/debug/*", handleAdminOnly(d))

	if d.SocketIO != nil {
		r.Handle("/socket.io", d.SocketIO)
		r.Handle("/socket.io/*", d.SocketIO)
	}
	if d.RawWS != nil {
		r.Handle("/ws", d.RawWS)
	}
	if d.Web != nil {
		r.Handle("/*", d.Web)
	}
}
