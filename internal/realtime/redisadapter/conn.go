package redisadapter

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"
	"github.com/redis/go-redis/v9/maintnotifications"
)

// Defaults of Config.
const (
	DefaultKey              = "socket.io"
	DefaultSessionKeyPrefix = streamsDefaultSessionPrefx
	DefaultMaxLen           = 10_000
	DefaultReadCount        = 100
	DefaultBlockTime        = 5 * time.Second
	DefaultRequestTimeout   = 5 * time.Second
	DefaultHealthInterval   = 5 * time.Second
)

// ErrUnavailable is wrapped by the errors of Publish and of requests while
// Redis is unreachable: they fail at once rather than wait for a timeout.
var ErrUnavailable = errors.New("redisadapter: redis unreachable")

// Config configures a Classic or Streams broker. Zero values take the
// defaults.
type Config struct {
	// URL is the Redis server: redis://[user:password@]host:port[/db]
	// (rediss:// for TLS), as go-redis's ParseURL reads it.
	URL string
	// Key prefixes the channels (both adapters: Node's "key" and
	// "channelPrefix" options) and names the stream (Node's
	// "streamName"). Default DefaultKey, "socket.io". Nodes of one
	// cluster use the same key; tests use their own.
	Key string
	// SessionKeyPrefix prefixes the keys of recoverable sessions (streams
	// adapter). Default "sio:session:".
	SessionKeyPrefix string
	// MaxLen trims the stream (XADD MAXLEN ~ MaxLen). Default 10,000, as
	// Node.
	MaxLen int64
	// ReadCount and BlockTime are each XREAD's COUNT and BLOCK. Defaults
	// 100 and 5 s, as Node.
	ReadCount int64
	BlockTime time.Duration
	// RequestTimeout bounds a request to the other nodes (fetchSockets,
	// allRooms, serverSideEmit with acks) whose context has no deadline.
	// Default 5 s, as Node.
	RequestTimeout time.Duration
	// HealthInterval is how long the subscriber waits for a message
	// before it pings Redis, and for the answer before it reconnects.
	// Default 5 s.
	HealthInterval time.Duration
	// SpecificResponseChannel (classic adapter) answers a Node node's
	// requests on its own response channel, "<key>-response#<nsp>#<uid>#",
	// rather than the shared one: Node's publishOnSpecificResponseChannel.
	// Every 8.x node listens on both; older ones only on the shared one,
	// Node's default.
	SpecificResponseChannel bool
	// Recovery (classic adapter) keeps a shared history for
	// connection-state recovery (ADR 0023): each broadcast an eventide
	// node publishes is also XADDed to the stream "<key>-recovery" (MaxLen
	// entries; Node nodes never read it), its entry id travels in the
	// message as the offset, and sessions are kept in Redis, so a client
	// recovers on any eventide node. Off: recovery, if on, is per node.
	// The streams adapter always has it (its stream is the history).
	Recovery bool
	// Logger receives the up/down lines and decoding errors.
	Logger *slog.Logger
}

func (c *Config) defaults() {
	if c.Key == "" {
		c.Key = DefaultKey
	}
	if c.SessionKeyPrefix == "" {
		c.SessionKeyPrefix = DefaultSessionKeyPrefix
	}
	if c.MaxLen <= 0 {
		c.MaxLen = DefaultMaxLen
	}
	if c.ReadCount <= 0 {
		c.ReadCount = DefaultReadCount
	}
	if c.BlockTime <= 0 {
		c.BlockTime = DefaultBlockTime
	}
	if c.RequestTimeout <= 0 {
		c.RequestTimeout = DefaultRequestTimeout
	}
	if c.HealthInterval <= 0 {
		c.HealthInterval = DefaultHealthInterval
	}
	if c.Logger == nil {
		c.Logger = slog.New(slog.DiscardHandler)
	}
}

