package ws

import (
	"bufio"
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"strings"
	"testing"
	"time"
)

const testMaxSize = 1024

// guard bounds every wait of these tests for something that must happen.
// It is only a failure guard: no outcome depends on it, so it is generous
// enough for a loaded 2-core machine running the race detector.
const guard = 30 * time.Second

// echoServer upgrades every request and echoes messages until an error,
// which it reports on errs.
func echoServer(t *testing.T) (*httptest.Server, chan error) {
	t.Helper()
	errs := make(chan error, 16)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		c, err := Upgrade(w, r, UpgradeOptions{CheckOrigin: func(r *http.Request) bool {
			return r.Header.Get("Origin") != "http://evil.example"
		}})
		if err != nil {
			return
		}
		go func() {
			defer c.Close()
			for {
				op, p, err := c.ReadMessage(testMaxSize)
				if err != nil {
					errs <- err
					return
				}
				if err := c.WriteMessage(op, p); err != nil {
					errs <- err
					return
				}
			}
		}()
	}))
	t.Cleanup(hs.Close)
	return hs, errs
}

func wsURL(hs *httptest.Server) string { return "ws" + strings.TrimPrefix(hs.URL, "http") }

func dial(t *testing.T, hs *httptest.Server) *Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := Dial(ctx, wsURL(hs), DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Abort() })
	return c
}

// checkEcho proves the server still works with a fresh connection.
func checkEcho(t *testing.T, hs *httptest.Server) {
	t.Helper()
	c := dial(t, hs)
	for _, m := range []struct {
		op Opcode
		p  string
	}{{OpText, "héllo"}, {OpBinary, "\x00\xff"}, {OpText, ""}, {OpText, strings.Repeat("z", 1000)}} {
		if err := c.WriteMessage(m.op, []byte(m.p)); err != nil {
			t.Fatal(err)
		}
		_ = c.SetReadDeadline(time.Now().Add(guard))
		op, p, err := c.ReadMessage(testMaxSize)
		if err != nil || op != m.op || string(p) != m.p {
			t.Fatalf("echo = %v %q %v, want %v %q", op, p, err, m.op, m.p)
		}
	}
}

func TestEcho(t *testing.T) {
	hs, _ := echoServer(t)
	checkEcho(t, hs)
}

func TestCheckOrigin(t *testing.T) {
	hs, _ := echoServer(t)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	_, err := Dial(ctx, wsURL(hs), DialOptions{Header: http.Header{"Origin": {"http://evil.example"}}})
	if err == nil {
		t.Fatal("origin not checked")
	}
}

// TestUpgradeClearsServerDeadlines upgrades a request whose read and write
// deadlines (set the way a per-request deadline middleware sets them) have
// already passed: the WebSocket outlives its request, so both must be gone
// after Upgrade, and messages flow both ways.
func TestUpgradeClearsServerDeadlines(t *testing.T) {
	errs := make(chan error, 1)
	hs := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		rc := http.NewResponseController(w)
		past := time.Now().Add(-time.Second)
		if err := rc.SetReadDeadline(past); err != nil {
			errs <- err
			return
		}
		if err := rc.SetWriteDeadline(past); err != nil {
			errs <- err
			return
		}
		c, err := Upgrade(w, r, UpgradeOptions{})
		if err != nil {
			errs <- err
			return
		}
		defer c.Close()
		op, p, err := c.ReadMessage(testMaxSize)
		if err == nil {
			err = c.WriteMessage(op, p)
		}
		errs <- err
	}))
	t.Cleanup(hs.Close)

	c := dial(t, hs)
	if err := c.WriteMessage(OpText, []byte("after the deadline")); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(guard))
	if _, p, err := c.ReadMessage(testMaxSize); err != nil || string(p) != "after the deadline" {
		t.Fatalf("echo = %q %v", p, err)
	}
	if err := <-errs; err != nil {
		t.Fatalf("server side: %v", err)
	}
}

func TestBadHandshake(t *testing.T) {
	hs, _ := echoServer(t)
	res, err := http.Get(hs.URL)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Fatalf("plain GET: %d, want 400", res.StatusCode)
	}
	checkEcho(t, hs)
}

// dialRaw opens a TCP connection and does the handshake by hand, so a test
// can write any bytes.
func dialRaw(t *testing.T, hs *httptest.Server) (net.Conn, *bufio.Reader) {
	t.Helper()
	nc, err := net.Dial("tcp", hs.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_, _ = io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("handshake: %v %v", res, err)
	}
	return nc, br
}

