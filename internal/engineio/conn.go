package engineio

import (
	"net/http"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

type connState uint8

const (
	stateOpen    connState = iota
	stateClosing           // Close called: flushing, then closed
	stateClosed
)

// Control packets, immutable and shared by every connection.
var (
	pingPacket  = controlMessage(typePing, "")
	pongPacket  = controlMessage(typePong, "")
	noopPacket  = controlMessage(typeNoop, "")
	closePacket = controlMessage(typeClose, "")
)

// aLongTimeAgo is a deadline in the past: setting it ends a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

// maxIdleQueueCap is the largest queue backing array kept between flushes;
// a burst's larger array is dropped so an idle connection stays small.
const maxIdleQueueCap = 16

// Conn is one Engine.IO session. Its methods are safe for concurrent use.
//
// Fields are grouped by size (the flags last) to keep an idle session in a
// small allocation size class.
type Conn struct {
	srv *Server
	id  string
	hs  handshakeInfo

	// recvMu serialises deliveries to recv (OnMessage, then OnClose once).
	recvMu sync.Mutex
	recv   Receiver

	mu      sync.Mutex
	queue   []*Message
	ws      *ws.Conn      // the WebSocket once the transport is websocket
	pl      *polled       // made by the first poll, POST or upgrade: a WebSocket session has none
	timerAt time.Duration // when the heartbeat (or the closing deadline) is due, from srv.epoch; under mu and srv.hb.mu

	proto     uint8 // 3 or 4; immutable
	b64       bool  // v3 polling client asked for base64 binary (b64=1); immutable
	state     connState
	writing   bool // a write is under way (a writer, a Broadcast, or writeLoop owns it)
	polling   bool // a GET poll is being served
	probed    bool // probe answered: polls are ended with a noop
	pollNoop  bool // on close, end a pending poll with noop (client closed)
	posting   bool // a POST is being served
	awaitPong bool
	pending   bool // not admitted yet: counted in srv.pending
	onWS      bool // the transport is websocket (from the handshake, or upgraded); a flag, not the name: a word less per session

	hbIndex int32 // place in srv.hb, -1 when not there; under srv.hb.mu
}

// polled is the part of a session that long-polling and the upgrade from
// it use, made on first use (under Conn.mu): a session that is a WebSocket
// from its handshake never makes it, and its Conn is three words smaller.
type polled struct {
	poll  *waitingPoll             // the GET poll waiting, woken or answered by wakePollLocked
	next  *waitingPoll             // an answered parked poll's connection, read for the next poll (ReadNextPolls)
	post  *http.ResponseController // the POST whose body is being read, aborted if the session ends
	probe *ws.Conn                 // WebSocket being upgraded to
}

// polledLocked returns c.pl, made if need be. Needs c.mu.
func (c *Conn) polledLocked() *polled {
	if c.pl == nil {
		c.pl = &polled{}
	}
	return c.pl
}

// probeLocked returns the WebSocket being upgraded to, or nil. Needs c.mu.
func (c *Conn) probeLocked() *ws.Conn {
	if c.pl == nil {
		return nil
	}
	return c.pl.probe
}

// pendingPollLocked returns the waiting GET poll, or nil. Needs c.mu.
func (c *Conn) pendingPollLocked() *waitingPoll {
	if c.pl == nil {
		return nil
	}
	return c.pl.poll
}

// nextPollLocked returns the answered parked poll read for the next poll,
// or nil. Needs c.mu.
func (c *Conn) nextPollLocked() *waitingPoll {
	if c.pl == nil {
		return nil
	}
	return c.pl.next
}

// ID returns the session id (sid).
func (c *Conn) ID() string { return c.id }

// Protocol returns the Engine.IO protocol version: 3 or 4.
func (c *Conn) Protocol() int { return int(c.proto) }

// Transport returns "polling" or "websocket"; it changes after an upgrade.
func (c *Conn) Transport() string {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.onWS {
		return transportWebSocket
	}
	return transportPolling
}

// Request returns the handshake request (URL with query, Host, RemoteAddr,
// TLS state and the headers of Config.HandshakeHeaders), without its body,
// context or other headers: a copy rebuilt on each call from what the
// session keeps.
func (c *Conn) Request() *http.Request { return c.hs.request() }

// Admit tells the engine that the application has accepted the session
// (Socket.IO: its first namespace is connected). Until then the session is
// pending: it counts against Config.MaxPendingSessions and what it sends is
// capped at Config.MaxPendingPayload. Calls after the first do nothing.
func (c *Conn) Admit() {
	c.mu.Lock()
	was := c.pending
	c.pending = false
	c.mu.Unlock()
	if was {
		c.srv.unpend()
	}
}

// readLimit is the largest POST body or WebSocket message the session may
// send now, and the limit reported when it sends more.
func (c *Conn) readLimit() (int64, string) {
	c.mu.Lock()
	pending := c.pending
	c.mu.Unlock()
	if pending {
		return c.srv.cfg.MaxPendingPayload, LimitPendingPayloadBytes
	}
	return c.srv.cfg.MaxPayload, LimitPayloadBytes
}

// Send enqueues msgs atomically and in order; it never blocks. If the
// connection's queue would overflow, the connection is closed with reason
// "send queue overflow" and ErrQueueFull returned; after close, ErrClosed.
// A broadcast goes through Server.Broadcast instead, which writes many
// connections at once.
func (c *Conn) Send(msgs ...*Message) error {
	start, _, err := c.enqueue(msgs, false)
	if start {
		c.srv.pushReady(c)
	}
	return err
}

// enqueue queues msgs (see Send). start reports that the WebSocket needs a
// write and that the caller now owns it: the writing flag is set and
// counted, and the caller writes c or hands it to the shared writers.
// With takeParked, a parked poll is not answered but returned (counted on
// srv.wg) for the caller to answer (Server.answerParkedBatch).
func (c *Conn) enqueue(msgs []*Message, takeParked bool) (start bool, parked *waitingPoll, err error) {
	c.mu.Lock()
	if c.state != stateOpen {
		c.mu.Unlock()
		return false, nil, ErrClosed
	}
	if len(c.queue)+len(msgs) > c.srv.cfg.SendQueue {
		queued := len(c.queue)
		c.mu.Unlock()
		c.srv.log.Warn("engineio: send queue overflow, closing connection", "sid", c.id, "queued", queued)
		if o := c.srv.cfg.Observer; o != nil {
			o.QueueDropped(len(msgs))
		}
		c.closeNow(ReasonQueueOverflow)
		return false, nil, ErrQueueFull
	}
	c.queue = append(c.queue, msgs...)
	switch {
	case c.ws != nil:
		start = c.claimWriteLocked()
	case takeParked:
		if parked = c.takeParkedLocked(); parked == nil {
			c.wakePollLocked()
		}
	default:
		c.wakePollLocked()
	}
	c.mu.Unlock()
	return start, parked, nil
}

// Close closes the session from the server side (reason "forced close"),
// after flushing what is queued. Over WebSocket that is at once. Over
// polling, as Node does, what is queued goes in one poll response and the
// close packet in a later one: socket.io-client (4.5.3 and later) handles a
// close packet before the packets that came with it, so sending both in one
// response would lose them. If the client does not poll for them within
// PingTimeout, the session is closed anyway.
func (c *Conn) Close() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.state != stateOpen {
		return
	}
	c.state = stateClosing
	if c.ws != nil {
		c.startWriterLocked() // it closes once the queue is flushed
		return
	}
	c.wakePollLocked() // it answers what is queued, or the close packet
	c.resetTimerLocked(c.srv.cfg.PingTimeout)
}

