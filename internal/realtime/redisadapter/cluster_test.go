package redisadapter_test

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"encoding/json"
	"net/http/httptest"
	"os"
	"reflect"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventide/realtime/internal/realtime/redisadapter"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

// These tests run eventide nodes on the real Redis at 127.0.0.1:6379
// ($EVENTIDE_TEST_REDIS_URL elsewhere; `make deps` starts it), each test
// under a key of its own so parallel packages never share a channel or a
// stream.

func redisURL() string {
	if u := os.Getenv("EVENTIDE_TEST_REDIS_URL"); u != "" {
		return u
	}
	return "redis://127.0.0.1:6379"
}

// testKey returns a key of the test's own; the stream of that name is
// deleted after the test.
func testKey(t *testing.T) string {
	b := make([]byte, 6)
	_, _ = rand.Read(b)
	key := "eventide-test-" + strings.ReplaceAll(t.Name(), "/", "-") + "-" + hex.EncodeToString(b)
	t.Cleanup(func() { delKey(key, key+"-recovery") })
	return key
}

// delKey deletes keys from the test Redis.
func delKey(keys ...string) {
	opt, err := redis.ParseURL(redisURL())
	if err != nil {
		return
	}
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	_ = rdb.Del(context.Background(), keys...).Err()
}

type broker interface {
	socketio.Broker
	socketio.Cluster
	Ready(context.Context) error
}

type kind struct {
	name string
	new  func(cfg redisadapter.Config) (broker, error)
}

var kinds = []kind{
	{"classic", func(cfg redisadapter.Config) (broker, error) { return redisadapter.NewClassic(cfg) }},
	{"streams", func(cfg redisadapter.Config) (broker, error) { return redisadapter.NewStreams(cfg) }},
}

func newBroker(t *testing.T, k kind, cfg redisadapter.Config) broker {
	t.Helper()
	if cfg.URL == "" {
		cfg.URL = redisURL()
	}
	b, err := k.new(cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = b.Close() })
	return b
}

// waitReady waits until b is subscribed and reading.
func waitReady(t *testing.T, b broker) {
	t.Helper()
	eventually(t, "redis ready", func() bool { return b.Ready(context.Background()) == nil })
}

// eventually polls cond until it holds; the deadline only guards a broken
// test.
func eventually(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(siotest.Timeout)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not within %v", what, siotest.Timeout)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// node is one eventide Socket.IO server of a test cluster.
type node struct {
	t       *testing.T
	io      *socketio.Server
	url     string
	sockets chan *socketio.Socket
}

func startNode(t *testing.T, b broker) *node {
	t.Helper()
	io := socketio.NewServer(socketio.Config{Broker: b})
	n := &node{t: t, io: io, sockets: make(chan *socketio.Socket, 16)}
	io.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("join", func(e *socketio.Event) {
			for _, a := range e.Args {
				s.Join(a.(string))
			}
			_ = e.Ack("ok")
		})
		n.sockets <- s
	})
	hs := httptest.NewServer(io)
	n.url = hs.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), siotest.Timeout)
		defer cancel()
		_ = io.Shutdown(ctx)
		hs.Close()
	})
	waitReady(t, b)
	return n
}

func (n *node) client(rooms ...string) (*siotest.Client, *socketio.Socket) {
	n.t.Helper()
	c := siotest.Dial(n.t, n.url, siotest.Options{})
	c.MustConnect(nil)
	s := <-n.sockets
	if len(rooms) > 0 {
		args := make([]any, len(rooms))
		for i, r := range rooms {
			args[i] = r
		}
		c.Emit(1, "join", args...)
		c.NextAck(1)
	}
	return c, s
}

func (n *node) nsp() *socketio.Namespace { return n.io.Of("/") }

