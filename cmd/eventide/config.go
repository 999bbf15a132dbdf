package main

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"flag"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/admin"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/realtime/redisadapter"
	"github.com/eventide/realtime/internal/relay"
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
	PollBodyTimeout    time.Duration
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
	// Several nodes (issue 11, ADR 0019): the broker between them.
	Adapter             string // memory, redis or redis-streams
	RedisURL            string
	RedisKey            string
	RedisStreamMaxLen   int64
	RedisRequestTimeout time.Duration

	// secretGenerated is set when a dev secret was created on this start.
	secretGenerated bool
	// secretFile is where a dev secret is kept.
	secretFile string
}

func (c config) production() bool { return c.Env == "production" }

// bindConfig registers the shared flags on fs, each defaulting to its
// environment variable.
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
	fs.StringVar(&c.AdminAddr, "admin-addr", adminDef, "admin listener (pprof), loopback only; empty disables it [EVENTIDE_ADMIN_ADDR]")
	fs.StringVar(&c.DataDir, "data-dir", env("EVENTIDE_DATA_DIR", "./data"), "directory for the SQLite file and the dev JWT secret [EVENTIDE_DATA_DIR]")
	fs.StringVar(&c.DatabaseURL, "database-url", getenv("EVENTIDE_DATABASE_URL"), "database: a SQLite path (default <data-dir>/eventide.db) or a postgres:// URL [EVENTIDE_DATABASE_URL]")
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
	fs.Int64Var(&c.RedisStreamMaxLen, "redis-stream-maxlen", envInt(getenv, "EVENTIDE_REDIS_STREAM_MAXLEN", redisadapter.DefaultMaxLen), "--adapter redis-streams: entries the stream keeps (XADD MAXLEN ~) [EVENTIDE_REDIS_STREAM_MAXLEN]")
	fs.DurationVar(&c.RedisRequestTimeout, "redis-request-timeout", envDuration(getenv, "EVENTIDE_REDIS_REQUEST_TIMEOUT", redisadapter.DefaultRequestTimeout), "how long a request to the other nodes (fetchSockets, allRooms, serverSideEmit with acks) waits for their answers [EVENTIDE_REDIS_REQUEST_TIMEOUT]")
	fs.Int64Var(&c.MaxRoomsPerSocket, "max-rooms-per-socket", envInt(getenv, "EVENTIDE_MAX_ROOMS_PER_SOCKET", 100), "provider rooms one socket may be in [EVENTIDE_MAX_ROOMS_PER_SOCKET]")
	return c, origins
}

