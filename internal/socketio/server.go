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
	// NewAdapter returns the room adapter of a namespace. Default
	// NewMemoryAdapter.
	NewAdapter func(nsp *Namespace) Adapter
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock (Handshake.Time); default time.Now.
	Now func() time.Time
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
	if cfg.NewAdapter == nil {
		cfg.NewAdapter = func(nsp *Namespace) Adapter { return NewMemoryAdapter(nsp) }
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
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
