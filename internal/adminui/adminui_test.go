package adminui

import (
	"context"
	"encoding/json"
	"net/http/httptest"
	"slices"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

const testUser, testPassword = "admin", "s3cret-enough"

// testHash is the password's bcrypt hash at the lowest cost, so the
// tests do not spend a bcrypt's default cost on each login.
var testHash = func() string {
	h, err := bcrypt.GenerateFromPassword([]byte(testPassword), bcrypt.MinCost)
	if err != nil {
		panic(err)
	}
	return string(h)
}()

// node is one Socket.IO server with the admin UI, over a real listener.
type node struct {
	io  *socketio.Server
	ui  *UI
	url string
}

func startNode(t *testing.T, broker socketio.Broker, cfg Config) *node {
	t.Helper()
	io := socketio.NewServer(socketio.Config{Broker: broker})
	if cfg.Username == "" && !cfg.NoAuth {
		cfg.Username, cfg.PasswordHash = testUser, testHash
	}
	// The application's own "/" handler, as realtime's gateway: joinRoom.
	io.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("joinRoom", func(e *socketio.Event) {
			room, _ := e.Args[0].(string)
			s.Join(room)
			if e.Ack != nil {
				_ = e.Ack("ok")
			}
		})
	})
	ui, err := New(io, cfg)
	if err != nil {
		t.Fatal(err)
	}
	ui.Start()
	hs := httptest.NewServer(io)
	t.Cleanup(func() {
		hs.CloseClientConnections()
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		_ = ui.Close()
		_ = ui.Close() // safe twice
		_ = io.Shutdown(ctx)
		hs.Close()
	})
	return &node{io: io, ui: ui, url: hs.URL}
}

// adminConnect sends CONNECT to /admin with auth and returns the answer.
func adminConnect(t *testing.T, c *siotest.Client, auth any) *socketio.DecodedPacket {
	t.Helper()
	p, err := socketio.Encode(socketio.PacketConnect, "/admin", socketio.NoID, auth)
	if err != nil {
		t.Fatal(err)
	}
	c.Send(p)
	return c.Next()
}

// adminEmit sends a command to /admin asking for the ack id.
func adminEmit(t *testing.T, c *siotest.Client, id int64, event string, args ...any) {
	t.Helper()
	p, err := socketio.EncodeEvent("/admin", id, event, args...)
	if err != nil {
		t.Fatal(err)
	}
	c.Send(p)
}

// untilTimeout bounds a wait for one /admin packet.
const untilTimeout = 60 * time.Second

// until returns the arguments of the first /admin event named name (or
// the ack id, when name is ""), skipping the others.
// The UI's stats keep arriving, so the client's own guard never fires: a
// wait gives up after untilTimeout instead of hanging the package.
func until(t *testing.T, c *siotest.Client, name string, ackID int64, match func(args []any) bool) []any {
	t.Helper()
	deadline := time.Now().Add(untilTimeout)
	for {
		if time.Now().After(deadline) {
			t.Fatalf("no /admin %q (ack %d) within %s", name, ackID, untilTimeout)
		}
		p := c.Next()
		if p.Namespace != "/admin" {
			continue
		}
		arr, _ := p.Data.([]any)
		if name == "" {
			if (p.Type == socketio.PacketAck) && p.ID == ackID {
				return arr
			}
			continue
		}
		if p.Type == socketio.PacketEvent && len(arr) > 0 && arr[0] == name && (match == nil || match(arr[1:])) {
			return arr[1:]
		}
	}
}

func login(t *testing.T, n *node) *siotest.Client {
	t.Helper()
	c := siotest.Dial(t, n.url, siotest.Options{})
	if p := adminConnect(t, c, map[string]any{"username": testUser, "password": testPassword}); p.Type != socketio.PacketConnect {
		t.Fatalf("login refused: %s %v", p.Type, p.Data)
	}
	return c
}

