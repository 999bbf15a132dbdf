package main

import (
	"errors"
	"flag"
	"fmt"
	"log/slog"
	"math"
	"net"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventide/realtime/internal/admin"
	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/ratelimit"
	"github.com/eventide/realtime/internal/realtime"
	"github.com/eventide/realtime/internal/realtime/redisadapter"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/store/postgres"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// config is everything `serve`, `token` and `migrate` read from flags and
// the environment. A flag wins over its environment variable, which wins
// over the default.
type config struct {
	Addr         string
	RawAddr      string
	AdminAddr    string
	DataDir      string
	DatabaseURL  string
	JWTSecret    string
	JWTPublicKey string
	CORSOrigins  []string
	Env          string
	WebDir       string
	LogLevel     string

	PingInterval   time.Duration
	PingTimeout    time.Duration
	MaxPayload     int64
	ConnectTimeout time.Duration

	// Engine.IO limits for clients that have not authenticated (issue 9).
	PollBodyTimeout time.Duration
	// PollOnGoroutines keeps waiting long-polls on their net/http
	// goroutines instead of parking them (ADR 0031).
	PollOnGoroutines   bool
	MaxPendingSessions int64
	MaxPendingPayload  int64
	MaxHandshakeBytes  int64
	// The event log and its relay (ADR 0014).
	RelayPollInterval   time.Duration
	EventRetention      time.Duration
	EventRetentionCount int64
	EventsPageMax       int
	// The plain WebSocket's limits (internal/rawws); 0 turns a limit off,
	// except RawMaxMessage, where 0 is the default.
	RawMaxConns       int
	RawMaxMessage     int64
	RawPingInterval   time.Duration
	RawPingTimeout    time.Duration
	RawMessageTimeout time.Duration
	RawIdleTimeout    time.Duration
	// The HTTP edge and REST limits (docs/operations.md, "Limits").
	HTTPHeaderTimeout  time.Duration
	HTTPIdleTimeout    time.Duration
	HTTPMaxHeaderBytes int
	HTTPReadTimeout    time.Duration
	HTTPWriteTimeout   time.Duration
	HTTPMaxBodyBytes   int64
	MaxConns           int
	DBMaxConns         int
	PageSize           int
	MaxPageSize        int
	// JWTLeeway is the one clock skew tolerated on a token's exp and nbf:
	// at REST, at the Socket.IO handshake and for live sockets.
	JWTLeeway time.Duration
	// Limits of the Socket.IO layer and gateway (docs/operations.md, Limits).
	MaxConnectBytes   int64
	MaxBufferedBytes  int64
	AttachmentTimeout time.Duration
	MaxRoomsPerSocket int64
	// Rate limits per socket and per token subject (docs/operations.md,
	// Limits); a rate of 0 turns a limit off.
	SocketEventRate    float64
	SocketEventBurst   int
	SubjectEventRate   float64
	SubjectEventBurst  int
	EventAbuseRefusals int
	EventAbuseWindow   time.Duration
	RESTWriteRate      float64
	RESTWriteBurst     int
	RateLimitSubjects  int
	// Several nodes (issue 11, ADR 0019): the broker between them.
	Adapter             string // memory, redis or redis-streams
	RedisURL            string
	RedisKey            string
	RedisStreamMaxLen   int64
	RedisRequestTimeout time.Duration
	// The graceful shutdown on SIGTERM (ADR 0026).
	DrainDelay      time.Duration
	DrainSpread     time.Duration
	ShutdownTimeout time.Duration

	// Connection-state recovery (ADR 0023).
	RecoveryWindow      time.Duration
	RecoveryMaxPackets  int64
	RecoveryMaxBytes    int64
	RecoveryMaxSessions int64
	// The Socket.IO admin UI (ADR 0025).
	AdminUI adminUIConfig

	// secretGenerated is set when a dev secret was created on this start,
	// secretLoaded when a kept one was read.
	secretGenerated bool
	secretLoaded    bool
	// secretFile is where a dev secret is kept.
	secretFile string
}

func (c config) production() bool { return c.Env == "production" }

// newServeFlags is serve's flag set: every setting, each with its
// environment variable. token and migrate borrow the few they read.
func newServeFlags(lookupEnv func(string) (string, bool)) (*flag.FlagSet, *config, *string) {
	fs := newFlagSet("serve")
	c, origins := bindConfig(fs, lookupEnv)
	return fs, c, origins
}

// bindConfig registers the shared flags on fs, each defaulting to its
// environment variable, which its usage names in brackets (checkEnv and the
// docs test read it there).
func bindConfig(fs *flag.FlagSet, lookupEnv func(string) (string, bool)) (*config, *string) {
	c := &config{}
	getenv := func(key string) string { v, _ := lookupEnv(key); return v }
	env := func(key, def string) string {
		if v := getenv(key); v != "" {
			return v
		}
		return def
	}
	fs.StringVar(&c.Addr, "addr", env("EVENTIDE_ADDR", ":8080"), "HTTP listen address (REST, /socket.io/, /ws, dashboard) [EVENTIDE_ADDR]")
	// An explicitly empty EVENTIDE_RAW_ADDR disables the raw listener, so
	// look the variable up rather than treating "" as unset.
	rawDef := ":7788"
	if v, ok := lookupEnv("EVENTIDE_RAW_ADDR"); ok {
		rawDef = v
	}
	fs.StringVar(&c.RawAddr, "raw-addr", rawDef, "plain WebSocket listen address; empty disables it [EVENTIDE_RAW_ADDR]")
	adminDef := admin.DefaultAddr // "" (set explicitly) disables it, as for the raw listener
	if v, ok := lookupEnv("EVENTIDE_ADMIN_ADDR"); ok {
		adminDef = v
	}
	fs.StringVar(&c.AdminAddr, "admin-addr", adminDef, "admin listener (pprof, Prometheus /metrics), loopback only; empty disables it [EVENTIDE_ADMIN_ADDR]")
	fs.StringVar(&c.DataDir, "data-dir", env("EVENTIDE_DATA_DIR", "./data"), "directory of the default SQLite file and the dev JWT secret; created when needed [EVENTIDE_DATA_DIR]")
	fs.StringVar(&c.DatabaseURL, "database-url", getenv("EVENTIDE_DATABASE_URL"), "database: a SQLite file (default <data-dir>/eventide.db; its directory must exist) or a postgres:// URL [EVENTIDE_DATABASE_URL]")
	fs.StringVar(&c.JWTSecret, "jwt-secret", getenv("EVENTIDE_JWT_SECRET"), "HS256 secret for tokens [EVENTIDE_JWT_SECRET]")
	fs.StringVar(&c.JWTPublicKey, "jwt-public-key", getenv("EVENTIDE_JWT_PUBLIC_KEY"), "PEM file with an RSA, ECDSA or Ed25519 public key to verify tokens instead of a secret [EVENTIDE_JWT_PUBLIC_KEY]")
	origins := fs.String("cors-origins", getenv("EVENTIDE_CORS_ORIGINS"), "comma-separated allowed origins; dev allows any when empty [EVENTIDE_CORS_ORIGINS]")
	fs.StringVar(&c.Env, "env", env("EVENTIDE_ENV", "dev"), "dev or production [EVENTIDE_ENV]")
	fs.StringVar(&c.WebDir, "web-dir", env("EVENTIDE_WEB_DIR", "web/dist/eventide-web/browser"), "built dashboard served at / [EVENTIDE_WEB_DIR]")
	fs.StringVar(&c.LogLevel, "log-level", env("EVENTIDE_LOG_LEVEL", "info"), "debug, info, warn or error [EVENTIDE_LOG_LEVEL]")
	fs.DurationVar(&c.PingInterval, "ping-interval", envDuration(getenv, "EVENTIDE_PING_INTERVAL", 25*time.Second), "Engine.IO ping interval [EVENTIDE_PING_INTERVAL]")
	fs.DurationVar(&c.PingTimeout, "ping-timeout", envDuration(getenv, "EVENTIDE_PING_TIMEOUT", 20*time.Second), "Engine.IO ping timeout [EVENTIDE_PING_TIMEOUT]")
	fs.Int64Var(&c.MaxPayload, "max-payload", envInt(getenv, "EVENTIDE_MAX_PAYLOAD", 1_000_000), "largest Engine.IO message or polling body in bytes [EVENTIDE_MAX_PAYLOAD]")
	fs.DurationVar(&c.ConnectTimeout, "connect-timeout", envDuration(getenv, "EVENTIDE_CONNECT_TIMEOUT", 45*time.Second), "close connections that join no namespace in time [EVENTIDE_CONNECT_TIMEOUT]")
	fs.BoolVar(&c.PollOnGoroutines, "poll-on-goroutines", envBool(getenv, "EVENTIDE_POLL_ON_GOROUTINES"), "keep each waiting long-poll on its HTTP goroutine instead of parking its connection (ADR 0031); for comparison and as a way back [EVENTIDE_POLL_ON_GOROUTINES]")
	fs.DurationVar(&c.PollBodyTimeout, "poll-body-timeout", envDuration(getenv, "EVENTIDE_POLL_BODY_TIMEOUT", 10*time.Second), "time for a polling POST body to arrive (then 408) [EVENTIDE_POLL_BODY_TIMEOUT]")
	fs.Int64Var(&c.MaxPendingSessions, "max-pending-sessions", envInt(getenv, "EVENTIDE_MAX_PENDING_SESSIONS", 10_000), "Engine.IO sessions that have joined no namespace yet; more handshakes get 503 [EVENTIDE_MAX_PENDING_SESSIONS]")
	fs.Int64Var(&c.MaxPendingPayload, "max-pending-payload", envInt(getenv, "EVENTIDE_MAX_PENDING_PAYLOAD", 32<<10), "largest Engine.IO message or polling body in bytes before a namespace is joined [EVENTIDE_MAX_PENDING_PAYLOAD]")
	fs.Int64Var(&c.MaxHandshakeBytes, "max-handshake-bytes", envInt(getenv, "EVENTIDE_MAX_HANDSHAKE_BYTES", 8<<10), "largest query plus kept headers of an Engine.IO handshake in bytes (then 431) [EVENTIDE_MAX_HANDSHAKE_BYTES]")
	fs.DurationVar(&c.RelayPollInterval, "relay-poll-interval", envDuration(getenv, "EVENTIDE_RELAY_POLL_INTERVAL", relay.DefaultPollInterval), "how often the event relay looks for committed changes when no commit woke it [EVENTIDE_RELAY_POLL_INTERVAL]")
	fs.DurationVar(&c.EventRetention, "event-retention", envDuration(getenv, "EVENTIDE_EVENT_RETENTION", relay.DefaultRetention), "how long published changes are kept for catch-up; older ones answer 410 (negative: no age limit) [EVENTIDE_EVENT_RETENTION]")
	fs.Int64Var(&c.EventRetentionCount, "event-retention-count", envInt(getenv, "EVENTIDE_EVENT_RETENTION_COUNT", relay.DefaultRetentionCount), "how many of a provider's latest changes are kept for catch-up (negative: no count limit) [EVENTIDE_EVENT_RETENTION_COUNT]")
	pageMax := envInt(getenv, "EVENTIDE_EVENTS_PAGE_MAX", httpapi.DefaultEventsPageMax)
	fs.IntVar(&c.EventsPageMax, "events-page-max", int(pageMax), "largest ?limit of GET .../events [EVENTIDE_EVENTS_PAGE_MAX]")
	fs.IntVar(&c.RawMaxConns, "raw-max-conns", int(envInt(getenv, "EVENTIDE_RAW_MAX_CONNS", 10_000)), "plain WebSocket: most connections at once (/ws and --raw-addr together); one more is closed with 1013; 0: no cap [EVENTIDE_RAW_MAX_CONNS]")
	fs.Int64Var(&c.RawMaxMessage, "raw-max-message", envInt(getenv, "EVENTIDE_RAW_MAX_MESSAGE", 64<<10), "plain WebSocket: largest message in bytes; a larger one is closed with 1009 [EVENTIDE_RAW_MAX_MESSAGE]")
	fs.DurationVar(&c.RawPingInterval, "raw-ping-interval", envDuration(getenv, "EVENTIDE_RAW_PING_INTERVAL", 25*time.Second), "plain WebSocket: ping a client quiet this long; 0: no heartbeat [EVENTIDE_RAW_PING_INTERVAL]")
	fs.DurationVar(&c.RawPingTimeout, "raw-ping-timeout", envDuration(getenv, "EVENTIDE_RAW_PING_TIMEOUT", 20*time.Second), "plain WebSocket: close (1001) a pinged client that sends nothing back in this time [EVENTIDE_RAW_PING_TIMEOUT]")
	fs.DurationVar(&c.RawMessageTimeout, "raw-message-timeout", envDuration(getenv, "EVENTIDE_RAW_MESSAGE_TIMEOUT", 10*time.Second), "plain WebSocket: close (1008) a client whose message, once begun, is not complete in this time; 0: none [EVENTIDE_RAW_MESSAGE_TIMEOUT]")
	fs.DurationVar(&c.RawIdleTimeout, "raw-idle-timeout", envDuration(getenv, "EVENTIDE_RAW_IDLE_TIMEOUT", 0), "plain WebSocket: close (1001) a client that sends no message for this long; 0: never [EVENTIDE_RAW_IDLE_TIMEOUT]")
	fs.DurationVar(&c.HTTPHeaderTimeout, "http-header-timeout", envDuration(getenv, "EVENTIDE_HTTP_HEADER_TIMEOUT", 10*time.Second), "time a client has to send a request's headers [EVENTIDE_HTTP_HEADER_TIMEOUT]")
	fs.DurationVar(&c.HTTPIdleTimeout, "http-idle-timeout", envDuration(getenv, "EVENTIDE_HTTP_IDLE_TIMEOUT", 5*time.Second), "close a keep-alive connection idle this long between requests [EVENTIDE_HTTP_IDLE_TIMEOUT]")
	fs.IntVar(&c.HTTPMaxHeaderBytes, "http-max-header-bytes", int(envInt(getenv, "EVENTIDE_HTTP_MAX_HEADER_BYTES", 16<<10)), "largest request line and headers in bytes (431 beyond) [EVENTIDE_HTTP_MAX_HEADER_BYTES]")
	fs.DurationVar(&c.HTTPReadTimeout, "http-read-timeout", envDuration(getenv, "EVENTIDE_HTTP_READ_TIMEOUT", httpapi.DefaultReadTimeout), "time a REST/health/dashboard request has to send its body (408 beyond) [EVENTIDE_HTTP_READ_TIMEOUT]")
	fs.DurationVar(&c.HTTPWriteTimeout, "http-write-timeout", envDuration(getenv, "EVENTIDE_HTTP_WRITE_TIMEOUT", httpapi.DefaultWriteTimeout), "time a REST/health/dashboard request has to take its answer [EVENTIDE_HTTP_WRITE_TIMEOUT]")
	fs.Int64Var(&c.HTTPMaxBodyBytes, "http-max-body-bytes", envInt(getenv, "EVENTIDE_HTTP_MAX_BODY_BYTES", httpapi.DefaultMaxBodyBytes), "largest JSON request body in bytes (413 beyond) [EVENTIDE_HTTP_MAX_BODY_BYTES]")
	fs.IntVar(&c.MaxConns, "max-conns", int(envInt(getenv, "EVENTIDE_MAX_CONNS", 0)), "connections open at once on both listeners; 0 derives it from the open-file limit [EVENTIDE_MAX_CONNS]")
	fs.IntVar(&c.DBMaxConns, "db-max-conns", int(envInt(getenv, "EVENTIDE_DB_MAX_CONNS", 0)), fmt.Sprintf("database connections at most; 0: the store's default (SQLite %d open files, PostgreSQL %d connections) [EVENTIDE_DB_MAX_CONNS]", sqlite.DefaultMaxConns, postgres.DefaultMaxConns))
	fs.IntVar(&c.PageSize, "page-size", int(envInt(getenv, "EVENTIDE_PAGE_SIZE", httpapi.DefaultPageSize)), "slots a list returns without ?limit= [EVENTIDE_PAGE_SIZE]")
	fs.IntVar(&c.MaxPageSize, "max-page-size", int(envInt(getenv, "EVENTIDE_MAX_PAGE_SIZE", httpapi.DefaultMaxPageSize)), "largest ?limit= of a slot list [EVENTIDE_MAX_PAGE_SIZE]")
	fs.DurationVar(&c.JWTLeeway, "jwt-leeway", envDuration(getenv, "EVENTIDE_JWT_LEEWAY", 30*time.Second), "clock skew tolerated on token exp/nbf, at REST, the Socket.IO handshake and for live sockets [EVENTIDE_JWT_LEEWAY]")
	fs.Int64Var(&c.MaxConnectBytes, "max-connect-bytes", envInt(getenv, "EVENTIDE_MAX_CONNECT_BYTES", 8<<10), "largest Socket.IO CONNECT packet (the auth payload) in bytes [EVENTIDE_MAX_CONNECT_BYTES]")
	fs.Int64Var(&c.MaxBufferedBytes, "max-buffered-bytes", envInt(getenv, "EVENTIDE_MAX_BUFFERED_BYTES", 1<<20), "received Socket.IO bytes a connection may hold before its handlers run [EVENTIDE_MAX_BUFFERED_BYTES]")
	fs.DurationVar(&c.AttachmentTimeout, "attachment-timeout", envDuration(getenv, "EVENTIDE_ATTACHMENT_TIMEOUT", 30*time.Second), "time for the attachments of a binary Socket.IO packet to arrive [EVENTIDE_ATTACHMENT_TIMEOUT]")
	fs.StringVar(&c.Adapter, "adapter", env("EVENTIDE_ADAPTER", "memory"), "how nodes share broadcasts: memory (one node), redis (@socket.io/redis-adapter 8.x format) or redis-streams (@socket.io/redis-streams-adapter 0.3 format) [EVENTIDE_ADAPTER]")
	fs.StringVar(&c.RedisURL, "redis-url", env("EVENTIDE_REDIS_URL", "redis://127.0.0.1:6379"), "Redis for --adapter redis and redis-streams: redis://[user:password@]host:port[/db], rediss:// for TLS [EVENTIDE_REDIS_URL]")
	fs.StringVar(&c.RedisKey, "redis-key", env("EVENTIDE_REDIS_KEY", redisadapter.DefaultKey), "prefix of the Redis channels and name of the stream, the same on every node (Node's key / streamName / channelPrefix) [EVENTIDE_REDIS_KEY]")
	fs.Int64Var(&c.RedisStreamMaxLen, "redis-stream-maxlen", envInt(getenv, "EVENTIDE_REDIS_STREAM_MAXLEN", redisadapter.DefaultMaxLen), "--adapter redis-streams: entries the stream keeps (XADD MAXLEN ~); --adapter redis: those of its recovery stream [EVENTIDE_REDIS_STREAM_MAXLEN]")
	fs.DurationVar(&c.RedisRequestTimeout, "redis-request-timeout", envDuration(getenv, "EVENTIDE_REDIS_REQUEST_TIMEOUT", redisadapter.DefaultRequestTimeout), "how long a request to the other nodes (fetchSockets, allRooms, serverSideEmit with acks) waits for their answers [EVENTIDE_REDIS_REQUEST_TIMEOUT]")
	fs.DurationVar(&c.RecoveryWindow, "recovery-window", envDuration(getenv, "EVENTIDE_RECOVERY_WINDOW", socketio.DefaultRecoveryWindow), "connection-state recovery: how long a client that lost its connection may come back with its socket id, rooms and missed events (socket.recovered); 0 turns it off [EVENTIDE_RECOVERY_WINDOW]")
	fs.Int64Var(&c.RecoveryMaxPackets, "recovery-max-packets", envInt(getenv, "EVENTIDE_RECOVERY_MAX_PACKETS", socketio.DefaultRecoveryMaxPackets), "--adapter memory: events a namespace keeps for recovering clients [EVENTIDE_RECOVERY_MAX_PACKETS]")
	fs.Int64Var(&c.RecoveryMaxBytes, "recovery-max-bytes", envInt(getenv, "EVENTIDE_RECOVERY_MAX_BYTES", socketio.DefaultRecoveryMaxBytes), "--adapter memory: bytes of those events [EVENTIDE_RECOVERY_MAX_BYTES]")
	fs.Int64Var(&c.RecoveryMaxSessions, "recovery-max-sessions", envInt(getenv, "EVENTIDE_RECOVERY_MAX_SESSIONS", socketio.DefaultRecoveryMaxSessions), "--adapter memory: sessions of disconnected sockets kept for recovery [EVENTIDE_RECOVERY_MAX_SESSIONS]")
	fs.Int64Var(&c.MaxRoomsPerSocket, "max-rooms-per-socket", envInt(getenv, "EVENTIDE_MAX_ROOMS_PER_SOCKET", 100), "provider rooms one socket may be in [EVENTIDE_MAX_ROOMS_PER_SOCKET]")
	bindRateLimits(fs, c, getenv)
	bindDrain(fs, c, getenv)
	bindAdminUI(fs, c, getenv)
	return c, origins
}

// checkLimits reports limits that cannot work.
func (c *config) checkLimits(p *problems) {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"http-header-timeout", c.HTTPHeaderTimeout}, {"http-idle-timeout", c.HTTPIdleTimeout},
		{"http-read-timeout", c.HTTPReadTimeout}, {"http-write-timeout", c.HTTPWriteTimeout},
	} {
		if d.v <= 0 {
			p.addf("--%s must be positive, not %s", d.flag, d.v)
		}
	}
	if c.HTTPMaxHeaderBytes < 1024 {
		p.addf("--http-max-header-bytes must be at least 1024, not %d", c.HTTPMaxHeaderBytes)
	}
	if c.HTTPMaxBodyBytes < 1024 {
		p.addf("--http-max-body-bytes must be at least 1024, not %d", c.HTTPMaxBodyBytes)
	}
	if c.MaxConns < 0 {
		p.addf("--max-conns must be 0 (derived) or positive, not %d", c.MaxConns)
	}
	if c.MaxPageSize < 1 || c.PageSize < 1 || c.PageSize > c.MaxPageSize {
		p.addf("--page-size (%d) must be between 1 and --max-page-size (%d)", c.PageSize, c.MaxPageSize)
	}
	if c.JWTLeeway < 0 {
		p.addf("--jwt-leeway must not be negative, not %s", c.JWTLeeway)
	}
	if c.AttachmentTimeout <= 0 {
		p.addf("--attachment-timeout must be positive, not %s", c.AttachmentTimeout)
	}
	if c.RecoveryWindow < 0 {
		p.addf("--recovery-window must be 0 (off) or positive, not %s", c.RecoveryWindow)
	}
	for _, l := range []struct {
		flag string
		n    int64
	}{
		{"max-connect-bytes", c.MaxConnectBytes},
		{"max-buffered-bytes", c.MaxBufferedBytes},
		{"max-rooms-per-socket", c.MaxRoomsPerSocket},
		{"recovery-max-packets", c.RecoveryMaxPackets},
		{"recovery-max-bytes", c.RecoveryMaxBytes},
		{"recovery-max-sessions", c.RecoveryMaxSessions},
	} {
		if l.n <= 0 || l.n > math.MaxInt32 {
			p.addf("--%s must be between 1 and %d, not %d", l.flag, math.MaxInt32, l.n)
		}
	}
	if c.RelayPollInterval <= 0 {
		p.addf("--relay-poll-interval must be positive, not %s", c.RelayPollInterval)
	}
	if c.EventRetention == 0 || c.EventRetentionCount == 0 {
		p.addf("--event-retention and --event-retention-count must be positive, or negative for no limit")
	}
	if c.EventsPageMax < 1 {
		p.addf("--events-page-max must be 1 or more, not %d", c.EventsPageMax)
	}
}

