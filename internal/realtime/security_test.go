package realtime_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"reflect"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/fakeclock"
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/realtime"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

var secret = []byte("realtime-test-secret-0123456789abcdef")

// gateway is a real Socket.IO server with the gateway on a loopback port,
// on a fake clock shared by the token verifier and the expiry of live
// sockets.
type gateway struct {
	t       *testing.T
	url     string
	clock   *fakeclock.Clock
	minter  *auth.Minter
	service *realtime.Service
	limits  *limits.Reporter
	logs    *syncBuffer
}

type gatewayOptions struct {
	leeway   time.Duration
	maxRooms int
	// tune changes the gateway's configuration further (rate limits).
	tune   func(*realtime.Config)
	broker socketio.Broker // nil: the server's own, a node alone
}

func startGateway(t *testing.T, opts gatewayOptions) *gateway {
	t.Helper()
	clock := fakeclock.New(time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC))
	verifier, err := auth.NewVerifier(secret, auth.WithClock(clock.Now), auth.WithLeeway(opts.leeway))
	if err != nil {
		t.Fatal(err)
	}
	minter, err := auth.NewMinter(secret, auth.WithClock(clock.Now))
	if err != nil {
		t.Fatal(err)
	}
	logs := &syncBuffer{}
	log := slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	rep := limits.New(limits.Config{Logger: log, Now: clock.Now})
	io := socketio.NewServer(socketio.Config{Engine: engineio.Config{AllowEIO3: true}, Logger: log, Broker: opts.broker})
	cfg := realtime.Config{
		Verifier:  verifier,
		Logger:    log,
		MaxRooms:  opts.maxRooms,
		Limits:    rep,
		Now:       clock.Now,
		AfterFunc: clock.AfterFunc,
	}
	if opts.tune != nil {
		opts.tune(&cfg)
	}
	gw := realtime.NewGateway(io, cfg)
	hs := httptest.NewServer(io)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), siotest.Timeout)
		defer cancel()
		if err := io.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return &gateway{t: t, url: hs.URL, clock: clock, minter: minter, service: gw.Service(), limits: rep, logs: logs}
}

// token mints a token for c expiring ttl from the clock's now.
func (g *gateway) token(c auth.Claims, ttl time.Duration) string {
	g.t.Helper()
	if c.Subject == "" {
		c.Subject = "test"
	}
	c.ExpiresAt = g.clock.Now().Add(ttl) // a negative ttl mints an expired token
	tok, _, err := g.minter.Mint(c, 0)
	if err != nil {
		g.t.Fatal(err)
	}
	return tok
}

// connect opens a socket.io-client 4 style connection with token.
func (g *gateway) connect(token string) *siotest.Client {
	g.t.Helper()
	c := siotest.Dial(g.t, g.url, siotest.Options{})
	c.MustConnect(map[string]any{"token": token})
	return c
}

// refusal returns the message of a CONNECT_ERROR (v5 {message}, v4 a string).
func refusal(t *testing.T, p *socketio.DecodedPacket) string {
	t.Helper()
	if p.Type != socketio.PacketConnectError {
		t.Fatalf("got %s %v, want a refusal", p.Type, p.Data)
	}
	switch d := p.Data.(type) {
	case string:
		return d
	case map[string]any:
		m, _ := d["message"].(string)
		return m
	}
	t.Fatalf("refusal data %v", p.Data)
	return ""
}

