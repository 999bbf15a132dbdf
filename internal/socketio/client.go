package socketio

import (
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/engineio"
)

// engineConn is what a client needs of an Engine.IO connection;
// *engineio.Conn implements it (tests use a fake for in-process sockets).
type engineConn interface {
	ID() string
	Protocol() int
	Transport() string
	Request() *http.Request
	Send(msgs ...*engineio.Message) error
	Close()
	// Admit tells the engine the connection has joined a namespace: it
	// no longer counts against the engine's cap on pending sessions.
	Admit()
}

var _ engineConn = (*engineio.Conn)(nil)

// Disconnect reasons seen on the server (OnDisconnect), as Node.js names them.
// Engine.IO close reasons ("transport close", "ping timeout"...) pass through.
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonParseError                = "parse error"
	ReasonForcedClose               = "forced close"
	ReasonServerShuttingDown        = "server shutting down"
)

// client is one Engine.IO connection and the sockets multiplexed on it.
//
// OnMessage runs on the engine's reader. It decodes, answers ACKs inline (so
// a handler blocked in EmitWithAck gets its answer), and queues everything
// else to a per-client mailbox drained by a goroutine that exists only while
// there is work: handlers run in order, off the reader, and an idle
// connection holds no goroutine.
type client struct {
	srv   *Server
	conn  engineConn
	proto int
	dec   Decoder

	mu      sync.Mutex
	sockets []*Socket // one per connected namespace; a slice: clients join few
	closed  bool
	timer   *time.Timer // connect timeout; nil once a namespace is joined

	qmu     sync.Mutex
	queue   []func()
	running bool
}

func (s *Server) newClient(conn engineConn) *client {
	c := &client{
		srv:   s,
		conn:  conn,
		proto: conn.Protocol(),
		dec:   Decoder{MaxAttachments: s.cfg.MaxAttachments},
	}
	c.timer = time.AfterFunc(s.cfg.ConnectTimeout, c.onConnectTimeout)
	if c.proto == 3 {
		// socket.io-client 2.x never sends CONNECT for "/": Node connects
		// it at once with an empty auth; the query stays in
		// Handshake.Query, where applications read 2.x credentials.
		c.enqueue(func() { c.connect("/", map[string]any{}) })
	}
	return c
}

func (c *client) onConnectTimeout() {
	c.mu.Lock()
	idle := !c.closed && len(c.sockets) == 0
	c.mu.Unlock()
	if idle {
		c.srv.log.Debug("socketio: no namespace joined in time, closing", "sid", c.conn.ID())
		c.conn.Close()
	}
}

// OnMessage implements engineio.Receiver.
func (c *client) OnMessage(data []byte, binary bool) {
	c.mu.Lock()
	closed := c.closed
	c.mu.Unlock()
	if closed {
		return // the connection is going away: decode nothing more
	}
	if !binary && len(data) > 0 && data[0] >= '0' && data[0] <= '2' && !c.dec.waiting() {
		// CONNECT, DISCONNECT and EVENT are decoded in the mailbox, where they
		// are handled anyway: JSON decoding deepens the stack, and the
		// reader's stack is kept for the connection's whole life (an idle
		// read is too deep for the GC to shrink it back).
		c.enqueue(func() {
			p, n, err := decodeText(data, c.dec.maxAttachments(), false)
			if err == nil && n > 0 {
				err = perr("illegal attachments")
			}
			if err != nil {
				c.srv.log.Debug("socketio: invalid packet", "sid", c.conn.ID(), "err", err)
				c.fail()
				return
			}
			c.handle(p)
		})
		return
	}
	p, err := c.dec.Add(data, binary)
	if err != nil {
		c.srv.log.Debug("socketio: invalid packet", "sid", c.conn.ID(), "err", err)
		c.fail()
		return
	}
	if p == nil {
		return
	}
	switch p.Type {
	case PacketAck, PacketBinaryAck:
		// Answered inline, so a handler blocked in EmitWithAck gets it.
		s := c.socket(p.Namespace)
		if s == nil {
			c.fail()
			return
		}
		s.onAck(p)
	case PacketConnect, PacketEvent, PacketBinaryEvent, PacketDisconnect:
		c.enqueue(func() { c.handle(p) })
	default: // CONNECT_ERROR from a client
		c.fail()
	}
}

// handle runs in the mailbox: CONNECT, DISCONNECT and events.
func (c *client) handle(p *DecodedPacket) {
	switch p.Type {
	case PacketConnect:
		c.onConnect(p)
	case PacketEvent, PacketBinaryEvent, PacketDisconnect:
		s := c.socket(p.Namespace)
		if s == nil {
			c.fail()
			return
		}
		if p.Type == PacketDisconnect {
			c.remove(s)
			s.onClose(ReasonClientNamespaceDisconnect)
			return
		}
		s.onEvent(p)
	default:
		c.fail()
	}
}

// OnClose implements engineio.Receiver.
func (c *client) OnClose(reason string) { c.closeWith(reason, false) }

// fail closes the connection after a bad packet or one in an invalid state,
// like Node.js; the server and other connections are unaffected.
func (c *client) fail() { c.closeWith(ReasonParseError, true) }

// closeWith closes every socket with reason (first reason wins), fails their
// pending acks at once and runs their disconnect handlers in the mailbox,
// after the events already queued.
func (c *client) closeWith(reason string, closeConn bool) {
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.closed = true
	c.stopTimerLocked()
	socks := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	for _, s := range socks {
		s.failAcks()
	}
	if closeConn {
		c.conn.Close()
	}
	if len(socks) > 0 {
		c.push(func() {
			for _, s := range socks {
				s.onClose(reason)
			}
		}, false)
	}
}

