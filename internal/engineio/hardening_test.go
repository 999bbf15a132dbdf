package engineio

import (
	"bufio"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// rawSession opens a WebSocket session by hand and returns the raw conn.
func rawSession(t *testing.T, e *testEnv) (net.Conn, *bufio.Reader, *recorder) {
	t.Helper()
	nc, err := net.Dial("tcp", e.hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_, _ = io.WriteString(nc, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	if res, err := http.ReadResponse(br, nil); err != nil || res.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", res, err)
	}
	return nc, br, e.nextConn()
}

func maskedFrame(b0 byte, p []byte) []byte {
	out := []byte{b0, 0x80 | byte(len(p)), 0, 0, 0, 0} // zero mask key: payload as is
	return append(out, p...)
}

// TestWebSocketHardening sends malformed frames to the engine; each closes
// only its own session, and the server keeps serving.
func TestWebSocketHardening(t *testing.T) {
	e := newEnv(t, Config{MaxPayload: 1000})
	many := maskedFrame(0x01, []byte("4"))
	for range 3000 {
		many = append(many, maskedFrame(0x00, []byte("a"))...)
	}
	cases := map[string][]byte{
		"rsv":          maskedFrame(0xC1, []byte("4x")),
		"opcode 3":     maskedFrame(0x83, nil),
		"opcode 0xB":   maskedFrame(0x8B, nil),
		"unmasked":     {0x81, 0x02, '4', 'x'},
		"fragments":    many,
		"oversized":    append([]byte{0x81, 0x80 | 126, 0x10, 0x00, 0, 0, 0, 0}, make([]byte, 4096)...),
		"bad utf-8":    maskedFrame(0x81, []byte{'4', 0xff}),
		"empty text":   maskedFrame(0x81, nil),
		"unknown type": maskedFrame(0x81, []byte("9")),
	}
	for name, b := range cases {
		t.Run(name, func(t *testing.T) {
			nc, _, r := rawSession(t, e)
			go func() { _, _ = nc.Write(b) }()
			select {
			case reason := <-r.closed:
				if reason != ReasonTransportError && reason != ReasonParseError {
					t.Fatalf("reason %q", reason)
				}
			case <-time.After(guard):
				t.Fatal("session not closed")
			}
			// The server still serves new sessions.
			c := e.dial("EIO=4&transport=websocket")
			readWS(t, c)
			r2 := e.nextConn()
			writeWS(t, c, "4ok")
			r2.wantMsg(t, "ok", false)
		})
	}
}

// TestOriginOnEveryRequest: AllowRequest vets every request of a session,
// not only its handshake. A refused poll, post or upgrade gets 403 code 4
// and leaves the session as it was, so a page of another origin can
// neither use a session nor end it.
func TestOriginOnEveryRequest(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour, AllowRequest: func(r *http.Request) error {
		if o := r.Header.Get("Origin"); o != "" && o != "http://good.test" {
			return errors.New("origin not allowed")
		}
		return nil
	}})
	good := http.Header{"Origin": {"http://good.test"}}
	evil := http.Header{"Origin": {"http://evil.test"}}
	st, _, body := e.request(http.MethodGet, "EIO=4&transport=polling", good, "")
	if st != 200 {
		t.Fatalf("handshake: %d", st)
	}
	sid := parseOpen(t, body).SID
	r := e.nextConn()
	q := "EIO=4&transport=polling&sid=" + sid

	_ = r.conn.Send(TextMessage([]byte("for the good origin")))
	st, _, body = e.request(http.MethodGet, q, evil, "")
	wantError(t, st, body, 403, codeForbidden, "Forbidden")
	st, _, body = e.request(http.MethodPost, q, evil, "4from evil")
	wantError(t, st, body, 403, codeForbidden, "Forbidden")
	st, _, body = e.request(http.MethodGet, "EIO=4&transport=polling&sid=nosuchsid", evil, "")
	wantError(t, st, body, 403, codeForbidden, "Forbidden") // not "Session ID unknown"
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if _, err := ws.Dial(ctx, e.wsURL("EIO=4&transport=websocket&sid="+sid), ws.DialOptions{Header: evil}); err == nil {
		t.Fatal("upgrade from another origin accepted")
	}

	// The session is untouched: still open, on polling, its queue kept.
	if !isOpen(r.conn) || r.conn.Transport() != "polling" {
		t.Fatalf("session changed: open %v, transport %s", isOpen(r.conn), r.conn.Transport())
	}
	if st, _, body := e.request(http.MethodGet, q, good, ""); st != 200 || body != "4for the good origin" {
		t.Fatalf("poll from the good origin: %d %q", st, body)
	}
	if st, _, _ := e.request(http.MethodPost, q, good, "4hello"); st != 200 {
		t.Fatalf("post from the good origin: %d", st)
	}
	r.wantMsg(t, "hello", false) // and not "from evil"
	c, err := ws.Dial(ctx, e.wsURL("EIO=4&transport=websocket&sid="+sid), ws.DialOptions{Header: good})
	if err != nil {
		t.Fatalf("upgrade from the good origin: %v", err)
	}
	defer c.Abort()
	writeWS(t, c, "2probe")
	if _, got := readWS(t, c); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
}

