package engineio

import (
	"bufio"
	"context"
	"crypto/rand"
	"crypto/tls"
	"encoding/base64"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/textproto"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

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

// Server is an Engine.IO v3+v4 server; mount it as an http.Handler at the
// Socket.IO path (the caller strips nothing: only the query is looked at).
type Server struct {
	cfg   Config
	open  func(c *Conn) Receiver
	log   *slog.Logger
	clock Clock
	epoch time.Time // Conn.timerAt counts from here

	mu       sync.Mutex
	conns    map[string]*Conn
	shutdown bool

	// wg counts open sessions and the goroutines they run.
	wg sync.WaitGroup

	// The shared writers' ready queue (writers.go).
	readyMu    sync.Mutex
	ready      []*Conn
	readyHead  int
	writers    int
	maxWriters int
	held       int // HoldWrites calls not yet released
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
		cfg: cfg, open: open, log: log, clock: cfg.Clock, epoch: cfg.Clock.Now(),
		conns: make(map[string]*Conn), maxWriters: defaultWriters(),
	}
}

// Count returns the number of open sessions.
func (s *Server) Count() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown closes every session (reason "server shutting down"), refuses new
// ones and waits until their goroutines have ended or ctx is done. Safe to
// call twice.
func (s *Server) Shutdown(ctx context.Context) error {
	s.mu.Lock()
	s.shutdown = true
	conns := make([]*Conn, 0, len(s.conns))
	for _, c := range s.conns {
		conns = append(conns, c)
	}
	s.mu.Unlock()
	for _, c := range conns {
		c.closeNow(ReasonServerShutdown)
	}
	done := make(chan struct{})
	go func() {
		s.wg.Wait()
		close(done)
	}()
	select {
	case <-done:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

func (s *Server) lookup(sid string) *Conn {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.conns[sid]
}

func (s *Server) remove(c *Conn) {
	s.mu.Lock()
	if s.conns[c.id] == c {
		delete(s.conns, c.id)
	}
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
		writeError(w, codeUnsupportedVersion)
		return
	}
	isUpgrade := strings.EqualFold(r.Header.Get("Upgrade"), "websocket")

	if sid := q.Get("sid"); sid != "" {
		s.serveSession(w, r, sid, transport, proto, isUpgrade)
		return
	}

	if r.Method != http.MethodGet {
		writeError(w, codeBadHandshakeMethod)
		return
	}
	if transport == transportWebSocket && !isUpgrade {
		writeError(w, codeBadRequest)
		return
	}
	if !s.allow(r, "") {
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
		writeError(w, codeUnknownSID)
		return
	}
	if c.proto != proto {
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
	s.mu.Lock()
	closed := s.shutdown
	s.mu.Unlock()
	if closed {
		http.Error(w, "server shutting down", http.StatusServiceUnavailable)
		return
	}
	var wsc *ws.Conn
	if transport == transportWebSocket {
		var err error
		if wsc, err = ws.Upgrade(w, r, ws.UpgradeOptions{}); err != nil {
			s.log.Debug("engineio: websocket upgrade failed", "remote", r.RemoteAddr, "err", err)
			return
		}
	}

	c := &Conn{srv: s, id: newSID(), proto: proto, hs: newHandshakeInfo(r), b64: b64, transport: transport}
	c.queue = append(c.queue, s.openPacket(c.id, transport))

	s.mu.Lock()
	if s.shutdown {
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

	// open may Send (queued after the open packet); no message is delivered
	// and no OnClose called until it has returned.
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

// handshakeInfo is what a session keeps of its handshake request, by value
// in the Conn: the request target, the header block, host, RemoteAddr and TLS
// state; not the request itself, its body, nor its context (which ends with
// the handler and, through its values, would keep the router's and
// middleware's per-request state alive for the session). The target and the
// headers are kept as text, one string each, rather than as a url.URL and a
// map of slices: a third of the memory, for a parse on each Request call
// (made when a socket connects, rarely after).
type handshakeInfo struct {
	target string // path and query, as the handler saw them
	header string // the header block in wire form
	host   string
	remote string
	tls    *tls.ConnectionState
}

func newHandshakeInfo(r *http.Request) handshakeInfo {
	var b strings.Builder
	_ = r.Header.Write(&b)
	return handshakeInfo{target: r.URL.RequestURI(), header: b.String(), host: r.Host, remote: r.RemoteAddr, tls: r.TLS}
}

// request rebuilds the handshake request (a GET, without a body).
func (h *handshakeInfo) request() *http.Request {
	u, err := url.ParseRequestURI(h.target)
	if err != nil { // it was parsed once already
		u = &url.URL{Path: "/"}
	}
	header, err := textproto.NewReader(bufio.NewReader(strings.NewReader(h.header + "\r\n"))).ReadMIMEHeader()
	if err != nil && header == nil {
		header = textproto.MIMEHeader{}
	}
	return &http.Request{
		Method:     http.MethodGet,
		URL:        u,
		Proto:      "HTTP/1.1",
		ProtoMajor: 1,
		ProtoMinor: 1,
		Header:     http.Header(header),
		Body:       http.NoBody,
		Host:       h.host,
		RemoteAddr: h.remote,
		RequestURI: h.target,
		TLS:        h.tls,
	}
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

// writeError answers an Engine.IO error.
func writeError(w http.ResponseWriter, code int) {
	status := http.StatusBadRequest
	if code == codeForbidden {
		status = http.StatusForbidden
	}
	body := `{"code":` + strconv.Itoa(code) + `,"message":"` + errorMessages[code] + `"}`
	h := w.Header()
	h.Set("Content-Type", "application/json")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(status)
	_, _ = io.WriteString(w, body)
}
