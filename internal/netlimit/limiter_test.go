package netlimit

import (
	"bufio"
	"fmt"
	"io"
	"log"
	"net"
	"net/http"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
	"unsafe"

	"github.com/eventide/realtime/internal/limits"
)

// server is an http.Server behind a Limiter, on a real socket.
type server struct {
	t    *testing.T
	l    *Limiter
	rep  *limits.Reporter
	addr string
}

// serve starts a server capped at max. "/" answers "ok"; "/hijack" takes
// the connection over and echoes what it reads until the client leaves.
func serve(t *testing.T, max int, wrap func(net.Listener) net.Listener) *server {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if wrap != nil {
		ln = wrap(ln)
	}
	rep := limits.New(limits.Config{})
	l := New(Config{MaxConns: max, Limits: rep})
	mux := http.NewServeMux()
	mux.HandleFunc("/", func(w http.ResponseWriter, r *http.Request) { io.WriteString(w, "ok") })
	mux.HandleFunc("/hijack", func(w http.ResponseWriter, r *http.Request) {
		c, brw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		go func() {
			defer c.Close()
			brw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
			brw.Flush()
			io.Copy(c, brw)
		}()
	})
	// No header or idle timeouts: the connections stay until the
	// limiter closes them.
	srv := &http.Server{Handler: mux, ConnState: l.ConnState, ErrorLog: log.New(io.Discard, "", 0)}
	go srv.Serve(l.Listen(ln))
	t.Cleanup(func() { srv.Close() })
	return &server{t: t, l: l, rep: rep, addr: ln.Addr().String()}
}

// conn is a client connection.
type conn struct {
	net.Conn
	br *bufio.Reader
}

func (s *server) dial() *conn {
	s.t.Helper()
	c, err := net.Dial("tcp", s.addr)
	if err != nil {
		s.t.Fatal(err)
	}
	s.t.Cleanup(func() { c.Close() })
	// A guard against a hang, not a timing assumption.
	_ = c.SetDeadline(time.Now().Add(30 * time.Second))
	return &conn{c, bufio.NewReader(c)}
}

// get sends a keep-alive request and returns the answer's status, or an
// error when the connection was closed.
func (c *conn) get(path string) (int, error) {
	if _, err := fmt.Fprintf(c, "GET %s HTTP/1.1\r\nHost: x\r\n\r\n", path); err != nil {
		return 0, err
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		return 0, err
	}
	defer resp.Body.Close()
	_, err = io.ReadAll(resp.Body)
	return resp.StatusCode, err
}

func (s *server) wantOpenAtMost(max int) {
	s.t.Helper()
	if n := s.l.Open(); n > max {
		s.t.Fatalf("%d connections open, cap %d", n, max)
	}
}

// TestIdleConnectionsGiveWay: with twice the cap in idle keep-alive
// connections held open, a new client is still served; the connections
// that gave way are the oldest.
func TestIdleConnectionsGiveWay(t *testing.T) {
	const max = 50
	s := serve(t, max, nil)
	var conns []*conn
	for range 2 * max {
		c := s.dial()
		if st, err := c.get("/"); st != 200 {
			t.Fatalf("request %d: %d %v", len(conns), st, err)
		}
		conns = append(conns, c)
		s.wantOpenAtMost(max)
	}
	fresh := s.dial()
	if st, err := fresh.get("/"); st != 200 {
		t.Fatalf("a new client with %d idle connections open: %d %v", 2*max, st, err)
	}
	s.wantOpenAtMost(max)
	open := 0
	for i, c := range conns {
		st, _ := c.get("/")
		if st == 200 {
			open++
		} else if i >= len(conns)-max+10 {
			t.Fatalf("connection %d of %d (among the newest) was closed", i, len(conns))
		}
	}
	if open > max-1 {
		t.Fatalf("%d old connections still open besides the new one, cap %d", open, max)
	}
	if got := s.rep.Count(LimitConns); got < max {
		t.Fatalf("%s reported %d times, want at least %d", LimitConns, got, max)
	}
}