func TestHandshakeRefusals(t *testing.T) {
	g := startGateway(t, gatewayOptions{leeway: 30 * time.Second})
	admin := auth.Claims{Role: auth.RoleAdmin}
	other, _ := auth.NewMinter([]byte("another-secret-another-secret-0123"), auth.WithClock(g.clock.Now))
	forged, _, _ := other.Mint(admin, time.Hour)
	b64 := func(v any) string { b, _ := json.Marshal(v); return base64.RawURLEncoding.EncodeToString(b) }
	none := b64(map[string]any{"alg": "none", "typ": "JWT"}) + "." +
		b64(map[string]any{"sub": "x", "role": "admin", "exp": g.clock.Now().Add(time.Hour).Unix()}) + "."

	for _, tc := range []struct {
		name string
		auth any
		want string
	}{
		{"no auth", nil, "unauthorized: no token"},
		{"empty token", map[string]any{"token": ""}, "unauthorized: no token"},
		{"not a string", map[string]any{"token": 42}, "unauthorized: no token"},
		{"garbage", map[string]any{"token": "not.a.jwt"}, "unauthorized: invalid token: malformed"},
		{"another secret", map[string]any{"token": forged}, "unauthorized: invalid token: bad signature"},
		{"alg none", map[string]any{"token": none}, "unauthorized: invalid token: signing algorithm not accepted"},
		{"expired past the leeway", map[string]any{"token": g.token(admin, -31*time.Second)}, "unauthorized: invalid token: expired"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := siotest.Dial(t, g.url, siotest.Options{})
			if got := refusal(t, c.Connect(tc.auth)); !strings.HasPrefix(got, tc.want) {
				t.Fatalf("connect_error %q, want %q", got, tc.want)
			}
			// A refusal joins nothing; the client may try again.
			c.MustConnect(map[string]any{"token": g.token(admin, time.Hour)})
		})
	}

	t.Run("expired within the leeway", func(t *testing.T) {
		g.connect(g.token(admin, -10*time.Second))
	})
	t.Run("Authorization header", func(t *testing.T) {
		c := siotest.Dial(t, g.url, siotest.Options{Header: http.Header{"Authorization": {"Bearer " + g.token(admin, time.Hour)}}})
		c.MustConnect(nil)
	})
	t.Run("socket.io-client 2.x, token in the query", func(t *testing.T) {
		good := siotest.Dial(t, g.url, siotest.Options{Protocol: 3, Query: url.Values{"token": {g.token(admin, time.Hour)}}})
		good.MustConnect(nil)
		bad := siotest.Dial(t, g.url, siotest.Options{Protocol: 3, Query: url.Values{"token": {forged}}})
		if got := refusal(t, bad.Connect(nil)); got != "unauthorized: invalid token: bad signature" {
			t.Fatalf("error %q", got)
		}
		none := siotest.Dial(t, g.url, siotest.Options{Protocol: 3})
		if got := refusal(t, none.Connect(nil)); got != "unauthorized: no token" {
			t.Fatalf("error %q", got)
		}
	})
}

// TestRefusalsCannotWriteTheLog: a client refused a CONNECT keeps its
// connection and may try again at once; however often it does, the log
// gets one line per limits.DefaultInterval, and every refusal is counted.
func TestRefusalsCannotWriteTheLog(t *testing.T) {
	g := startGateway(t, gatewayOptions{leeway: 30 * time.Second})
	c := siotest.Dial(t, g.url, siotest.Options{})
	for i := range 100 {
		creds := map[string]any{"token": "not.a.jwt"}
		if i%2 == 0 {
			creds = nil
		}
		if got := refusal(t, c.Connect(creds)); !strings.HasPrefix(got, "unauthorized: ") {
			t.Fatalf("refusal %d: %q", i, got)
		}
	}
	lines := func() int { return strings.Count(g.logs.String(), "limit="+realtime.LimitRefused) }
	if n := lines(); n != 1 {
		t.Fatalf("%d lines for 100 refusals, want 1:\n%s", n, g.logs.String())
	}
	if strings.Contains(g.logs.String(), "socket refused") {
		t.Fatalf("a refusal logged at INFO:\n%s", g.logs.String())
	}
	if n := g.limits.Count(realtime.LimitRefused); n != 100 {
		t.Fatalf("%s counted %d times, want 100", realtime.LimitRefused, n)
	}
	// The next interval's first refusal writes a line with the count of
	// those in between.
	g.clock.Advance(limits.DefaultInterval)
	refusal(t, c.Connect(nil))
	if n := lines(); n != 2 || !strings.Contains(g.logs.String(), "suppressed=99") {
		t.Fatalf("after the interval:\n%s", g.logs.String())
	}
	// The connection was never dropped: a good token still connects on it.
	c.MustConnect(map[string]any{"token": g.token(auth.Claims{Role: auth.RoleAdmin}, time.Hour)})
}

// joinResult is what a client sees after a room request: the event (the
// reply or "exception") and its payload, then the ack.
func request(t *testing.T, c *siotest.Client, event string, arg any) (string, map[string]any, map[string]any) {
	t.Helper()
	c.Emit(7, event, arg)
	name, args := c.NextEvent()
	payload, _ := args[0].(map[string]any)
	ack := c.NextAck(7)
	res, _ := ack[0].(map[string]any)
	return name, payload, res
}

