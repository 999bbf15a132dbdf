package engineio

import (
	"context"
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/ws"
)

// Engine.IO error codes, answered as HTTP 400 (403 for codeForbidden) with
// {"code":N,"message":"..."}.
const (
	codeTransportUnknown   = 0
	codeUnknownSID         = 1
	codeBadHandshakeMethod = 2
	codeBadRequest         = 3
	codeForbidden          = 4
	codeUnsupportedVersion = 5
)

var errorMessages = [...]string{
	codeTransportUnknown:   "Transport unknown",
	codeUnknownSID:         "Session ID unknown",
	codeBadHandshakeMethod: "Bad handshake method",
	codeBadRequest:         "Bad request",
	codeForbidden:          "Forbidden",
	codeUnsupportedVersion: "Unsupported protocol version",
}

const (
	transportPolling   = "polling"
	transportWebSocket = "websocket"
)

// pendingRetryAfter is the Retry-After of a handshake refused because too
// many sessions are pending: legitimate ones are admitted within a round
// trip or two, so a few seconds see the crowd through.
const pendingRetryAfter = "5"

// Server is an Engine.IO v3+v4 server; mount it as an http.Handler at the
// Socket.IO path (the caller strips nothing: only the query is looked at).
type Server struct {
	cfg    Config
	open   func(c *Conn) Receiver
	log    *slog.Logger
	limits *limits.Reporter
	clock  Clock
	epoch  time.Time // Conn.timerAt counts from here
	hb     heartbeats
	hstr   handshakeStrings

	mu       sync.Mutex
	conns    map[string]*Conn
	pending  int // sessions handshaken (or being handshaken) and not admitted
	shutdown bool
	handBack *handBack // answered parked polls go back to net/http here; nil: no parking

	// wg counts open sessions and the goroutines they run.
	wg sync.WaitGroup

	// The shared writers' ready queue (writers.go).
	readyMu    sync.Mutex
	ready      []*Conn
	readyHead  int
	writers    int
	maxWriters int

	// What the server owns below it (resources.go): the poller that
	// watches idle WebSockets and the batcher that writes small
	// broadcasts, made on first use and closed by Shutdown.
	res resources

	// readAnswers are the polls read by readNext with something queued,
	// answered after the poller's wake-up; the poller's goroutine alone
	// uses it.
	readAnswers []parkedConn
}

// NewServer returns a Server. open is called once per new session, before any
// message of it is delivered; it returns the session's Receiver.
func NewServer(cfg Config, open func(c *Conn) Receiver) *Server {
	if cfg.PingInterval <= 0 {
		cfg.PingInterval = 25 * time.Second
	}
	if cfg.PingTimeout <= 0 {
		cfg.PingTimeout = 20 * time.Second
	}
	if cfg.MaxPayload <= 0 {
		cfg.MaxPayload = 1_000_000
	}
	if cfg.MaxPendingPayload <= 0 || cfg.MaxPendingPayload > cfg.MaxPayload {
		cfg.MaxPendingPayload = cfg.MaxPayload
	}
	if cfg.PollBodyTimeout <= 0 {
		cfg.PollBodyTimeout = 10 * time.Second
	}
	if cfg.MaxPendingSessions <= 0 {
		cfg.MaxPendingSessions = 10_000
	}
	if cfg.HandshakeHeaders == nil {
		cfg.HandshakeHeaders = defaultHandshakeHeaders[:]
	}
	keep := make([]string, len(cfg.HandshakeHeaders))
	for i, k := range cfg.HandshakeHeaders {
		keep[i] = http.CanonicalHeaderKey(k)
	}
	cfg.HandshakeHeaders = keep
	if cfg.MaxHandshakeBytes <= 0 {
		cfg.MaxHandshakeBytes = 8192
	}
	if cfg.UpgradeTimeout <= 0 {
		cfg.UpgradeTimeout = 10 * time.Second
	}
	if cfg.SendQueue <= 0 {
		cfg.SendQueue = 1024
	}
	if cfg.Clock == nil {
		cfg.Clock = realClock{}
	}
	log := cfg.Logger
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	return &Server{
		cfg: cfg, open: open, log: log, limits: cfg.Limits, clock: cfg.Clock, epoch: cfg.Clock.Now(),
		conns: make(map[string]*Conn), maxWriters: defaultWriters(),
	}
}

