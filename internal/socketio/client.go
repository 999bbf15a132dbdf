package socketio

import (
	"context"
	"fmt"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"sync/atomic"

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

var (
	_ engineConn       = (*engineio.Conn)(nil)
	_ engineio.Drainer = (*client)(nil)
)

// Disconnect reasons seen on the server (OnDisconnect), as Node.js names them.
// Engine.IO close reasons ("transport close", "ping timeout"...) pass through.
const (
	ReasonServerNamespaceDisconnect = "server namespace disconnect"
	ReasonClientNamespaceDisconnect = "client namespace disconnect"
	ReasonParseError                = "parse error"
	ReasonForcedClose               = "forced close"
	ReasonServerShuttingDown        = "server shutting down"
	// ReasonReceiveQueueOverflow: the client sent more than its handlers
	// took, or a binary packet's attachments did not come in time (see
	// Config.MaxBufferedBytes and Config.AttachmentTimeout).
	ReasonReceiveQueueOverflow = "receive queue overflow"
)

// client is one Engine.IO connection and the sockets multiplexed on it.
//
// OnMessage runs on the engine's reader. It decodes, answers ACKs inline (so
// a handler blocked in EmitWithAck gets its answer), and queues everything
// else to a per-client mailbox drained by a goroutine that exists only while
// there is work: handlers run in order, off the reader, and an idle
// connection holds no goroutine.
//
// What a client makes the server hold before its handlers run is bounded
// by bytes received: the mailbox and a binary packet still waiting for its
// attachments share one budget (Config.MaxBufferedBytes, and the much
// smaller MaxConnectBytes until a namespace is joined), the mailbox also by
// packets (maxQueue), and the wait for attachments by time.
type client struct {
	srv  *Server
	conn engineConn
	dec  Decoder

	mu      sync.Mutex
	sockets []*Socket   // one per connected namespace; a slice: clients join few
	timer   func() bool // stops the connect timeout; nil once a namespace is joined
	closed  bool        // (next to qmu: a word less per connection)

	qmu     sync.Mutex
	joined  bool // a namespace was joined: the budget is MaxBufferedBytes
	running bool
	proto   uint8 // Engine.IO protocol, 3 or 4; immutable (a byte here: the client stays in the 144-byte size class)
	queue   []task
	qbytes  int // received bytes held by the tasks waiting in queue

	// partial is the binary packet being reassembled, nil when none: one
	// word in every client, the rest only while attachments are awaited.
	partial atomic.Pointer[partialPacket]
}

// partialPacket is a binary packet waiting for its attachments.
type partialPacket struct {
	bytes int         // received so far (the reader's)
	stop  func() bool // the attachment timer
}

// task is a mailbox entry and the received bytes it keeps alive.
type task struct {
	f func()
	n int
}

func (s *Server) newClient(conn engineConn) *client {
	c := &client{
		srv:   s,
		conn:  conn,
		proto: uint8(conn.Protocol()),
		dec:   Decoder{MaxAttachments: s.cfg.MaxAttachments},
	}
	c.timer = s.cfg.AfterFunc(s.cfg.ConnectTimeout, c.onConnectTimeout)
	if c.proto == 3 {
		// socket.io-client 2.x never sends CONNECT for "/": Node connects
		// it at once with an empty auth; the query stays in
		// Handshake.Query, where applications read 2.x credentials.
		c.push(task{f: func() { c.connect("/", map[string]any{}) }})
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
	if !binary { // a binary packet's attachments add bytes only
		c.srv.counters.packetsIn.Add(1)
	}
	c.srv.counters.bytesIn.Add(uint64(len(data)))
	waiting := c.dec.waiting()
	if !binary && !waiting && len(data) > 0 {
		switch {
		case data[0] == '0' && len(data) > c.srv.cfg.MaxConnectBytes:
			c.refuseConnect(data)
			return
		case data[0] >= '0' && data[0] <= '2':
			// CONNECT, DISCONNECT and EVENT are decoded in the mailbox,
			// where they are handled anyway: JSON decoding deepens the
			// stack, and the reader's stack is kept for the connection's
			// whole life (an idle read is too deep for the GC to shrink
			// it back).
			c.enqueue(len(data), 0, func() {
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
		case data[0] == '5' || data[0] == '6':
			// The text part of a binary packet waits for its
			// attachments: it counts against the budget from now on.
			if !c.admit(len(data), 0) {
				c.overflow(len(data))
				return
			}
		}
	}
	if pp := c.partial.Load(); binary && waiting && pp != nil {
		if !c.admit(len(data), pp.bytes) {
			c.overflow(len(data))
			return
		}
		pp.bytes += len(data)
	}
	p, err := c.dec.Add(data, binary)
	if err != nil {
		c.endPartial()
		c.srv.log.Debug("socketio: invalid packet", "sid", c.conn.ID(), "err", err)
		c.fail()
		return
	}
	if p == nil {
		if !binary && c.dec.waiting() {
			c.startPartial(len(data))
		}
		return
	}
	held := len(data) // a binary packet without attachments, admitted above
	if waiting {
		held = c.endPartial()
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
		c.enqueue(0, held, func() { c.handle(p) })
	default: // CONNECT_ERROR from a client
		c.fail()
	}
}

// refuseConnect answers a CONNECT over MaxConnectBytes without decoding
// it: CONNECT_ERROR for its namespace, as a middleware refusal would, so
// the client may retry with less. One whose namespace cannot be read in
// its first bytes is closed.
func (c *client) refuseConnect(data []byte) {
	c.srv.cfg.Limits.Hit(LimitConnectBytes, c.remoteAddr(), "sid", c.conn.ID(),
		"bytes", len(data), "max", c.srv.cfg.MaxConnectBytes)
	c.srv.connectRefused(RefusedConnectTooLarge)
	nsp, ok := connectNamespace(data)
	if !ok {
		c.fail()
		return
	}
	err := fmt.Errorf("connect payload too large (%d bytes, the limit is %d)", len(data), c.srv.cfg.MaxConnectBytes)
	// Through the mailbox, after the packets before it.
	c.enqueue(len(nsp), 0, func() {
		c.sendPacket(PacketConnectError, nsp, connectErrorData(int(c.proto), err))
	})
}

// maxNamespaceLen bounds the namespace read from a CONNECT too large to
// decode.
const maxNamespaceLen = 256

// connectNamespace returns the namespace of the CONNECT packet data ("0"
// then "/nsp," or "/nsp?query," or neither for "/").
func connectNamespace(data []byte) (string, bool) {
	if len(data) < 2 || data[1] != '/' {
		return "/", true
	}
	end := min(len(data), 1+maxNamespaceLen)
	for i := 1; i < end; i++ {
		if data[i] == ',' || data[i] == '?' {
			return string(data[1:i]), true
		}
	}
	return "", false
}

// startPartial starts the wait for the attachments of a binary packet
// whose text part, n bytes, was just read.
func (c *client) startPartial(n int) {
	pp := &partialPacket{bytes: n}
	pp.stop = c.srv.cfg.AfterFunc(c.srv.cfg.AttachmentTimeout, func() {
		if c.partial.CompareAndSwap(pp, nil) { // still that packet
			c.srv.cfg.Limits.Hit(LimitAttachmentTimeout, c.remoteAddr(), "sid", c.conn.ID(),
				"timeout", c.srv.cfg.AttachmentTimeout.String())
			c.closeWith(ReasonReceiveQueueOverflow, true)
		}
	})
	c.partial.Store(pp)
}

// endPartial ends the wait started by startPartial, if any, and returns
// the bytes the packet held.
func (c *client) endPartial() int {
	pp := c.partial.Swap(nil)
	if pp == nil {
		return 0
	}
	pp.stop()
	return pp.bytes
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

// OnDrain implements engineio.Drainer: the sockets close (with recovery
// on, their sessions are kept; their disconnect handlers run) before the
// engine closes the transport, so that a client reconnecting at once to
// another node finds its session there. It returns when that is done, or
// when ctx ends.
func (c *client) OnDrain(ctx context.Context, reason string) {
	c.closeWith(reason, false)
	done := make(chan struct{})
	c.push(task{f: func() { close(done) }}) // after the sockets' close
	select {
	case <-done:
	case <-ctx.Done():
	}
}

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
	if pp := c.partial.Swap(nil); pp != nil {
		pp.stop() // so the timer does not keep the client alive
	}
	socks := c.sockets
	c.sockets = nil
	c.mu.Unlock()
	if h := c.srv.loadHooks(); h != nil && h.ClientClosed != nil {
		h.ClientClosed(reason)
	}
	for _, s := range socks {
		s.failAcks()
	}
	if closeConn {
		c.conn.Close()
	}
	if len(socks) > 0 {
		c.push(task{f: func() {
			for _, s := range socks {
				s.onClose(reason)
			}
		}})
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
		c.timer()
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
		c.srv.connectRefused(RefusedInvalidNamespace)
		c.sendPacket(PacketConnectError, name, map[string]any{"message": "Invalid namespace"})
		return
	}
	if auth == nil {
		auth = map[string]any{}
	}
	s := newSocket(nsp, c, auth)
	if err := nsp.runMiddleware(s); err != nil {
		c.srv.log.Debug("socketio: connection refused by middleware", "sid", c.conn.ID(), "nsp", name, "err", err)
		c.srv.connectRefused(RefusalReason(err))
		c.sendPacket(PacketConnectError, name, connectErrorData(int(c.proto), err))
		return
	}
	// Connection-state recovery (ADR 0023): a v5 client that had a
	// session sends its pid and the offset of the last event it got.
	var rec *restored
	if c.srv.recovery != nil && c.proto != 3 {
		pid, _ := auth["pid"].(string)
		offset, _ := auth["offset"].(string)
		if pid != "" && offset != "" {
			c.srv.RecoveryAttempted()
			if rec = nsp.restore(s, pid, offset); rec != nil {
				c.srv.RecoverySucceeded()
			}
		}
		if rec == nil {
			s.pid = newID()
		}
	}
	c.mu.Lock()
	if c.closed {
		c.mu.Unlock()
		if rec != nil {
			nsp.cancelPending(s)
		}
		return
	}
	c.sockets = append(c.sockets, s)
	c.stopTimerLocked()
	c.mu.Unlock()
	// Past the namespace's middleware (authentication): the engine stops
	// counting the connection as pending and lifts its pending payload cap.
	c.conn.Admit()
	c.qmu.Lock()
	c.joined = true
	c.qmu.Unlock()

	switch {
	case rec != nil:
		nsp.completeRecovery(s, rec)
	case c.proto == 3:
		nsp.add(s)
		c.sendPacket(PacketConnect, name, nil)
	case s.pid != "":
		nsp.add(s)
		c.sendPacket(PacketConnect, name, map[string]any{"sid": s.id, "pid": s.pid})
		c.srv.recovery.keepLive(s)
	default:
		nsp.add(s)
		c.sendPacket(PacketConnect, name, map[string]any{"sid": s.id})
	}
	nsp.connected(s)
	s.releaseAuth()
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
	if o := c.srv.cfg.Observer; o != nil && (p.Type == PacketEvent || p.Type == PacketBinaryEvent) {
		defer o.EventsSent(p.eventName(), 1)
	}
	c.srv.countOut(p, 1)
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
// that outruns its handlers by that much (or by Config.MaxBufferedBytes) is
// closed rather than allowed to grow the server's memory; blocking the
// reader instead could deadlock a handler waiting in EmitWithAck for an ack
// behind it.
const maxQueue = 4096

// admit reports whether n more received bytes may be held, with extra held
// outside the mailbox (a binary packet being reassembled).
func (c *client) admit(n, extra int) bool {
	c.qmu.Lock()
	defer c.qmu.Unlock()
	return c.admitLocked(n, extra)
}

func (c *client) admitLocked(n, extra int) bool {
	if len(c.queue) >= maxQueue {
		return false
	}
	held := c.qbytes + extra
	if !c.joined {
		return held+n <= c.srv.cfg.MaxConnectBytes
	}
	return held == 0 || held+n <= c.srv.cfg.MaxBufferedBytes
}

// overflow closes a client that sent more than it may have held.
func (c *client) overflow(n int) {
	c.qmu.Lock()
	queued, held, joined := len(c.queue), c.qbytes, c.joined
	c.qmu.Unlock()
	if pp := c.partial.Load(); pp != nil {
		held += pp.bytes
	}
	c.srv.cfg.Limits.Hit(LimitReceiveQueue, c.remoteAddr(), "sid", c.conn.ID(),
		"queued", queued, "bytes", held+n, "connected", joined)
	c.srv.log.Debug("socketio: client outruns its handlers, closing", "sid", c.conn.ID(), "queued", queued, "bytes", held+n)
	c.closeWith(ReasonReceiveQueueOverflow, true)
}

// enqueue adds f, holding n newly received bytes and pre bytes admitted
// before (a binary packet's parts), to the mailbox; a client over its
// bounds is closed instead.
func (c *client) enqueue(n, pre int, f func()) {
	c.qmu.Lock()
	if (n > 0 && !c.admitLocked(n, 0)) || len(c.queue) >= maxQueue {
		c.qmu.Unlock()
		c.overflow(n)
		return
	}
	c.pushLocked(task{f: f, n: n + pre})
}

// push adds t to the mailbox without a bound: t is the server's own (a
// close, the automatic connection of a 2.x client).
func (c *client) push(t task) {
	c.qmu.Lock()
	c.pushLocked(t)
}

// pushLocked appends t and starts the drainer if idle. It is called with
// qmu held, and unlocks it.
func (c *client) pushLocked(t task) {
	c.queue = append(c.queue, t)
	c.qbytes += t.n
	if c.running {
		c.qmu.Unlock()
		return
	}
	c.running = true
	c.qmu.Unlock()
	c.srv.drains.Add(1)
	go c.drain()
}

// drain runs the mailbox's tasks in order. A task's bytes leave the budget
// when it starts: the budget bounds what waits, and the one running is
// bounded by the engine's MaxPayload.
func (c *client) drain() {
	defer c.srv.drains.Add(-1)
	for {
		c.qmu.Lock()
		if len(c.queue) == 0 {
			c.queue = nil // an idle connection keeps no array
			c.running = false
			c.qmu.Unlock()
			return
		}
		t := c.queue[0]
		c.queue[0] = task{}
		c.queue = c.queue[1:]
		c.qbytes -= t.n
		c.qmu.Unlock()
		c.run(t.f)
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

// remoteAddr returns the client's address, for limit reports.
func (c *client) remoteAddr() string {
	if r := c.conn.Request(); r != nil {
		return r.RemoteAddr
	}
	return ""
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