// receives checks whether c is in room: an event to the room, then one to
// everyone; the first to arrive says (no waiting for an absence).
func (g *gateway) receives(t *testing.T, c *siotest.Client, room string) bool {
	t.Helper()
	if err := g.service.EmitToRoom(room, realtime.EventAvailabilityUpdated, map[string]any{"room": room}); err != nil {
		t.Fatal(err)
	}
	if err := g.service.EmitToAll("marker", nil); err != nil {
		t.Fatal(err)
	}
	name, _ := c.NextEvent()
	if name == "marker" {
		return false
	}
	if name != realtime.EventAvailabilityUpdated {
		t.Fatalf("got %s", name)
	}
	if name, _ := c.NextEvent(); name != "marker" {
		t.Fatalf("got %s, want marker", name)
	}
	return true
}

func TestRoomAuthorization(t *testing.T) {
	g := startGateway(t, gatewayOptions{leeway: 30 * time.Second})
	for _, tc := range []struct {
		name   string
		claims auth.Claims
		arg    any
		room   string
		err    string // "" when allowed
	}{
		{"provider, own room", auth.Claims{Role: auth.RoleProvider, ProviderID: "42"}, "provider-42", "provider-42", ""},
		{"provider, another's room", auth.Claims{Role: auth.RoleProvider, ProviderID: "42"}, "provider-43", "provider-43", "forbidden: not allowed to join provider-43"},
		{"client, listed", auth.Claims{Role: auth.RoleClient, Providers: []string{"42", "44"}}, map[string]any{"providerId": "44"}, "provider-44", ""},
		{"client, listed, number id", auth.Claims{Role: auth.RoleClient, Providers: []string{"42"}}, map[string]any{"providerId": 42}, "provider-42", ""},
		{"client, not listed", auth.Claims{Role: auth.RoleClient, Providers: []string{"43"}}, map[string]any{"room": "provider-42"}, "provider-42", "forbidden: not allowed to join provider-42"},
		{"client, no providers", auth.Claims{Role: auth.RoleClient}, "provider-42", "provider-42", "forbidden"},
		{"client, all providers", auth.Claims{Role: auth.RoleClient, Providers: []string{"*"}}, "provider-9000", "provider-9000", ""},
		{"admin", auth.Claims{Role: auth.RoleAdmin}, "provider-7", "provider-7", ""},
		{"not a provider room", auth.Claims{Role: auth.RoleAdmin}, "lobby", "lobby", "invalid room"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := g.connect(g.token(tc.claims, time.Hour))
			name, payload, ack := request(t, c, realtime.EventJoinRoom, tc.arg)
			if tc.err == "" {
				if name != realtime.EventJoinedRoom || !reflect.DeepEqual(payload, map[string]any{"room": tc.room}) ||
					!reflect.DeepEqual(ack, map[string]any{"status": "ok", "room": tc.room}) {
					t.Fatalf("got %s %v, ack %v", name, payload, ack)
				}
				if !g.receives(t, c, tc.room) {
					t.Fatal("joined, but the room's events do not arrive")
				}
				return
			}
			msg, _ := payload["message"].(string)
			if name != realtime.EventException || payload["status"] != "error" || !strings.HasPrefix(msg, tc.err) ||
				!reflect.DeepEqual(payload["cause"], map[string]any{"event": realtime.EventJoinRoom, "room": tc.room}) {
				t.Fatalf("got %s %v, want exception %q", name, payload, tc.err)
			}
			if ack["status"] != "error" || ack["message"] != msg {
				t.Fatalf("ack %v", ack)
			}
			if g.receives(t, c, tc.room) {
				t.Fatal("a refused join receives the room's events")
			}
		})
	}

	t.Run("leaveRoom", func(t *testing.T) {
		c := g.connect(g.token(auth.Claims{Role: auth.RoleProvider, ProviderID: "42"}, time.Hour))
		request(t, c, realtime.EventJoinRoom, "provider-42")
		name, payload, ack := request(t, c, realtime.EventLeaveRoom, "provider-42")
		if name != realtime.EventLeftRoom || payload["room"] != "provider-42" || ack["status"] != "ok" {
			t.Fatalf("got %s %v, ack %v", name, payload, ack)
		}
		if g.receives(t, c, "provider-42") {
			t.Fatal("events arrive after leaveRoom")
		}
	})

	// Room requests, granted or not, are not logged at INFO: a client
	// must not be able to write the server's log at will.
	if out := g.logs.String(); strings.Contains(out, "joinedRoom") || strings.Contains(out, "room request refused") || strings.Contains(out, "leftRoom") {
		t.Fatalf("room requests logged at INFO:\n%s", out)
	}
}