// Count returns the number of open sessions.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// CountPolling returns the number of open sessions on HTTP long-polling
// (not upgraded to WebSocket). It looks at every session: for an
// observer's occasional look (the admin UI's stats), not a hot path.
func (s *Server) CountPolling() int {
	s.mu.Lock()
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	n := 0
	for _, c := range conns {
		if c.Transport() == "polling" {
			n++
		}
	}
	return n
}

// Pending returns the number of sessions not admitted yet (Conn.Admit).
func (s *Server) Pending() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.pending
}

// Shutdown closes every session (reason "server shutting down"), refuses new
// ones, waits until their goroutines have ended or ctx is done, and closes
// the poller and the batcher. Safe to call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	defer s.res.close(s.log)
	defer s.hb.stop()
	defer s.closeHandBack()
	for _, c := range s.refuseNew() {
		c.closeNow(ReasonServerShutdown)
	}
	return s.wait(ctx)
}

// refuseNew refuses new sessions from now on and returns the open ones.
func (s *Server) refuseNew() []*Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.shutdown = true
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	return conns
}

func (s *Server) lookup(sid string) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[sid]
}

// remove forgets a closed session; pending says it was still counted as
// pending.
func (s *Server) remove(c *Conn, pending bool) {
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
	if pending {
		s.pending--
	}
	s.mu.Unlock()
}

// unpend counts a session out of the pending ones.
func (s *Server) unpend() {
	s.mu.Lock()
	s.pending--
	s.mu.Unlock()
}

// since is the clock's time as a duration from the server's epoch (an int64
// in a Conn, where a time.Time takes three words).
func (s *Server) since() time.Duration { return s.clock.Now().Sub(s.epoch) }

// ServeHTTP answers every Engine.IO request: handshakes, polls, posts and
// WebSocket connections (new or upgrading).
func (s *Server) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method == http.MethodOptions {
		// CORS preflight is the router's business; answer it harmlessly.
		w.WriteHeader(http.StatusNoContent)
		return
	}
	q := r.URL.Query()
	// The constants, not the query's strings: a session keeps its transport
	// name, and a substring of the query would pin the request line.
	var transport string
	switch q.Get("transport") {
	case transportPolling:
		transport = transportPolling
	case transportWebSocket:
		transport = transportWebSocket
	default:
		s.refusedIfHandshake(q, RefusedBadRequest)
		writeError(w, codeTransportUnknown)
		return
	}
	proto := 0
	switch q.Get("EIO") {
	case "4":
		proto = 4
	case "3":
		if s.cfg.AllowEIO3 {
			proto = 3
		}
	}
	if proto == 0 {
		s.refusedIfHandshake(q, RefusedBadRequest)
		writeError(w, codeUnsupportedVersion)
		return
	}
	isUpgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")

	if sid := q.Get("sid"); sid != "" {
		s.serveSession(w, r, sid, transport, proto, isUpgrade)
		return
	}

	if r.Method != http.MethodGet {
		s.refused(RefusedBadRequest)
		writeError(w, codeBadHandshakeMethod)
		return
	}
	if transport == transportWebSocket && !isUpgrade {
		s.refused(RefusedBadRequest)
		writeError(w, codeBadRequest)
		return
	}
	if !s.allow(r, "") {
		s.refused(RefusedForbidden)
		writeError(w, codeForbidden)
		return
	}
	s.handshake(w, r, transport, proto, q.Get("b64") != "")
}

