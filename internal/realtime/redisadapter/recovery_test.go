package redisadapter_test

import (
	"context"
	"net/http/httptest"
	"testing"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/eventide/realtime/internal/realtime/redisadapter"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

// recoveryNode is an eventide Socket.IO server with connection-state
// recovery on a broker of kind k (the classic one with its recovery
// stream); its sockets join the room named by "join".
func recoveryNode(t *testing.T, k kind, key string) (*socketio.Server, string) {
	t.Helper()
	b, err := k.new(redisadapter.Config{URL: redisURL(), Key: key, SessionKeyPrefix: key + ":session:", Recovery: true})
	if err != nil {
		t.Fatal(err)
	}
	io := socketio.NewServer(socketio.Config{Broker: b, Recovery: socketio.Recovery{Window: time.Minute}})
	io.Of("/").OnConnection(func(s *socketio.Socket) {
		s.On("join", func(e *socketio.Event) {
			s.Join(e.Args[0].(string))
			_ = e.Ack("ok")
		})
	})
	hs := httptest.NewServer(io)
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), siotest.Timeout)
		defer cancel()
		_ = io.Shutdown(ctx)
		hs.Close()
		_ = b.Close()
	})
	eventually(t, "redis reachable", func() bool { return b.Ready(t.Context()) == nil })
	return io, hs.URL
}

// TestRecoveryOnAnotherNode: a connected socket's session is in Redis
// while it is connected (as after a crash of its node, which could not
// persist it), so its client recovers on another node with its sid, its
// rooms and the broadcasts published meanwhile; the session is used once.
// On both brokers (the classic one with its recovery stream).
func TestRecoveryOnAnotherNode(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) { testRecoveryOnAnotherNode(t, k) })
	}
}

func testRecoveryOnAnotherNode(t *testing.T, k kind) {
	key := testKey(t)
	ioA, urlA := recoveryNode(t, k, key)
	ioB, urlB := recoveryNode(t, k, key)

	c := siotest.Dial(t, urlA, siotest.Options{})
	p := c.Connect(nil)
	hello := p.Data.(map[string]any)
	sid, pid := hello["sid"].(string), hello["pid"].(string)
	if sid == "" || pid == "" {
		t.Fatalf("CONNECT %v", hello)
	}
	c.Emit(1, "join", "r")
	c.NextAck(1)
	if err := ioA.Of("/").To("r").Emit("ev", "one"); err != nil {
		t.Fatal(err)
	}
	_, args := c.NextEvent()
	if len(args) != 2 {
		t.Fatalf("args %v: want the payload and the offset", args)
	}
	offset := args[1].(string)

	// The live session is in Redis, with a TTL past the window.
	opt, _ := redis.ParseURL(redisURL())
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	ttl, err := rdb.PTTL(t.Context(), key+":session:"+pid).Result()
	if err != nil || ttl <= time.Minute {
		t.Fatalf("live session TTL %v, %v: want more than the window", ttl, err)
	}

	// Published on B while the client is away.
	for _, s := range []string{"two", "three"} {
		if err := ioB.Of("/").To("r").Emit("ev", s); err != nil {
			t.Fatal(err)
		}
	}
	c2 := siotest.Dial(t, urlB, siotest.Options{})
	p2 := c2.Connect(map[string]any{"pid": pid, "offset": offset})
	hello2 := p2.Data.(map[string]any)
	if hello2["sid"] != sid || hello2["pid"] != pid {
		t.Fatalf("CONNECT on B %v: want sid %s, pid %s", hello2, sid, pid)
	}
	for _, want := range []string{"two", "three"} {
		if _, args := c2.NextEvent(); args[0] != want {
			t.Fatalf("missed %v, want %s", args, want)
		}
	}
	s := ioB.Of("/").Socket(sid)
	if s == nil || !s.Recovered() || len(s.Rooms()) != 2 {
		t.Fatalf("socket on B: %v", s)
	}
	if err := ioA.Of("/").To("r").Emit("ev", "four"); err != nil {
		t.Fatal(err)
	}
	if _, args := c2.NextEvent(); args[0] != "four" {
		t.Fatalf("live after recovery: %v", args)
	}
	c3 := siotest.Dial(t, urlB, siotest.Options{})
	if h := c3.Connect(map[string]any{"pid": pid, "offset": offset}).Data.(map[string]any); h["sid"] == sid {
		t.Fatal("a session was recovered twice")
	}
}