// TestWebSocketWhileUpgrading: a WebSocket for a session whose upgrade is
// under way completes its handshake and is closed; the upgrade goes on.
func TestWebSocketWhileUpgrading(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour})
	sid, r := e.handshakeV4()
	c := e.dial("EIO=4&transport=websocket&sid=" + sid)
	writeWS(t, c, "2probe")
	if _, got := readWS(t, c); got != "3probe" {
		t.Fatalf("probe answer %q", got)
	}
	second := e.dial("EIO=4&transport=websocket&sid=" + sid)
	_ = second.SetReadDeadline(time.Now().Add(guard))
	if _, _, err := second.ReadMessage(1 << 20); !ws.IsPeerClose(err) {
		t.Fatalf("second websocket: %v, want a close frame", err)
	}
	writeWS(t, c, "5")
	waitTransport(t, r.conn, "websocket")
	_ = r.conn.Send(TextMessage([]byte("upgraded")))
	if _, got := readWS(t, c); got != "4upgraded" {
		t.Fatalf("ws = %q", got)
	}
}

// TestEngineOwnsItsDeadlines: behind a router that gives every request
// short read and write deadlines (as one may for ordinary routes), a
// long-poll still waits for its message and a WebSocket stays usable past
// them: the engine sets the deadlines of its own requests.
func TestEngineOwnsItsDeadlines(t *testing.T) {
	const short = time.Second
	e := newEnvWith(t, Config{PingInterval: time.Hour}, func(next http.Handler) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			rc := http.NewResponseController(w)
			_ = rc.SetReadDeadline(time.Now().Add(short))
			_ = rc.SetWriteDeadline(time.Now().Add(short))
			next.ServeHTTP(w, r)
		})
	})
	sid, pr := e.handshakeV4()
	c, wr := e.openWS()

	done := make(chan string, 1)
	go func() { _, b := e.get("EIO=4&transport=polling&sid=" + sid); done <- b }()
	waitPoll(t, pr.conn)
	// Past the router's deadlines. (Only a lower bound: waiting longer
	// changes nothing.)
	time.Sleep(short + short/2)

	_ = pr.conn.Send(TextMessage([]byte("late")))
	if b := <-done; b != "4late" {
		t.Fatalf("long-poll = %q", b)
	}
	pr.wantOpen(t)
	// Larger than the socket buffers: the write blocks, so a deadline left
	// on the hijacked connection would fail it.
	big := strings.Repeat("b", 8<<20)
	_ = wr.conn.Send(TextMessage([]byte(big)))
	_ = c.SetReadDeadline(time.Now().Add(guard))
	if _, got, err := c.ReadMessage(16 << 20); err != nil || string(got) != "4"+big {
		t.Fatalf("ws: %d bytes, %v", len(got), err)
	}
	writeWS(t, c, "4up")
	wr.wantMsg(t, "up", false)
	wr.wantOpen(t)
}