// frame builds a client frame with explicit bits.
func frame(b0 byte, masked bool, p []byte) []byte {
	var out []byte
	lenByte := func(n int) []byte {
		switch {
		case n <= 125:
			return []byte{byte(n)}
		case n <= 0xffff:
			return []byte{126, byte(n >> 8), byte(n)}
		}
		b := []byte{127, 0, 0, 0, 0, 0, 0, 0, 0}
		binary.BigEndian.PutUint64(b[1:], uint64(n))
		return b
	}(len(p))
	if masked {
		lenByte[0] |= 0x80
	}
	out = append(out, b0)
	out = append(out, lenByte...)
	if masked {
		key := [4]byte{1, 2, 3, 4}
		out = append(out, key[:]...)
		m := bytes.Clone(p)
		mask(m, key)
		return append(out, m...)
	}
	return append(out, p...)
}

// readClose reads server frames until a close frame and returns its code.
func readClose(t *testing.T, nc net.Conn, br *bufio.Reader) int {
	t.Helper()
	_ = nc.SetReadDeadline(time.Now().Add(guard))
	for {
		var h [2]byte
		if _, err := io.ReadFull(br, h[:]); err != nil {
			t.Fatalf("no close frame: %v", err)
		}
		n := int(h[1] & 0x7f)
		switch n {
		case 126:
			var e [2]byte
			_, _ = io.ReadFull(br, e[:])
			n = int(binary.BigEndian.Uint16(e[:]))
		case 127:
			var e [8]byte
			_, _ = io.ReadFull(br, e[:])
			n = int(binary.BigEndian.Uint64(e[:]))
		}
		p := make([]byte, n)
		if _, err := io.ReadFull(br, p); err != nil {
			t.Fatal(err)
		}
		if Opcode(h[0]&0x0f) == OpClose {
			if len(p) < 2 {
				return CloseNoStatus
			}
			return int(binary.BigEndian.Uint16(p))
		}
	}
}

func TestFrameHardening(t *testing.T) {
	hs, errs := echoServer(t)
	manyFragments := func() []byte {
		var b []byte
		b = append(b, frame(0x01, true, []byte("a"))...) // text, not final
		for range 5000 {
			b = append(b, frame(0x00, true, []byte("a"))...)
		}
		return b
	}()
	tests := []struct {
		name  string
		bytes []byte
		code  int
	}{
		{"RSV1", frame(0x80|0x40|0x1, true, []byte("x")), CloseProtocolError},
		{"RSV2", frame(0x80|0x20|0x1, true, []byte("x")), CloseProtocolError},
		{"RSV3", frame(0x80|0x10|0x2, true, []byte("x")), CloseProtocolError},
		{"opcode 3", frame(0x83, true, nil), CloseProtocolError},
		{"opcode 7", frame(0x87, true, nil), CloseProtocolError},
		{"opcode 0xB", frame(0x8B, true, nil), CloseProtocolError},
		{"opcode 0xF", frame(0x8F, true, nil), CloseProtocolError},
		{"unmasked", frame(0x81, false, []byte("x")), CloseProtocolError},
		{"continuation first", frame(0x80, true, []byte("x")), CloseProtocolError},
		{"text inside fragments", append(frame(0x01, true, []byte("x")), frame(0x81, true, []byte("y"))...), CloseProtocolError},
		{"fragmented ping", frame(0x09, true, nil), CloseProtocolError},
		{"long ping", frame(0x89, true, make([]byte, 126)), CloseProtocolError},
		{"bad utf-8", frame(0x81, true, []byte{0xff, 0xfe}), CloseInvalidPayload},
		{"bad utf-8 across fragments", append(frame(0x01, true, []byte{0xe2, 0x82}), frame(0x80, true, []byte{0x41})...), CloseInvalidPayload},
		{"oversized frame", frame(0x82, true, make([]byte, testMaxSize+1)), CloseMessageTooBig},
		{"oversized message", append(frame(0x02, true, make([]byte, 600)), frame(0x80, true, make([]byte, 600))...), CloseMessageTooBig},
		{"huge length", append([]byte{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff}, 1, 2, 3, 4), CloseMessageTooBig},
		{"length MSB", append([]byte{0x82, 0xff, 0x80, 0, 0, 0, 0, 0, 0, 1}, 1, 2, 3, 4), CloseProtocolError},
		{"many fragments", manyFragments, ClosePolicyViolation},
		{"close 1-byte", frame(0x88, true, []byte{3}), CloseProtocolError},
		{"close bad code", frame(0x88, true, []byte{0x03, 0xe7}), CloseProtocolError},
		{"close 1005", frame(0x88, true, []byte{0x03, 0xed}), CloseProtocolError},
		{"close bad reason", frame(0x88, true, []byte{0x03, 0xe8, 0xff}), CloseInvalidPayload},
		{"close ok", frame(0x88, true, []byte{0x03, 0xe8, 'b', 'y', 'e'}), CloseNormal},
		{"close 1013", frame(0x88, true, []byte{0x03, 0xf5}), CloseTryAgainLater},
		{"close 1015", frame(0x88, true, []byte{0x03, 0xf7}), CloseProtocolError},
		{"close empty", frame(0x88, true, nil), CloseNoStatus},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			nc, br := dialRaw(t, hs)
			go func() { _, _ = nc.Write(tt.bytes) }()
			if got := readClose(t, nc, br); got != tt.code {
				t.Fatalf("close code %d, want %d", got, tt.code)
			}
			// Earlier connections' EOFs may be queued first.
			deadline := time.After(guard)
			for done := false; !done; {
				select {
				case err := <-errs:
					var pe *ProtocolError
					var ce *CloseError
					done = errors.As(err, &pe) || errors.As(err, &ce)
				case <-deadline:
					t.Fatal("server did not report the violation")
				}
			}
			checkEcho(t, hs)
		})
	}
}