// allow runs Config.AllowRequest on r.
func (s *Server) allow(r *http.Request, sid string) bool {
	if s.cfg.AllowRequest == nil {
		return true
	}
	err := s.cfg.AllowRequest(r)
	if err == nil {
		return true
	}
	if sid == "" {
		s.log.Debug("engineio: handshake refused", "remote", r.RemoteAddr, "err", err)
	} else {
		s.log.Debug("engineio: request refused", "remote", r.RemoteAddr, "err", err)
	}
	return false
}

// serveSession answers a request of an existing session: a poll, a post, or
// a WebSocket that upgrades it.
func (s *Server) serveSession(w http.ResponseWriter, r *http.Request, sid, transport string, proto int, isUpgrade bool) {
	// Vetted before the sid is looked up, so a refused origin learns
	// nothing of which sessions exist; the session itself is left alone (a
	// page of another origin must not be able to end it either).
	if !s.allow(r, sid) {
		writeError(w, codeForbidden)
		return
	}
	c := s.lookup(sid)
	if c == nil {
		if transport == transportWebSocket && isUpgrade {
			writeUpgradeError(w, codeUnknownSID)
			return
		}
		writeError(w, codeUnknownSID)
		return
	}
	if int(c.proto) != proto {
		writeError(w, codeBadRequest)
		return
	}
	if transport == transportPolling {
		if c.Transport() != transportPolling {
			writeError(w, codeBadRequest)
			return
		}
		switch r.Method {
		case http.MethodGet:
			c.servePoll(w, r)
		case http.MethodPost:
			c.servePost(w, r)
		default:
			writeError(w, codeBadRequest)
		}
		return
	}
	if !isUpgrade {
		writeError(w, codeBadRequest)
		return
	}
	c.serveUpgrade(w, r)
}

