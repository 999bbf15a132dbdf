package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/url"
	"strings"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/limits"
)

// DefaultMaxBodyBytes is the largest JSON request body accepted by default.
const DefaultMaxBodyBytes = 64 << 10

// Config is the HTTP API's configuration.
type Config struct {
	Env          string   // "dev" or "production"; dev routes exist only outside production
	CORSOrigins  []string // allowed origins; empty in dev = any, "*" = any
	MaxBodyBytes int64    // JSON body limit; 0 = DefaultMaxBodyBytes
	// EventsPageMax is the largest ?limit of the events endpoint; 0 =
	// DefaultEventsPageMax.
	EventsPageMax int
}

func (c Config) production() bool { return c.Env == "production" }

func (c Config) maxBody() int64 {
	if c.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return c.MaxBodyBytes
}

// Emitter sends events to Socket.IO rooms or to everyone (the dev emit
// endpoint uses it).
type Emitter interface {
	EmitToRoom(room, event string, data any) error
	EmitToAll(event string, data any) error
}

// Deps are the server's collaborators. Nil handlers are not mounted.
type Deps struct {
	Logger   *slog.Logger
	Slots    *availability.Service
	Verifier *auth.Verifier
	Minter   *auth.Minter // dev token endpoint; nil disables it
	// Limits counts and logs the limits clients hit; nil does nothing.
	Limits *limits.Reporter

	Ready   func(ctx context.Context) error // /readyz; nil = always ready
	Emitter Emitter                         // dev emit endpoint; nil disables it
	// Attendance broadcasts to the plain WebSocket clients (dev endpoint);
	// nil disables it.
	Attendance interface{ Broadcast(data any) error }

	SocketIO http.Handler // mounted at /socket.io/
	RawWS    http.Handler // mounted at /ws
	Web      http.Handler // mounted at /; nil -> 404
	OpenAPI  []byte       // served at GET /api/openapi.yaml
}

// NewServer returns the whole HTTP surface as one handler.
func NewServer(cfg Config, deps Deps) http.Handler {
	if deps.Logger == nil {
		deps.Logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	r := chi.NewRouter()
	r.Use(logRequests(deps.Logger), recoverer(deps.Logger), corsMiddleware(cfg))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, deps.Logger, errNotFoundRoute(r))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeStatusProblem(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
	})
	routes(r, cfg, deps)
	return r
}

// AllowOrigin returns the origin rule the CORS middleware applies, for the
// Socket.IO and WebSocket upgrade checks: any origin when "*" is configured
// or when none are configured outside production; otherwise exact matches
// (scheme://host[:port], case-insensitive, trailing slash ignored). An empty
// origin (a non-browser client) is allowed.
func AllowOrigin(cfg Config) func(origin string) bool {
	allowed := make(map[string]bool, len(cfg.CORSOrigins))
	anyOrigin := len(cfg.CORSOrigins) == 0 && !cfg.production()
	for _, o := range cfg.CORSOrigins {
		o = normOrigin(o)
		if o == "*" {
			anyOrigin = true
		}
		if o != "" {
			allowed[o] = true
		}
	}
	return func(origin string) bool {
		if origin == "" || anyOrigin {
			return true
		}
		return allowed[normOrigin(origin)]
	}
}

// AllowRequestOrigin is AllowOrigin for a request: it also allows a
// same-origin request (Origin's host equals the Host header), so the
// dashboard served by this server always reaches it.
func AllowRequestOrigin(cfg Config) func(r *http.Request) bool {
	allow := AllowOrigin(cfg)
	return func(r *http.Request) bool {
		origin := r.Header.Get("Origin")
		if allow(origin) {
			return true
		}
		u, err := url.Parse(origin)
		return err == nil && u.Host != "" && strings.EqualFold(u.Host, r.Host)
	}
}

func normOrigin(o string) string {
	return strings.ToLower(strings.TrimRight(strings.TrimSpace(o), "/"))
}

func corsMiddleware(cfg Config) func(http.Handler) http.Handler {
	allow := AllowRequestOrigin(cfg)
	return cors.Handler(cors.Options{
		AllowOriginFunc:  func(r *http.Request, origin string) bool { return allow(r) },
		AllowedMethods:   []string{http.MethodGet, http.MethodPost, http.MethodPatch, http.MethodDelete, http.MethodOptions},
		AllowedHeaders:   []string{"Authorization", "Content-Type", "If-Match"},
		ExposedHeaders:   []string{"ETag", "Location"},
		AllowCredentials: true, // socket.io-client polling sends withCredentials
		MaxAge:           600,
	})
}