func TestPingAnsweredAndFragmentsReassembled(t *testing.T) {
	hs, _ := echoServer(t)
	nc, br := dialRaw(t, hs)
	var b []byte
	b = append(b, frame(0x01, true, []byte("he"))...)
	b = append(b, frame(0x89, true, []byte("p1"))...) // ping between fragments
	b = append(b, frame(0x00, true, []byte("ll"))...)
	b = append(b, frame(0x8A, true, []byte("unsolicited pong"))...)
	b = append(b, frame(0x80, true, []byte("o"))...)
	if _, err := nc.Write(b); err != nil {
		t.Fatal(err)
	}
	c := NewClientConn(nc)
	c.r = br
	// The first frame back is the pong, read raw (ReadMessage skips pongs).
	_ = nc.SetReadDeadline(time.Now().Add(guard))
	var h [2]byte
	_, _ = io.ReadFull(br, h[:])
	p := make([]byte, h[1]&0x7f)
	_, _ = io.ReadFull(br, p)
	if Opcode(h[0]&0xf) != OpPong || string(p) != "p1" {
		t.Fatalf("first frame %x %q, want pong p1", h, p)
	}
	op, msg, err := c.ReadMessage(testMaxSize)
	if err != nil || op != OpText || string(msg) != "hello" {
		t.Fatalf("echo = %v %q %v", op, msg, err)
	}
}

func TestWriteFrames(t *testing.T) {
	hs, _ := echoServer(t)
	_ = hs
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	srv := NewServerConn(a)
	cli := NewClientConn(b)
	small := AppendFrame(nil, OpText, []byte("small"))
	big := AppendFrame(nil, OpBinary, bytes.Repeat([]byte{7}, 40<<10))
	sets := [][][]byte{{small}, {small, small, small}, {big, small, big}}
	go func() {
		for _, s := range sets {
			if err := srv.WriteFrames(append([][]byte(nil), s...)); err != nil {
				t.Error(err)
			}
		}
	}()
	for _, s := range sets {
		for _, f := range s {
			op, p, err := cli.ReadMessage(1 << 20)
			if err != nil {
				t.Fatal(err)
			}
			wantOp := Opcode(f[0] & 0xf)
			if op != wantOp || len(p) != len(f)-FrameHeaderLen(len(p)) {
				t.Fatalf("got %v len %d", op, len(p))
			}
		}
	}
	if string(small) != "\x81\x05small" {
		t.Fatalf("frames were modified: %q", small)
	}
}

func TestAppendFrameHeader(t *testing.T) {
	for _, n := range []int{0, 1, 125, 126, 0xffff, 0x10000, 1 << 20} {
		h := AppendFrameHeader(nil, OpBinary, n)
		if len(h) != FrameHeaderLen(n) {
			t.Fatalf("n=%d: header len %d, want %d", n, len(h), FrameHeaderLen(n))
		}
		if h[0] != 0x82 || h[1]&0x80 != 0 {
			t.Fatalf("n=%d: header %x", n, h)
		}
	}
}

func TestCloseTwiceAndWriteAfterClose(t *testing.T) {
	a, b := net.Pipe()
	defer b.Close()
	go func() { _, _ = io.Copy(io.Discard, b) }()
	c := NewServerConn(a)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Close(); !errors.Is(err, ErrClosed) {
		t.Fatalf("second Close = %v", err)
	}
	if err := c.WriteMessage(OpText, []byte("x")); !errors.Is(err, ErrClosed) {
		t.Fatalf("write after close = %v", err)
	}
}