// newClient returns a go-redis client for url with poolSize connections
// (0: go-redis's default). It speaks RESP2 like Node's clients, and fails
// fast rather than retry: the callers retry (the relay, the subscriber).
func newClient(url string, poolSize int) (*redis.Client, error) {
	opt, err := clientOptions(url, poolSize)
	if err != nil {
		return nil, err
	}
	return redis.NewClient(opt), nil
}

func clientOptions(url string, poolSize int) (*redis.Options, error) {
	opt, err := redis.ParseURL(url)
	if err != nil {
		return nil, fmt.Errorf("redisadapter: redis URL: %w", err)
	}
	opt.Protocol = 2
	opt.DisableIdentity = true
	opt.MaintNotificationsConfig = &maintnotifications.Config{Mode: maintnotifications.ModeDisabled}
	opt.MaxRetries = 1
	opt.DialerRetries = 1
	if poolSize > 0 {
		opt.PoolSize = poolSize
	}
	return opt, nil
}

// libraryLogger takes go-redis's own log lines (a failed dial, a pool
// error) at DEBUG: the broker reports Redis's state itself, once per change
// (health), and go-redis would otherwise print to stderr, unstructured, once
// per failure.
type libraryLogger struct{ log *slog.Logger }

func (l libraryLogger) Printf(ctx context.Context, format string, v ...any) {
	l.log.DebugContext(ctx, fmt.Sprintf(format, v...), "source", "go-redis")
}

// routeLibraryLog sends go-redis's log to log. go-redis has one logger for
// the whole process, not one per client: the last broker created sets it.
func routeLibraryLog(log *slog.Logger) { redis.SetLogger(libraryLogger{log}) }

// newUID returns a node id: n random bytes in hex.
func newUID(n int) string {
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return hex.EncodeToString(b)
}

// health is a broker's view of Redis: each of its loops (the subscriber,
// the stream reader) reports whether its last round trip worked. Redis is
// reachable when they all say so. A change is logged once, not per
// failure.
type health struct {
	log *slog.Logger

	mu      sync.Mutex
	parts   map[string]error // part -> its last error, nil when it works
	started bool             // every part has reported
	down    bool             // as last logged
}

func newHealth(log *slog.Logger, parts ...string) *health {
	h := &health{log: log, parts: make(map[string]error)}
	for _, p := range parts {
		h.parts[p] = errStarting
	}
	return h
}

var errStarting = fmt.Errorf("%w: not connected yet", ErrUnavailable)

// set records part's state and logs a change of the whole.
func (h *health) set(part string, err error) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if err != nil && !errors.Is(err, ErrUnavailable) {
		err = fmt.Errorf("%w: %w", ErrUnavailable, err)
	}
	h.parts[part] = err
	var first, failed error // any error; one of a part that failed (not one still starting)
	for _, e := range h.parts {
		if e != nil {
			first = e
			if !errors.Is(e, errStarting) {
				failed = e
			}
		}
	}
	if first == nil {
		switch {
		case !h.started:
			h.log.Info("redis connected")
		case h.down:
			h.log.Info("redis reachable again")
		}
		h.started, h.down = true, false
		return
	}
	if failed != nil && !h.down {
		h.down = true
		h.log.Warn("redis unreachable; broadcasts to other nodes fail until it is back", "err", failed.Error())
	}
}

// err returns nil when Redis is reachable, else why not.
func (h *health) err() error {
	h.mu.Lock()
	defer h.mu.Unlock()
	for _, e := range h.parts {
		if e != nil {
			return e
		}
	}
	return nil
}

// isDown reports whether a part has failed after working (or never
// connected): a publish then fails at once.
func (h *health) isDown() bool {
	h.mu.Lock()
	defer h.mu.Unlock()
	return h.down
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

// backoff sleeps before a reconnection: 100 ms doubling to 2 s. It returns
// false when ctx ended.
type backoff struct{ d time.Duration }

func (b *backoff) wait(ctx context.Context) bool {
	if b.d == 0 {
		b.d = 100 * time.Millisecond
	} else {
		b.d = min(2*b.d, 2*time.Second)
	}
	t := time.NewTimer(b.d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C:
		return true
	}
}

func (b *backoff) reset() { b.d = 0 }
