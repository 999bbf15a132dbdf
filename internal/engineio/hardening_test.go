package engineio

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"testing"
	"time"
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
			case <-time.After(5 * time.Second):
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
