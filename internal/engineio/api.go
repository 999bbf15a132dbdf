package engineio

import (
	"errors"
	"log/slog"
	"net/http"
	"time"
)

// Errors returned by Conn.Send.
var (
	// ErrClosed is returned when sending on a closed connection.
	ErrClosed = errors.New("engineio: connection closed")
	// ErrQueueFull is returned when a send would overflow the connection's
	// bounded queue; the connection is closed with reason "send queue overflow".
	ErrQueueFull = errors.New("engineio: send queue full")
)

// Close reasons passed to Receiver.OnClose, as the Node.js server names them.
const (
	ReasonTransportClose = "transport close"
	ReasonTransportError = "transport error"
	ReasonPingTimeout    = "ping timeout"
	ReasonParseError     = "parse error"
	ReasonForcedClose    = "forced close"
	ReasonServerShutdown = "server shutting down"
	ReasonQueueOverflow  = "send queue overflow"
)

// Config configures a Server. Zero values take the defaults documented per field.
type Config struct {
	PingInterval time.Duration // default 25s
	PingTimeout  time.Duration // default 20s
	// MaxPayload bounds a polling POST body and a single WebSocket message, in bytes. Default 1_000_000.
	MaxPayload int64
	// UpgradeTimeout bounds the polling -> websocket upgrade. Default 10s.
	UpgradeTimeout time.Duration
	// AllowEIO3 accepts Engine.IO v3 clients (socket.io-client 2.x).
	AllowEIO3 bool
	// SendQueue is the per-connection bound on queued messages. Default 1024.
	SendQueue int
	// AllowRequest, when set, vets every request: the handshake and each
	// later poll, post and WebSocket upgrade of the session. A non-nil
	// error answers 403 {"code":4,"message":"Forbidden"}; a refused request
	// of an existing session leaves the session as it was.
	AllowRequest func(r *http.Request) error
	// Clock runs the heartbeat and the closing deadline. Default: the
	// real clock.
	Clock Clock
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Receiver gets what happens on one session.
type Receiver interface {
	// OnMessage is called with an Engine.IO "message" packet's payload (without
	// the "4" type), sequentially per Conn. data is owned by the receiver.
	OnMessage(data []byte, binary bool)
	// OnClose is called exactly once, with one of the Reason* values.
	OnClose(reason string)
}