// sendControlLocked queues a control packet (not counted against SendQueue).
func (c *Conn) sendControlLocked(m *Message) {
	if c.state != stateOpen {
		return
	}
	c.queue = append(c.queue, m)
	c.kickLocked()
}

// kickLocked gets the queue moving on the current transport.
func (c *Conn) kickLocked() {
	if c.ws != nil {
		c.startWriterLocked()
		return
	}
	c.wakePollLocked()
}

// startWriterLocked puts the connection on the server's ready queue, where a
// shared writer picks it up (see writers.go), unless a write is already under
// way (that writer sees what was queued meanwhile).
func (c *Conn) startWriterLocked() {
	if c.claimWriteLocked() {
		c.srv.pushReady(c)
	}
}

// claimWriteLocked sets the writing flag, counted on the server's wait
// group, unless a write is under way (or c is closed): true means the
// caller now owns starting the write.
func (c *Conn) claimWriteLocked() bool {
	if c.writing || c.state == stateClosed {
		return false
	}
	c.writing = true
	c.srv.wg.Add(1) // the session's count is held, so this never races Wait
	return true
}

var framesPool = sync.Pool{New: func() any { s := make([][]byte, 0, 64); return &s }}

// takeQueueLocked hands the queued messages to a writer. ok is false when
// there is nothing to write (or the connection is closed): the writer then
// ends the write (finishIdleLocked).
func (c *Conn) takeQueueLocked() (q []*Message, ok bool) {
	q = c.queue
	if len(q) == 0 || c.state == stateClosed || c.ws == nil {
		return nil, false
	}
	c.queue = nil
	return q, true
}

