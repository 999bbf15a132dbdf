package engineio

import (
	"context"
	"encoding/json"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// guard bounds every wait of these tests for something that must happen
// (a message, a close, a condition). It is only a failure guard: no test
// outcome depends on it, so it is generous enough for a loaded 2-core
// machine running the race detector.
const guard = 30 * time.Second

// recorder is a Receiver that records what it gets.
type recorder struct {
	conn   *Conn
	msgs   chan received
	closed chan string
	mu     sync.Mutex
	nclose int
}

type received struct {
	data   string
	binary bool
}

func (r *recorder) OnMessage(data []byte, binary bool) {
	r.msgs <- received{string(data), binary}
}

func (r *recorder) OnClose(reason string) {
	r.mu.Lock()
	r.nclose++
	n := r.nclose
	r.mu.Unlock()
	if n > 1 {
		panic("OnClose called twice")
	}
	r.closed <- reason
}

// testEnv is an engine behind a real HTTP server.
type testEnv struct {
	t     *testing.T
	srv   *Server
	hs    *httptest.Server
	conns chan *recorder
}

func newEnv(t *testing.T, cfg Config) *testEnv {
	t.Helper()
	return newEnvWith(t, cfg, nil)
}

// newEnvWith is newEnv with the engine behind wrap (a middleware), if set.
func newEnvWith(t *testing.T, cfg Config, wrap func(http.Handler) http.Handler) *testEnv {
	t.Helper()
	e := &testEnv{t: t, conns: make(chan *recorder, 2048)}
	parking := os.Getenv("EVENTIDE_TEST_POLL_ON_GOROUTINES") == ""
	if parking && os.Getenv("EVENTIDE_TEST_NO_NEXT_POLLS") == "" {
		cfg.ReadNextPolls = true
	}
	e.srv = NewServer(cfg, func(c *Conn) Receiver {
		r := &recorder{conn: c, msgs: make(chan received, 1024), closed: make(chan string, 1)}
		e.conns <- r
		return r
	})
	var h http.Handler = e.srv
	if wrap != nil {
		h = wrap(h)
	}
	e.hs = httptest.NewServer(h)
	if parking {
		// Waiting polls are parked (ADR 0031), their connections handed
		// back to the same http.Server, as serve does.
		hb := e.srv.HandBackListener()
		go func() { _ = e.hs.Config.Serve(hb) }()
	}
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		if err := e.srv.Shutdown(ctx); err != nil {
			t.Errorf("Shutdown: %v", err)
		}
		e.hs.Close()
	})
	return e
}

func (e *testEnv) url(query string) string { return e.hs.URL + "/socket.io/?" + query }

func (e *testEnv) wsURL(query string) string {
	return "ws" + strings.TrimPrefix(e.hs.URL, "http") + "/socket.io/?" + query
}

// do performs a request and returns status, content type and body.
func (e *testEnv) do(method, query, contentType, body string) (int, http.Header, string) {
	e.t.Helper()
	h := http.Header{}
	if contentType != "" {
		h.Set("Content-Type", contentType)
	}
	return e.request(method, query, h, body)
}

