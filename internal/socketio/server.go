package socketio

import (
	"context"
	"log/slog"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/limits"
)

// Defaults of the limits in Config.
const (
	// DefaultMaxConnectBytes bounds a CONNECT packet: room for a JWT and
	// a few other auth fields, far from what an honest client sends.
	DefaultMaxConnectBytes = 8 << 10
	// DefaultMaxBufferedBytes bounds what a connection's received packets
	// hold while they wait for its handlers.
	DefaultMaxBufferedBytes = 1 << 20
	// DefaultAttachmentTimeout bounds the wait for a binary packet's
	// attachments.
	DefaultAttachmentTimeout = 30 * time.Second
)

// Names of the limits this package reports to Config.Limits.
const (
	LimitConnectBytes      = "socketio.connect_bytes"
	LimitReceiveQueue      = "socketio.receive_queue"
	LimitAttachmentTimeout = "socketio.attachment_timeout"
)

// Config configures a Server. Zero values take the documented defaults.
type Config struct {
	// Engine configures the Engine.IO layer. Set Engine.AllowEIO3 to accept
	// socket.io-client 2.x.
	Engine engineio.Config
	// ConnectTimeout closes an Engine.IO connection that has joined no
	// namespace in time. Default 45s, as Node.js.
	ConnectTimeout time.Duration
	// MaxAttachments bounds the binary attachments of one incoming packet.
	// Default DefaultMaxAttachments (10).
	MaxAttachments int
	// MaxConnectBytes bounds a CONNECT packet (its auth payload, or the
	// namespace query of a v4 client). A larger one is answered with
	// CONNECT_ERROR "connect payload too large" (the connection stays, as
	// after a middleware refusal). Default DefaultMaxConnectBytes.
	MaxConnectBytes int
	// MaxBufferedBytes bounds the bytes of received packets a connection
	// holds while they wait for its handlers: the mailbox (not counting
	// the packet being handled), and the attachments of a binary packet
	// still arriving. One packet is always accepted when nothing waits
	// (the engine bounds it by its MaxPayload). Until the connection has
	// joined a namespace the bound is MaxConnectBytes, with no such
	// exception. Over it, the connection is closed with reason "receive
	// queue overflow". Default DefaultMaxBufferedBytes.
	MaxBufferedBytes int
	// AttachmentTimeout bounds the time between a binary packet's header
	// and its last attachment; the connection is closed when it runs out.
	// Default DefaultAttachmentTimeout.
	AttachmentTimeout time.Duration
	// Limits counts and logs the limits clients hit (nil: not reported).
	Limits *limits.Reporter
	// NewAdapter returns the room adapter of a namespace. Default
	// NewMemoryAdapter.
	NewAdapter func(nsp *Namespace) Adapter
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock (Handshake.Time); default time.Now.
	Now func() time.Time
	// AfterFunc schedules the connect and attachment timeouts: it runs f
	// after d on a goroutine of its own and returns a
	// function that cancels it (false if f already ran or was cancelled),
	// like time.AfterFunc(d, f).Stop, the default. Tests pass a fake clock.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Server is a Socket.IO server (protocol v5 on Engine.IO v4, and v4 on
// Engine.IO v3). It is an http.Handler to mount at /socket.io/.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *engineio.Server

	mu   sync.RWMutex
	nsps map[string]*Namespace

	drains atomic.Int64 // running mailbox goroutines

	shutdownOnce sync.Once
	shutdownErr  error
}

// NewServer returns a Server with the main namespace "/".
func NewServer(cfg Config) *Server {
	if cfg.ConnectTimeout <= 0 {
		cfg.ConnectTimeout = 45 * time.Second
	}
	if cfg.MaxAttachments <= 0 {
		cfg.MaxAttachments = DefaultMaxAttachments
	}
	if cfg.MaxConnectBytes <= 0 {
		cfg.MaxConnectBytes = DefaultMaxConnectBytes
	}
	if cfg.MaxBufferedBytes <= 0 {
		cfg.MaxBufferedBytes = DefaultMaxBufferedBytes
	}
	if cfg.AttachmentTimeout <= 0 {
		cfg.AttachmentTimeout = DefaultAttachmentTimeout
	}
	if cfg.NewAdapter == nil {
		cfg.NewAdapter = func(nsp *Namespace) Adapter { return NewMemoryAdapter(nsp) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	if cfg.AfterFunc == nil {
		cfg.AfterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	if cfg.Engine.Logger == nil {
		cfg.Engine.Logger = cfg.Logger
	}
	s := &Server{cfg: cfg, log: cfg.Logger, nsps: make(map[string]*Namespace)}
	s.Of("/")
	s.engine = engineio.NewServer(cfg.Engine, func(c *engineio.Conn) engineio.Receiver {
		return s.newClient(c)
	})
	return s
}

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Engine returns the underlying Engine.IO server (e.g. for Count).
func (s *Server) Engine() *engineio.Server { return s.engine }

// Of returns the namespace name, creating it. A name without a leading "/"
// gets one. Clients connecting to a namespace never created get
// CONNECT_ERROR {"message":"Invalid namespace"}.
func (s *Server) Of(name string) *Namespace {
	if !strings.HasPrefix(name, "/") {
		name = "/" + name
	}
	s.mu.RLock()
	n := s.nsps[name]
	s.mu.RUnlock()
	if n != nil {
		return n
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if n = s.nsps[name]; n != nil {
		return n
	}
	n = &Namespace{name: name, server: s, sockets: make(map[string]*Socket)}
	n.adapter = s.cfg.NewAdapter(n)
	s.nsps[name] = n
	return n
}

// lookup returns an existing namespace or nil.
func (s *Server) lookup(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// Shutdown closes every connection (reason "server shutting down"), waits
// (bounded by ctx) for the disconnect handlers to run, and closes the
// adapters. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.shutdownErr = s.engine.Shutdown(ctx)
		tick := time.NewTicker(5 * time.Millisecond)
		defer tick.Stop()
		for s.drains.Load() > 0 && s.shutdownErr == nil {
			select {
			case <-ctx.Done():
				s.shutdownErr = ctx.Err()
			case <-tick.C:
			}
		}
		s.mu.RLock()
		defer s.mu.RUnlock()
		for _, n := range s.nsps {
			if err := n.adapter.Close(); err != nil && s.shutdownErr == nil {
				s.shutdownErr = err
			}
		}
	})
	return s.shutdownErr
}