// handshake opens a new session over transport.
func (s *Server) handshake(w http.ResponseWriter, r *http.Request, transport string, proto int, b64 bool) {
	hs, n, ok := newHandshakeInfo(r, s.cfg.HandshakeHeaders, s.cfg.MaxHandshakeBytes)
	if !ok {
		s.limits.Hit(LimitHandshakeBytes, r.RemoteAddr, "bytes", n, "max", s.cfg.MaxHandshakeBytes)
		s.refused(RefusedHandshakeTooLarge)
		writeErrorStatus(w, http.StatusRequestHeaderFieldsTooLarge, codeBadRequest, "Handshake too large")
		return
	}
	hs = s.hstr.share(hs)
	// The session is counted as pending from here, before the WebSocket
	// upgrade, so a refusal is still an HTTP answer.
	s.mu.Lock()
	closed, full := s.shutdown, s.pending >= s.cfg.MaxPendingSessions
	if !closed && !full {
		s.pending++
	}
	s.mu.Unlock()
	if closed {
		s.refused(RefusedShuttingDown)
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	if full {
		s.limits.Hit(LimitPendingSessions, r.RemoteAddr, "max", s.cfg.MaxPendingSessions)
		s.refused(RefusedTooManyPending)
		w.Header().Set("Retry-After", pendingRetryAfter)
		writeErrorStatus(w, http.StatusServiceUnavailable, codeForbidden, "Too many pending sessions")
		return
	}
	var wsc *ws.Conn
	if transport == transportWebSocket {
		var err error
		if wsc, err = s.upgrade(w, r); err != nil {
			s.unpend() // never opened
			s.log.Debug("engineio: websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
			return
		}
	}

	c := &Conn{srv: s, id: newSID(), proto: uint8(proto), hs: hs, b64: b64, onWS: transport == transportWebSocket, pending: true, hbIndex: -1}
	c.queue = append(c.queue, s.openPacket(c.id, transport))

	s.mu.Lock()
	if s.shutdown {
		s.pending--
		s.mu.Unlock()
		if wsc != nil {
			_ = wsc.CloseWith(ws.CloseGoingAway, "server shutting down")
		} else {
			http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		}
		return
	}
	s.conns[c.id] = c
	s.wg.Add(1) // the session; Done when it is closed
	s.mu.Unlock()
	if o := s.cfg.Observer; o != nil {
		o.Handshake(transport, proto)
	}

	// open may Send (queued after the open packet) or Admit; no message is
	// delivered and no OnClose called until it has returned.
	c.recvMu.Lock()
	c.recv = s.open(c)
	c.recvMu.Unlock()

	c.mu.Lock()
	if c.state == stateOpen {
		c.startHeartbeatLocked()
	}
	c.mu.Unlock()

	if wsc != nil {
		c.mu.Lock()
		if c.state == stateClosed {
			c.mu.Unlock()
			_ = wsc.Close()
			return
		}
		c.ws = wsc
		c.kickLocked()
		s.wg.Add(1)
		c.mu.Unlock()
		c.startReading(wsc)
		return
	}
	// The handshake response carries the open packet (and whatever open sent).
	c.mu.Lock()
	c.polling = true
	c.mu.Unlock()
	c.respondPoll(w, r)
}

// upgrade completes a WebSocket handshake. The connection is the engine's
// from then on, with no deadline: the heartbeat, not a deadline, bounds a
// quiet session. net/http's Hijack clears the request's read and write
// deadlines (TestEngineOwnsItsDeadlines checks it). Where idle sockets are
// watched by the poller, the socket is taken over from net/http's
// connection (ws.UpgradeOptions.TakeOver, ADR 0032): the engine reads it
// when the poller says so and writes without waiting.
func (s *Server) upgrade(w http.ResponseWriter, r *http.Request) (*ws.Conn, error) {
	return ws.Upgrade(w, r, ws.UpgradeOptions{TakeOver: s.poller() != nil})
}

// openPacket builds the "0{...}" handshake packet. Like Node's engine.io 6,
// maxPayload is included for v3 clients as well (they ignore it).
func (s *Server) openPacket(sid, transport string) *Message {
	upgrades := []string{}
	if transport == transportPolling {
		upgrades = []string{transportWebSocket}
	}
	data, _ := json.Marshal(struct {
		SID          string   `json:"sid"`
		Upgrades     []string `json:"upgrades"`
		PingInterval int64    `json:"pingInterval"`
		PingTimeout  int64    `json:"pingTimeout"`
		MaxPayload   int64    `json:"maxPayload"`
	}{sid, upgrades, s.cfg.PingInterval.Milliseconds(), s.cfg.PingTimeout.Milliseconds(), s.cfg.MaxPayload})
	return controlMessage(typeOpen, string(data))
}

// newSID returns 20 random URL-safe characters (15 random bytes, base64url).
func newSID() string {
	var b [15]byte
	_, _ = io.ReadFull(rand.Reader, b[:])
	return base64.RawURLEncoding.EncodeToString(b[:])
}

// writeError answers an Engine.IO error with its standard message.
func writeError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == codeForbidden {
		status = http.StatusForbidden
	}
	writeErrorStatus(w, status, code, errorMessages[code])
}

// writeUpgradeError refuses a WebSocket upgrade as Node's engine.io does
// (abortUpgrade): 400, the message as text/html, and the connection closed.
// A client behind a load balancer without sticky sessions, whose upgrade
// reaches a node that does not know its sid, so sees what it would see
// from Node and opens a new session.
func writeUpgradeError(w http.ResponseWriter, code int) {
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Connection", "close")
	w.WriteHeader(http.StatusBadRequest)
	_, _ = io.WriteString(w, errorMessages[code])
}

// writeErrorStatus answers {"code":code,"message":message} with status.
// message is one of ours, never the client's, so it needs no escaping.
func writeErrorStatus(w http.ResponseWriter, status, code int, message string) {
	body := `{"code":` + strconv.Itoa(code) + `,"message":"` + message + `"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
