package engineio

import (
	"errors"
	"io"
	"net/http"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// readLoop reads the session's WebSocket until it fails or the session ends.
func (c *Conn) readLoop(wsc *ws.Conn) {
	defer c.srv.wg.Done()
	limit := c.srv.cfg.MaxPayload
	for {
		// Wait for the next message with a shallow stack (see
		// ws.Conn.WaitReadable): an idle connection's reader then holds the
		// smallest stack. An error here is reported by ReadMessage.
		_ = wsc.WaitReadable()
		op, data, err := wsc.ReadMessage(limit)
		if err != nil {
			reason := ReasonTransportError
			if ws.IsPeerClose(err) || errors.Is(err, io.EOF) {
				reason = ReasonTransportClose
			}
			c.closeNow(reason)
			return
		}
		p, err := decodeWSPacket(op, data, c.proto)
		if err != nil {
			c.srv.log.Debug("engineio: bad websocket packet, closing", "sid", c.id, "err", err)
			c.closeNow(ReasonParseError)
			return
		}
		c.recvMu.Lock()
		ok := c.handlePacket(p)
		c.recvMu.Unlock()
		if !ok {
			return
		}
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
func (c *Conn) serveUpgrade(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	ok := c.state == stateOpen && c.transport == transportPolling && c.probe == nil
	c.mu.Unlock()
	if !ok {
		writeError(w, codeBadRequest)
		return
	}
	wsc, err := ws.Upgrade(w, r, ws.UpgradeOptions{})
	if err != nil {
		c.srv.log.Debug("engineio: upgrade failed", "sid", c.id, "err", err)
		return
	}
	c.mu.Lock()
	if c.state != stateOpen || c.transport != transportPolling || c.probe != nil {
		c.mu.Unlock()
		_ = wsc.Close()
		return
	}
	c.probe = wsc
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
		if c.probe == wsc {
			c.probe = nil
			c.probed = false
		}
		c.mu.Unlock()
		_ = wsc.Close()
		c.srv.wg.Done()
	}
	for {
		op, data, err := wsc.ReadMessage(c.srv.cfg.MaxPayload)
		if err != nil || op != ws.OpText {
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
			current := c.probe == wsc
			if current {
				c.probed = true
				if c.poll != nil {
					close(c.poll) // end the pending poll with a noop
					c.poll = nil
				}
			}
			c.mu.Unlock()
			if !current {
				fail()
				return
			}
		case "5":
			c.mu.Lock()
			if c.probe != wsc || c.state != stateOpen {
				c.mu.Unlock()
				fail()
				return
			}
			c.probe, c.probed = nil, false
			c.transport = transportWebSocket
			c.ws = wsc
			if c.poll != nil {
				close(c.poll)
				c.poll = nil
			}
			// The pending poll was ended above; the WebSocket carries only
			// what is queued (Node sends its noop on polling alone).
			if len(c.queue) > 0 {
				c.startWriterLocked()
			}
			c.mu.Unlock()
			_ = wsc.SetReadDeadline(time.Time{})
			c.readLoop(wsc)
			return
		default:
			fail()
			return
		}
	}
}
