package engineio

import "net/url"

// Observer is told what the engine does, for metrics (ADR 0024). Its
// methods are called on the engine's hot paths, from many goroutines: they
// must be cheap (an atomic add), never block and never call back into the
// engine. A nil Config.Observer costs one comparison per call site.
type Observer interface {
	// Handshake: a session was opened over transport ("polling" or
	// "websocket") with Engine.IO protocol proto (3 or 4).
	Handshake(transport string, proto int)
	// HandshakeRefused: a handshake was answered with an error; reason is
	// one of the Refused* constants.
	HandshakeRefused(reason string)
	// Closed: a session ended with one of the Reason* values.
	Closed(reason string)
	// QueueDropped: n messages were refused because a connection's send
	// queue was full (the connection is then closed, "send queue
	// overflow").
	QueueDropped(n int)
	// BytesWritten: n bytes (WebSocket frames with their headers, or a poll
	// response body) were handed to the socket on transport.
	BytesWritten(transport string, n int)
}

// Why a handshake was refused (Observer.HandshakeRefused). The bounded
// set a metric label may take.
const (
	// RefusedBadRequest: an unknown transport or protocol version, a
	// handshake that is not a GET, or a WebSocket handshake without the
	// upgrade.
	RefusedBadRequest = "bad_request"
	// RefusedForbidden: Config.AllowRequest refused it (the origin).
	RefusedForbidden = "forbidden"
	// RefusedHandshakeTooLarge: over MaxHandshakeBytes (HTTP 431).
	RefusedHandshakeTooLarge = "handshake_too_large"
	// RefusedTooManyPending: MaxPendingSessions are pending (HTTP 503).
	RefusedTooManyPending = "too_many_pending"
	// RefusedShuttingDown: the server is shutting down (HTTP 503).
	RefusedShuttingDown = "shutting_down"
)

// RefusalReasons lists every Refused* value.
func RefusalReasons() []string {
	return []string{RefusedBadRequest, RefusedForbidden, RefusedHandshakeTooLarge, RefusedTooManyPending, RefusedShuttingDown}
}

// CloseReasons lists every Reason* value passed to Receiver.OnClose and
// Observer.Closed.
func CloseReasons() []string {
	return []string{ReasonTransportClose, ReasonTransportError, ReasonPingTimeout, ReasonParseError, ReasonForcedClose, ReasonServerShutdown, ReasonQueueOverflow}
}

// Transports lists the transport names a session may have.
func Transports() []string { return []string{transportPolling, transportWebSocket} }

// ConnCount is how many sessions are open over one transport and protocol.
type ConnCount struct {
	Transport string // "polling" or "websocket"
	Protocol  int    // 3 or 4
	Conns     int
}

// ConnCounts returns the open sessions by transport and protocol, every
// pair included (zeros too). It copies the session list under the
// server's lock and reads each transport after, so a scrape never holds
// the lock for long.
func (s *Server) ConnCounts() []ConnCount {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	var n [2][2]int // [proto 3/4][polling/websocket]
	for _, c := range conns {
		p := 0
		if c.proto == 4 {
			p = 1
		}
		t := 0
		if c.Transport() == transportWebSocket {
			t = 1
		}
		n[p][t]++
	}
	out := make([]ConnCount, 0, 4)
	for p, proto := range []int{3, 4} {
		for t, tr := range Transports() {
			out = append(out, ConnCount{Transport: tr, Protocol: proto, Conns: n[p][t]})
		}
	}
	return out
}

func (s *Server) refused(reason string) {
	if o := s.cfg.Observer; o != nil {
		o.HandshakeRefused(reason)
	}
}

// wroteFrames reports the bytes of frames written over WebSocket.
func (s *Server) wroteFrames(frames [][]byte) {
	if o := s.cfg.Observer; o != nil {
		n := 0
		for _, f := range frames {
			n += len(f)
		}
		o.BytesWritten(transportWebSocket, n)
	}
}

// refusedIfHandshake reports a refusal when q is a handshake's (no sid):
// a bad request of an existing session is not a refused handshake.
func (s *Server) refusedIfHandshake(q url.Values, reason string) {
	if q.Get("sid") == "" {
		s.refused(reason)
	}
}
