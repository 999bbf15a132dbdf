package socketio

import (
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/fakeclock"
	"github.com/eventide/realtime/internal/limits"
)

// TestConnectPayloadTooLarge: a CONNECT over MaxConnectBytes is refused
// with CONNECT_ERROR for its namespace, like a middleware refusal, and the
// connection stays usable; one whose namespace cannot be read is closed.
func TestConnectPayloadTooLarge(t *testing.T) {
	rep := limits.New(limits.Config{})
	s, hs := newTestServer(t, Config{Limits: rep, MaxConnectBytes: 1024})
	s.Of("/chat")
	s.Of("/").OnConnection(echo)

	c := dial(t, hs.URL, 4, "")
	p := c.connect("/", map[string]any{"token": strings.Repeat("x", 2000)})
	msg, _ := p.Data.(map[string]any)["message"].(string)
	if p.Type != PacketConnectError || p.Namespace != "/" || !strings.HasPrefix(msg, "connect payload too large") {
		t.Fatalf("got %s %s %v", p.Type, p.Namespace, p.Data)
	}
	c.mustConnect("/", map[string]any{"token": "small"})
	c.emit("/", 1, "echo", "usable")
	if p := c.next(); p.Type != PacketAck || p.ID != 1 {
		t.Fatalf("got %s %d", p.Type, p.ID)
	}
	if n := rep.Count(LimitConnectBytes); n != 1 {
		t.Fatalf("%s counted %d times, want 1", LimitConnectBytes, n)
	}

	// socket.io-client 2.x puts its credentials in the namespace query.
	c3 := dial(t, hs.URL, 3, "")
	if p := c3.next(); p.Type != PacketConnect || p.Namespace != "/" {
		t.Fatalf("got %s %s", p.Type, p.Namespace)
	}
	c3.send("0/chat?token=" + strings.Repeat("y", 2000) + ",")
	p = c3.next()
	if m, _ := p.Data.(string); p.Type != PacketConnectError || p.Namespace != "/chat" || !strings.HasPrefix(m, "connect payload too large") {
		t.Fatalf("got %s %s %v", p.Type, p.Namespace, p.Data)
	}
	c3.send("0/chat?token=t,")
	if p := c3.next(); p.Type != PacketConnect || p.Namespace != "/chat" {
		t.Fatalf("got %s %s %v", p.Type, p.Namespace, p.Data)
	}

	// No namespace in its first bytes: closed.
	c4 := dial(t, hs.URL, 4, "")
	c4.send("0/" + strings.Repeat("n", 2000))
	c4.expectClosed()
	if n := rep.Count(LimitConnectBytes); n != 3 {
		t.Fatalf("%s counted %d times, want 3", LimitConnectBytes, n)
	}
	checkAlive(t, hs.URL)
}

// TestAuthReleasedAfterConnection: middleware and connection handlers read
// the CONNECT payload; the socket does not keep it after them.
func TestAuthReleasedAfterConnection(t *testing.T) {
	s, hs := newTestServer(t, Config{})
	seen := make(chan any, 3)
	s.Of("/").Use(func(so *Socket) error {
		seen <- so.Handshake().Auth["token"]
		so.Handshake().Auth["seen"] = "by middleware" // shared with what follows
		return nil
	})
	s.Of("/").OnConnection(func(so *Socket) {
		seen <- so.Handshake().Auth["seen"]
		so.On("later", func(e *Event) { e.Ack(len(so.Handshake().Auth)) })
	})
	c := dial(t, hs.URL, 4, "")
	c.mustConnect("/", map[string]any{"token": "abc"})
	if a, b := <-seen, <-seen; a != "abc" || b != "by middleware" {
		t.Fatalf("middleware saw %v, connection handler %v", a, b)
	}
	c.emit("/", 1, "later")
	if p := c.next(); p.Type != PacketAck || p.Data.([]any)[0] != 0.0 {
		t.Fatalf("auth after the connection handlers: got %s %v, want an empty map", p.Type, p.Data)
	}
}

// inProcessClient opens an in-process connection with a server and
// connects it to "/" (the socket is sent on done by OnConnection).
func inProcessClient(t *testing.T, s *Server, done chan *Socket) (*nullConn, *client) {
	t.Helper()
	c := &nullConn{id: "x", proto: 4, req: httptest.NewRequest("GET", "/socket.io/?EIO=4", nil)}
	cl := s.newClient(c)
	c.recv = cl
	cl.OnMessage([]byte("0"), false)
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("not connected")
	}
	return c, cl
}

// TestReceiveQueueBoundedByBytes: a client whose events outrun its handler
// is closed once they hold MaxBufferedBytes; a lone event larger than that
// is still taken.
func TestReceiveQueueBoundedByBytes(t *testing.T) {
	rep := limits.New(limits.Config{})
	s := NewServer(Config{Limits: rep, MaxBufferedBytes: 64 << 10})
	defer s.Shutdown(t.Context())
	release := make(chan struct{})
	started := make(chan struct{}, 1)
	got := make(chan int, 100)
	reasons := make(chan string, 1)
	done := make(chan *Socket, 1)
	s.Of("/").OnConnection(func(so *Socket) {
		so.On("block", func(e *Event) { started <- struct{}{}; <-release })
		so.On("x", func(e *Event) { got <- len(e.Args[0].(string)) })
		so.OnDisconnect(func(r string) { reasons <- r })
		done <- so
	})
	conn, cl := inProcessClient(t, s, done)

	big := `2["x","` + strings.Repeat("b", 100<<10) + `"]`
	cl.OnMessage([]byte(big), false) // nothing held: taken though over the bound
	if n := <-got; n != 100<<10 {
		t.Fatalf("handler got %d bytes", n)
	}

	cl.OnMessage([]byte(`2["block"]`), false)
	<-started
	event := []byte(`2["x","` + strings.Repeat("e", 10<<10) + `"]`)
	sent := 0
	for !conn.closed.Load() && sent < 100 {
		cl.OnMessage(event, false)
		sent++
	}
	if !conn.closed.Load() || sent != 7 { // 6 fit in 64 KiB beside the blocked one
		t.Fatalf("closed=%v after %d events of 10 KiB, want closed at the 7th", conn.closed.Load(), sent)
	}
	close(release)
	if r := <-reasons; r != ReasonReceiveQueueOverflow {
		t.Fatalf("reason %q", r)
	}
	if n := rep.Count(LimitReceiveQueue); n != 1 {
		t.Fatalf("%s counted %d times", LimitReceiveQueue, n)
	}
}

