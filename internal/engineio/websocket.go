package engineio

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// startReading reads the session's WebSocket from now on. The caller holds a
// count on srv.wg for the reader. Where the socket can be watched (see
// ws.Conn.Watch), an idle session has no goroutine: each time bytes arrive, a
// goroutine reads what came and ends. Otherwise a goroutine of its own reads
// until the session ends.
func (c *Conn) startReading(wsc *ws.Conn) {
	if wsc.Watch(c.srv.poller(), (*wsReadable)(c)) {
		c.srv.wg.Done()
		return
	}
	go c.readLoop(wsc)
}

// wsReadable is a session as the ws.Readable of its WebSocket (c.ws, set
// before it is watched): no closure per connection.
type wsReadable Conn

// OnReadable runs on the poller's goroutine when the session's watched
// socket has bytes (or its end, or an error): it starts the goroutine that
// reads them.
func (r *wsReadable) OnReadable() {
	c := (*Conn)(r)
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		return
	}
	wsc := c.ws
	c.srv.wg.Add(1) // the session's count is held, so this never races Wait
	c.mu.Unlock()
	go c.readReady(wsc)
}

// readReady reads one message from a watched socket and asks to be told of
// the next (if it is already there, that is at once).
func (c *Conn) readReady(wsc *ws.Conn) {
	defer c.srv.wg.Done()
	if !c.readOne(wsc) {
		return
	}
	if err := wsc.Rearm(); err != nil {
		c.closeNow(ReasonTransportError)
	}
}

// readLoop reads the session's WebSocket until it fails or the session ends.
func (c *Conn) readLoop(wsc *ws.Conn) {
	defer c.srv.wg.Done()
	for {
		// Wait for the next message with a shallow stack (see
		// ws.Conn.WaitReadable): an idle connection's reader then holds the
		// smallest stack. An error here is reported by ReadMessage.
		_ = wsc.WaitReadable()
		if !c.readOne(wsc) {
			return
		}
	}
}

// readOne reads and handles one message; false means the session is over.
func (c *Conn) readOne(wsc *ws.Conn) bool {
	limit, limitName := c.readLimit()
	op, data, err := wsc.ReadMessage(limit)
	if err != nil {
		reason := ReasonTransportError
		if ws.IsPeerClose(err) || errors.Is(err, io.EOF) {
			reason = ReasonTransportClose
		}
		c.reportTooBig(err, limit, limitName)
		c.closeNow(reason)
		return false
	}
	p, err := decodeWSPacket(op, data, int(c.proto))
	if err != nil {
		c.srv.log.Debug("engineio: bad websocket packet, closing", "sid", c.id, "err", err)
		c.closeNow(ReasonParseError)
		return false
	}
	c.recvMu.Lock()
	ok := c.handlePacket(p)
	c.recvMu.Unlock()
	return ok
}

// reportTooBig reports a message over the session's limit (ReadMessage has
// answered it with close 1009).
func (c *Conn) reportTooBig(err error, limit int64, limitName string) {
	var pe *ws.ProtocolError
	if errors.As(err, &pe) && pe.Code == ws.CloseMessageTooBig {
		c.srv.limits.Hit(limitName, c.hs.remote, "sid", c.id, "max", limit)
	}
}

// decodeWSPacket decodes one WebSocket message: a text packet, or binary
// data (v4) / a type byte then data (v3).
func decodeWSPacket(op ws.Opcode, data []byte, proto int) (packet, error) {
	if op == ws.OpText {
		return decodeTextPacket(data, proto)
	}
	if proto == 4 {
		return packet{typ: typeMessage, data: data, binary: true}, nil
	}
	if len(data) == 0 {
		return packet{}, errEmptyPacket
	}
	if data[0] > 6 {
		return packet{}, errUnknownType
	}
	return packet{typ: data[0] + '0', data: data[1:], binary: true}, nil
}

// serveUpgrade accepts the WebSocket of a polling session that upgrades.
// A WebSocket for a session that is already upgraded, being upgraded or
// closing completes its handshake and is closed at once, the session
// untouched: Node does so ("ignores WebSocket connection with same sid
// after upgrade" in the protocol suites).
func (c *Conn) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	wsc, err := c.srv.upgrade(w, r)
	if err != nil {
		c.srv.log.Debug("engineio: upgrade failed", "sid", c.id, "err", err)
		return
	}
	c.mu.Lock()
	if c.state != stateOpen || c.onWS || c.probeLocked() != nil {
		c.mu.Unlock()
		c.srv.log.Debug("engineio: websocket for a session upgraded or upgrading, closing it", "sid", c.id)
		_ = wsc.Close()
		return
	}
	c.polledLocked().probe = wsc
	c.srv.wg.Add(1)
	c.mu.Unlock()
	go c.probeLoop(wsc)
}

var probeReply = []byte("3probe")

// probeLoop runs the upgrade on wsc: "2probe" -> "3probe", then "5" switches
// the session to wsc and the loop continues as its readLoop. Anything else,
// or no "5" within UpgradeTimeout, drops wsc and the session stays on polling.
func (c *Conn) probeLoop(wsc *ws.Conn) {
	_ = wsc.SetReadDeadline(time.Now().Add(c.srv.cfg.UpgradeTimeout))
	fail := func() {
		c.mu.Lock()
		if c.probeLocked() == wsc {
			c.pl.probe = nil
			c.probed = false
		}
		c.mu.Unlock()
		_ = wsc.Close()
		c.srv.wg.Done()
	}
	for {
		limit, limitName := c.readLimit()
		op, data, err := wsc.ReadMessage(limit)
		if err != nil || op != ws.OpText {
			c.reportTooBig(err, limit, limitName)
			fail()
			return
		}
		switch string(data) {
		case "2probe":
			if err := wsc.WriteMessage(ws.OpText, probeReply); err != nil {
				fail()
				return
			}
			c.mu.Lock()
			current := c.probeLocked() == wsc
			if current {
				c.probed = true
				c.wakePollLocked() // end the pending poll with a noop
			}
			c.mu.Unlock()
			if !current {
				fail()
				return
			}
		case "5":
			c.mu.Lock()
			if c.probeLocked() != wsc || c.state != stateOpen {
				c.mu.Unlock()
				fail()
				return
			}
			c.pl.probe, c.probed = nil, false
			c.onWS = true
			c.ws = wsc
			c.wakePollLocked()
			c.releaseNextLocked() // polling is over: net/http's idle timeout closes it
			// The pending poll was ended above; the WebSocket carries only
			// what is queued (Node sends its noop on polling alone).
			if len(c.queue) > 0 {
				c.startWriterLocked()
			}
			c.mu.Unlock()
			c.recvMu.Lock()
			if u, ok := c.recv.(UpgradeReceiver); ok {
				u.OnUpgrade()
			}
			c.recvMu.Unlock()
			_ = wsc.SetReadDeadline(time.Time{})
			c.startReading(wsc)
			return
		default:
			fail()
			return
		}
	}
}