// bindRateLimits registers the flags of the rate limits per socket and per
// token subject (issue 12).
func bindRateLimits(fs *flag.FlagSet, c *config, getenv func(string) string) {
	fs.Float64Var(&c.SocketEventRate, "socket-event-rate", envFloat(getenv, "EVENTIDE_SOCKET_EVENT_RATE", realtime.DefaultSocketEventRate), "Socket.IO events a second one socket may send (joinRoom included), beyond its burst; over it an event is refused with an exception; 0: no limit [EVENTIDE_SOCKET_EVENT_RATE]")
	fs.IntVar(&c.SocketEventBurst, "socket-event-burst", int(envInt(getenv, "EVENTIDE_SOCKET_EVENT_BURST", realtime.DefaultSocketEventBurst)), "Socket.IO events one socket may send at once; keep it above --max-rooms-per-socket [EVENTIDE_SOCKET_EVENT_BURST]")
	fs.Float64Var(&c.SubjectEventRate, "subject-event-rate", envFloat(getenv, "EVENTIDE_SUBJECT_EVENT_RATE", realtime.DefaultSubjectEventRate), "Socket.IO events a second the sockets of one token subject may send together, beyond their burst; 0: no limit [EVENTIDE_SUBJECT_EVENT_RATE]")
	fs.IntVar(&c.SubjectEventBurst, "subject-event-burst", int(envInt(getenv, "EVENTIDE_SUBJECT_EVENT_BURST", realtime.DefaultSubjectEventBurst)), "Socket.IO events the sockets of one token subject may send at once [EVENTIDE_SUBJECT_EVENT_BURST]")
	fs.IntVar(&c.EventAbuseRefusals, "event-abuse-refusals", int(envInt(getenv, "EVENTIDE_EVENT_ABUSE_REFUSALS", realtime.DefaultAbuseRefusals)), "disconnect a socket with more than this many events refused within --event-abuse-window; 0: never [EVENTIDE_EVENT_ABUSE_REFUSALS]")
	fs.DurationVar(&c.EventAbuseWindow, "event-abuse-window", envDuration(getenv, "EVENTIDE_EVENT_ABUSE_WINDOW", realtime.DefaultAbuseWindow), "the window of --event-abuse-refusals [EVENTIDE_EVENT_ABUSE_WINDOW]")
	fs.Float64Var(&c.RESTWriteRate, "rest-write-rate", envFloat(getenv, "EVENTIDE_REST_WRITE_RATE", httpapi.DefaultWriteRate), "REST writes (POST, PATCH, DELETE) a second one token subject may make, beyond its burst; over it 429 with Retry-After; 0: no limit [EVENTIDE_REST_WRITE_RATE]")
	fs.IntVar(&c.RESTWriteBurst, "rest-write-burst", int(envInt(getenv, "EVENTIDE_REST_WRITE_BURST", httpapi.DefaultWriteBurst)), "REST writes one token subject may make at once [EVENTIDE_REST_WRITE_BURST]")
	fs.IntVar(&c.RateLimitSubjects, "rate-limit-subjects", int(envInt(getenv, "EVENTIDE_RATE_LIMIT_SUBJECTS", realtime.DefaultSubjects)), "token subjects whose rate limits are kept, for events and for REST writes each (about 200 bytes a subject); the least recently active is forgotten first [EVENTIDE_RATE_LIMIT_SUBJECTS]")
}

