package engineio

import (
	"context"
	"errors"
	"log/slog"
	"net/http"
	"time"

	"github.com/eventide/realtime/internal/limits"
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

// Limits the engine reports to Config.Limits when a client reaches them.
const (
	// LimitPayloadBytes: a polling POST body or a WebSocket message over
	// MaxPayload (HTTP 413, WebSocket close 1009).
	LimitPayloadBytes = "engineio.payload_bytes"
	// LimitPendingPayloadBytes: the same, over MaxPendingPayload, from a
	// session not admitted yet.
	LimitPendingPayloadBytes = "engineio.pending_payload_bytes"
	// LimitPostTimeout: a polling POST body not received within
	// PollBodyTimeout (HTTP 408).
	LimitPostTimeout = "engineio.post_timeout"
	// LimitHandshakeBytes: a handshake whose kept query and headers exceed
	// MaxHandshakeBytes (HTTP 431).
	LimitHandshakeBytes = "engineio.handshake_bytes"
	// LimitPendingSessions: a handshake refused because MaxPendingSessions
	// sessions are pending (HTTP 503).
	LimitPendingSessions = "engineio.pending_sessions"
)

// Config configures a Server. Zero values take the defaults documented per field.
type Config struct {
	PingInterval time.Duration // default 25s
	PingTimeout  time.Duration // default 20s
	// MaxPayload bounds a polling POST body and a single WebSocket message, in bytes. Default 1_000_000.
	MaxPayload int64
	// MaxPendingPayload bounds them for a session the application has not
	// admitted yet (Conn.Admit): a Socket.IO client sends only its CONNECT
	// packets before that. Default (0): MaxPayload.
	MaxPendingPayload int64
	// PollBodyTimeout bounds reading a polling POST body, from its headers
	// to its last byte. Default 10s.
	PollBodyTimeout time.Duration
	// MaxPendingSessions caps the sessions not admitted yet (Conn.Admit);
	// over it a handshake is answered 503 {"code":4,"message":"Too many
	// pending sessions"}. An application that never admits has every
	// session pending. Default 10_000.
	MaxPendingSessions int
	// HandshakeHeaders are the handshake headers a session keeps for
	// Conn.Request; the others are dropped once the handshake is answered.
	// Default: Authorization, Cookie, Origin, Referer, User-Agent,
	// Accept-Language, Forwarded, X-Forwarded-For, X-Real-Ip.
	HandshakeHeaders []string
	// MaxHandshakeBytes caps what a session keeps of its handshake (the
	// request target, the Host and the HandshakeHeaders); a larger
	// handshake is answered 431 {"code":3,...}. Default 8192.
	MaxHandshakeBytes int
	// UpgradeTimeout bounds the polling -> websocket upgrade. Default 10s.
	UpgradeTimeout time.Duration
	// AllowEIO3 accepts Engine.IO v3 clients (socket.io-client 2.x).
	AllowEIO3 bool
	// ReadNextPolls lets the engine read and serve a parked poll's
	// connection's next request itself when it is the session's next
	// plain GET poll (ADR 0031), instead of handing the connection back to
	// net/http. Set it only when what stands in front of the engine (the
	// middleware, AllowRequest) answers such a GET as a function of its
	// path and Origin header alone, and logs nothing of it: the headers
	// captured from the parked request are reused while the Origin is the
	// same. Anything else on the connection goes to net/http as before.
	ReadNextPolls bool
	// SendQueue is the per-connection bound on queued messages. Default 1024.
	SendQueue int
	// AllowRequest, when set, vets every request: the handshake and each
	// later poll, post and WebSocket upgrade of the session. A non-nil
	// error answers 403 {"code":4,"message":"Forbidden"}; a refused request
	// of an existing session leaves the session as it was.
	AllowRequest func(r *http.Request) error
	// Limits counts and logs the limits clients reach; nil reports nothing.
	Limits *limits.Reporter
	// Observer is told of handshakes, refusals, closes, send-queue drops
	// and bytes written (metrics); nil: nobody is.
	Observer Observer
	// Clock runs the heartbeat and the closing deadline. Default: the
	// real clock.
	Clock Clock
	// Logger receives the server's logs; nil discards them.
	Logger *slog.Logger
}

// Drainer is an optional Receiver capability for Server.Drain: OnDrain is
// called while the session is still open, and Drain closes the session
// when it returns, so that what must come before the client sees the close
// (a Socket.IO session kept for recovery on another node) has happened when
// the client reconnects. ctx is Drain's: OnDrain returns when it ends.
type Drainer interface {
	OnDrain(ctx context.Context, reason string)
}

// defaultHandshakeHeaders are the headers applications read from a
// handshake: credentials, the origin and the client's address behind a proxy.
var defaultHandshakeHeaders = [...]string{
	"Authorization", "Cookie", "Origin", "Referer", "User-Agent", "Accept-Language",
	"Forwarded", "X-Forwarded-For", "X-Real-Ip",
}

// Receiver gets what happens on one session.
type Receiver interface {
	// OnMessage is called with an Engine.IO "message" packet's payload (without
	// the "4" type), sequentially per Conn. data is owned by the receiver.
	OnMessage(data []byte, binary bool)
	// OnClose is called exactly once, with one of the Reason* values.
	OnClose(reason string)
}

// UpgradeReceiver is a Receiver that wants to know when its session moved
// from polling to WebSocket: OnUpgrade is called once the upgrade is
// done, in order with OnMessage and before OnClose.
type UpgradeReceiver interface {
	Receiver
	OnUpgrade()
}