// TestSilentConnectionsGiveWay: connections that never finish their
// request headers (slowloris) give way to a new client too.
func TestSilentConnectionsGiveWay(t *testing.T) {
	const max = 50
	s := serve(t, max, nil)
	for range max + 10 {
		c := s.dial()
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: x\r\nX-Slow: ")
	}
	// Wait for them to be in (and over the cap): the new client's
	// connection must make room as well.
	waitFor(t, "the cap to be reached", func() bool { return s.l.Open() == max })
	if st, err := s.dial().get("/"); st != 200 {
		t.Fatalf("a new client with %d silent connections open: %d %v", max+10, st, err)
	}
	s.wantOpenAtMost(max)
}

// TestHijackedConnectionsStay: hijacked connections are never closed to
// make room; with nothing else open a new connection is refused with a
// 503, and is admitted again once a hijacked connection has closed.
func TestHijackedConnectionsStay(t *testing.T) {
	const max = 5
	s := serve(t, max, nil)
	var socks []*conn
	for range max {
		c := s.dial()
		if st, err := c.get("/hijack"); st != http.StatusSwitchingProtocols {
			t.Fatalf("hijack: %d %v", st, err)
		}
		socks = append(socks, c)
	}
	waitFor(t, "the hijacks to be counted", func() bool {
		s.l.mu.Lock()
		defer s.l.mu.Unlock()
		return s.l.hijacked.Len() == max
	})
	// Refused: the client has sent nothing, so it reads the whole answer.
	refused := s.dial()
	resp, err := http.ReadResponse(refused.br, nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("at the cap with only hijacked connections: %v %v", resp, err)
	}
	resp.Body.Close()
	for i, c := range socks {
		fmt.Fprintf(c, "ping %d\n", i)
		if line, err := c.br.ReadString('\n'); err != nil || line != fmt.Sprintf("ping %d\n", i) {
			t.Fatalf("hijacked connection %d: %q %v", i, line, err)
		}
	}
	// One leaves; its server side closes, and a new client gets in.
	socks[0].Close()
	waitFor(t, "a new client to be served", func() bool {
		st, _ := s.dial().get("/")
		return st == 200
	})
	if got := s.rep.Count(LimitConns); got == 0 {
		t.Fatal("refusals not reported")
	}
}

// emfileListener fails one Accept with EMFILE when armed.
type emfileListener struct {
	net.Listener
	mu    sync.Mutex
	armed bool
}

func (l *emfileListener) Accept() (net.Conn, error) {
	l.mu.Lock()
	armed := l.armed
	l.armed = false
	l.mu.Unlock()
	if armed {
		return nil, &net.OpError{Op: "accept", Net: "tcp", Err: os.NewSyscallError("accept4", syscall.EMFILE)}
	}
	return l.Listener.Accept()
}

// TestOutOfDescriptors: when accepting fails for want of descriptors
// below the cap, the longest idle connection is closed to free one.
func TestOutOfDescriptors(t *testing.T) {
	var el *emfileListener
	s := serve(t, 100, func(ln net.Listener) net.Listener {
		el = &emfileListener{Listener: ln}
		return el
	})
	var conns []*conn
	for i := range 3 {
		c := s.dial()
		if st, err := c.get("/"); st != 200 {
			t.Fatal(st, err)
		}
		conns = append(conns, c)
		// The client has its answer before the server's goroutine marks
		// the connection idle: wait for that before the next one, so the
		// idle order is the dial order.
		waitFor(t, "the connection to be idle", func() bool {
			s.l.mu.Lock()
			defer s.l.mu.Unlock()
			return s.l.waiting.Len() == i+1
		})
	}
	el.mu.Lock()
	el.armed = true
	el.mu.Unlock()
	// The pending Accept returns before the listener is armed; this
	// client's connection lets the next Accept hit the EMFILE.
	if st, err := s.dial().get("/"); st != 200 {
		t.Fatal(st, err)
	}
	if st, err := s.dial().get("/"); st != 200 {
		t.Fatal(st, err)
	}
	if s.rep.Count(LimitFDs) != 1 {
		t.Fatalf("%s reported %d times", LimitFDs, s.rep.Count(LimitFDs))
	}
	if _, err := conns[0].get("/"); err == nil {
		t.Fatal("the oldest idle connection is still open")
	}
	for _, c := range conns[1:] {
		if st, err := c.get("/"); st != 200 {
			t.Fatal("a younger idle connection was closed:", err)
		}
	}
}