// expect checks the next events of c are want (name and first argument as
// JSON), then a marker sent to c's socket alone: an event that should not
// have come shows without waiting for time to pass.
func expect(t *testing.T, n *node, c *siotest.Client, s *socketio.Socket, want ...string) {
	t.Helper()
	if err := n.nsp().Local().To(s.ID()).Emit("marker"); err != nil {
		t.Fatal(err)
	}
	var got []string
	for {
		name, args := c.NextEvent()
		if name == "marker" {
			break
		}
		for _, a := range args {
			b, _ := json.Marshal(a)
			name += " " + string(b)
		}
		got = append(got, name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

// waitEvents waits until c has received want (then the marker check).
func waitEvents(t *testing.T, c *siotest.Client, want ...string) {
	t.Helper()
	for i, w := range want {
		name, args := c.NextEvent()
		for _, a := range args {
			b, _ := json.Marshal(a)
			name += " " + string(b)
		}
		if name != w {
			t.Fatalf("event %d = %q, want %q", i, name, w)
		}
	}
}

func TestBroadcastsBetweenNodes(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			key := testKey(t)
			a := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
			b := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
			ca, sa := a.client("r")
			cb, sb := b.client("r")
			_, _ = b.client("other")

			if err := a.nsp().To("r").Emit("x", 1, "é", map[string]any{"k": []any{true, nil}}); err != nil {
				t.Fatal(err)
			}
			// Binary arguments reach the other node as binary.
			if err := a.nsp().To("r").Emit("bin", []byte{0, 1, 255}); err != nil {
				t.Fatal(err)
			}
			if err := a.nsp().Except("other").Emit("all", 2); err != nil {
				t.Fatal(err)
			}
			waitEvents(t, cb, `x 1 "é" {"k":[true,null]}`, `bin "AAH/"`, `all 2`)
			expect(t, b, cb, sb)
			expect(t, a, ca, sa, `x 1 "é" {"k":[true,null]}`, `bin "AAH/"`, `all 2`)
		})
	}
}

func TestSequencedBroadcastsOncePerNodeInOrder(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			key := testKey(t)
			a := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
			b := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
			_, _ = a.client("r")
			cb, sb := b.client("r")
			emit := func(n *node, seq int64) {
				t.Helper()
				if err := n.nsp().To("r").Sequenced("p", seq).Emit("x", seq); err != nil {
					t.Fatal(err)
				}
			}
			emit(a, 1)
			emit(a, 1) // published again (the relay delivers at least once)
			emit(a, 2)
			emit(a, 3)
			waitEvents(t, cb, "x 1", "x 2", "x 3")
			expect(t, b, cb, sb)
		})
	}
}

