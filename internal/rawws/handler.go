package rawws

import (
	"errors"
	"net/http"

	"github.com/eventide/realtime/internal/ws"
)

// unauthorizedBody answers a refused upgrade; the cause is logged, not sent.
const unauthorizedBody = "unauthorized: a valid token is required (query parameter token or Authorization: Bearer <token>)"

// ServeHTTP authenticates (production), upgrades the request and serves the
// client until it leaves. Mount it at "/" of the raw listener and at "/ws".
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
	conn, err := ws.Upgrade(w, r, ws.UpgradeOptions{CheckOrigin: s.cfg.CheckOrigin})
	if err != nil {
		// Upgrade has answered (400, 403 or 426).
		s.log.Info("websocket upgrade failed", "addr", r.RemoteAddr, "err", err)
		return
	}
	c := newClient(newID(), conn, s.cfg.SendQueue)
	if !s.add(c) {
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

// readLoop serves one client's messages until the connection ends, ends it,
// and returns why.
func (s *Service) readLoop(c *client) string {
	for {
		op, data, err := c.conn.ReadMessage(s.cfg.MaxMessage)
		if err == nil {
			s.handle(c, op, data)
			continue
		}
		if r := c.serverReason(); r != "" {
			return r // we closed it: Shutdown, slow client, failed write
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
				s.log.Warn("message too big; closing", "client", c.id, "limit", s.cfg.MaxMessage)
			} else {
				s.log.Warn("protocol error; closing", "client", c.id, "code", pe.Code, "err", pe.Reason)
			}
			c.abort("protocol error: " + pe.Reason)
			return "protocol error: " + pe.Reason
		default:
			c.abort("connection lost")
			return "connection lost: " + err.Error()
		}
	}
}