// TestStreamsSessionStore: the store's primitives against Redis.
func TestStreamsSessionStore(t *testing.T) {
	key := testKey(t)
	s, err := redisadapter.NewStreams(redisadapter.Config{URL: redisURL(), Key: key, SessionKeyPrefix: key + ":session:"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	ctx := t.Context()
	eventually(t, "redis reachable", func() bool { return s.Ready(ctx) == nil })
	sess := socketio.Session{SID: "sid1", PID: "pid1", Rooms: []string{"sid1", "r"}}
	if err := s.PersistSession(ctx, sess, time.Second); err != nil {
		t.Fatal(err)
	}
	if err := s.RefreshSessions(ctx, []string{"pid1", "absent"}, time.Hour); err != nil {
		t.Fatal(err)
	}
	opt, _ := redis.ParseURL(redisURL())
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if ttl := rdb.PTTL(ctx, key+":session:pid1").Val(); ttl < time.Minute {
		t.Fatalf("TTL %v after a refresh of an hour", ttl)
	}
	if got, ok, err := s.TakeSession(ctx, "pid1"); err != nil || !ok || got.SID != "sid1" {
		t.Fatalf("TakeSession = %+v, %v, %v", got, ok, err)
	}
	if _, ok, _ := s.TakeSession(ctx, "pid1"); ok {
		t.Fatal("a session taken twice")
	}
	if err := s.PersistSession(ctx, sess, time.Minute); err != nil {
		t.Fatal(err)
	}
	if err := s.DropSession(ctx, "pid1"); err != nil {
		t.Fatal(err)
	}
	if _, ok, _ := s.TakeSession(ctx, "pid1"); ok {
		t.Fatal("a dropped session taken")
	}
	p, _ := socketio.EncodeEvent("/", socketio.NoID, "x", "a")
	off, err := s.Publish(ctx, &socketio.Broadcast{Namespace: "/", Packet: p})
	if err != nil {
		t.Fatal(err)
	}
	p2, _ := socketio.EncodeEvent("/", socketio.NoID, "x", "b")
	off2, err := s.Publish(ctx, &socketio.Broadcast{Namespace: "/", Packet: p2, Rooms: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	missed, ok, err := s.Missed(ctx, "/", off)
	if err != nil || !ok || len(missed) != 1 || missed[0].Offset != off2 || missed[0].Rooms[0] != "r" {
		t.Fatalf("Missed = %+v, %v, %v", missed, ok, err)
	}
	if _, ok, _ := s.Missed(ctx, "/", "1-0"); ok {
		t.Fatal("an offset not in the stream answers")
	}
}

// TestClassicRecoveryGap: a broadcast of a Node node or an emitter has no
// entry in the classic broker's recovery stream; a client that may have
// missed it is not recovered (it catches up over REST), rather than told
// it was while an event is missing.
func TestClassicRecoveryGap(t *testing.T) {
	key := testKey(t)
	ioA, urlA := recoveryNode(t, kinds[0], key)
	_, urlB := recoveryNode(t, kinds[0], key)
	c := siotest.Dial(t, urlA, siotest.Options{})
	hello := c.Connect(nil).Data.(map[string]any)
	c.Emit(1, "join", "r")
	c.NextAck(1)
	if err := ioA.Of("/").To("r").Emit("ev", "one"); err != nil {
		t.Fatal(err)
	}
	_, args := c.NextEvent()
	// An emitter's broadcast to r, as @socket.io/redis-emitter sends it.
	p, _ := socketio.EncodeEvent("/", socketio.NoID, "fromEmitter", "x")
	payload, err := redisadapter.EncodeClassicBroadcastForTest("emitter", &socketio.Broadcast{Namespace: "/", Packet: p, Rooms: []string{"r"}})
	if err != nil {
		t.Fatal(err)
	}
	opt, _ := redis.ParseURL(redisURL())
	rdb := redis.NewClient(opt)
	defer rdb.Close()
	if err := rdb.Publish(t.Context(), key+"#/#r#", payload).Err(); err != nil {
		t.Fatal(err)
	}
	if name, _ := c.NextEvent(); name != "fromEmitter" {
		t.Fatalf("got %s", name)
	}
	eventually(t, "the gap in the recovery stream", func() bool {
		n, _ := rdb.XLen(t.Context(), key+"-recovery").Result()
		return n >= 2 // "one", then the gap
	})
	c2 := siotest.Dial(t, urlB, siotest.Options{})
	h := c2.Connect(map[string]any{"pid": hello["pid"], "offset": args[1]}).Data.(map[string]any)
	if h["sid"] == hello["sid"] {
		t.Fatal("recovered across a broadcast the recovery stream does not hold")
	}
}

// BenchmarkClassicPublish publishes one broadcast per iteration through
// the classic broker on the real Redis, without and with the recovery
// stream (ADR 0023: an XADD before the PUBLISH).
func BenchmarkClassicPublish(b *testing.B) {
	for _, rec := range []bool{false, true} {
		name := "recovery-off"
		if rec {
			name = "recovery-on"
		}
		b.Run(name, func(b *testing.B) {
			key := "eventide-bench-classic-" + name
			defer delKey(key + "-recovery")
			c, err := redisadapter.NewClassic(redisadapter.Config{URL: redisURL(), Key: key, Recovery: rec, MaxLen: 1000})
			if err != nil {
				b.Fatal(err)
			}
			defer c.Close()
			ctx := context.Background()
			for c.Ready(ctx) != nil {
				time.Sleep(10 * time.Millisecond)
			}
			p, _ := socketio.EncodeEvent("/", socketio.NoID, "availabilityUpdated", map[string]any{"providerId": "42", "seq": 1})
			bc := &socketio.Broadcast{Namespace: "/", Packet: p, Rooms: []string{"provider-42"}}
			b.ReportAllocs()
			for b.Loop() {
				if _, err := c.Publish(ctx, bc); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// TestRecoveryReplaysARepublishedSeqOnce: the relay delivers at least once,
// so a change published by one leader and again by the next (killed
// between its publish and its mark) is in the stream twice, under two
// offsets. Live sockets get it once (each node drops the repeat); a client
// recovering across both entries gets it once too, then what follows.
func TestRecoveryReplaysARepublishedSeqOnce(t *testing.T) {
	for _, k := range kinds {
		t.Run(k.name, func(t *testing.T) {
			key := testKey(t)
			ioA, urlA := recoveryNode(t, k, key)
			ioB, urlB := recoveryNode(t, k, key)
			c := siotest.Dial(t, urlA, siotest.Options{})
			pid := c.Connect(nil).Data.(map[string]any)["pid"].(string)
			c.Emit(1, "join", "r")
			c.NextAck(1)
			if err := ioA.Of("/").To("r").Sequenced("p", 1).Emit("ev", float64(1)); err != nil {
				t.Fatal(err)
			}
			_, args := c.NextEvent()
			offset := args[1].(string)

			// Seq 2 from A, the same seq 2 again from B (the next
			// leader), then seq 3.
			for _, step := range []struct {
				io  *socketio.Server
				seq int64
			}{{ioA, 2}, {ioB, 2}, {ioB, 3}} {
				if err := step.io.Of("/").To("r").Sequenced("p", step.seq).Emit("ev", float64(step.seq)); err != nil {
					t.Fatal(err)
				}
			}
			c2 := siotest.Dial(t, urlB, siotest.Options{})
			if h := c2.Connect(map[string]any{"pid": pid, "offset": offset}).Data.(map[string]any); h["pid"] != pid {
				t.Fatalf("not recovered: %v", h)
			}
			for _, want := range []float64{2, 3} {
				if _, args := c2.NextEvent(); args[0] != want {
					t.Fatalf("replayed %v, want seq %v (a republished seq must come once)", args, want)
				}
			}
			if err := ioA.Of("/").To("r").Sequenced("p", 4).Emit("ev", float64(4)); err != nil {
				t.Fatal(err)
			}
			if _, args := c2.NextEvent(); args[0] != float64(4) {
				t.Fatalf("live after recovery: %v", args)
			}
		})
	}
}