func TestClusterRequests(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			key := testKey(t)
			a := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
			b := startNode(t, newBroker(t, k, redisadapter.Config{Key: key}))
			ctx := t.Context()
			ca, sa := a.client("r")
			cb, sb := b.client("r", "s")
			sb.SetData(map[string]any{"user": "bob"})

			if n, err := a.nsp().ServerCount(ctx); err != nil || n != 2 {
				t.Fatalf("ServerCount = %d, %v", n, err)
			}
			rooms, err := a.nsp().AllRooms(ctx)
			sort.Strings(rooms)
			want := []string{"r", "s", sa.ID(), sb.ID()}
			sort.Strings(want)
			if err != nil || !slices.Equal(rooms, want) {
				t.Fatalf("AllRooms = %v, %v; want %v", rooms, err, want)
			}
			infos, err := a.nsp().To("s").FetchSockets(ctx)
			if err != nil || len(infos) != 1 {
				t.Fatalf("FetchSockets = %+v, %v", infos, err)
			}
			if got := infos[0]; got.ID != sb.ID() || !slices.Equal(got.Rooms, []string{sb.ID(), "r", "s"}) ||
				!reflect.DeepEqual(got.Data, map[string]any{"user": "bob"}) || got.Handshake.Query.Get("EIO") != "4" {
				t.Fatalf("FetchSockets = %+v", got)
			}

			if err := a.nsp().To("r").SocketsJoin(ctx, "t"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B's socket in t", func() bool { return slices.Contains(sb.Rooms(), "t") })
			if err := a.nsp().To("t").Except(sa.ID()).SocketsLeave(ctx, "t"); err != nil {
				t.Fatal(err)
			}
			eventually(t, "B's socket out of t", func() bool { return !slices.Contains(sb.Rooms(), "t") })

			b.nsp().OnServerSideEmit("ping", func(args []any, ack func(any)) { ack(args[0].(string) + " pong") })
			replies, err := a.nsp().ServerSideEmitWithAck(ctx, "ping", "hi")
			if err != nil || !reflect.DeepEqual(replies, []any{"hi pong"}) {
				t.Fatalf("ServerSideEmitWithAck = %v, %v", replies, err)
			}

			done := make(chan [][]any, 1)
			go func() {
				actx, cancel := context.WithTimeout(ctx, siotest.Timeout)
				defer cancel()
				acks, err := a.nsp().To("r").EmitWithAck(actx, "ask", "?")
				if err != nil {
					t.Error(err)
				}
				done <- acks
			}()
			for _, c := range []*siotest.Client{ca, cb} {
				p := c.Next()
				if p.Type != socketio.PacketEvent || p.ID == socketio.NoID {
					t.Fatalf("got %s id %d, want an event asking for an ack", p.Type, p.ID)
				}
				ack, _ := socketio.EncodeAck("/", p.ID, c == ca)
				c.Send(ack)
			}
			acks := <-done
			sort.Slice(acks, func(i, j int) bool { return acks[i][0] == true })
			if !reflect.DeepEqual(acks, [][]any{{true}, {false}}) {
				t.Fatalf("acks %v", acks)
			}

			if err := a.nsp().To("s").DisconnectSockets(ctx, false); err != nil {
				t.Fatal(err)
			}
			if p := cb.Next(); p.Type != socketio.PacketDisconnect {
				t.Fatalf("got %s, want DISCONNECT", p.Type)
			}
		})
	}
}

// TestStreamsSessionRestore: a persisted session is taken once, with the
// broadcasts of its rooms after its offset, in order; a session taken or a
// bad offset cannot be restored.
func TestStreamsSessionRestore(t *testing.T) {
	key := testKey(t)
	s, err := redisadapter.NewStreams(redisadapter.Config{URL: redisURL(), Key: key, SessionKeyPrefix: key + ":session:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	publish := func(room, text string) string {
		t.Helper()
		p, err := socketio.EncodeEvent("/", socketio.NoID, "x", text)
		if err != nil {
			t.Fatal(err)
		}
		eventually(t, "publish", func() bool { return s.Ready(ctx) == nil })
		off, err := s.Publish(ctx, &socketio.Broadcast{Namespace: "/", Packet: p, Rooms: []string{room}})
		if err != nil || off == "" {
			t.Fatalf("Publish = %q, %v", off, err)
		}
		return off
	}
	from := publish("r", "before")
	publish("other", "not mine")
	third := publish("r", "missed")
	sess := redisadapter.Session{SID: "sid1", PID: "pid1", Rooms: []string{"sid1", "r"}, Data: map[string]any{"user": "bob"}}
	if err := s.PersistSession(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	got, missed, ok, err := s.RestoreSession(ctx, "/", "pid1", from)
	if err != nil || !ok {
		t.Fatalf("RestoreSession = %v, %v", ok, err)
	}
	if got.SID != "sid1" || !slices.Equal(got.Rooms, sess.Rooms) || !reflect.DeepEqual(got.Data, sess.Data) {
		t.Errorf("session %+v", got)
	}
	if len(missed) != 1 || missed[0].Offset != third || string(missed[0].Packet.Text) != `2["x","missed"]` {
		t.Fatalf("missed %+v", missed)
	}
	if _, _, ok, err := s.RestoreSession(ctx, "/", "pid1", from); ok || err != nil {
		t.Errorf("a taken session restored again: %v, %v", ok, err)
	}
	if err := s.PersistSession(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	for _, off := range []string{"not-an-offset", "1-0"} { // malformed; no longer in the stream
		if _, _, ok, err := s.RestoreSession(ctx, "/", "pid1", off); ok || err != nil {
			t.Errorf("offset %q: restored %v, %v", off, ok, err)
		}
	}
}
