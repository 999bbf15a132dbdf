package realtime

import (
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/socketio"
)

// Events the gateway handles and emits.
const (
	EventJoinRoom            = "joinRoom"
	EventLeaveRoom           = "leaveRoom"
	EventJoinedRoom          = "joinedRoom"
	EventLeftRoom            = "leftRoom"
	EventException           = "exception"
	EventAvailabilityUpdated = "availabilityUpdated"
)

// TokenVerifier checks a bearer token and returns its claims.
type TokenVerifier interface {
	Verify(token string) (auth.Claims, error)
}

// Config configures a Gateway.
type Config struct {
	Verifier TokenVerifier
	Logger   *slog.Logger
	// Now is the clock used for token expiry; nil means time.Now.
	Now func() time.Time
}

// Gateway wires authentication and room handling into the "/" namespace of
// a Socket.IO server.
type Gateway struct {
	io       *socketio.Server
	nsp      *socketio.Namespace
	verifier TokenVerifier
	log      *slog.Logger
	now      func() time.Time

	// The room handlers are built once and shared by every socket (they
	// find their socket in the event), so a connection costs no closures.
	onJoin, onLeave func(e *socketio.Event)
}

// Keys of the per-socket data.
const (
	claimsKey = "claims"
	expiryKey = "token-expiry" // *time.Timer
)

// NewGateway registers the handshake middleware and the room handlers on
// io's "/" namespace.
func NewGateway(io *socketio.Server, cfg Config) *Gateway {
	g := &Gateway{
		io:       io,
		nsp:      io.Of("/"),
		verifier: cfg.Verifier,
		log:      cfg.Logger,
		now:      cfg.Now,
	}
	g.onJoin = func(e *socketio.Event) { g.handleRoom(e.Socket, e, true) }
	g.onLeave = func(e *socketio.Event) { g.handleRoom(e.Socket, e, false) }
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.nsp.Use(g.authenticate)
	g.nsp.OnConnection(g.onConnection)
	return g
}

// Service returns the emitter other packages push events through.
func (g *Gateway) Service() *Service { return &Service{nsp: g.nsp} }

// handshakeToken finds the token where each client generation puts it:
// auth.token (socket.io-client 3/4), the token query parameter (2.x), or an
// Authorization: Bearer header (Node clients, proxies).
func handshakeToken(h socketio.Handshake) string {
	if t, ok := h.Auth["token"].(string); ok && t != "" {
		return strings.TrimPrefix(t, "Bearer ")
	}
	return auth.TokenFromRequest(&http.Request{Header: h.Header, URL: &url.URL{RawQuery: h.Query.Encode()}})
}

// authenticate is the namespace middleware: a socket without a valid token
// never connects, and the client gets a connect_error whose message says why.
func (g *Gateway) authenticate(s *socketio.Socket) error {
	tok := handshakeToken(s.Handshake())
	if tok == "" {
		g.log.Info("socket refused", "sid", s.ID(), "addr", s.Handshake().Address, "reason", "no token")
		return errors.New("unauthorized: no token")
	}
	c, err := g.verifier.Verify(tok)
	if err != nil {
		g.log.Info("socket refused", "sid", s.ID(), "addr", s.Handshake().Address, "reason", err.Error())
		return fmt.Errorf("unauthorized: %s", err.Error())
	}
	s.Set(claimsKey, c)
	return nil
}

func claimsOf(s *socketio.Socket) auth.Claims {
	c, _ := s.Get(claimsKey).(auth.Claims)
	return c
}

func (g *Gateway) onConnection(s *socketio.Socket) {
	c := claimsOf(s)
	g.log.Info("socket connected", "sid", s.ID(), "sub", c.Subject, "role", c.Role,
		"addr", s.Handshake().Address, "eio", s.Handshake().Protocol)

	// A token that expires while the socket is open ends the socket, as a
	// new handshake with it would be refused.
	if !c.ExpiresAt.IsZero() {
		d := c.ExpiresAt.Sub(g.now())
		t := time.AfterFunc(max(d, 0), func() {
			g.log.Info("token expired; disconnecting", "sid", s.ID(), "sub", c.Subject)
			_ = s.Emit(EventException, exception("token expired", "", ""))
			s.Disconnect(true)
		})
		s.Set(expiryKey, t)
	}

	s.On(EventJoinRoom, g.onJoin)
	s.On(EventLeaveRoom, g.onLeave)
	s.OnDisconnect(func(reason string) {
		if t, ok := s.Get(expiryKey).(*time.Timer); ok {
			t.Stop()
		}
		g.log.Info("socket disconnected", "sid", s.ID(), "sub", c.Subject, "reason", reason)
	})
}

// handleRoom serves joinRoom (join=true) and leaveRoom.
func (g *Gateway) handleRoom(s *socketio.Socket, e *socketio.Event, join bool) {
	room, err := roomFromArgs(e.Args)
	if err == nil {
		providerID, _ := auth.ParseRoom(room)
		if join && !auth.CanWatch(claimsOf(s), providerID) {
			err = fmt.Errorf("forbidden: not allowed to join %s", room)
		}
	}
	if err != nil {
		g.log.Info("room request refused", "sid", s.ID(), "event", e.Name, "room", room, "err", err.Error())
		_ = s.Emit(EventException, exception(err.Error(), e.Name, room))
		if e.Ack != nil {
			_ = e.Ack(map[string]any{"status": "error", "message": err.Error()})
		}
		return
	}
	reply := EventJoinedRoom
	if join {
		s.Join(room)
	} else {
		s.Leave(room)
		reply = EventLeftRoom
	}
	g.log.Info(reply, "sid", s.ID(), "room", room)
	_ = s.Emit(reply, map[string]any{"room": room})
	if e.Ack != nil {
		_ = e.Ack(map[string]any{"status": "ok", "room": room})
	}
}

// exception is the payload NestJS's WsException filter sends, which the
// frontends already handle: {status: "error", message, cause: {event, room}}.
func exception(message, event, room string) map[string]any {
	ex := map[string]any{"status": "error", "message": message}
	if event != "" {
		ex["cause"] = map[string]any{"event": event, "room": room}
	}
	return ex
}

// roomFromArgs accepts the forms clients send: "provider-42", {room:
// "provider-42"} or {providerId: "42"} (or 42).
func roomFromArgs(args []any) (string, error) {
	if len(args) == 0 {
		return "", errors.New("invalid room: joinRoom needs a room name, {room} or {providerId}")
	}
	var room string
	switch v := args[0].(type) {
	case string:
		room = v
	case map[string]any:
		switch r := v["room"].(type) {
		case string:
			room = r
		case nil:
			switch p := v["providerId"].(type) {
			case string:
				room = auth.RoomForProvider(p)
			case float64:
				room = auth.RoomForProvider(fmt.Sprint(int64(p)))
			default:
				if n, ok := p.(interface{ String() string }); ok && p != nil {
					room = auth.RoomForProvider(n.String())
				}
			}
		}
	}
	if room == "" {
		return "", errors.New("invalid room: expected \"provider-<id>\", {room} or {providerId}")
	}
	if _, ok := auth.ParseRoom(room); !ok {
		return room, fmt.Errorf("invalid room %q: rooms are named provider-<id>", room)
	}
	return room, nil
}