// checkRateLimits refuses rate limits that cannot work.
func (c *config) checkRateLimits(p *problems) {
	for _, r := range []struct {
		flag  string
		rate  float64
		burst string
		n     int
	}{
		{"socket-event-rate", c.SocketEventRate, "socket-event-burst", c.SocketEventBurst},
		{"subject-event-rate", c.SubjectEventRate, "subject-event-burst", c.SubjectEventBurst},
		{"rest-write-rate", c.RESTWriteRate, "rest-write-burst", c.RESTWriteBurst},
	} {
		if r.rate < 0 || math.IsNaN(r.rate) || math.IsInf(r.rate, 0) {
			p.addf("--%s must be a number of events a second, or 0 for no limit, not %v", r.flag, r.rate)
		}
		if r.rate > 0 && (r.n < 1 || r.n > math.MaxInt32) {
			p.addf("--%s must be between 1 and %d, not %d", r.burst, math.MaxInt32, r.n)
		}
	}
	if c.EventAbuseRefusals < 0 {
		p.addf("--event-abuse-refusals must be 0 (never disconnect) or more, not %d", c.EventAbuseRefusals)
	}
	if c.EventAbuseWindow <= 0 {
		p.addf("--event-abuse-window must be positive, not %s", c.EventAbuseWindow)
	}
	if c.RateLimitSubjects < 1 {
		p.addf("--rate-limit-subjects must be 1 or more, not %d", c.RateLimitSubjects)
	}
}