// checkLimits refuses limits that cannot work.
func (c *config) checkLimits() error {
	for _, d := range []struct {
		flag string
		v    time.Duration
	}{
		{"http-header-timeout", c.HTTPHeaderTimeout}, {"http-idle-timeout", c.HTTPIdleTimeout},
		{"http-read-timeout", c.HTTPReadTimeout}, {"http-write-timeout", c.HTTPWriteTimeout},
	} {
		if d.v <= 0 {
			return fmt.Errorf("--%s must be positive, not %s", d.flag, d.v)
		}
	}
	switch {
	case c.HTTPMaxHeaderBytes < 1024:
		return fmt.Errorf("--http-max-header-bytes must be at least 1024, not %d", c.HTTPMaxHeaderBytes)
	case c.HTTPMaxBodyBytes < 1024:
		return fmt.Errorf("--http-max-body-bytes must be at least 1024, not %d", c.HTTPMaxBodyBytes)
	case c.MaxConns < 0:
		return fmt.Errorf("--max-conns must be 0 (derived) or positive, not %d", c.MaxConns)
	case c.DBMaxConns < 0:
		return fmt.Errorf("--db-max-conns must be 0 (the store's default) or positive, not %d", c.DBMaxConns)
	case c.MaxPageSize < 1 || c.PageSize < 1 || c.PageSize > c.MaxPageSize:
		return fmt.Errorf("--page-size (%d) must be between 1 and --max-page-size (%d)", c.PageSize, c.MaxPageSize)
	}
	return nil
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

// finish validates c after parsing and fills in what depends on other
// fields: the database path, the CORS list and, in dev, the JWT secret.
// Only a serving process needs production's explicit origins.
func (c *config) finish(origins string, serving bool) error {
	switch c.Env {
	case "dev", "production":
	default:
		return fmt.Errorf("--env must be dev or production, not %q", c.Env)
	}
	for _, o := range strings.Split(origins, ",") {
		if o = strings.TrimSpace(o); o != "" {
			c.CORSOrigins = append(c.CORSOrigins, o)
		}
	}
	if c.RelayPollInterval <= 0 {
		return errors.New("--relay-poll-interval must be positive")
	}
	if c.EventRetention == 0 || c.EventRetentionCount == 0 {
		return errors.New("--event-retention and --event-retention-count must be positive, or negative for no limit")
	}
	if c.EventsPageMax < 1 {
		return errors.New("--events-page-max must be 1 or more")
	}
	if err := c.checkLimits(); err != nil {
		return err
	}
	switch c.Adapter {
	case "memory", "redis", "redis-streams":
	default:
		return fmt.Errorf("--adapter must be memory, redis or redis-streams, not %q", c.Adapter)
	}
	if c.RedisStreamMaxLen < 1 {
		return fmt.Errorf("--redis-stream-maxlen must be positive, not %d", c.RedisStreamMaxLen)
	}
	if c.RedisRequestTimeout <= 0 {
		return fmt.Errorf("--redis-request-timeout must be positive, not %s", c.RedisRequestTimeout)
	}
	if c.JWTLeeway < 0 {
		return fmt.Errorf("--jwt-leeway must not be negative, not %s", c.JWTLeeway)
	}
	if c.AttachmentTimeout <= 0 {
		return fmt.Errorf("--attachment-timeout must be positive, not %s", c.AttachmentTimeout)
	}
	for _, l := range []struct {
		flag string
		n    int64
	}{
		{"max-connect-bytes", c.MaxConnectBytes},
		{"max-buffered-bytes", c.MaxBufferedBytes},
		{"max-rooms-per-socket", c.MaxRoomsPerSocket},
	} {
		if l.n <= 0 || l.n > math.MaxInt32 {
			return fmt.Errorf("--%s must be between 1 and %d, not %d", l.flag, math.MaxInt32, l.n)
		}
	}
	c.DatabaseURL = c.databasePath()
	c.secretFile = filepath.Join(c.DataDir, "jwt-secret")
	if c.production() {
		if c.JWTSecret == "" && c.JWTPublicKey == "" {
			return errors.New("production needs --jwt-secret or --jwt-public-key (EVENTIDE_JWT_SECRET / EVENTIDE_JWT_PUBLIC_KEY)")
		}
		if serving && len(c.CORSOrigins) == 0 {
			return errors.New("production needs explicit --cors-origins (EVENTIDE_CORS_ORIGINS)")
		}
		for _, o := range c.CORSOrigins {
			if o == "*" {
				return errors.New("production does not allow the CORS origin *; list the origins")
			}
		}
		return nil
	}
	if c.JWTSecret == "" && c.JWTPublicKey == "" {
		return c.loadDevSecret()
	}
	return nil
}

// loadDevSecret reads the dev secret kept under the data directory, or
// generates and keeps one, so dev tokens survive restarts.
func (c *config) loadDevSecret() error {
	b, err := os.ReadFile(c.secretFile)
	if err == nil && len(strings.TrimSpace(string(b))) >= 32 {
		c.JWTSecret = strings.TrimSpace(string(b))
		return nil
	}
	if err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("read dev secret: %w", err)
	}
	raw := make([]byte, 32)
	if _, err := rand.Read(raw); err != nil {
		return fmt.Errorf("generate dev secret: %w", err)
	}
	if err := os.MkdirAll(c.DataDir, 0o700); err != nil {
		return fmt.Errorf("create data dir: %w", err)
	}
	secret := hex.EncodeToString(raw)
	if err := os.WriteFile(c.secretFile, []byte(secret+"\n"), 0o600); err != nil {
		return fmt.Errorf("keep dev secret: %w", err)
	}
	c.JWTSecret = secret
	c.secretGenerated = true
	return nil
}
