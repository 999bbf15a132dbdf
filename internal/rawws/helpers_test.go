package rawws_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/rawws"
	"github.com/eventide/realtime/internal/ws"
)

// ioTimeout bounds every wait in these tests: a hang fails instead of
// blocking the run. It is only a failure guard (no outcome depends on it),
// so it is generous enough for a loaded 2-core machine under -race.
const ioTimeout = 30 * time.Second

// logBuffer collects JSON log lines from concurrent goroutines.
type logBuffer struct {
	mu  sync.Mutex
	buf bytes.Buffer
}

func (b *logBuffer) Write(p []byte) (int, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.buf.Write(p)
}

// entries returns the log records decoded.
func (b *logBuffer) entries(t testing.TB) []map[string]any {
	t.Helper()
	b.mu.Lock()
	data := bytes.Clone(b.buf.Bytes())
	b.mu.Unlock()
	var out []map[string]any
	sc := bufio.NewScanner(bytes.NewReader(data))
	sc.Buffer(nil, 1<<20)
	for sc.Scan() {
		var m map[string]any
		if err := json.Unmarshal(sc.Bytes(), &m); err != nil {
			t.Fatalf("log line %q: %v", sc.Text(), err)
		}
		out = append(out, m)
	}
	return out
}

// find returns the first record with msg whose attributes include attrs.
func (b *logBuffer) find(t testing.TB, msg string, attrs map[string]any) map[string]any {
	t.Helper()
next:
	for _, e := range b.entries(t) {
		if e["msg"] != msg {
			continue
		}
		for k, v := range attrs {
			if e[k] != v {
				continue next
			}
		}
		return e
	}
	return nil
}

// waitLog waits until a record with msg and attrs is logged.
func (b *logBuffer) waitLog(t testing.TB, msg string, attrs map[string]any) map[string]any {
	t.Helper()
	var e map[string]any
	waitFor(t, "log "+msg, func() bool { e = b.find(t, msg, attrs); return e != nil })
	return e
}

type fixture struct {
	svc    *rawws.Service
	srv    *httptest.Server
	logs   *logBuffer
	limits *limits.Reporter
}

// start serves a Service configured by cfg over a real HTTP server. Unless
// cfg sets them, the logs (JSON, debug level) go to f.logs, and the limits
// are reported to f.limits, which logs there too.
func start(t testing.TB, cfg rawws.Config) *fixture {
	t.Helper()
	logs := &logBuffer{}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
	}
	if cfg.Limits == nil {
		cfg.Limits = limits.New(limits.Config{Logger: cfg.Logger})
	}
	svc := rawws.New(cfg)
	srv := httptest.NewServer(svc)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
		defer cancel()
		if err := svc.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		srv.Close()
	})
	return &fixture{svc: svc, srv: srv, logs: logs, limits: cfg.Limits}
}

func (f *fixture) url(query string) string {
	u := "ws" + strings.TrimPrefix(f.srv.URL, "http") + "/"
	if query != "" {
		u += "?" + query
	}
	return u
}

// dial connects a client and closes it at the end of the test.
func (f *fixture) dial(t testing.TB, query string, header http.Header) *ws.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	c, err := ws.Dial(ctx, f.url(query), ws.DialOptions{Header: header})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Abort() })
	return c
}

// connect dials and waits until the service counts the new client; it returns
// the client's id.
func (f *fixture) connect(t testing.TB) (*ws.Conn, rawws.ClientID) {
	t.Helper()
	before := f.svc.Clients()
	c := f.dial(t, "", nil)
	var id rawws.ClientID
	waitFor(t, "client registered", func() bool {
		for _, cid := range f.svc.Clients() {
			if !contains(before, cid) {
				id = cid
				return true
			}
		}
		return false
	})
	return c, id
}

func contains(ids []rawws.ClientID, id rawws.ClientID) bool {
	for _, x := range ids {
		if x == id {
			return true
		}
	}
	return false
}

func send(t testing.TB, c *ws.Conn, msg string) {
	t.Helper()
	if err := c.WriteMessage(ws.OpText, []byte(msg)); err != nil {
		t.Fatalf("send: %v", err)
	}
}

// read returns the next message, failing the test after ioTimeout.
func read(t testing.TB, c *ws.Conn) []byte {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	op, data, err := c.ReadMessage(0)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if op != ws.OpText {
		t.Fatalf("read: opcode %v, want text", op)
	}
	return data
}

// readJSON reads the next message into a map.
func readJSON(t testing.TB, c *ws.Conn) map[string]any {
	t.Helper()
	data := read(t, c)
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("reply %q: %v", data, err)
	}
	return m
}

// readClose reads until the server's close frame and returns it.
func readClose(t testing.TB, c *ws.Conn) *ws.CloseError {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(ioTimeout))
	for {
		_, _, err := c.ReadMessage(0)
		if err == nil {
			continue
		}
		var ce *ws.CloseError
		if !errors.As(err, &ce) {
			t.Fatalf("read: %v, want a close frame", err)
		}
		return ce
	}
}