// rateLimit is a flag pair as a ratelimit.Limit: a rate of 0 (off) is a
// negative one for the packages, whose 0 is their default.
func rateLimit(rate float64, burst int) ratelimit.Limit {
	if rate == 0 {
		return ratelimit.Limit{Rate: -1}
	}
	return ratelimit.Limit{Rate: rate, Burst: burst}
}

func envFloat(getenv func(string) string, key string, def float64) float64 {
	if v := getenv(key); v != "" {
		if f, err := strconv.ParseFloat(v, 64); err == nil {
			return f
		}
	}
	return def
}

func envDuration(getenv func(string) string, key string, def time.Duration) time.Duration {
	if v := getenv(key); v != "" {
		if d, err := time.ParseDuration(v); err == nil {
			return d
		}
	}
	return def
}

func envInt(getenv func(string) string, key string, def int64) int64 {
	if v := getenv(key); v != "" {
		var n int64
		if _, err := fmt.Sscan(v, &n); err == nil {
			return n
		}
	}
	return def
}

// databasePath is the configured database, <data-dir>/eventide.db unless set.
func (c *config) databasePath() string {
	if c.DatabaseURL != "" {
		return c.DatabaseURL
	}
	return filepath.Join(c.DataDir, "eventide.db")
}

// finish checks c after parsing and fills in what depends on other fields:
// the database path, the CORS list and, in dev, the JWT secret. Every
// problem is reported at once, flags and environment variables alike.
func (c *config) finish(fs *flag.FlagSet, lookupEnv func(string) (string, bool), origins string) error {
	var p problems
	checkEnv(fs, lookupEnv, &p)
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	c.checkEnvName(&p)
	c.checkLogLevel(&p)
	c.checkAddrs(&p)
	c.checkDatabase(&p)
	c.checkAuth(&p)
	c.checkLimits(&p)
	c.checkRateLimits(&p)
	c.checkDrain(&p)
	c.checkAdapter(&p)
	c.checkAdminUI(&p)
	if c.production() {
		if c.JWTSecret == "" && c.JWTPublicKey == "" {
			p.addf("production needs --jwt-secret or --jwt-public-key (EVENTIDE_JWT_SECRET / EVENTIDE_JWT_PUBLIC_KEY)")
		}
		if len(c.CORSOrigins) == 0 {
			p.addf("production needs --cors-origins (EVENTIDE_CORS_ORIGINS): the origins of the dashboard and of your apps")
		}
		if slices.Contains(c.CORSOrigins, "*") {
			p.addf("production does not allow the CORS origin *: list the origins in --cors-origins")
		}
	}
	if err := p.err(); err != nil {
		return err
	}
	c.DatabaseURL = c.databasePath()
	c.secretFile = filepath.Join(c.DataDir, "jwt-secret")
	if !c.production() && c.JWTSecret == "" && c.JWTPublicKey == "" {
		return c.loadDevSecret()
	}
	return nil
}

