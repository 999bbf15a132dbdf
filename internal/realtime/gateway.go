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
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/ratelimit"
	"github.com/eventide/realtime/internal/socketio"
)

// TokenVerifier checks a bearer token and returns its claims;
// *auth.Verifier implements it.
type TokenVerifier interface {
	Verify(token string) (auth.Claims, error)
	// ValidUntil returns when the verifier starts refusing a token with
	// claims c (its exp plus the verifier's leeway). A socket
	// authenticated with the token is disconnected then: the same instant
	// from which a new handshake or a REST call with it is refused.
	ValidUntil(c auth.Claims) time.Time
}

// DefaultMaxRooms is how many provider rooms a socket may be in unless
// configured otherwise: more than a dashboard watches, far less than what
// would let one token holder grow the room index.
const DefaultMaxRooms = 100

// LimitRooms names the rooms-per-socket limit in limit reports.
const LimitRooms = "realtime.rooms_per_socket"

// LimitRefused names refused CONNECTs (no token, or one the verifier
// refuses) in limit reports. A refused client keeps its connection and may
// CONNECT again at once, so a line per refusal would let anyone grow the
// log with their traffic; the reporter counts every refusal and writes a
// rate-limited line.
const LimitRefused = "realtime.connect_refused"

// Config configures a Gateway.
type Config struct {
	Verifier TokenVerifier
	Logger   *slog.Logger
	// MaxRooms bounds the rooms a socket may be in (its own room aside);
	// a joinRoom over it is refused. Default DefaultMaxRooms.
	MaxRooms int
	// Limits counts and logs the limits clients hit (nil: not reported).
	Limits *limits.Reporter
	// Changes, when set, fills a gap in a provider's changes on this
	// node: a change arriving after one this node never got (lost by the
	// broker) has the missing ones read from the log and delivered first.
	Changes ChangeLog

	// SocketEvents bounds the events one socket may send (every event:
	// joinRoom, leaveRoom and names the gateway does not handle), Rate a
	// second and Burst at once; SubjectEvents those of all the sockets of
	// one token subject together. An event over either is refused: the
	// socket gets an exception and the ack {status: "error"}. Zero: the
	// Default* values; a Burst of 0 with a Rate: the default burst; a
	// negative Rate: no limit.
	SocketEvents, SubjectEvents ratelimit.Limit
	// Subjects bounds the token subjects whose buckets are kept (the
	// least recently active is dropped first). 0: DefaultSubjects.
	Subjects int
	// A socket that has had more than AbuseRefusals events refused within
	// AbuseWindow is disconnected. 0: DefaultAbuseRefusals and
	// DefaultAbuseWindow; negative refusals: never.
	AbuseRefusals int
	AbuseWindow   time.Duration

	// Now is the clock of token expiry and of the rate limits; nil means
	// time.Now.
	Now func() time.Time
	// AfterFunc schedules the expiry of live sockets: it runs f after d
	// and returns a function that cancels it, as time.AfterFunc(d,
	// f).Stop, the default. Tests pass a fake clock's.
	AfterFunc func(d time.Duration, f func()) (stop func() bool)
}

// Gateway wires authentication and room handling into the "/" namespace of
// a Socket.IO server.
type Gateway struct {
	io       *socketio.Server
	nsp      *socketio.Namespace
	verifier TokenVerifier
	log      *slog.Logger
	limits   *limits.Reporter
	maxRooms int
	now      func() time.Time
	expiries expiries
	svc      *Service
	// admission holds the event rate limits (admission.go).
	admission admission
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
	// events is the socket's event bucket; refusals counts its refused
	// events, from the first (admission.go).
	events   ratelimit.Bucket
	refusals *ratelimit.Bucket
}

// NewGateway registers the handshake middleware and the room handlers on
// io's "/" namespace.
func NewGateway(io *socketio.Server, cfg Config) *Gateway {
	g := &Gateway{
		io:       io,
		nsp:      io.Of("/"),
		verifier: cfg.Verifier,
		log:      cfg.Logger,
		limits:   cfg.Limits,
		maxRooms: cfg.MaxRooms,
		now:      cfg.Now,

		admission: newAdmission(cfg),
	}
	g.svc = newService(g.nsp)
	if g.log == nil {
		g.log = slog.New(slog.DiscardHandler)
	}
	if g.now == nil {
		g.now = time.Now
	}
	if g.maxRooms <= 0 {
		g.maxRooms = DefaultMaxRooms
	}
	g.expiries.now = g.now
	g.expiries.afterFunc = cfg.AfterFunc
	if g.expiries.afterFunc == nil {
		g.expiries.afterFunc = func(d time.Duration, f func()) func() bool { return time.AfterFunc(d, f).Stop }
	}
	g.expiries.until = g.verifier.ValidUntil
	g.expiries.expire = (*session).expire
	if cfg.Changes != nil {
		g.nsp.FillStreamGaps(gapFiller(g.nsp, cfg.Changes, g.log))
	}
	g.nsp.Use(g.authenticate)
	g.nsp.FilterRecoveredRooms(g.canRejoin)
	g.nsp.AdmitEvents(g.admit)
	g.nsp.OnConnection(g.onConnection)
	// The room and disconnect handlers are the namespace's, registered
	// once: a socket keeps no handler of its own (they find it in the
	// event, and its session in its data).
	g.nsp.OnEvent(EventJoinRoom, func(e *socketio.Event) { g.handleRoom(e.Socket, e, true) })
	g.nsp.OnEvent(EventLeaveRoom, func(e *socketio.Event) { g.handleRoom(e.Socket, e, false) })
	g.nsp.OnDisconnect(func(s *socketio.Socket, reason string) {
		if st := sessionOf(s); st != nil {
			st.disconnected(reason)
		}
	})
	return g
}

