package rawws_test

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/rawws"
	"github.com/eventide/realtime/internal/ws"
)

// ioTimeout bounds every wait in these tests: a hang fails instead of
// blocking the run.
const ioTimeout = 5 * time.Second

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
	svc  *rawws.Service
	srv  *httptest.Server
	logs *logBuffer
}

// start serves a Service configured by cfg (Logger is set here) over a real
// HTTP server.
func start(t testing.TB, cfg rawws.Config) *fixture {
	t.Helper()
	logs := &logBuffer{}
	cfg.Logger = slog.New(slog.NewJSONHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
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
	return &fixture{svc: svc, srv: srv, logs: logs}
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