func (c *config) checkEnvName(p *problems) {
	if c.Env != "dev" && c.Env != "production" {
		p.addf("--env must be dev or production, not %q", c.Env)
	}
}

func (c *config) checkLogLevel(p *problems) {
	var level slog.Level
	if err := level.UnmarshalText([]byte(c.LogLevel)); err != nil {
		p.addf("--log-level must be debug, info, warn or error, not %q", c.LogLevel)
	}
}

// checkAddrs reports listen addresses net.Listen would refuse, with the
// fix for the usual slip (--addr 8080 for :8080).
func (c *config) checkAddrs(p *problems) {
	addrs := []struct{ flag, addr string }{{"addr", c.Addr}, {"raw-addr", c.RawAddr}, {"admin-addr", c.AdminAddr}}
	seen := map[string]string{}
	for i, a := range addrs {
		if a.addr == "" {
			if i == 0 {
				p.addf("--addr must not be empty (the REST, Socket.IO and dashboard listener; e.g. \":8080\")")
			}
			continue // --raw-addr and --admin-addr: empty disables the listener
		}
		if err := checkListenAddr(a.addr); err != nil {
			p.addf("--%s %q: %v", a.flag, a.addr, err)
			continue
		}
		if a.flag == "admin-addr" {
			if err := admin.CheckAddr(a.addr); err != nil {
				p.addf("--admin-addr: %v", err)
			}
		}
		// The default admin address is best effort (startAdmin), so
		// only one set by hand can clash.
		if _, port, _ := net.SplitHostPort(a.addr); port != "0" && (a.flag != "admin-addr" || a.addr != admin.DefaultAddr) {
			if other, ok := seen[a.addr]; ok {
				p.addf("--%s and --%s are both %q: each listener needs its own address", other, a.flag, a.addr)
			} else {
				seen[a.addr] = a.flag
			}
		}
	}
}

