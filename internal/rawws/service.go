package rawws

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"slices"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/ws"
)

// Defaults for Config's zero values.
const (
	// DefaultMaxMessage bounds one incoming message (64 KiB).
	DefaultMaxMessage = 64 << 10
	// DefaultSendQueue bounds the frames waiting for one client.
	DefaultSendQueue = 256
	// DefaultMaxConns caps the clients served at once.
	DefaultMaxConns = 10_000
	// DefaultPingInterval: a client quiet this long is pinged.
	DefaultPingInterval = 25 * time.Second
	// DefaultPingTimeout: a pinged client has this long to send a frame.
	DefaultPingTimeout = 20 * time.Second
	// DefaultMessageTimeout: a message begun must be complete within it.
	DefaultMessageTimeout = 10 * time.Second
)

// The limits a client can hit, as reported to Config.Limits.
const (
	LimitConnections    = "rawws.connections"     // MaxConns reached: 1013
	LimitMessageBytes   = "rawws.message_bytes"   // a message over MaxMessage: 1009
	LimitMessageTimeout = "rawws.message_timeout" // a message not complete in MessageTimeout: 1008
	LimitPingTimeout    = "rawws.ping_timeout"    // nothing back within PingTimeout of a ping: 1001
	LimitIdleTimeout    = "rawws.idle_timeout"    // no message for IdleTimeout: 1001
	LimitSendQueue      = "rawws.send_queue"      // the client's send queue overflowed: 1008
	LimitOrigin         = "rawws.origin"          // an Origin CheckOrigin refuses: HTTP 403
)

// Config configures a Service. The zero value serves anyone, as dev does,
// with the default limits. Durations and MaxConns: 0 means the default, a
// negative value turns the limit off.
type Config struct {
	// RequireToken makes every connection pass Authenticate first
	// (production). With it false anyone may connect and Authenticate is
	// not called.
	RequireToken bool
	// Authenticate vets the upgrade request (the token is in ?token= or the
	// Authorization header); an error answers 401 before the upgrade. With
	// RequireToken set and Authenticate nil every connection is refused.
	Authenticate func(r *http.Request) error
	// CheckOrigin, when set, must accept the request (its Origin) or the
	// upgrade is answered 403 (the binary sets it in production). Nil
	// accepts any origin, as the NestJS attendance gateway did.
	CheckOrigin func(r *http.Request) bool
	// MaxMessage bounds one incoming message in bytes; a larger one closes
	// the connection with 1009. 0 means DefaultMaxMessage.
	MaxMessage int64
	// SendQueue bounds the frames waiting for one client; a client that
	// overflows it is disconnected (1008), so it never delays the others.
	// 0 means DefaultSendQueue.
	SendQueue int
	// MaxConns caps the clients served at once, those being upgraded
	// included. One more is upgraded and closed at once with 1013 "too many
	// connections", which browsers show as the close code.
	MaxConns int

	// PingInterval: a client from which no frame has come for this long is
	// sent a ping (browsers answer with a pong by themselves).
	PingInterval time.Duration
	// PingTimeout: a pinged client that sends no frame, the pong or any
	// other, within this long is closed with 1001 "ping timeout". A dead
	// peer, or one stuck inside a frame, is gone within PingInterval +
	// PingTimeout of its last frame.
	PingTimeout time.Duration
	// MessageTimeout bounds a message in progress: from its first frame's
	// header to its last byte. Past it the client is closed with 1008
	// "message not completed in time".
	MessageTimeout time.Duration
	// IdleTimeout closes a client that has sent no message for this long
	// with 1001 "idle timeout"; pings and pongs do not count. 0 (the
	// default) or negative: never, since attendance clients that only
	// listen to broadcasts may send nothing for hours.
	IdleTimeout time.Duration

	// Limits is told of every limit a client hits (one rate-limited WARN
	// line per limit); nil: not reported.
	Limits *limits.Reporter
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// Clock is the time source of the heartbeat, the deadlines and the
	// reply timestamps; nil means the real clock.
	Clock Clock
}