// endWriteLocked ends a write with nothing left to do; it unlocks c.mu and
// closes the connection if Close was waiting for the flush.
func (c *Conn) endWriteLocked() {
	c.writing = false
	closing := c.state == stateClosing
	c.mu.Unlock()
	c.srv.wg.Done()
	if closing {
		c.closeNow(ReasonForcedClose)
	}
}

// recycleLocked keeps a small queue backing array for the next burst.
func (c *Conn) recycleLocked(q []*Message) {
	clear(q)
	if c.queue == nil && cap(q) <= maxIdleQueueCap {
		c.queue = q[:0]
	}
}

// writeFailedLocked ends a write that failed; it unlocks c.mu.
func (c *Conn) writeFailedLocked(err error) {
	c.writing = false
	c.mu.Unlock()
	c.srv.wg.Done()
	c.srv.log.Debug("engineio: websocket write failed", "sid", c.id, "err", err)
	c.closeNow(ReasonTransportError)
}

// encodeFrames appends the WebSocket frames of q to frames.
func (c *Conn) encodeFrames(frames [][]byte, q []*Message) [][]byte {
	for _, m := range q {
		frames = append(frames, m.wsFrame(int(c.proto)))
	}
	return frames
}

// connWriter is a Conn as the ws layer's ws.WriteDone: a defined type, so
// the Conn's methods stay the application's and handing it over allocates
// nothing.
type connWriter Conn

func (c *Conn) writeDone() ws.WriteDone { return (*connWriter)(c) }

// WriteDone is told, on the ws layer's goroutine, that the rest of a write
// the socket could not take at once has been written (or failed). The peer
// reads slowly: what was queued meanwhile is written on that goroutine too
// (writeLoop).
func (w *connWriter) WriteDone(err error) {
	c := (*Conn)(w)
	if err != nil {
		c.mu.Lock()
		c.writeFailedLocked(err)
		return
	}
	c.writeLoop()
}

// writeLoop writes everything queued, waiting for the socket, and ends when
// the queue is empty, so the next Send goes back to the shared writers. It
// runs for a peer that reads slowly (see WriteDone). A peer that never
// reads is closed by the send queue bound (or the heartbeat), which aborts
// the blocked write.
func (c *Conn) writeLoop() {
	fp := framesPool.Get().(*[][]byte)
	defer framesPool.Put(fp)
	for {
		c.mu.Lock()
		wsc := c.ws
		q, ok := c.takeQueueLocked()
		if !ok {
			c.endWriteLocked()
			return
		}
		c.mu.Unlock()

		frames := c.encodeFrames((*fp)[:0], q)
		err := wsc.WriteFrames(frames)
		if err == nil {
			c.srv.wroteFrames(frames)
		}
		clear(frames)
		*fp = frames[:0]

		c.mu.Lock()
		c.recycleLocked(q)
		if err != nil {
			c.writeFailedLocked(err)
			return
		}
		c.mu.Unlock()
	}
}