// checkListenAddr reports why addr is not a host:port to listen on.
func checkListenAddr(addr string) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		if _, nerr := strconv.ParseUint(addr, 10, 16); nerr == nil {
			return fmt.Errorf("a port alone is not an address: write \":%s\" (every interface) or \"127.0.0.1:%s\" (this machine only)", addr, addr)
		}
		if ae, ok := err.(*net.AddrError); ok {
			err = errors.New(ae.Err)
		}
		return fmt.Errorf("%v; write host:port, such as \":8080\" or \"127.0.0.1:8080\"", err)
	}
	if _, err := net.LookupPort("tcp", port); err != nil {
		return fmt.Errorf("port %q is not a port number", port)
	}
	if strings.ContainsAny(host, " /") {
		return fmt.Errorf("host %q is not a host name or IP address", host)
	}
	return nil
}

// listenError says which flag to change when a listener cannot bind: name
// is serve's listener ("http", "rawws" or "admin").
func listenError(name, addr string, err error) error {
	flagName := map[string]string{"http": "addr", "rawws": "raw-addr", "admin": "admin-addr"}[name]
	key := "EVENTIDE_" + strings.ToUpper(strings.ReplaceAll(flagName, "-", "_"))
	switch {
	case errors.Is(err, syscall.EADDRINUSE):
		return fmt.Errorf("--%s %s: the address is in use (another eventide, or another server, listens there): stop it, or choose a free port with --%s or %s", flagName, addr, flagName, key)
	case errors.Is(err, syscall.EACCES):
		return fmt.Errorf("--%s %s: permission denied (ports below 1024 need root or CAP_NET_BIND_SERVICE): choose another port with --%s or %s", flagName, addr, flagName, key)
	case errors.Is(err, syscall.EADDRNOTAVAIL):
		return fmt.Errorf("--%s %s: no network interface of this machine has that address: choose another with --%s or %s", flagName, addr, flagName, key)
	}
	return fmt.Errorf("--%s %s: %w", flagName, addr, err)
}

