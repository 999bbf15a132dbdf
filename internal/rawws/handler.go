package rawws

import (
	"errors"
	"net/http"

	"github.com/eventide/realtime/internal/ws"
)

// unauthorizedBody answers a refused upgrade; the cause is logged, not sent.
const unauthorizedBody = "unauthorized: a valid token is required (query parameter token or Authorization: Bearer <token>)"

// ServeHTTP authenticates (production), checks the Origin (when CheckOrigin
// is set) and the connection cap, upgrades the request and serves the client
// until it leaves. Mount it at "/" of the raw listener and at "/ws".
func (s *Service) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if s.cfg.RequireToken {
		err := errNoAuthenticator
		if s.cfg.Authenticate != nil {
			err = s.cfg.Authenticate(r)
		}
		if err != nil {
			s.log.Info("websocket connection refused", "addr", r.RemoteAddr, "err", err)
			w.Header().Set("WWW-Authenticate", "Bearer")
			http.Error(w, unauthorizedBody, http.StatusUnauthorized)
			return
		}
	}
	if s.cfg.CheckOrigin != nil && !s.cfg.CheckOrigin(r) {
		s.cfg.Limits.Hit(LimitOrigin, r.RemoteAddr, "origin", truncate(r.Header.Get("Origin"), logMax))
		http.Error(w, forbiddenBody, http.StatusForbidden)
		return
	}
	// A slot is taken before the upgrade, so that connections being
	// upgraded count too.
	over := !s.reserve()
	conn, err := ws.Upgrade(w, r, ws.UpgradeOptions{})
	if err != nil {
		// Upgrade has answered (400 or 426).
		s.log.Debug("websocket upgrade failed", "addr", r.RemoteAddr, "err", err)
		if !over {
			s.release()
		}
		return
	}
	if over {
		// Upgraded to be told why: a browser's WebSocket shows the close
		// code, never the status of a refused handshake.
		s.cfg.Limits.Hit(LimitConnections, r.RemoteAddr, "max", s.cfg.MaxConns)
		_ = conn.CloseWith(ws.CloseTryAgainLater, "too many connections")
		return
	}
	c := newClient(newID(), r.RemoteAddr, conn, s.cfg.SendQueue)
	if !s.add(c) { // remove will give the slot back once added
		s.release()
		_ = conn.CloseWith(ws.CloseGoingAway, "server shutting down")
		return
	}
	s.log.Info("client connected", "client", c.id, "addr", r.RemoteAddr)
	go c.writeLoop()
	reason := s.readLoop(c)
	s.remove(c)
	s.log.Info("client disconnected", "client", c.id, "reason", reason)
}

var errNoAuthenticator = errors.New("rawws: RequireToken set without an Authenticate func")

// forbiddenBody answers an upgrade from an origin CheckOrigin refuses.
const forbiddenBody = "forbidden: this origin may not open the WebSocket"

// readLoop serves one client's messages until the connection ends, ends it,
// and returns why.
func (s *Service) readLoop(c *client) string {
	for {
		op, data, err := c.conn.ReadMessage(s.cfg.MaxMessage)
		// Whatever the outcome, no message is in progress any more.
		c.finished.Store(c.started.Load())
		if err == nil {
			s.handle(c, op, data)
			continue
		}
		if r := c.serverReason(); r != "" {
			return r // we closed it: Shutdown, a deadline, slow client, failed write
		}
		var (
			ce *ws.CloseError
			pe *ws.ProtocolError
		)
		switch {
		case errors.As(err, &ce):
			// ReadMessage answered the close frame already.
			c.abort("client closed")
			return "client closed"
		case errors.As(err, &pe):
			// ReadMessage sent the close frame (1009 for an oversized message).
			if pe.Code == ws.CloseMessageTooBig {
				s.cfg.Limits.Hit(LimitMessageBytes, c.remote, "client", c.id, "max", s.cfg.MaxMessage)
			}
			c.abort("protocol error: " + pe.Reason)
			return "protocol error: " + pe.Reason
		default:
			c.abort("connection lost")
			return "connection lost: " + err.Error()
		}
	}
}
