package engineio

import (
	"bufio"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/ws"
)

// rawConn opens a TCP connection to the test server and writes req on it.
func rawConn(t *testing.T, e *testEnv, req string) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", e.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	if _, err := io.WriteString(nc, req); err != nil {
		t.Fatal(err)
	}
	return nc, bufio.NewReader(nc)
}

// readResponse reads one HTTP response and its body from a raw connection.
func readResponse(t *testing.T, nc net.Conn, br *bufio.Reader) (*http.Response, string) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(guard))
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("no response: %v", err)
	}
	b, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res, string(b)
}

func postHead(sid string, contentLength int) string {
	return "POST /socket.io/?EIO=4&transport=polling&sid=" + sid + " HTTP/1.1\r\nHost: x\r\n" +
		"Content-Type: text/plain;charset=UTF-8\r\nContent-Length: " + itoa(contentLength) + "\r\n\r\n"
}

func itoa(n int) string { b, _ := json.Marshal(n); return string(b) }

// oneByteReader returns its bytes one Read at a time, then err.
type oneByteReader struct {
	b   []byte
	err error
}

func (r *oneByteReader) Read(p []byte) (int, error) {
	if len(r.b) == 0 {
		return 0, r.err
	}
	p[0] = r.b[0]
	r.b = r.b[1:]
	return 1, nil
}

// TestReadBodyGrowsWithArrivingBytes: a declared length sizes nothing past
// the first read; the buffer grows with what arrives, up to the limit.
func TestReadBodyGrowsWithArrivingBytes(t *testing.T) {
	stall := errors.New("stalled")
	// 999,999 bytes announced, 10 sent, then the client stalls.
	b, err := readBody(&oneByteReader{b: []byte("4abcdefghi"), err: stall}, 999_999, 1_000_000)
	if !errors.Is(err, stall) || string(b) != "4abcdefghi" || cap(b) > 4096 {
		t.Fatalf("got %q (cap %d), %v", b, cap(b), err)
	}
	// 20,000 bytes sent of 999,999 announced: the buffer is about what came.
	b, err = readBody(&oneByteReader{b: make([]byte, 20_000), err: stall}, 999_999, 1_000_000)
	if !errors.Is(err, stall) || len(b) != 20_000 || cap(b) > 2*20_000 {
		t.Fatalf("got %d bytes (cap %d), %v", len(b), cap(b), err)
	}
	// An exact small body is read into a buffer of its size.
	b, err = readBody(strings.NewReader("4hello"), 6, 1_000_000)
	if err != nil || string(b) != "4hello" || cap(b) != 6 {
		t.Fatalf("got %q (cap %d), %v", b, cap(b), err)
	}
	// Unknown length, over the limit: stops one byte past it.
	b, err = readBody(strings.NewReader(strings.Repeat("x", 50_000)), -1, 10_000)
	if !errors.Is(err, errBodyTooLarge) || len(b) != 10_001 {
		t.Fatalf("got %d bytes, %v", len(b), err)
	}
	// Exactly the limit is fine.
	b, err = readBody(strings.NewReader(strings.Repeat("x", 10_000)), -1, 10_000)
	if err != nil || len(b) != 10_000 {
		t.Fatalf("got %d bytes, %v", len(b), err)
	}
}

// TestPostBodyTimeout: a POST announcing a large body and sending a few
// bytes is answered 408 once PollBodyTimeout has passed, and its session
// ends.
func TestPostBodyTimeout(t *testing.T) {
	rep := limits.New(limits.Config{})
	e := newEnv(t, Config{PollBodyTimeout: 50 * time.Millisecond, Limits: rep, PingInterval: time.Hour})
	sid, r := e.handshakeV4()
	nc, br := rawConn(t, e, postHead(sid, 999_999)+"4abcdefghi")
	res, _ := readResponse(t, nc, br)
	if res.StatusCode != http.StatusRequestTimeout || !res.Close {
		t.Fatalf("status %d, close %v; want 408 and Connection: close", res.StatusCode, res.Close)
	}
	r.wantClose(t, ReasonTransportError)
	if n := rep.Count(LimitPostTimeout); n != 1 {
		t.Fatalf("%s counted %d times", LimitPostTimeout, n)
	}
}

// wantConnClosed checks that the server ends a raw connection after the
// response read from it: the next read sees the end, not the guard.
func wantConnClosed(t *testing.T, nc net.Conn, br *bufio.Reader) {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(guard)) // a guard only
	if _, err := br.ReadByte(); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("the server kept the connection after the answer: %v", err)
	}
}