// databaseSchemes are the URL schemes --database-url understands; a plain
// path is SQLite.
var databaseSchemes = []string{"sqlite", "file", "postgres", "postgresql"}

func (c *config) checkDatabase(p *problems) {
	if scheme, _, ok := strings.Cut(c.DatabaseURL, "://"); ok && !slices.Contains(databaseSchemes, strings.ToLower(scheme)) {
		p.addf("--database-url %q: unknown scheme %q; use a SQLite path (such as ./data/eventide.db or sqlite:///var/lib/eventide/eventide.db) or a postgres:// URL", displayDatabase(c.DatabaseURL), scheme)
	}
	if c.DBMaxConns < 0 {
		p.addf("--db-max-conns must be 0 (the store's default) or positive, not %d", c.DBMaxConns)
	}
}

// checkAuth reports a secret or key the server could not verify with.
func (c *config) checkAuth(p *problems) {
	if c.JWTSecret != "" && c.JWTPublicKey != "" {
		p.addf("--jwt-secret and --jwt-public-key are both set: give one (with a public key the server verifies only tokens signed with its private key, never HS256 ones)")
	}
	if c.JWTSecret != "" && len(c.JWTSecret) < auth.MinSecretLen {
		p.addf("--jwt-secret is %d bytes long; it must be at least %d", len(c.JWTSecret), auth.MinSecretLen)
	}
	if c.JWTPublicKey != "" {
		if _, err := auth.LoadPublicKeyVerifier(c.JWTPublicKey); err != nil {
			p.addf("--jwt-public-key %q (a PEM file): %v", c.JWTPublicKey, err)
		}
	}
}

// checkAdapter checks the broker between nodes (ADR 0019).
func (c *config) checkAdapter(p *problems) {
	switch c.Adapter {
	case "memory", "redis", "redis-streams":
	default:
		p.addf("--adapter must be memory, redis or redis-streams, not %q", c.Adapter)
	}
	if c.RedisStreamMaxLen < 1 {
		p.addf("--redis-stream-maxlen must be positive, not %d", c.RedisStreamMaxLen)
	}
	if c.RedisRequestTimeout <= 0 {
		p.addf("--redis-request-timeout must be positive, not %s", c.RedisRequestTimeout)
	}
}