// ClientID names one connected client (16 hex digits, random).
type ClientID string

// Errors returned by Service.
var (
	// ErrUnknownClient: EmitToClient named a client that is not connected
	// (any more), or the client was disconnected meanwhile.
	ErrUnknownClient = errors.New("rawws: no such client")
	// ErrClosed: the Service was shut down.
	ErrClosed = errors.New("rawws: service shut down")
	// ErrSlowClient: the client's send queue was full; it has been
	// disconnected.
	ErrSlowClient = errors.New("rawws: client too slow, disconnected")
)

// Service is the plain WebSocket gateway: an http.Handler that upgrades and
// echoes, plus Broadcast and EmitToClient for other packages. Its methods are
// safe for concurrent use.
type Service struct {
	cfg   Config
	log   *slog.Logger
	clock Clock
	tick  time.Duration // between sweeps (heartbeat.go); 0: none

	mu      sync.Mutex
	clients map[ClientID]*client
	slots   int // connections counted against MaxConns
	closed  bool
	wg      sync.WaitGroup // one per client in clients
	sweeper Timer          // the next sweep
}

var _ http.Handler = (*Service)(nil)

// New returns a Service ready to serve, and logs that the gateway started.
// Shutdown stops it.
func New(cfg Config) *Service {
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	cfg.MaxConns = orDefault(cfg.MaxConns, DefaultMaxConns)
	cfg.PingInterval = orDefault(cfg.PingInterval, DefaultPingInterval)
	cfg.PingTimeout = orDefault(cfg.PingTimeout, DefaultPingTimeout)
	cfg.MessageTimeout = orDefault(cfg.MessageTimeout, DefaultMessageTimeout)
	cfg.IdleTimeout = max(cfg.IdleTimeout, 0)
	if cfg.PingInterval > 0 && cfg.PingTimeout <= 0 {
		cfg.PingTimeout = DefaultPingTimeout // a heartbeat needs a timeout
	}
	clock := cfg.Clock
	if clock == nil {
		clock = realClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, log: log, clock: clock, tick: sweepTick(cfg), clients: make(map[ClientID]*client)}
	log.Info("websocket gateway initialised",
		"require_token", cfg.RequireToken, "max_message", cfg.MaxMessage, "send_queue", cfg.SendQueue,
		"max_conns", cfg.MaxConns, "ping_interval", cfg.PingInterval, "ping_timeout", cfg.PingTimeout,
		"message_timeout", cfg.MessageTimeout, "idle_timeout", cfg.IdleTimeout)
	s.startSweeps()
	return s
}

// orDefault maps Config's 0 to the default and a negative value to 0 (off).
func orDefault[T int | time.Duration](v, def T) T {
	switch {
	case v == 0:
		return def
	case v < 0:
		return 0
	}
	return v
}

// reserve takes a connection slot, or reports that MaxConns are taken.
func (s *Service) reserve() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.cfg.MaxConns > 0 && s.slots >= s.cfg.MaxConns {
		return false
	}
	s.slots++
	return true
}

// release gives back a slot taken by reserve for a connection that was
// never added.
func (s *Service) release() {
	s.mu.Lock()
	s.slots--
	s.mu.Unlock()
}

func (s *Service) add(c *client) bool {
	now := s.clock.Now()
	c.beat = beat{quietSince: now, lastMsg: now}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.clients[c.id] = c
	s.wg.Add(1)
	return true
}

// remove forgets c and gives back its connection slot, in one step: once
// Count has dropped, a new client finds the slot free.
func (s *Service) remove(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[c.id] == c {
		delete(s.clients, c.id)
		s.slots--
		s.wg.Done()
	}
}