// TestRefusedPostEndsConnection: after a 408 or a 413 the server closes
// the connection at once, even when the body's unread rest is small
// enough that net/http would otherwise wait for it (up to 256 KiB, with no
// deadline) after the handler: a client that announced a body and stopped
// sending must not keep the connection and its goroutine.
func TestRefusedPostEndsConnection(t *testing.T) {
	cfg := Config{MaxPayload: 1000, MaxPendingPayload: 100, PingInterval: time.Hour}
	// The 408 comes whenever the server reads, so a short timeout; the 413s
	// must not race one.
	cfg.PollBodyTimeout = 50 * time.Millisecond
	short := newEnv(t, cfg)
	cfg.PollBodyTimeout = time.Hour
	long := newEnv(t, cfg)
	for _, tc := range []struct {
		name   string
		e      *testEnv
		admit  bool   // the session has joined a namespace (MaxPayload applies)
		rest   string // the request after its first header lines
		status int
	}{
		// 300 bytes announced (under the cap), 4 sent.
		{"408", short, true, "Content-Length: 300\r\n\r\n4abc", http.StatusRequestTimeout},
		// 5,000 bytes announced, over the pending cap: refused unread.
		{"413 declared", long, false, "Content-Length: 5000\r\n\r\n4abc", http.StatusRequestEntityTooLarge},
		// A chunk of 150 bytes passes the cap; the body never ends.
		{"413 chunked", long, false, "Transfer-Encoding: chunked\r\n\r\n96\r\n4" + strings.Repeat("x", 149) + "\r\n", http.StatusRequestEntityTooLarge},
	} {
		t.Run(tc.name, func(t *testing.T) {
			e := tc.e
			sid, r := e.handshakeV4()
			if tc.admit {
				r.conn.Admit()
			}
			nc, br := rawConn(t, e, "POST /socket.io/?EIO=4&transport=polling&sid="+sid+" HTTP/1.1\r\nHost: x\r\n"+
				"Content-Type: text/plain;charset=UTF-8\r\n"+tc.rest)
			res, _ := readResponse(t, nc, br)
			if res.StatusCode != tc.status || !res.Close {
				t.Fatalf("status %d, close %v; want %d and Connection: close", res.StatusCode, res.Close, tc.status)
			}
			r.wantClose(t, ReasonTransportError)
			wantConnClosed(t, nc, br)
		})
	}
}

// TestSessionEndAbortsPost: when the session ends (here by the heartbeat)
// while a POST is still waiting for its body, the POST is answered at once
// rather than at its own deadline.
func TestSessionEndAbortsPost(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, Config{Clock: clk, PollBodyTimeout: time.Hour})
	sid, r := e.handshakeV4()
	nc, br := rawConn(t, e, postHead(sid, 100)+"4abc")
	waitUntil(t, "the POST to be reading", func() bool { return locked(r.conn, func(c *Conn) bool { return c.pl != nil && c.pl.post != nil }) })
	clk.Advance(45 * time.Second) // ping, then ping timeout
	r.wantClose(t, ReasonPingTimeout)
	res, body := readResponse(t, nc, br)
	wantError(t, res.StatusCode, body, 400, codeUnknownSID, "Session ID unknown")
	if !res.Close {
		t.Fatal("connection kept alive after an aborted body")
	}
	wantConnClosed(t, nc, br)
}

// TestOversizedPostWithoutLength: a chunked body is cut at MaxPayload.
func TestOversizedPostWithoutLength(t *testing.T) {
	rep := limits.New(limits.Config{})
	e := newEnv(t, Config{MaxPayload: 1000, Limits: rep})
	sid, r := e.handshakeV4()
	r.conn.Admit()
	req, _ := http.NewRequest(http.MethodPost, e.url("EIO=4&transport=polling&sid="+sid), io.MultiReader(strings.NewReader("4"), strings.NewReader(strings.Repeat("x", 5000))))
	req.ContentLength = -1 // chunked
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusRequestEntityTooLarge {
		t.Fatalf("status %d, want 413", res.StatusCode)
	}
	r.wantClose(t, ReasonTransportError)
	if n := rep.Count(LimitPayloadBytes); n != 1 {
		t.Fatalf("%s counted %d times", LimitPayloadBytes, n)
	}
}

// TestPendingPayloadCap: until the application admits a session, what it
// may send is capped at MaxPendingPayload, over polling and WebSocket.
func TestPendingPayloadCap(t *testing.T) {
	rep := limits.New(limits.Config{})
	e := newEnv(t, Config{MaxPayload: 1000, MaxPendingPayload: 100, Limits: rep, PingInterval: time.Hour})
	big := "4" + strings.Repeat("x", 150)

	sid, r := e.handshakeV4()
	if st, _ := e.post("EIO=4&transport=polling&sid="+sid, big); st != http.StatusRequestEntityTooLarge {
		t.Fatalf("pending post: %d, want 413", st)
	}
	r.wantClose(t, ReasonTransportError)

	sid, r = e.handshakeV4()
	r.conn.Admit()
	if st, _ := e.post("EIO=4&transport=polling&sid="+sid, big); st != 200 {
		t.Fatalf("admitted post: %d, want 200", st)
	}
	r.wantMsg(t, big[1:], false)

	c, r := e.openWS()
	writeWS(t, c, big)
	_ = c.SetReadDeadline(time.Now().Add(guard))
	_, _, err := c.ReadMessage(1 << 20)
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.CloseMessageTooBig {
		t.Fatalf("pending websocket: %v, want close 1009", err)
	}
	r.wantClose(t, ReasonTransportError)

	c, r = e.openWS()
	r.conn.Admit()
	writeWS(t, c, big)
	r.wantMsg(t, big[1:], false)

	if n := rep.Count(LimitPendingPayloadBytes); n != 2 {
		t.Fatalf("%s counted %d times, want 2", LimitPendingPayloadBytes, n)
	}
	if n := rep.Count(LimitPayloadBytes); n != 0 {
		t.Fatalf("%s counted %d times, want 0", LimitPayloadBytes, n)
	}
}