func TestSkipBytes(t *testing.T) {
	for n := 0; n <= 9; n++ {
		frames := [][]byte{[]byte("abc"), []byte("de"), []byte("fghi")}
		var got []byte
		for _, f := range skipBytes(frames, n) {
			got = append(got, f...)
		}
		if want := "abcdefghi"[n:]; string(got) != want {
			t.Errorf("skipBytes(%d) = %q, want %q", n, got, want)
		}
	}
}

// TestWriteFramesNow fills a TCP peer that does not read: WriteFramesNow
// never waits, returns ErrWouldBlock with exactly the unwritten rest, and
// once the peer reads, WriteFrames(rest) completes the stream in order.
func TestWriteFramesNow(t *testing.T) {
	srv, cnc := tcpPair(t)
	if srv.rc == nil && runtime.GOOS == "linux" {
		t.Fatal("a TCP connection has no raw socket")
	}

	// Frames numbered in their payload, some small (coalesced), some large.
	var sent [][]byte
	var rest [][]byte
	start := time.Now()
	for i := 0; rest == nil; i++ {
		if time.Since(start) > guard {
			t.Fatal("the socket never filled")
		}
		size := 100
		if i%7 == 0 {
			size = 50 << 10
		}
		p := numbered(i, size)
		batch := [][]byte{AppendFrame(nil, OpBinary, p), AppendFrame(nil, OpBinary, p[:8])}
		sent = append(sent, p, p[:8])
		var err error
		rest, err = srv.WriteFramesNow(batch)
		switch {
		case errors.Is(err, ErrWouldBlock):
			if len(rest) == 0 {
				t.Fatal("ErrWouldBlock with nothing left")
			}
		case err != nil:
			t.Fatal(err)
		case rest != nil:
			t.Fatalf("rest %d frames without an error", len(rest))
		}
	}
	done := make(chan error, 1)
	go func() { done <- srv.WriteFrames(rest) }()

	cli := NewClientConn(cnc)
	for i, want := range sent {
		_, p, err := cli.ReadMessage(1 << 20)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !bytes.Equal(p, want) {
			t.Fatalf("message %d: %d bytes starting %x, want %d starting %x", i, len(p), p[:4], len(want), want[:4])
		}
	}
	if err := <-done; err != nil {
		t.Fatal(err)
	}
}

// tcpPair returns the server side (a Conn) and the client side of a
// loopback TCP connection, both closed when the test ends.
func tcpPair(t testing.TB) (*Conn, net.Conn) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan net.Conn, 1)
	go func() {
		nc, _ := ln.Accept()
		accepted <- nc
	}()
	cnc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	snc := <-accepted
	t.Cleanup(func() { cnc.Close(); snc.Close() })
	if pairsTakenOver {
		s := takeOver(snc, nil)
		if s == nil {
			t.Fatal("takeOver refused a TCP connection")
		}
		t.Cleanup(func() { s.Close() })
		return NewServerConn(s), cnc
	}
	return NewServerConn(snc), cnc
}

// pairsTakenOver makes tcpPair's server side a socket taken over from its
// net.Conn (UpgradeOptions.TakeOver); set by TestTakenOverSockets only
// (the package's tests do not run in parallel).
var pairsTakenOver bool

// numbered returns size bytes of i, its first four bytes i big-endian.
func numbered(i, size int) []byte {
	p := bytes.Repeat([]byte{byte(i)}, size)
	binary.BigEndian.PutUint32(p, uint32(i))
	return p
}

// TestOnFrame reports every frame ReadMessage reads, control frames between
// fragments included, before the message they belong to is returned.
func TestOnFrame(t *testing.T) {
	var in []byte
	in = append(in, frame(0x89, true, []byte("ping"))...)
	in = append(in, frame(0x01, true, []byte("he"))...)
	in = append(in, frame(0x8A, true, nil)...)
	in = append(in, frame(0x80, true, []byte("llo"))...)
	in = append(in, frame(0x82, true, []byte{1})...)
	c := NewServerConn(&bytesConn{r: bytes.NewReader(in)})
	var got []string
	c.OnFrame = func(op Opcode, fin bool) { got = append(got, fmt.Sprintf("%v/%v", op, fin)) }
	if op, p, err := c.ReadMessage(testMaxSize); err != nil || op != OpText || string(p) != "hello" {
		t.Fatalf("first message = %v %q %v", op, p, err)
	}
	if want := "ping/true text/false pong/true continuation/true"; strings.Join(got, " ") != want {
		t.Fatalf("frames before the first message %q, want %q", strings.Join(got, " "), want)
	}
	if _, _, err := c.ReadMessage(testMaxSize); err != nil {
		t.Fatal(err)
	}
	if last := got[len(got)-1]; len(got) != 5 || last != "binary/true" {
		t.Fatalf("frames %q, want a fifth, binary/true", got)
	}
}
