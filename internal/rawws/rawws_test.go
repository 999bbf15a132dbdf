package rawws_test

import (
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

// syncBuffer is a log sink safe for the server's goroutines.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

var fixedNow = time.Date(2024, 1, 1, 12, 0, 0, 0, time.UTC)

func newServer(t *testing.T, cfg rawws.Config) (*rawws.Service, *httptest.Server, *syncBuffer) {
	t.Helper()
	logs := &syncBuffer{}
	cfg.Logger = slog.New(slog.NewTextHandler(logs, nil))
	cfg.Now = func() time.Time { return fixedNow }
	svc := rawws.New(cfg)
	hs := httptest.NewServer(svc)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		_ = svc.Shutdown(ctx)
		hs.Close()
	})
	return svc, hs, logs
}

func dial(t *testing.T, hs *httptest.Server, query string) *ws.Conn {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	c, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(hs.URL, "http")+query, ws.DialOptions{})
	if err != nil {
		t.Fatalf("dial: %v", err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c
}

func send(t *testing.T, c *ws.Conn, s string) {
	t.Helper()
	if err := c.WriteMessage(ws.OpText, []byte(s)); err != nil {
		t.Fatalf("write: %v", err)
	}
}

func read(t *testing.T, c *ws.Conn) map[string]any {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	op, data, err := c.ReadMessage(1 << 20)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if op != ws.OpText {
		t.Fatalf("opcode %v, want text", op)
	}
	var m map[string]any
	if err := json.Unmarshal(data, &m); err != nil {
		t.Fatalf("reply %q is not JSON: %v", data, err)
	}
	return m
}

func waitCount(t *testing.T, svc *rawws.Service, n int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for svc.Count() != n {
		if time.Now().After(deadline) {
			t.Fatalf("clients = %d, want %d", svc.Count(), n)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestEchoAndLogs(t *testing.T) {
	_, hs, logs := newServer(t, rawws.Config{})
	c := dial(t, hs, "")
	send(t, c, `{"event":"user-login","payload":{"userId":123,"username":"john_doe"}}`)
	got := read(t, c)
	want := map[string]any{
		"message":   "Event received",
		"payload":   map[string]any{"userId": float64(123), "username": "john_doe"},
		"timestamp": "2024-01-01T12:00:00.000Z",
	}
	if !jsonEqual(got, want) {
		t.Fatalf("echo = %v, want %v", got, want)
	}
	// An event without a payload echoes null.
	send(t, c, `{"event":"ping"}`)
	if got := read(t, c); got["payload"] != nil || got["message"] != "Event received" {
		t.Fatalf("echo without payload = %v", got)
	}
	_ = c.Close()
	deadline := time.Now().Add(5 * time.Second)
	for !strings.Contains(logs.String(), "client disconnected") && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	for _, line := range []string{"websocket gateway initialised", "client connected", "event received", "event=user-login", `payload="{\"userId\":123,\"username\":\"john_doe\"}"`, "client disconnected"} {
		if !strings.Contains(logs.String(), line) {
			t.Errorf("logs lack %q:\n%s", line, logs.String())
		}
	}
}

func TestMalformedMessagesKeepTheConnection(t *testing.T) {
	_, hs, _ := newServer(t, rawws.Config{})
	c := dial(t, hs, "")
	for _, tc := range []struct{ in, why string }{
		{`{not json`, "malformed JSON"},
		{`{"payload":1}`, `"event"`},
		{`{"event":42}`, "malformed JSON"},
		{`[1,2]`, "malformed JSON"},
	} {
		send(t, c, tc.in)
		got := read(t, c)
		if got["message"] != "Invalid message" || !strings.Contains(got["error"].(string), tc.why) {
			t.Errorf("%s -> %v, want an Invalid message naming %s", tc.in, got, tc.why)
		}
	}
	if err := c.WriteMessage(ws.OpBinary, []byte{1, 2, 3}); err != nil {
		t.Fatal(err)
	}
	if got := read(t, c); !strings.Contains(got["error"].(string), "binary") {
		t.Errorf("binary frame -> %v", got)
	}
	send(t, c, `{"event":"attendance-update","payload":{"attendeeId":456,"status":"present"}}`)
	if got := read(t, c); got["message"] != "Event received" {
		t.Fatalf("after bad input the echo is %v", got)
	}
}

func TestOversizedMessageClosesOnlyThatClient(t *testing.T) {
	svc, hs, _ := newServer(t, rawws.Config{MaxMessage: 1024})
	big := dial(t, hs, "")
	other := dial(t, hs, "")
	waitCount(t, svc, 2)
	send(t, big, `{"event":"x","payload":"`+strings.Repeat("a", 2048)+`"}`)
	_ = big.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := big.ReadMessage(1 << 20)
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.CloseMessageTooBig {
		t.Fatalf("oversized message: err = %v, want close 1009", err)
	}
	send(t, other, `{"event":"still","payload":1}`)
	if got := read(t, other); got["message"] != "Event received" {
		t.Fatalf("other client got %v", got)
	}
	waitCount(t, svc, 1)
}

func TestBroadcastAndEmitToClient(t *testing.T) {
	svc, hs, _ := newServer(t, rawws.Config{})
	a := dial(t, hs, "")
	b := dial(t, hs, "")
	waitCount(t, svc, 2)
	if err := svc.Broadcast(map[string]any{"message": "Hello to all clients!", "type": "info"}); err != nil {
		t.Fatal(err)
	}
	for _, c := range []*ws.Conn{a, b} {
		if got := read(t, c); got["message"] != "Hello to all clients!" || got["type"] != "info" {
			t.Fatalf("broadcast got %v", got)
		}
	}

	// EmitToClient reaches exactly one: find which id is a by a round trip.
	ids := svc.Clients()
	if len(ids) != 2 {
		t.Fatalf("clients %v", ids)
	}
	if err := svc.EmitToClient(ids[0], map[string]any{"message": "private"}); err != nil {
		t.Fatal(err)
	}
	if err := svc.EmitToClient("nope", 1); !errors.Is(err, rawws.ErrUnknownClient) {
		t.Fatalf("EmitToClient(unknown) = %v", err)
	}
	got := 0
	for _, c := range []*ws.Conn{a, b} {
		_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
		_, data, err := c.ReadMessage(1 << 20)
		if err == nil {
			if !strings.Contains(string(data), "private") {
				t.Fatalf("unexpected %s", data)
			}
			got++
		}
	}
	if got != 1 {
		t.Fatalf("private message reached %d clients, want 1", got)
	}
}

func TestDisconnectRemovesClient(t *testing.T) {
	svc, hs, _ := newServer(t, rawws.Config{})
	c := dial(t, hs, "")
	waitCount(t, svc, 1)
	_ = c.Close()
	waitCount(t, svc, 0)
}

func TestProductionNeedsToken(t *testing.T) {
	auth := func(r *http.Request) error {
		if r.URL.Query().Get("token") == "good" || r.Header.Get("Authorization") == "Bearer good" {
			return nil
		}
		return errors.New("invalid token")
	}
	svc, hs, _ := newServer(t, rawws.Config{RequireToken: true, Authenticate: auth})
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	url := "ws" + strings.TrimPrefix(hs.URL, "http")
	if _, err := ws.Dial(ctx, url+"?token=bad", ws.DialOptions{}); err == nil {
		t.Fatal("a bad token connected")
	}
	resp, err := http.Get(hs.URL + "/?token=bad")
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusUnauthorized {
		t.Fatalf("status %d, want 401", resp.StatusCode)
	}
	dial(t, hs, "?token=good")
	h := http.Header{"Authorization": {"Bearer good"}}
	c, err := ws.Dial(ctx, url, ws.DialOptions{Header: h})
	if err != nil {
		t.Fatalf("header token: %v", err)
	}
	defer c.Close()
	waitCount(t, svc, 2)
}

func TestShutdownClosesClients(t *testing.T) {
	svc, hs, _ := newServer(t, rawws.Config{})
	c := dial(t, hs, "")
	waitCount(t, svc, 1)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := svc.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
	_, _, err := c.ReadMessage(1 << 20)
	var ce *ws.CloseError
	if !errors.As(err, &ce) || ce.Code != ws.CloseGoingAway {
		t.Fatalf("after Shutdown: %v, want close 1001", err)
	}
	if err := svc.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := svc.Broadcast("x"); !errors.Is(err, rawws.ErrClosed) {
		t.Fatalf("Broadcast after Shutdown = %v", err)
	}
}

func jsonEqual(a, b any) bool {
	x, _ := json.Marshal(a)
	y, _ := json.Marshal(b)
	return bytes.Equal(x, y)
}