// TestHandshakeSize: a session keeps only the headers applications read, so
// a large header block of others costs nothing past the handshake; a
// handshake whose kept part is over MaxHandshakeBytes is refused with 431.
func TestHandshakeSize(t *testing.T) {
	rep := limits.New(limits.Config{})
	e := newEnv(t, Config{MaxHandshakeBytes: 2048, Limits: rep})

	st, _, body := e.request(http.MethodGet, "EIO=4&transport=polling", http.Header{"X-Junk": {strings.Repeat("j", 100_000)}}, "")
	if st != 200 {
		t.Fatalf("handshake with a large unread header: %d", st)
	}
	parseOpen(t, body)
	r := e.nextConn()
	if r.conn.Request().Header.Get("X-Junk") != "" || len(r.conn.hs.header) > 100 { // User-Agent
		t.Fatalf("session kept %d header bytes", len(r.conn.hs.header))
	}

	st, _, body = e.request(http.MethodGet, "EIO=4&transport=polling", http.Header{"Cookie": {strings.Repeat("c", 3000)}}, "")
	wantError(t, st, body, http.StatusRequestHeaderFieldsTooLarge, codeBadRequest, "Handshake too large")
	st, _, body = e.request(http.MethodGet, "EIO=4&transport=polling&token="+strings.Repeat("t", 3000), nil, "")
	wantError(t, st, body, http.StatusRequestHeaderFieldsTooLarge, codeBadRequest, "Handshake too large")

	// The WebSocket handshake is refused before the upgrade.
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if _, err := ws.Dial(ctx, e.wsURL("EIO=4&transport=websocket"), ws.DialOptions{Header: http.Header{"Authorization": {strings.Repeat("a", 3000)}}}); err == nil {
		t.Fatal("websocket handshake over the cap accepted")
	}
	if n := rep.Count(LimitHandshakeBytes); n != 3 {
		t.Fatalf("%s counted %d times, want 3", LimitHandshakeBytes, n)
	}
	if n := e.srv.Count(); n != 1 {
		t.Fatalf("Count = %d, want 1", n)
	}
}

// TestPendingSessionsCap: over MaxPendingSessions sessions not admitted,
// a handshake is refused with 503; admitting or closing one makes room.
func TestPendingSessionsCap(t *testing.T) {
	rep := limits.New(limits.Config{})
	e := newEnv(t, Config{MaxPendingSessions: 2, Limits: rep, PingInterval: time.Hour})
	_, a := e.handshakeV4()
	sidB, _ := e.handshakeV4()
	if n := e.srv.Pending(); n != 2 {
		t.Fatalf("Pending = %d, want 2", n)
	}
	st, h, body := e.do(http.MethodGet, "EIO=4&transport=polling", "", "")
	wantError(t, st, body, http.StatusServiceUnavailable, codeForbidden, "Too many pending sessions")
	if h.Get("Retry-After") == "" {
		t.Error("no Retry-After")
	}
	nc, br := rawConn(t, e, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	res, body := readResponse(t, nc, br)
	wantError(t, res.StatusCode, body, http.StatusServiceUnavailable, codeForbidden, "Too many pending sessions")

	a.conn.Admit()
	a.conn.Admit() // counted once
	if n := e.srv.Pending(); n != 1 {
		t.Fatalf("Pending after Admit = %d, want 1", n)
	}
	e.handshakeV4()
	if st, _ := e.post("EIO=4&transport=polling&sid="+sidB, "1"); st != 200 { // B closes
		t.Fatalf("close post: %d", st)
	}
	if n := e.srv.Pending(); n != 1 {
		t.Fatalf("Pending after a close = %d, want 1", n)
	}
	e.openWS()
	if n := e.srv.Pending(); n != 2 {
		t.Fatalf("Pending = %d, want 2", n)
	}
	if n := rep.Count(LimitPendingSessions); n != 2 {
		t.Fatalf("%s counted %d times, want 2", LimitPendingSessions, n)
	}
}

// TestClosingPollingSessionTimesOut: a session closed by the server whose
// client never polls again is closed after PingTimeout.
func TestClosingPollingSessionTimesOut(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, Config{Clock: clk})
	_, r := e.handshakeV4()
	_ = r.conn.Send(TextMessage([]byte("bye")))
	r.conn.Close()
	clk.Advance(20*time.Second - time.Millisecond)
	if locked(r.conn, func(c *Conn) bool { return c.state != stateClosing }) {
		t.Fatal("not closing before pingTimeout")
	}
	clk.Advance(time.Millisecond)
	r.wantClose(t, ReasonForcedClose)
	waitCount(t, e.srv, 0)
}
