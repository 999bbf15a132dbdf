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

	"github.com/eventide/realtime/internal/ws"
)

// Defaults for Config's zero values.
const (
	// DefaultMaxMessage bounds one incoming message (64 KiB).
	DefaultMaxMessage = 64 << 10
	// DefaultSendQueue bounds the frames waiting for one client.
	DefaultSendQueue = 256
)

// Config configures a Service. The zero value serves anyone, as dev does.
type Config struct {
	// RequireToken makes every connection pass Authenticate first
	// (production). With it false anyone may connect and Authenticate is
	// not called.
	RequireToken bool
	// Authenticate vets the upgrade request (the token is in ?token= or the
	// Authorization header); an error answers 401 before the upgrade. With
	// RequireToken set and Authenticate nil every connection is refused.
	Authenticate func(r *http.Request) error
	// CheckOrigin, when set, must accept the request's Origin (else 403).
	// Nil accepts any origin, as the NestJS attendance gateway did.
	CheckOrigin func(r *http.Request) bool
	// MaxMessage bounds one incoming message in bytes; a larger one closes
	// the connection with 1009. 0 means DefaultMaxMessage.
	MaxMessage int64
	// SendQueue bounds the frames waiting for one client; a client that
	// overflows it is disconnected (1008), so it never delays the others.
	// 0 means DefaultSendQueue.
	SendQueue int
	// Logger receives the gateway's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock of reply timestamps; nil means time.Now.
	Now func() time.Time
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
	cfg Config
	log *slog.Logger

	mu      sync.Mutex
	clients map[ClientID]*client
	closed  bool
	wg      sync.WaitGroup // one per client in clients
}

var _ http.Handler = (*Service)(nil)

// New returns a Service ready to serve, and logs that the gateway started.
func New(cfg Config) *Service {
	if cfg.MaxMessage <= 0 {
		cfg.MaxMessage = DefaultMaxMessage
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = DefaultSendQueue
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Service{cfg: cfg, log: log, clients: make(map[ClientID]*client)}
	log.Info("websocket gateway initialised",
		"require_token", cfg.RequireToken, "max_message", cfg.MaxMessage, "send_queue", cfg.SendQueue)
	return s
}

func (s *Service) add(c *client) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.closed {
		return false
	}
	s.clients[c.id] = c
	s.wg.Add(1)
	return true
}

func (s *Service) remove(c *client) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.clients[c.id] == c {
		delete(s.clients, c.id)
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
		s.log.Warn("client too slow; disconnecting", "client", c.id, "queued", len(c.queue))
		c.closeWith(ws.ClosePolicyViolation, "send queue overflow")
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