// Service returns the emitter other packages push events through (one per
// gateway).
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
		g.refused(s, hs, "no token")
		return refusal{RefusedNoToken, "unauthorized: no token"}
	}
	c, err := g.verifier.Verify(tok)
	if err != nil {
		g.refused(s, hs, err.Error())
		return refusal{RefusedInvalidToken, "unauthorized: " + err.Error()}
	}
	st := &session{g: g, s: s, claims: c, heapIndex: -1}
	st.events.Init(g.admission.socket)
	s.Set(sessionKey, st)
	return nil
}

// canRejoin is the check of a recovered socket's rooms (connection-state
// recovery, ADR 0023): a room comes back only if the token the client
// reconnected with (the middleware verified it) may watch it now; the
// events of a room that does not are not replayed either.
func (g *Gateway) canRejoin(s *socketio.Socket, room string) bool {
	providerID, ok := ProviderOfRoom(room)
	if !ok {
		return false
	}
	if !auth.CanWatch(claimsOf(s), providerID) {
		g.log.Info("recovered room dropped: the token no longer allows it", "room", room, "sub", claimsOf(s).Subject)
		return false
	}
	return true
}

// refused reports a refused CONNECT: counted and logged, rate-limited,
// through the limits reporter, and line by line at debug level only.
func (g *Gateway) refused(s *socketio.Socket, hs socketio.Handshake, reason string) {
	g.log.Debug("socket refused", "sid", s.ID(), "addr", hs.Address, "reason", reason)
	g.limits.Hit(LimitRefused, hs.Address, "sid", s.ID(), "reason", reason)
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
			"addr", hs.Address, "eio", hs.Protocol, "recovered", s.Recovered())
	}
	// A token that expires while the socket is open ends the socket when
	// a new handshake with it would be refused: at exp plus the
	// verifier's leeway, not before (a client let in would be kicked at
	// once, and reconnect in a loop) nor after.
	if !st.claims.ExpiresAt.IsZero() {
		g.expiries.add(st)
	}
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
	room, providerID, err := roomFromArgs(e.Args)
	if err == nil && join {
		if !auth.CanWatch(claimsOf(s), providerID) {
			err = fmt.Errorf("forbidden: not allowed to join %s", room)
		} else if g.tooManyRooms(s, room) {
			err = fmt.Errorf("too many rooms: a connection may be in at most %d; leave one first", g.maxRooms)
		}
	}
	if err != nil {
		g.log.Debug("room request refused", "sid", s.ID(), "event", e.Name, "room", room, "err", err.Error())
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
	g.log.Debug(reply, "sid", s.ID(), "room", room)
	_ = s.Emit(reply, map[string]any{"room": room})
	if e.Ack != nil {
		_ = e.Ack(map[string]any{"status": "ok", "room": room})
	}
}

// tooManyRooms reports whether joining room would put s over the rooms
// limit (reporting the hit); rejoining a room it is in never does. The
// room index is the count: a socket's rooms are read, not kept twice.
func (g *Gateway) tooManyRooms(s *socketio.Socket, room string) bool {
	joined := 0
	for _, r := range s.Rooms() {
		switch r {
		case room:
			return false
		case s.ID():
		default:
			joined++
		}
	}
	if joined < g.maxRooms {
		return false
	}
	g.limits.Hit(LimitRooms, s.Handshake().Address, "sid", s.ID(), "sub", claimsOf(s).Subject, "max", g.maxRooms)
	return true
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
// "provider-42"} or {providerId: "42"} (or 42), and returns the room and
// its provider.
func roomFromArgs(args []any) (room, providerID string, err error) {
	if len(args) == 0 {
		return "", "", errors.New("invalid room: joinRoom needs a room name, {room} or {providerId}")
	}
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
				room = RoomForProvider(p)
			case float64:
				room = RoomForProvider(fmt.Sprint(int64(p)))
			default:
				if n, ok := p.(interface{ String() string }); ok && p != nil {
					room = RoomForProvider(n.String())
				}
			}
		}
	}
	if room == "" {
		return "", "", errors.New("invalid room: expected \"provider-<id>\", {room} or {providerId}")
	}
	providerID, ok := ProviderOfRoom(room)
	if !ok {
		return room, "", fmt.Errorf("invalid room %q: rooms are named provider-<id>", room)
	}
	return room, providerID, nil
}