// TestPendingConnectionBudget: before a namespace is joined, a connection
// may hold only MaxConnectBytes of received packets, with no exception for
// a lone large one.
func TestPendingConnectionBudget(t *testing.T) {
	rep := limits.New(limits.Config{})
	s := NewServer(Config{Limits: rep, MaxConnectBytes: 8 << 10})
	defer s.Shutdown(t.Context())
	release := make(chan struct{})
	inMiddleware := make(chan struct{})
	s.Of("/").Use(func(so *Socket) error { close(inMiddleware); <-release; return nil })
	conn := &nullConn{id: "x", proto: 4, req: httptest.NewRequest("GET", "/socket.io/?EIO=4", nil)}
	cl := s.newClient(conn)
	conn.recv = cl

	cl.OnMessage([]byte("0"), false)
	<-inMiddleware // the mailbox is busy: what follows waits in it
	event := []byte(`2["x","` + strings.Repeat("e", 3<<10) + `"]`)
	cl.OnMessage(event, false)
	cl.OnMessage(event, false)
	if conn.closed.Load() {
		t.Fatal("closed within the budget")
	}
	cl.OnMessage(event, false)
	if !conn.closed.Load() {
		t.Fatal("not closed over MaxConnectBytes before any namespace was joined")
	}
	close(release)
	if n := rep.Count(LimitReceiveQueue); n != 1 {
		t.Fatalf("%s counted %d times", LimitReceiveQueue, n)
	}

	// A lone packet over the budget is refused too.
	conn2 := &nullConn{id: "y", proto: 4, req: httptest.NewRequest("GET", "/socket.io/?EIO=4", nil)}
	cl2 := s.newClient(conn2)
	conn2.recv = cl2
	cl2.OnMessage([]byte(`2["x","`+strings.Repeat("e", 9<<10)+`"]`), false)
	if !conn2.closed.Load() {
		t.Fatal("a 9 KiB event before CONNECT was taken")
	}
}

// TestAttachmentsBoundedByBytesAndTime: the attachments of a binary packet
// count against MaxBufferedBytes as they arrive, and must all arrive within
// AttachmentTimeout.
func TestAttachmentsBoundedByBytesAndTime(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	rep := limits.New(limits.Config{})
	s := NewServer(Config{Limits: rep, MaxBufferedBytes: 64 << 10, AttachmentTimeout: 30 * time.Second, AfterFunc: clock.AfterFunc})
	defer s.Shutdown(t.Context())
	got := make(chan []any, 1)
	reasons := make(chan string, 1)
	done := make(chan *Socket, 1)
	s.Of("/").OnConnection(func(so *Socket) {
		so.On("up", func(e *Event) { got <- e.Args })
		so.OnDisconnect(func(r string) { reasons <- r })
		done <- so
	})
	header := []byte(`52-["up",{"_placeholder":true,"num":0},{"_placeholder":true,"num":1}]`)

	// Complete in time: delivered, and the timer is stopped.
	conn, cl := inProcessClient(t, s, done)
	cl.OnMessage(header, false)
	cl.OnMessage([]byte{1}, true)
	clock.Advance(29 * time.Second)
	cl.OnMessage([]byte{2}, true)
	if args := <-got; len(args) != 2 || args[1].([]byte)[0] != 2 {
		t.Fatalf("args %v", args)
	}
	if clock.Pending() != 0 || conn.closed.Load() {
		t.Fatalf("pending timers %d, closed %v", clock.Pending(), conn.closed.Load())
	}

	// Too slow: closed when the time runs out, not before.
	cl.OnMessage(header, false)
	cl.OnMessage([]byte{1}, true)
	clock.Advance(30*time.Second - time.Nanosecond)
	if conn.closed.Load() {
		t.Fatal("closed before AttachmentTimeout")
	}
	clock.Advance(time.Nanosecond)
	if !conn.closed.Load() {
		t.Fatal("not closed after AttachmentTimeout")
	}
	if r := <-reasons; r != ReasonReceiveQueueOverflow {
		t.Fatalf("reason %q", r)
	}
	if n := rep.Count(LimitAttachmentTimeout); n != 1 {
		t.Fatalf("%s counted %d times", LimitAttachmentTimeout, n)
	}

	// Too large: closed at the attachment that goes over.
	conn, cl = inProcessClient(t, s, done)
	cl.OnMessage(header, false)
	cl.OnMessage(make([]byte, 40<<10), true)
	if conn.closed.Load() {
		t.Fatal("closed within the budget")
	}
	cl.OnMessage(make([]byte, 40<<10), true)
	if !conn.closed.Load() {
		t.Fatal("80 KiB of attachments held with a 64 KiB budget")
	}
	if n := rep.Count(LimitReceiveQueue); n != 1 {
		t.Fatalf("%s counted %d times", LimitReceiveQueue, n)
	}
	if clock.Pending() != 0 {
		t.Fatalf("%d timers left after close", clock.Pending())
	}
}