// watcher connects a plain client to "/" and joins room; it returns the
// socket id.
func watcher(t *testing.T, n *node, room string) string {
	t.Helper()
	c := siotest.Dial(t, n.url, siotest.Options{})
	p := c.Connect(nil)
	if p.Type != socketio.PacketConnect {
		t.Fatalf("connect: %v", p.Data)
	}
	id := p.Data.(map[string]any)["sid"].(string)
	c.Emit(1, "joinRoom", room)
	c.NextAck(1)
	return id
}

func socketsOf(list []any) map[string][]any {
	out := map[string][]any{}
	for _, s := range list {
		m := s.(map[string]any)
		rooms, _ := m["rooms"].([]any)
		out[m["id"].(string)] = rooms
	}
	return out
}

func TestWrongCredentialsGetConnectErrorAndTheConnectionStays(t *testing.T) {
	n := startNode(t, nil, Config{})
	c := siotest.Dial(t, n.url, siotest.Options{})
	for _, auth := range []any{
		map[string]any{"username": testUser, "password": "wrong"},
		map[string]any{"username": "root", "password": testPassword},
		map[string]any{"sessionId": "made-up"},
		nil,
	} {
		p := adminConnect(t, c, auth)
		if p.Type != socketio.PacketConnectError {
			t.Fatalf("auth %v: got %s, want CONNECT_ERROR", auth, p.Type)
		}
		if msg := p.Data.(map[string]any)["message"]; msg != "invalid credentials" {
			t.Fatalf("auth %v: message %v", auth, msg)
		}
	}
	// The same connection logs in with the right password and gets a
	// session, which logs a second connection in without the password.
	if p := adminConnect(t, c, map[string]any{"username": testUser, "password": testPassword}); p.Type != socketio.PacketConnect {
		t.Fatalf("login refused: %v", p.Data)
	}
	session := until(t, c, "session", 0, nil)[0].(string)
	c2 := siotest.Dial(t, n.url, siotest.Options{})
	if p := adminConnect(t, c2, map[string]any{"sessionId": session}); p.Type != socketio.PacketConnect {
		t.Fatalf("session refused: %v", p.Data)
	}
}

func TestUIGetsConfigStatsAndSocketsWithTheirRooms(t *testing.T) {
	n := startNode(t, nil, Config{ServerID: "node-a"})
	id := watcher(t, n, "provider-42")
	c := login(t, n)
	cfg := until(t, c, "config", 0, nil)[0].(map[string]any)
	features := cfg["supportedFeatures"].([]any)
	for _, f := range []any{"EMIT", "JOIN", "LEAVE", "DISCONNECT", "MJOIN", "AGGREGATED_EVENTS", "ALL_EVENTS"} {
		if !slices.Contains(features, f) {
			t.Errorf("supportedFeatures %v lacks %v", features, f)
		}
	}
	stats := until(t, c, "server_stats", 0, nil)[0].(map[string]any)
	if stats["serverId"] != "node-a" || stats["clientsCount"].(float64) < 2 {
		t.Errorf("server_stats %v", stats)
	}
	list := until(t, c, "all_sockets", 0, nil)[0].([]any)
	if b, err := json.Marshal(list); err == nil {
		t.Logf("all_sockets: %d sockets, %d bytes of JSON", len(list), len(b))
	}
	all := socketsOf(list)
	if rooms := all[id]; !slices.Contains(rooms, any("provider-42")) {
		t.Fatalf("all_sockets: socket %s rooms %v, want provider-42 among them (all: %v)", id, rooms, all)
	}
	// Live: a new socket and its room.
	id2 := watcher(t, n, "provider-43")
	until(t, c, "room_joined", 0, func(a []any) bool { return a[1] == "provider-43" && a[2] == id2 })
}

