package httpapi

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"strings"
	"time"

	"github.com/go-chi/chi/v5"
	"github.com/go-chi/cors"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/ratelimit"
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

	// PageSize is how many slots a list returns without ?limit=;
	// 0 = DefaultPageSize. MaxPageSize is the largest ?limit= accepted;
	// 0 = DefaultMaxPageSize.
	PageSize    int
	MaxPageSize int

	// ReadTimeout bounds the time an ordinary request (not Engine.IO, not
	// a WebSocket upgrade) may take to send its body; WriteTimeout the
	// time it may take to read its answer. 0 = the defaults.
	ReadTimeout  time.Duration
	WriteTimeout time.Duration

	// WriteRate bounds the writes (any method but GET, HEAD and OPTIONS)
	// of one token subject: Rate a second, Burst at once. One over it is
	// answered 429 problem+json with Retry-After, before its body is
	// read. Zero: DefaultWriteRate and DefaultWriteBurst; a Burst of 0
	// with a Rate: the default burst; a negative Rate: no limit.
	// WriteSubjects bounds the subjects whose buckets are kept (the least
	// recently active dropped first); 0: DefaultWriteSubjects.
	WriteRate     ratelimit.Limit
	WriteSubjects int
}

func (c Config) readTimeout() time.Duration {
	if c.ReadTimeout <= 0 {
		return DefaultReadTimeout
	}
	return c.ReadTimeout
}

func (c Config) writeTimeout() time.Duration {
	if c.WriteTimeout <= 0 {
		return DefaultWriteTimeout
	}
	return c.WriteTimeout
}

func (c Config) production() bool { return c.Env == "production" }

func (c Config) maxBody() int64 {
	if c.MaxBodyBytes <= 0 {
		return DefaultMaxBodyBytes
	}
	return c.MaxBodyBytes
}

func (c Config) maxPageSize() int {
	if c.MaxPageSize <= 0 {
		return DefaultMaxPageSize
	}
	return c.MaxPageSize
}

func (c Config) pageSize() int {
	n := c.PageSize
	if n <= 0 {
		n = DefaultPageSize
	}
	return min(n, c.maxPageSize())
}

// Emitter sends events to Socket.IO rooms or to everyone (the dev emit
// endpoint uses it).
type Emitter interface {
	EmitToRoom(room, event string, data any) error
	EmitToAll(event string, data any) error
}

// Deps are the server's collaborators. Nil handlers are not mounted.
type Deps struct {
	Logger *slog.Logger
	Limits *limits.Reporter // limit hits (413, 408, write timeouts); nil = not reported
	// Observer is told of every request but Engine.IO's and the plain
	// WebSocket's (metrics); nil: nobody is.
	Observer Observer
	Slots    *availability.Service
	Verifier *auth.Verifier
	Minter   *auth.Minter // dev token endpoint; nil disables it

	Ready func(ctx context.Context) error // /readyz; nil = always ready
	// Draining reports that the process is shutting down: /readyz then
	// answers 503 whatever Ready says, so load balancers stop sending
	// new clients. nil = never.
	Draining func() bool
	Now      func() time.Time // the write rate limit's clock; nil = time.Now
	Emitter  Emitter          // dev emit endpoint; nil disables it
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
	r.Use(logRequests(deps.Logger, deps.Limits, deps.Observer), recoverer(deps.Logger), Deadlines(cfg, ownDeadlines), corsMiddleware(cfg))
	r.NotFound(func(w http.ResponseWriter, r *http.Request) {
		writeProblem(w, r, deps.Logger, errNotFoundRoute(r))
	})
	r.MethodNotAllowed(func(w http.ResponseWriter, r *http.Request) {
		writeStatusProblem(w, http.StatusMethodNotAllowed, "method "+r.Method+" is not allowed on "+r.URL.Path)
	})
	routes(r, cfg, deps)
	return r
}

// AllowOrigin returns the origin rule of every browser request: CORS for
// REST, and the Socket.IO and WebSocket checks, which CORS does not cover.
// With origins configured, only those pass (exact scheme://host[:port],
// case-insensitive, trailing slash ignored; "*" passes any). With none,
// dev lets any origin pass and production none. A request without Origin
// (not from a browser, so no other site's page can make it) passes.
//
// The Host header plays no part: a request's sender chooses it, and a
// rebound DNS name makes a hostile page's Origin and Host agree. So in
// production the dashboard's own origin is listed like any other.
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

// AllowRequestOrigin is AllowOrigin applied to a request's Origin header.
func AllowRequestOrigin(cfg Config) func(r *http.Request) bool {
	allow := AllowOrigin(cfg)
	return func(r *http.Request) bool { return allow(r.Header.Get("Origin")) }
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