// closeNow ends the session at once (no flush): timers stopped, transports
// closed, the server's entry removed, and OnClose called exactly once, from
// its own goroutine after any delivery in progress (so a Send from inside the
// receiver's locks never calls back into them).
func (c *Conn) closeNow(reason string) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	c.state = stateClosed
	c.pollNoop = reason == ReasonTransportClose
	pending := c.pending
	c.pending = false
	c.srv.hb.remove(c)
	if c.pl != nil && c.pl.post != nil {
		// A POST still reading its body would hold its connection and
		// buffer until its own deadline: the session's end ends it.
		// (readPost clears c.pl.post, under c.mu, once the read is over.)
		_ = c.pl.post.SetReadDeadline(aLongTimeAgo)
	}
	wsc, probe := c.ws, c.probeLocked()
	if c.pl != nil {
		c.pl.probe = nil
	}
	c.wakePollLocked() // the pending poll answers "1" (or noop)
	c.releaseNextLocked()
	clear(c.queue)
	c.queue = nil
	c.mu.Unlock()

	c.srv.remove(c, pending)
	if o := c.srv.cfg.Observer; o != nil {
		o.Closed(reason)
	}
	go func() {
		if probe != nil {
			_ = probe.Close()
		}
		if wsc != nil {
			switch reason {
			case ReasonQueueOverflow, ReasonTransportError, ReasonTransportClose:
				_ = wsc.Abort() // the peer is gone or does not read
			case ReasonServerShutdown:
				_ = wsc.CloseWith(ws.CloseGoingAway, "")
			default:
				_ = wsc.Close()
			}
		}
		c.recvMu.Lock()
		if c.recv != nil {
			c.recv.OnClose(reason)
		}
		c.recvMu.Unlock()
		c.srv.wg.Done() // the session
	}()
}

// startHeartbeatLocked arms the heartbeat: v4 pings after PingInterval; v3
// expects the client's ping within PingInterval+PingTimeout.
func (c *Conn) startHeartbeatLocked() {
	cfg := c.srv.cfg
	if c.proto == 3 {
		c.resetTimerLocked(cfg.PingInterval + cfg.PingTimeout)
		return
	}
	c.resetTimerLocked(cfg.PingInterval)
}

func (c *Conn) resetTimerLocked(d time.Duration) {
	c.srv.hb.schedule(c.srv, c, c.srv.since()+d)
}

func (c *Conn) onTimer() {
	c.mu.Lock()
	if c.state == stateClosed || c.srv.since() < c.timerAt {
		c.mu.Unlock()
		return
	}
	switch {
	case c.state == stateClosing:
		c.mu.Unlock()
		c.closeNow(ReasonForcedClose)
	case c.proto == 3 || c.awaitPong:
		c.mu.Unlock()
		c.closeNow(ReasonPingTimeout)
	default:
		c.awaitPong = true
		c.sendControlLocked(pingPacket)
		c.resetTimerLocked(c.srv.cfg.PingTimeout)
		c.mu.Unlock()
	}
}

// handlePacket acts on one packet from the client; false means the session
// is closed and the caller should stop. The caller holds recvMu.
func (c *Conn) handlePacket(p packet) bool {
	switch p.typ {
	case typeMessage:
		c.mu.Lock()
		open := c.state == stateOpen
		c.mu.Unlock()
		if !open {
			return false
		}
		c.recv.OnMessage(p.data, p.binary)
	case typePing:
		if c.proto != 3 {
			c.closeNow(ReasonTransportError) // v4 heartbeats go server -> client
			return false
		}
		c.mu.Lock()
		if c.state == stateOpen {
			c.sendControlLocked(pongPacket)
			c.startHeartbeatLocked()
		}
		c.mu.Unlock()
	case typePong:
		if c.proto != 4 {
			c.closeNow(ReasonTransportError)
			return false
		}
		c.mu.Lock()
		if c.awaitPong && c.state == stateOpen {
			c.awaitPong = false
			c.resetTimerLocked(c.srv.cfg.PingInterval)
		}
		c.mu.Unlock()
	case typeClose:
		c.closeNow(ReasonTransportClose)
		return false
	case typeNoop, typeUpgrade, typeOpen:
		// ignored, as the reference server does
	default:
		c.closeNow(ReasonParseError)
		return false
	}
	return true
}

// deliver handles packets in order, holding recvMu.
func (c *Conn) deliver(pkts []packet) {
	c.recvMu.Lock()
	defer c.recvMu.Unlock()
	for _, p := range pkts {
		if !c.handlePacket(p) {
			return
		}
	}
}