// snapshot returns the connected clients, so that sends happen outside mu.
func (s *Service) snapshot() []*client {
	s.mu.Lock()
	defer s.mu.Unlock()
	cs := make([]*client, 0, len(s.clients))
	for _, c := range s.clients {
		cs = append(cs, c)
	}
	return cs
}

// encode marshals v to JSON and frames it as one text message. HTML
// characters are not escaped: the payload comes back as JSON.stringify
// would write it.
func encode(v any) ([]byte, error) {
	var b bytes.Buffer
	enc := json.NewEncoder(&b)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(v); err != nil {
		return nil, fmt.Errorf("rawws: encode: %w", err)
	}
	p := bytes.TrimSuffix(b.Bytes(), []byte("\n"))
	return ws.AppendFrame(make([]byte, 0, len(p)+ws.MaxFrameHeaderSize), ws.OpText, p), nil
}

// enqueue hands a frame to c's writer without blocking; a full queue means
// the client cannot keep up, and it is disconnected.
func (s *Service) enqueue(c *client, frame []byte) error {
	if c.isClosed() {
		return ErrUnknownClient
	}
	select {
	case c.queue <- frame:
		return nil
	default:
		s.cfg.Limits.Hit(LimitSendQueue, c.remote, "client", c.id, "queued", len(c.queue))
		c.end(ws.ClosePolicyViolation, "send queue overflow")
		return fmt.Errorf("client %s: %w", c.id, ErrSlowClient)
	}
}

// Broadcast sends data, as JSON, to every connected client. The frame is
// encoded once and the same bytes are queued for everyone; a client whose
// queue is full is disconnected (and logged) without failing the broadcast.
// It fails only when data cannot be encoded or after Shutdown.
func (s *Service) Broadcast(data any) error {
	frame, err := encode(data)
	if err != nil {
		return err
	}
	s.mu.Lock()
	closed := s.closed
	s.mu.Unlock()
	if closed {
		return ErrClosed
	}
	targets := s.snapshot()
	for _, c := range targets {
		_ = s.enqueue(c, frame) // an overflow is logged and only ends that client
	}
	s.log.Debug("broadcast", "clients", len(targets))
	return nil
}

// EmitToClient sends data, as JSON, to the client id. It returns
// ErrUnknownClient when id is not connected and ErrSlowClient (wrapped) when
// the client could not keep up and was disconnected.
func (s *Service) EmitToClient(id ClientID, data any) error {
	s.mu.Lock()
	c := s.clients[id]
	s.mu.Unlock()
	if c == nil {
		return ErrUnknownClient
	}
	frame, err := encode(data)
	if err != nil {
		return err
	}
	return s.enqueue(c, frame)
}

// Clients returns the ids of the connected clients, sorted.
func (s *Service) Clients() []ClientID {
	s.mu.Lock()
	ids := make([]ClientID, 0, len(s.clients))
	for id := range s.clients {
		ids = append(ids, id)
	}
	s.mu.Unlock()
	slices.Sort(ids)
	return ids
}

// Count returns how many clients are connected.
func (s *Service) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.clients)
}

// Shutdown refuses new connections, closes every client with 1001 "server
// shutting down" and waits, bounded by ctx, until all have left. It is safe
// to call twice.
func (s *Service) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	first := !s.closed
	s.closed = true
	if s.sweeper != nil {
		s.sweeper.Stop()
	}
	s.mu.Unlock()
	targets := s.snapshot()
	for _, c := range targets {
		c.closeWith(ws.CloseGoingAway, "server shutting down")
	}
	if first {
		s.log.Info("websocket gateway shutting down", "clients", len(targets))
	}
	done := make(chan struct{})
	go func() { s.wg.Wait(); close(done) }()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return fmt.Errorf("rawws: shutdown: %w", ctx.Err())
	}
}

func newID() ClientID {
	var b [8]byte
	_, _ = rand.Read(b[:]) // crypto/rand.Read never fails (Go 1.24+)
	return ClientID(hex.EncodeToString(b[:]))
}
