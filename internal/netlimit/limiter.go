package netlimit

import (
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"sync"
	"syscall"
	"time"

	"github.com/eventide/realtime/internal/limits"
)

// Limit names reported to the limits.Reporter.
const (
	// LimitConns: a connection arrived with the cap reached; one waiting
	// connection was closed for it, or (none could be) it was refused.
	LimitConns = "http.conns"
	// LimitFDs: accepting failed for want of file descriptors (used outside
	// the cap, e.g. by WebSockets) and a waiting connection was closed.
	LimitFDs = "http.fds"
)

// DefaultSweepInterval is how often, at most, the limiter checks which
// hijacked connections have closed while it can make room otherwise.
const DefaultSweepInterval = time.Second

// Config configures a Limiter.
type Config struct {
	// MaxConns caps the connections open at once across the wrapped
	// listeners; <= 0 means DefaultMaxConns().
	MaxConns int
	// Limits receives the limit hits; nil does not report them.
	Limits *limits.Reporter
	// SweepInterval: see DefaultSweepInterval; <= 0 means the default.
	SweepInterval time.Duration
	// Now is the clock; nil means time.Now.
	Now func() time.Time
}

// Limiter caps the connections open across the listeners it wraps. Wrap
// each listener with Listen and set each http.Server's ConnState to the
// Limiter's ConnState. It is safe for concurrent use.
type Limiter struct {
	max        int
	rep        *limits.Reporter
	sweepEvery time.Duration
	now        func() time.Time

	mu    sync.Mutex
	conns map[net.Conn]*entry
	// adopted counts the hijacked connections whose socket was taken over
	// (Adopt): they are in hijacked, no longer in conns.
	adopted int
	// waiting holds the connections without a request in progress (new
	// or idle), longest waiting first: the ones that give way.
	waiting connList
	// hijacked holds the hijacked connections, whose closing net/http
	// does not report: sweep checks them.
	hijacked  connList
	lastSweep time.Time
}

// entry is one open connection: 48 bytes, which an idle WebSocket keeps for
// its whole life.
type entry struct {
	// c is the connection (a net.Conn) or, once adopted, the socket that
	// took it over (an opener).
	c       any
	state   uint8 // an http.ConnState
	adopted bool
	in      *connList // waiting, hijacked or nil (a request in progress)
	prev    *entry    // in in
	next    *entry
}

// opener is what Adopt is given: the socket that took a connection over.
type opener interface{ Open() bool }

// conn returns e's net.Conn; nil once adopted.
func (e *entry) conn() net.Conn {
	if e.adopted {
		return nil
	}
	return e.c.(net.Conn)
}

func (e *entry) connState() http.ConnState { return http.ConnState(e.state) }

// connList is a list of entries linked through the entries themselves: a
// container/list would add an element (48 bytes) to every connection,
// which an idle WebSocket keeps for its whole life (ADR 0029).
type connList struct {
	head, tail *entry
	n          int
}

func (l *connList) Len() int { return l.n }

func (l *connList) pushBack(e *entry) {
	e.in, e.prev, e.next = l, l.tail, nil
	if l.tail != nil {
		l.tail.next = e
	} else {
		l.head = e
	}
	l.tail = e
	l.n++
}

func (l *connList) remove(e *entry) {
	if e.prev != nil {
		e.prev.next = e.next
	} else {
		l.head = e.next
	}
	if e.next != nil {
		e.next.prev = e.prev
	} else {
		l.tail = e.prev
	}
	e.in, e.prev, e.next = nil, nil, nil
	l.n--
}

// New returns a Limiter.
func New(cfg Config) *Limiter {
	if cfg.MaxConns <= 0 {
		cfg.MaxConns = DefaultMaxConns()
	}
	if cfg.SweepInterval <= 0 {
		cfg.SweepInterval = DefaultSweepInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Limiter{max: cfg.MaxConns, rep: cfg.Limits, sweepEvery: cfg.SweepInterval, now: cfg.Now, conns: make(map[net.Conn]*entry)}
}

// Max returns the cap.
func (l *Limiter) Max() int { return l.max }

// Open returns how many connections are counted open.
func (l *Limiter) Open() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.open()
}

func (l *Limiter) open() int { return len(l.conns) + l.adopted }

// Adopt is told that the socket of old, a hijacked connection, now lives
// on in s, and old is about to be closed (ws.Upgrade's TakeOver): the
// limiter keeps counting the connection until s is closed, without
// holding old. It implements ws.Adopter.
func (l *Limiter) Adopt(old net.Conn, s interface{ Open() bool }) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.conns[old]
	if e == nil || e.in != &l.hijacked {
		return // not counted, or not hijacked
	}
	delete(l.conns, old)
	e.c, e.adopted = s, true
	l.adopted++
}

// Listen wraps ln: its Accept counts connections against the cap, making
// room or refusing at the cap.
func (l *Limiter) Listen(ln net.Listener) net.Listener { return &listener{Listener: ln, l: l} }

type listener struct {
	net.Listener
	l *Limiter
}