// request performs a request with headers h.
func (e *testEnv) request(method, query string, h http.Header, body string) (int, http.Header, string) {
	e.t.Helper()
	req, err := http.NewRequest(method, e.url(query), strings.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	for k, v := range h {
		req.Header[k] = v
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		e.t.Fatalf("%s %s: %v", method, query, err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	return res.StatusCode, res.Header, string(b)
}

func (e *testEnv) get(query string) (int, string) {
	e.t.Helper()
	st, _, b := e.do(http.MethodGet, query, "", "")
	return st, b
}

func (e *testEnv) post(query, body string) (int, string) {
	e.t.Helper()
	st, _, b := e.do(http.MethodPost, query, "text/plain;charset=UTF-8", body)
	return st, b
}

func (e *testEnv) nextConn() *recorder {
	e.t.Helper()
	select {
	case r := <-e.conns:
		return r
	case <-time.After(guard):
		e.t.Fatal("no session opened")
	}
	return nil
}

type openInfo struct {
	SID          string   `json:"sid"`
	Upgrades     []string `json:"upgrades"`
	PingInterval int      `json:"pingInterval"`
	PingTimeout  int      `json:"pingTimeout"`
	MaxPayload   int      `json:"maxPayload"`
}

func parseOpen(t *testing.T, packet string) openInfo {
	t.Helper()
	if !strings.HasPrefix(packet, "0") {
		t.Fatalf("open packet = %q", packet)
	}
	var o openInfo
	if err := json.Unmarshal([]byte(packet[1:]), &o); err != nil {
		t.Fatalf("open packet %q: %v", packet, err)
	}
	if len(o.SID) != 20 {
		t.Fatalf("sid %q: want 20 chars", o.SID)
	}
	return o
}

// handshakeV4 opens a v4 polling session and returns its sid and recorder.
func (e *testEnv) handshakeV4() (string, *recorder) {
	e.t.Helper()
	st, body := e.get("EIO=4&transport=polling")
	if st != 200 {
		e.t.Fatalf("handshake: %d %s", st, body)
	}
	o := parseOpen(e.t, body)
	return o.SID, e.nextConn()
}

// handshakeV3 opens a v3 polling session.
func (e *testEnv) handshakeV3() (string, *recorder) {
	e.t.Helper()
	st, body := e.get("EIO=3&transport=polling")
	if st != 200 {
		e.t.Fatalf("handshake: %d %s", st, body)
	}
	i := strings.IndexByte(body, ':')
	o := parseOpen(e.t, body[i+1:])
	return o.SID, e.nextConn()
}

func (e *testEnv) dial(query string) *ws.Conn {
	e.t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := ws.Dial(ctx, e.wsURL(query), ws.DialOptions{})
	if err != nil {
		e.t.Fatalf("dial: %v", err)
	}
	e.t.Cleanup(func() { _ = c.Abort() })
	return c
}

// openWS opens a v4 WebSocket session, reads its open packet and returns
// the client and the server side's recorder.
func (e *testEnv) openWS() (*ws.Conn, *recorder) {
	e.t.Helper()
	c := e.dial("EIO=4&transport=websocket")
	readWS(e.t, c)
	return c, e.nextConn()
}

func readWS(t *testing.T, c *ws.Conn) (ws.Opcode, string) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(guard))
	op, b, err := c.ReadMessage(1 << 20)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	return op, string(b)
}

func writeWS(t *testing.T, c *ws.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(ws.OpText, []byte(s)); err != nil {
		t.Fatalf("write %q: %v", s, err)
	}
}

func (r *recorder) wantMsg(t *testing.T, data string, binary bool) {
	t.Helper()
	select {
	case m := <-r.msgs:
		if m.data != data || m.binary != binary {
			t.Fatalf("message = %q (binary %v), want %q (binary %v)", m.data, m.binary, data, binary)
		}
	case <-time.After(guard):
		t.Fatalf("no message, want %q", data)
	}
}

func (r *recorder) wantClose(t *testing.T, reason string) {
	t.Helper()
	select {
	case got := <-r.closed:
		if got != reason {
			t.Fatalf("close reason = %q, want %q", got, reason)
		}
	case <-time.After(guard):
		t.Fatalf("not closed, want %q", reason)
	}
}

func (r *recorder) wantOpen(t *testing.T) {
	t.Helper()
	select {
	case got := <-r.closed:
		t.Fatalf("closed (%q), want open", got)
	default:
	}
}

func newHTTPServer(t *testing.T, s *Server) *httptest.Server {
	hs := httptest.NewServer(s)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		defer cancel()
		_ = s.Shutdown(ctx)
		hs.Close()
	})
	return hs
}

func stringsReader(s string) io.Reader { return strings.NewReader(s) }

// waitUntil waits for cond, checking it every few milliseconds; the
// deadline only guards against a hang; no outcome depends on it.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(2 * time.Millisecond)
	}
}

// locked reads c's state under its lock.
func locked[T any](c *Conn, f func(c *Conn) T) T {
	c.mu.Lock()
	defer c.mu.Unlock()
	return f(c)
}

// waitPoll waits until a GET poll of c is pending (waiting for something
// to send).
func waitPoll(t *testing.T, c *Conn) {
	t.Helper()
	waitUntil(t, "a pending poll", func() bool { return locked(c, func(c *Conn) bool { return c.pendingPollLocked() != nil }) })
}

// isOpen reports whether c is neither closing nor closed.
func isOpen(c *Conn) bool { return locked(c, func(c *Conn) bool { return c.state == stateOpen }) }

// wantError checks an Engine.IO error answer.
func wantError(t *testing.T, status int, body string, wantStatus, wantCode int, wantMessage string) {
	t.Helper()
	var got errResp
	if err := json.Unmarshal([]byte(body), &got); err != nil {
		t.Fatalf("status %d, body %q: %v", status, body, err)
	}
	if status != wantStatus || got.Code != wantCode || got.Message != wantMessage {
		t.Fatalf("got %d %+v, want %d {%d %q}", status, got, wantStatus, wantCode, wantMessage)
	}
}