func TestCommandsActAndReadOnlyRefusesThem(t *testing.T) {
	n := startNode(t, nil, Config{})
	id := watcher(t, n, "provider-42")
	c := login(t, n)
	adminEmit(t, c, 1, "join", "/", "vip", id)
	if ack := until(t, c, "", 1, nil); ack[0].(map[string]any)["status"] != "ok" {
		t.Fatalf("join: %v", ack)
	}
	if rooms := n.io.Of("/").Socket(id).Rooms(); !slices.Contains(rooms, "vip") {
		t.Fatalf("rooms after join: %v", rooms)
	}
	adminEmit(t, c, 2, "join", "/nope", "vip")
	if ack := until(t, c, "", 2, nil); ack[0].(map[string]any)["status"] != "error" {
		t.Fatalf("join of an unknown namespace: %v", ack)
	}

	ro := startNode(t, nil, Config{ReadOnly: true})
	id = watcher(t, ro, "provider-42")
	c = login(t, ro)
	features := until(t, c, "config", 0, nil)[0].(map[string]any)["supportedFeatures"].([]any)
	if slices.Contains(features, any("JOIN")) || slices.Contains(features, any("EMIT")) {
		t.Fatalf("read-only supportedFeatures %v", features)
	}
	adminEmit(t, c, 3, "join", "/", "vip", id)
	adminEmit(t, c, 4, "_disconnect", "/", true)
	for _, ackID := range []int64{3, 4} {
		ack := until(t, c, "", ackID, nil)[0].(map[string]any)
		if ack["status"] != "error" {
			t.Fatalf("read-only command %d: %v", ackID, ack)
		}
	}
	s := ro.io.Of("/").Socket(id)
	if s == nil || slices.Contains(s.Rooms(), "vip") {
		t.Fatalf("read-only UI changed the socket: %v", s)
	}
}

func TestTwoNodesUISeesTheOtherNodesStatsAndSockets(t *testing.T) {
	cluster := socketio.NewMemoryCluster()
	a := startNode(t, cluster.NewBroker(), Config{ServerID: "node-a", StatsInterval: 50 * time.Millisecond})
	b := startNode(t, cluster.NewBroker(), Config{ServerID: "node-b", StatsInterval: 50 * time.Millisecond})
	idB := watcher(t, b, "provider-42")
	c := login(t, a)
	all := socketsOf(until(t, c, "all_sockets", 0, nil)[0].([]any))
	if !slices.Contains(all[idB], any("provider-42")) {
		t.Fatalf("node A's UI: node B's socket %s rooms %v (all %v)", idB, all[idB], all)
	}
	until(t, c, "server_stats", 0, func(a []any) bool { return a[0].(map[string]any)["serverId"] == "node-b" })
	// A command from node A's UI acts on node B's socket.
	// Its ack and node B's room_joined come in either order.
	adminEmit(t, c, 1, "join", "/", "vip", idB)
	acked, joined := false, false
	deadline := time.Now().Add(untilTimeout)
	for !acked || !joined {
		if time.Now().After(deadline) {
			t.Fatalf("join on node B: acked %v, room_joined seen %v", acked, joined)
		}
		p := c.Next()
		if p.Namespace != "/admin" {
			continue
		}
		arr, _ := p.Data.([]any)
		switch {
		case p.Type == socketio.PacketAck && p.ID == 1:
			acked = true
		case p.Type == socketio.PacketEvent && len(arr) >= 4 && arr[0] == "room_joined" && arr[2] == "vip" && arr[3] == idB:
			joined = true
		}
	}
}

func TestConfigErrors(t *testing.T) {
	io := socketio.NewServer(socketio.Config{})
	defer io.Shutdown(context.Background())
	for _, cfg := range []Config{
		{Username: "admin", PasswordHash: "plain"},
		{PasswordHash: testHash},
		{Username: "admin", PasswordHash: testHash, Mode: "prod"},
	} {
		if _, err := New(io, cfg); err == nil {
			t.Errorf("New(%+v) accepted", cfg)
		}
	}
}

// BenchmarkPasswordCheck is one login's bcrypt check at the cost
// `eventide hash-password` makes (10): the CPU a login attempt costs.
func BenchmarkPasswordCheck(b *testing.B) {
	h, err := HashPassword(testPassword)
	if err != nil {
		b.Fatal(err)
	}
	for b.Loop() {
		if bcrypt.CompareHashAndPassword([]byte(h), []byte(testPassword)) != nil {
			b.Fatal("mismatch")
		}
	}
}