// waitFor polls cond until it holds, failing the test after ioTimeout.
func waitFor(t testing.TB, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(ioTimeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// fakeClock is a rawws.Clock that moves only when the test advances it, and
// runs the calls that come due in the advancing goroutine, so that when
// Advance returns every sweep due by then has run.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	at   time.Time
	f    func()
	done bool // fired or stopped; under the clock's mu
	c    *fakeClock
}

func newFakeClock(now time.Time) *fakeClock { return &fakeClock{now: now} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) rawws.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{at: c.now.Add(d), f: f, c: c}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := !t.done
	t.done = true
	return was
}

// Advance moves the clock d forward, running each call due meanwhile in
// order, with the clock at its due time.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var next *fakeTimer
		live := c.timers[:0]
		for _, t := range c.timers {
			if t.done {
				continue
			}
			live = append(live, t)
			if !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		c.timers = live
		if next == nil {
			c.now = end
			c.mu.Unlock()
			return
		}
		next.done = true
		c.now = next.at
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
}

// rawClient speaks WebSocket frame by frame, so a test can send half a
// message, leave pings unanswered, or answer them by hand.
type rawClient struct {
	nc net.Conn
	br *bufio.Reader
}

// dialRaw does the WebSocket handshake by hand and returns the client once
// the server has registered it, with its id.
func (f *fixture) dialRaw(t testing.TB) (*rawClient, rawws.ClientID) {
	t.Helper()
	before := f.svc.Clients()
	nc, err := net.Dial("tcp", f.srv.Listener.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { nc.Close() })
	_, _ = io.WriteString(nc, "GET / HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	_ = nc.SetReadDeadline(time.Now().Add(ioTimeout))
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != http.StatusSwitchingProtocols {
		t.Fatalf("handshake: %v %v", res, err)
	}
	var id rawws.ClientID
	waitFor(t, "client registered", func() bool {
		for _, cid := range f.svc.Clients() {
			if !contains(before, cid) {
				id = cid
				return true
			}
		}
		return false
	})
	return &rawClient{nc: nc, br: br}, id
}

// write sends one masked frame: b0 is FIN, RSV and opcode.
func (c *rawClient) write(t testing.TB, b0 byte, p []byte) {
	t.Helper()
	if _, err := c.nc.Write(clientFrame(b0, p)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

// clientFrame encodes a masked client frame (payloads under 64 KiB).
func clientFrame(b0 byte, p []byte) []byte {
	key := [4]byte{0x11, 0x22, 0x33, 0x44}
	out := []byte{b0}
	if len(p) <= 125 {
		out = append(out, 0x80|byte(len(p)))
	} else {
		out = append(out, 0x80|126, byte(len(p)>>8), byte(len(p)))
	}
	out = append(out, key[:]...)
	for i, b := range p {
		out = append(out, b^key[i%4])
	}
	return out
}

// read returns the next frame from the server (payloads under 64 KiB).
func (c *rawClient) read(t testing.TB) (ws.Opcode, []byte) {
	t.Helper()
	_ = c.nc.SetReadDeadline(time.Now().Add(ioTimeout))
	var h [2]byte
	if _, err := io.ReadFull(c.br, h[:]); err != nil {
		t.Fatalf("read: %v", err)
	}
	n := int(h[1] & 0x7f)
	if n == 126 {
		var e [2]byte
		if _, err := io.ReadFull(c.br, e[:]); err != nil {
			t.Fatalf("read: %v", err)
		}
		n = int(e[0])<<8 | int(e[1])
	}
	p := make([]byte, n)
	if _, err := io.ReadFull(c.br, p); err != nil {
		t.Fatalf("read: %v", err)
	}
	return ws.Opcode(h[0] & 0x0f), p
}

// sync sends a ping and reads up to its pong, answering nothing else: once
// it returns, the server has read every frame sent before. It returns the
// opcodes it skipped.
func (c *rawClient) sync(t testing.TB) []ws.Opcode {
	t.Helper()
	c.write(t, 0x89, []byte("sync"))
	var skipped []ws.Opcode
	for {
		op, p := c.read(t)
		if op == ws.OpPong && string(p) == "sync" {
			return skipped
		}
		skipped = append(skipped, op)
	}
}

// readClose reads frames until a close frame and returns its code and
// reason, with the opcodes before it.
func (c *rawClient) readClose(t testing.TB) (int, string, []ws.Opcode) {
	t.Helper()
	var before []ws.Opcode
	for {
		op, p := c.read(t)
		if op != ws.OpClose {
			before = append(before, op)
			continue
		}
		if len(p) < 2 {
			return ws.CloseNoStatus, "", before
		}
		return int(p[0])<<8 | int(p[1]), string(p[2:]), before
	}
}