func (c *client) socket(nsp string) *Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, s := range c.sockets {
		if s.nsp.name == nsp {
			return s
		}
	}
	return nil
}

func (c *client) stopTimerLocked() {
	if c.timer != nil {
		c.timer.Stop()
		c.timer = nil
	}
}

// snapshot returns the connected sockets.
func (c *client) snapshot() []*Socket {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]*Socket(nil), c.sockets...)
}

func (c *client) remove(s *Socket) {
	c.mu.Lock()
	for i, o := range c.sockets {
		if o == s {
			c.sockets = append(c.sockets[:i], c.sockets[i+1:]...)
			break
		}
	}
	c.mu.Unlock()
}

func (c *client) onConnect(p *DecodedPacket) {
	name := p.Namespace
	var auth map[string]any
	if c.proto == 3 {
		// v4 clients put the auth in the namespace's query: "/admin?token=x".
		if i := strings.IndexByte(name, '?'); i >= 0 {
			q, _ := url.ParseQuery(name[i+1:])
			auth = queryAuth(q)
			name = name[:i]
		}
	} else if m, ok := p.Data.(map[string]any); ok {
		auth = m
	}
	c.connect(name, auth)
}

// connect runs in the mailbox: middleware, then CONNECT and OnConnection.
func (c *client) connect(name string, auth map[string]any) {
	if c.socket(name) != nil {
		c.srv.log.Debug("socketio: second CONNECT", "sid", c.conn.ID(), "nsp", name)
		c.fail()
		return
	}
	nsp := c.srv.lookup(name)
	if nsp == nil {
		c.sendPacket(PacketConnectError, name, map[string]any{"message": "Invalid namespace"})
		return
	}
	if auth == nil {
		auth = map[string]any{}
	}
	s := newSocket(nsp, c, auth)
	if err := nsp.runMiddleware(s); err != nil {
		c.srv.log.Debug("socketio: connection refused by middleware", "sid", c.conn.ID(), "nsp", name, "err", err)
		c.sendPacket(PacketConnectError, name, connectErrorData(c.proto, err))
		return
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		return
	}
	c.sockets = append(c.sockets, s)
	c.stopTimerLocked()
	c.mu.Unlock()
	// Past the namespace's middleware (authentication): the engine stops
	// counting the connection as pending and lifts its pending payload cap.
	c.conn.Admit()

	nsp.add(s)
	if c.proto == 3 {
		c.sendPacket(PacketConnect, name, nil)
	} else {
		c.sendPacket(PacketConnect, name, map[string]any{"sid": s.id})
	}
	nsp.connected(s)
}

// connectErrorData is what Node sends on a middleware error: v5
// {"message","data"}; v4 the error's data if any, else its message.
func connectErrorData(proto int, err error) any {
	var data any
	hasData := false
	if d, ok := err.(interface{ Data() any }); ok {
		data, hasData = d.Data(), true
	}
	if proto == 3 {
		if hasData && data != nil {
			return data
		}
		return err.Error()
	}
	m := map[string]any{"message": err.Error()}
	if hasData && data != nil {
		m["data"] = data
	}
	return m
}

func (c *client) sendPacket(t PacketType, nsp string, data any) {
	p, err := Encode(t, nsp, NoID, data)
	if err != nil {
		c.srv.log.Error("socketio: encode", "sid", c.conn.ID(), "err", err)
		return
	}
	c.send(p)
}

func (c *client) send(p *Packet) error {
	if len(p.Attachments) == 0 {
		return c.conn.Send(engineio.TextMessage(p.Text))
	}
	return c.conn.Send(p.Messages()...)
}

func (c *client) sendMessages(msgs []*engineio.Message) {
	// An error closes the connection (queue full) or means it is closed;
	// either way the close path reports it.
	_ = c.conn.Send(msgs...)
}

// maxQueue bounds the packets waiting for a connection's handlers. A client
// that outruns its handlers by that much is closed rather than allowed to
// grow the server's memory; blocking the reader instead could deadlock a
// handler waiting in EmitWithAck for an ack behind it.
const maxQueue = 4096

// enqueue adds f to the mailbox, starting the drainer if idle. Only packet
// handling counts against maxQueue (bounded is false for the close task).
func (c *client) enqueue(f func()) { c.push(f, true) }

func (c *client) push(f func(), bounded bool) {
	c.qmu.Lock()
	if bounded && len(c.queue) >= maxQueue {
		c.qmu.Unlock()
		c.srv.log.Warn("socketio: client outruns its handlers, closing", "sid", c.conn.ID(), "queued", maxQueue)
		c.fail()
		return
	}
	c.queue = append(c.queue, f)
	if c.running {
		c.qmu.Unlock()
		return
	}
	c.running = true
	c.qmu.Unlock()
	c.srv.drains.Add(1)
	go c.drain()
}

func (c *client) drain() {
	defer c.srv.drains.Add(-1)
	for {
		c.qmu.Lock()
		if len(c.queue) == 0 {
			c.queue = c.queue[:0:0]
			c.running = false
			c.qmu.Unlock()
			return
		}
		f := c.queue[0]
		c.queue[0] = nil
		c.queue = c.queue[1:]
		c.qmu.Unlock()
		c.run(f)
	}
}

// run calls a task, turning a handler's panic into a log line: one bad
// handler must not take the server down.
func (c *client) run(f func()) {
	defer func() {
		if r := recover(); r != nil {
			c.srv.log.Error("socketio: handler panic", "sid", c.conn.ID(), "err", fmt.Sprint(r))
		}
	}()
	f()
}

// queryAuth turns a query into an auth map of strings (first value of each key).
func queryAuth(q url.Values) map[string]any {
	m := make(map[string]any, len(q))
	for k, v := range q {
		if len(v) > 0 {
			m[k] = v[0]
		}
	}
	return m
}