func TestMaxConnsFor(t *testing.T) {
	for _, tc := range []struct {
		nofile uint64
		want   int
	}{
		{1024, 960}, {2048, 1920}, {65536, 61440}, {100, 50}, {1 << 40, 1<<24 - 1<<20},
	} {
		if got := maxConnsFor(tc.nofile); got != tc.want {
			t.Errorf("maxConnsFor(%d) = %d, want %d", tc.nofile, got, tc.want)
		}
	}
	if got, limit := DefaultMaxConns(), openFileLimit(); got <= 0 || uint64(got) >= limit {
		t.Errorf("DefaultMaxConns() = %d with an open-file limit of %d", got, limit)
	}
}

// waitFor polls cond until it holds; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeSock is a socket taken over from a hijacked connection (Adopt).
type fakeSock struct{ closed atomic.Bool }

func (s *fakeSock) Open() bool { return !s.closed.Load() }

// TestAdoptedConnectionsStay: a hijacked connection whose socket is taken
// over (Adopt, then its net.Conn closed, as ws.Upgrade's TakeOver does) is
// still counted, and is forgotten once the new owner closes the socket.
func TestAdoptedConnectionsStay(t *testing.T) {
	if n := unsafe.Sizeof(entry{}); n > 48 {
		t.Fatalf("entry is %d bytes", n)
	}
	const max = 3
	s := serve(t, max, nil)
	var socks []*fakeSock
	hijacked := make(chan net.Conn, max)
	for range max {
		c := s.dial()
		if st, err := c.get("/hijack"); st != http.StatusSwitchingProtocols {
			t.Fatalf("hijack: %d %v", st, err)
		}
	}
	waitFor(t, "the hijacks to be counted", func() bool {
		s.l.mu.Lock()
		defer s.l.mu.Unlock()
		for _, e := range s.l.conns {
			if e.in == &s.l.hijacked {
				select {
				case hijacked <- e.conn():
				default:
				}
			}
		}
		return s.l.hijacked.Len() == max
	})
	close(hijacked)
	for c := range hijacked {
		fs := &fakeSock{}
		s.l.Adopt(c, fs)
		_ = c.Close()
		socks = append(socks, fs)
	}
	if len(socks) != max || s.l.Open() != max {
		t.Fatalf("%d adopted, %d open", len(socks), s.l.Open())
	}
	s.l.mu.Lock()
	inMap := len(s.l.conns)
	s.l.mu.Unlock()
	if inMap != 0 {
		t.Fatalf("%d adopted connections still held by the map", inMap)
	}
	// Adopting twice, or a connection not counted, changes nothing.
	s.l.Adopt(&net.TCPConn{}, &fakeSock{})
	if s.l.Open() != max {
		t.Fatalf("%d open after adopting a stranger", s.l.Open())
	}
	// The net.Conns are closed (the sockets live on in their new owner):
	// still at the cap, a new client is refused.
	refused := s.dial()
	resp, err := http.ReadResponse(refused.br, nil)
	if err != nil || resp.StatusCode != http.StatusServiceUnavailable {
		t.Fatalf("at the cap with only adopted connections: %v %v", resp, err)
	}
	resp.Body.Close()
	// One socket closes: a new client gets in.
	socks[0].closed.Store(true)
	waitFor(t, "a new client to be served", func() bool {
		st, _ := s.dial().get("/")
		return st == 200
	})
	if n := s.l.Open(); n > max {
		t.Fatalf("%d open, cap %d", n, max)
	}
}
