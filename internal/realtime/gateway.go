package realtime

import (
	"context"
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
	expiries expiries
	svc      *Service

	// The room handlers are built once and shared by every socket (they
	// find their socket in the event), so a connection costs no closures.
	onJoin, onLeave func(e *socketio.Event)
}

// sessionKey is the per-socket data key of a socket's *session.
const sessionKey = "session"

// session is what the gateway keeps per socket, in one allocation.
type session struct {
	g      *Gateway
	s      *socketio.Socket
	claims auth.Claims
	// heapIndex is the session's place in the gateway's expiries, -1 when
	// it is not there. Under expiries.mu.
	heapIndex int
}

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
	g.svc = newService(g.nsp)
	g.onJoin = func(e *socketio.Event) { g.handleRoom(e.Socket, e, true) }
	g.onLeave = func(e *socketio.Event) { g.handleRoom(e.Socket, e, false) }
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	g.expiries.now = g.now
	g.expiries.expire = (*session).expire
	g.nsp.Use(g.authenticate)
	g.nsp.OnConnection(g.onConnection)
	return g
}

// Service returns the emitter other packages push events through (one per
// gateway: it remembers the seqs it published).
func (g *Gateway) Service() *Service { return g.svc }

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
	hs := s.Handshake()
	tok := handshakeToken(hs)
	if tok == "" {
		g.log.Info("socket refused", "sid", s.ID(), "addr", hs.Address, "reason", "no token")
		return errors.New("unauthorized: no token")
	}
	c, err := g.verifier.Verify(tok)
	if err != nil {
		g.log.Info("socket refused", "sid", s.ID(), "addr", hs.Address, "reason", err.Error())
		return fmt.Errorf("unauthorized: %s", err.Error())
	}
	s.Set(sessionKey, &session{g: g, s: s, claims: c, heapIndex: -1})
	return nil
}

func sessionOf(s *socketio.Socket) *session {
	st, _ := s.Get(sessionKey).(*session)
	return st
}

func claimsOf(s *socketio.Socket) auth.Claims {
	if st := sessionOf(s); st != nil {
		return st.claims
	}
	return auth.Claims{}
}

func (g *Gateway) onConnection(s *socketio.Socket) {
	st := sessionOf(s)
	if st == nil {
		return
	}
	if g.log.Enabled(context.Background(), slog.LevelInfo) { // Handshake parses
		hs := s.Handshake()
		g.log.Info("socket connected", "sid", s.ID(), "sub", st.claims.Subject, "role", st.claims.Role,
			"addr", hs.Address, "eio", hs.Protocol)
	}
	// A token that expires while the socket is open ends the socket, as a
	// new handshake with it would be refused.
	if !st.claims.ExpiresAt.IsZero() {
		g.expiries.add(st)
	}
	s.On(EventJoinRoom, g.onJoin)
	s.On(EventLeaveRoom, g.onLeave)
	s.OnDisconnect(st.disconnected)
}

// expire ends a socket whose token has expired.
func (st *session) expire() {
	st.g.log.Info("token expired; disconnecting", "sid", st.s.ID(), "sub", st.claims.Subject)
	_ = st.s.Emit(EventException, exception("token expired", "", ""))
	st.s.Disconnect(true)
}

func (st *session) disconnected(reason string) {
	st.g.expiries.remove(st)
	st.g.log.Info("socket disconnected", "sid", st.s.ID(), "sub", st.claims.Subject, "reason", reason)
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
