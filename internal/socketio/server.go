package socketio

import (
	"context"
	"errors"
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
	// Recovery configures connection-state recovery (ADR 0023); the zero
	// value is off.
	Recovery Recovery
	// Broker carries broadcasts and requests to the other nodes of a
	// cluster (ADR 0018). Default: a MemoryBroker of the server's own, a
	// cluster of one node. A Broker given here stays its creator's, who
	// closes it after Shutdown.
	Broker Broker
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
	// Now is the clock (Handshake.Time); default time.Now.
	Now func() time.Time
	// AfterFunc schedules the connect and attachment timeouts: it runs f
	// after d on a goroutine of its own and returns a
	// function that cancels it (false if f already ran or was cancelled),
	// like time.AfterFunc(d, f).Stop, the default. Tests pass a fake clock.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
	// Observer is told of refused CONNECTs, events in and out, broadcasts,
	// broker publishes and recoveries (metrics); nil: nobody is.
	Observer Observer
}

// Server is a Socket.IO server (protocol v5 on Engine.IO v4, and v4 on
// Engine.IO v3). It is an http.Handler to mount at /socket.io/.
type Server struct {
	cfg    Config
	log    *slog.Logger
	engine *engineio.Server
	broker Broker
	// ownBroker: the broker is the default one, closed by Shutdown.
	ownBroker bool

	mu   sync.RWMutex
	nsps map[string]*Namespace

	drains atomic.Int64 // running mailbox goroutines

	// recovery is connection-state recovery's state, nil when off.
	recovery *recovery
	// The refresh of live sessions (restore.go).
	liveMu      sync.Mutex
	liveStop    func() bool
	liveStopped bool
	// hooks and counters are for an observer (observe.go).
	hooks    atomic.Pointer[Hooks]
	counters counters

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
	s := &Server{cfg: cfg, log: cfg.Logger, nsps: make(map[string]*Namespace), broker: cfg.Broker}
	if s.broker == nil {
		s.broker, s.ownBroker = NewMemoryBroker(), true
	}
	s.recovery = newRecovery(cfg.Recovery, s.broker, cfg.Now)
	s.Of("/")
	s.engine = engineio.NewServer(cfg.Engine, func(c *engineio.Conn) engineio.Receiver {
		if h := s.loadHooks(); h != nil && h.ClientOpened != nil {
			h.ClientOpened()
		}
		return s.newClient(c)
	})
	s.startLiveRefresh()
	return s
}

// ServeHTTP serves the Engine.IO endpoint.
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) { s.engine.ServeHTTP(w, r) }

// Engine returns the underlying Engine.IO server (e.g. for Count).
func (s *Server) Engine() *engineio.Server { return s.engine }

// Of returns the namespace name, creating it and subscribing it to the
// broker. A name without a leading "/" gets one. Clients connecting to a
// namespace never created get CONNECT_ERROR {"message":"Invalid namespace"}.
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
	n = newNamespace(name, s)
	if err := s.broker.Subscribe(context.Background(), n.local()); err != nil {
		// The namespace serves this node's sockets; other nodes' broadcasts
		// do not reach it.
		s.log.Error("socketio: broker subscription failed", "nsp", name, "err", err)
	}
	s.nsps[name] = n
	return n
}

// Namespaces returns the server's namespaces ("/" and those made by Of).
func (s *Server) Namespaces() []*Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	out := make([]*Namespace, 0, len(s.nsps))
	for _, n := range s.nsps {
		out = append(out, n)
	}
	return out
}

// lookup returns an existing namespace or nil.
func (s *Server) lookup(name string) *Namespace {
	s.mu.RLock()
	defer s.mu.RUnlock()
	return s.nsps[name]
}

// Shutdown unsubscribes the namespaces from the broker, closes every
// connection (reason "server shutting down": with recovery on, each
// socket's session is kept, so its client can recover on another node of
// a cluster whose broker keeps sessions), waits (bounded by ctx) for
// the disconnect handlers to run, and closes the engine and the default
// broker. It is safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.shutdownOnce.Do(func() {
		s.stopLiveRefresh()
		var errs []error
		s.mu.RLock()
		for name := range s.nsps {
			errs = append(errs, s.broker.Unsubscribe(ctx, name))
		}
		s.mu.RUnlock()
		err := s.engine.Shutdown(ctx)
		if err == nil {
			err = s.waitHandlers(ctx)
		}
		s.shutdownErr = errors.Join(append(errs, err)...)
		if s.ownBroker {
			if err := s.broker.Close(); err != nil && s.shutdownErr == nil {
				s.shutdownErr = err
			}
		}
	})
	return s.shutdownErr
}

// Drain refuses new connections and closes the open ones (reason "server
// shutting down", a transport close to the client, which reconnects),
// spread over spread so their clients do not all reconnect at once (see
// engineio.Server.Drain), then waits, bounded by ctx, for their disconnect
// handlers to run. It returns how many connections it closed. The broker
// subscriptions stay until Shutdown, which still follows. Safe to call
// twice.
func (s *Server) Drain(ctx context.Context, spread time.Duration) (int, error) {
	n, err := s.engine.Drain(ctx, spread)
	if err == nil {
		err = s.waitHandlers(ctx)
	}
	return n, err
}

// StopAccepting refuses new connections from now on, leaving the open ones
// be (engineio.Server.StopAccepting).
func (s *Server) StopAccepting() { s.engine.StopAccepting() }

// waitHandlers waits until no mailbox goroutine runs (the disconnect
// handlers of closed connections have run), or ctx ends.
func (s *Server) waitHandlers(ctx context.Context) error {
	tick := time.NewTicker(5 * time.Millisecond)
	defer tick.Stop()
	for s.drains.Load() > 0 {
		select {
		case <-ctx.Done():
			return ctx.Err()
		case <-tick.C:
		}
	}
	return nil
}

// connPool holds slices of engine connections for fanout.
var connPool = sync.Pool{New: func() any { s := make([]*engineio.Conn, 0, 64); return &s }}

// fanout hands p to the engine once for every socket of list: one call,
// in which the engine decides how the bytes are written
// (engineio.Server.Broadcast). Sockets on another kind of connection (the
// tests' in-process ones) are sent to one by one.
func (s *Server) fanout(list []*Socket, p *Packet) {
	if len(list) == 0 {
		return
	}
	s.countOut(p, len(list))
	msgs := p.Messages()
	if o := s.cfg.Observer; o != nil {
		defer s.observeFanout(o, len(list), p, time.Now())
	}
	cp := connPool.Get().(*[]*engineio.Conn)
	conns := (*cp)[:0]
	for _, so := range list {
		if c, ok := so.client.conn.(*engineio.Conn); ok {
			conns = append(conns, c)
		} else {
			so.client.sendMessages(msgs)
		}
	}
	if len(conns) > 0 {
		s.engine.Broadcast(conns, msgs...)
	}
	clear(conns)
	*cp = conns[:0]
	connPool.Put(cp)
}