// Accept returns the next connection admitted. When accepting fails for
// want of file descriptors it closes the longest waiting connection and
// returns the error, which net/http retries after a short pause: by then
// the descriptor has been released.
func (ln *listener) Accept() (net.Conn, error) {
	for {
		c, err := ln.Listener.Accept()
		if err != nil {
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				ln.l.makeRoomForFD()
			}
			return nil, err
		}
		if ln.l.admit(c) {
			return c, nil
		}
	}
}

// ConnState tracks the state of the connections of the wrapped listeners;
// set it as http.Server.ConnState.
func (l *Limiter) ConnState(c net.Conn, s http.ConnState) {
	l.mu.Lock()
	defer l.mu.Unlock()
	e := l.conns[c]
	if e == nil {
		return // not from a wrapped listener, or already closed by us
	}
	switch s {
	case http.StateNew:
		// Listed as waiting since admit.
	case http.StateActive:
		l.move(e, nil)
	case http.StateIdle:
		l.move(e, &l.waiting)
	case http.StateHijacked:
		if _, ok := c.(syscall.Conn); !ok {
			l.forget(e) // its closing could not be seen
			return
		}
		l.move(e, &l.hijacked)
	case http.StateClosed:
		l.forget(e)
		return
	}
	e.state = uint8(s)
}

// admit counts c in, making room at the cap; false means c was refused
// (and closed).
func (l *Limiter) admit(c net.Conn) bool {
	l.mu.Lock()
	var victim *entry
	if l.open() >= l.max {
		// Hijacked connections that have closed need not make anyone
		// give way: look for them, always when nothing else can.
		l.sweep(l.waiting.Len() == 0)
	}
	if l.open() >= l.max {
		victim = l.oldestWaiting()
		if victim == nil {
			open := l.open()
			l.mu.Unlock()
			l.rep.Hit(LimitConns, addr(c), "action", "refused", "open", open, "max", l.max)
			refuse(c)
			return false
		}
		l.forget(victim)
	}
	e := &entry{c: c, state: uint8(http.StateNew)}
	l.conns[c] = e
	l.move(e, &l.waiting)
	open := l.open()
	l.mu.Unlock()
	if victim != nil {
		_ = victim.conn().Close()
		l.rep.Hit(LimitConns, addr(c), "action", "closed a waiting connection", "closed", addr(victim.conn()),
			"closed_state", victim.connState().String(), "open", open, "max", l.max)
	}
	return true
}

// makeRoomForFD closes the longest waiting connection, if there is one.
func (l *Limiter) makeRoomForFD() {
	l.mu.Lock()
	victim := l.oldestWaiting()
	if victim != nil {
		l.forget(victim)
	}
	open := l.open()
	l.mu.Unlock()
	if victim == nil {
		l.rep.Hit(LimitFDs, "", "action", "none to close", "open", open)
		return
	}
	_ = victim.conn().Close()
	l.rep.Hit(LimitFDs, addr(victim.conn()), "action", "closed a waiting connection", "closed_state", victim.connState().String(), "open", open)
}

// oldestWaiting returns the connection waiting longest, or nil.
func (l *Limiter) oldestWaiting() *entry {
	return l.waiting.head
}

// move takes e off its list and appends it to to (nil: no list).
func (l *Limiter) move(e *entry, to *connList) {
	if e.in != nil {
		e.in.remove(e)
	}
	if to != nil {
		to.pushBack(e)
	}
}

// forget stops counting e.
func (l *Limiter) forget(e *entry) {
	l.move(e, nil)
	if e.adopted {
		l.adopted--
		return
	}
	delete(l.conns, e.conn())
}

// sweep stops counting the hijacked connections that have closed. Unless
// force, it runs at most once per sweep interval.
func (l *Limiter) sweep(force bool) {
	now := l.now()
	if !force && !l.lastSweep.IsZero() && now.Sub(l.lastSweep) < l.sweepEvery {
		return
	}
	l.lastSweep = now
	for e := l.hijacked.head; e != nil; {
		next := e.next
		if e.adopted && !e.c.(opener).Open() || !e.adopted && !isOpen(e.conn()) {
			l.forget(e)
		}
		e = next
	}
}

// isOpen reports whether c has not been closed: a closed socket refuses
// even a no-op Control.
func isOpen(c net.Conn) bool {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	return rc.Control(func(uintptr) {}) == nil
}

// refusal is written to a connection refused at the cap: a clear HTTP
// error, which a WebSocket client's handshake reports as well.
var refusal = func() string {
	body := `{"type":"about:blank","title":"Service Unavailable","status":503,"detail":"the server is at its connection limit; try again shortly"}`
	return fmt.Sprintf("HTTP/1.1 503 Service Unavailable\r\nContent-Type: application/problem+json\r\nRetry-After: 1\r\n"+
		"Connection: close\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}()

// refuse answers c with the refusal and closes it. The write goes into an
// empty socket buffer, so it does not hold up Accept; the deadline is a
// guard. (A client that has already sent its request may see the
// connection reset instead of the answer.)
func refuse(c net.Conn) {
	_ = c.SetWriteDeadline(time.Now().Add(time.Second))
	_, _ = io.WriteString(c, refusal)
	_ = c.Close()
}

func addr(c net.Conn) string {
	if a := c.RemoteAddr(); a != nil {
		return a.String()
	}
	return ""
}