func TestRoomsPerSocket(t *testing.T) {
	g := startGateway(t, gatewayOptions{leeway: 30 * time.Second, maxRooms: 3})
	c := g.connect(g.token(auth.Claims{Role: auth.RoleClient, Providers: []string{"*"}}, time.Hour))
	for _, room := range []string{"provider-1", "provider-2", "provider-3", "provider-2"} {
		if name, _, ack := request(t, c, realtime.EventJoinRoom, room); name != realtime.EventJoinedRoom || ack["status"] != "ok" {
			t.Fatalf("join %s: %s %v", room, name, ack)
		}
	}
	name, payload, ack := request(t, c, realtime.EventJoinRoom, "provider-4")
	if name != realtime.EventException || !strings.HasPrefix(payload["message"].(string), "too many rooms") || ack["status"] != "error" {
		t.Fatalf("fourth room: %s %v, ack %v", name, payload, ack)
	}
	if g.receives(t, c, "provider-4") {
		t.Fatal("joined a room over the limit")
	}
	if n := g.limits.Count(realtime.LimitRooms); n != 1 {
		t.Fatalf("%s counted %d times", realtime.LimitRooms, n)
	}
	if !strings.Contains(g.logs.String(), "limit="+realtime.LimitRooms) {
		t.Fatalf("no limit line:\n%s", g.logs.String())
	}
	// Leaving one makes room for another.
	request(t, c, realtime.EventLeaveRoom, "provider-1")
	if name, _, _ := request(t, c, realtime.EventJoinRoom, "provider-4"); name != realtime.EventJoinedRoom {
		t.Fatalf("after a leave: %s", name)
	}
}

// TestTokenExpiryUsesTheLeeway: a token past its exp but within the leeway
// still connects and keeps its socket; at exp + leeway every socket with it
// gets the exception and is disconnected, and a reconnect with it is
// refused: no connect-then-kick loop.
func TestTokenExpiryUsesTheLeeway(t *testing.T) {
	const leeway = 30 * time.Second
	g := startGateway(t, gatewayOptions{leeway: leeway})
	start := g.clock.Now()
	tok := g.token(auth.Claims{Role: auth.RoleProvider, ProviderID: "42"}, time.Minute)
	exp := start.Add(time.Minute)
	early := g.connect(tok)
	request(t, early, realtime.EventJoinRoom, "provider-42")

	g.clock.Set(exp.Add(10 * time.Second)) // expired 10 s ago
	late := g.connect(tok)                 // the handshake takes it, as REST does
	g.clock.Set(exp.Add(leeway - time.Nanosecond))
	for _, c := range []*siotest.Client{early, late} {
		if name, _, _ := request(t, c, realtime.EventJoinRoom, "provider-42"); name != realtime.EventJoinedRoom {
			t.Fatalf("disconnected before exp + leeway: %s", name)
		}
	}

	g.clock.Advance(time.Nanosecond)
	for _, c := range []*siotest.Client{early, late} {
		got := c.Closed()
		if len(got) != 2 || got[0].Type != socketio.PacketEvent || got[1].Type != socketio.PacketDisconnect {
			t.Fatalf("got %d packets before the close, want exception and DISCONNECT: %v", len(got), got)
		}
		arr := got[0].Data.([]any)
		if arr[0] != realtime.EventException || arr[1].(map[string]any)["message"] != "token expired" {
			t.Fatalf("got %v", arr)
		}
	}
	again := siotest.Dial(t, g.url, siotest.Options{})
	if got := refusal(t, again.Connect(map[string]any{"token": tok})); got != "unauthorized: invalid token: expired" {
		t.Fatalf("reconnect with the expired token: %q", got)
	}
}

// syncBuffer is a bytes.Buffer safe for the logger's goroutines.
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
