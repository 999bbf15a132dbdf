package socketio_test

import (
	"context"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/fakeclock"

	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
}

// recoveryServer is a server with recovery on a fake clock, whose sockets
// join the rooms they name with "join" unless keep refuses them at
// recovery.
type recoveryServer struct {
	io      *socketio.Server
	obs     *recoveryCounts
	url     string
	clk     *fakeclock.Clock
	sockets chan *socketio.Socket
	closed  chan string
}

func startRecoveryServer(t *testing.T, keep func(s *socketio.Socket, room string) bool) *recoveryServer {
	t.Helper()
	clk := newClock()
	rs := &recoveryServer{clk: clk, obs: &recoveryCounts{}, sockets: make(chan *socketio.Socket, 16), closed: make(chan string, 16)}
	rs.io = socketio.NewServer(socketio.Config{Recovery: socketio.Recovery{Window: time.Minute}, Now: clk.Now, Observer: rs.obs})
	nsp := rs.io.Of("/")
	if keep != nil {
		nsp.FilterRecoveredRooms(keep)
	}
	nsp.OnConnection(func(s *socketio.Socket) {
		s.On("join", func(e *socketio.Event) {
			s.Join(e.Args[0].(string))
			_ = e.Ack("ok")
		})
		s.OnDisconnect(func(r string) { rs.closed <- r })
		rs.sockets <- s
	})
	hs := httptest.NewServer(rs.io)
	rs.url = hs.URL
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		_ = rs.io.Shutdown(ctx)
		hs.Close()
	})
	return rs
}

// recoveryCounts is the metrics' view of recovery: attempts and successes.
type recoveryCounts struct{ attempted, succeeded atomic.Int64 }

func (*recoveryCounts) ConnectRefused(string)                {}
func (*recoveryCounts) EventReceived(string)                 {}
func (*recoveryCounts) EventsSent(string, int)               {}
func (*recoveryCounts) Broadcast(int, time.Duration)         {}
func (*recoveryCounts) BrokerPublished(time.Duration, error) {}
func (o *recoveryCounts) RecoveryAttempted()                 { o.attempted.Add(1) }
func (o *recoveryCounts) RecoverySucceeded()                 { o.succeeded.Add(1) }
func (o *recoveryCounts) check(t *testing.T, attempted, succeeded int64) {
	t.Helper()
	if a, s := o.attempted.Load(), o.succeeded.Load(); a != attempted || s != succeeded {
		t.Fatalf("recoveries attempted %d, succeeded %d; want %d, %d", a, s, attempted, succeeded)
	}
}

func wait[T any](t *testing.T, ch chan T) T {
	t.Helper()
	select {
	case v := <-ch:
		return v
	case <-time.After(30 * time.Second):
		t.Fatal("timed out")
		panic("unreachable")
	}
}

// connectFor connects a test client (auth may be nil) and returns the
// CONNECT reply's data.
func connectFor(t *testing.T, rs *recoveryServer, auth any) (*siotest.Client, map[string]any) {
	t.Helper()
	c := siotest.Dial(t, rs.url, siotest.Options{})
	p := c.Connect(auth)
	if p.Type != socketio.PacketConnect {
		t.Fatalf("connect: %s %v", p.Type, p.Data)
	}
	wait(t, rs.sockets)
	return c, p.Data.(map[string]any)
}

func TestRecoveryOnMemory(t *testing.T) {
	rs := startRecoveryServer(t, nil)
	nsp := rs.io.Of("/")
	c, hello := connectFor(t, rs, nil)
	sid, pid := hello["sid"].(string), hello["pid"].(string)
	if sid == "" || len(pid) < 20 {
		t.Fatalf("CONNECT %v: want sid and pid", hello)
	}
	c.Emit(1, "join", "r")
	c.NextAck(1)
	if err := nsp.To("r").Emit("ev", "one"); err != nil {
		t.Fatal(err)
	}
	name, args := c.NextEvent()
	if name != "ev" || len(args) != 2 || args[0] != "one" {
		t.Fatalf("event %s %v: want [one, offset]", name, args)
	}
	offset := args[1].(string)

	c.Drop()
	if r := wait(t, rs.closed); !socketio.Recoverable(r) {
		t.Fatalf("disconnect reason %q is not recoverable", r)
	}
	for _, s := range []string{"two", "three"} {
		if err := nsp.To("r").Emit("ev", s); err != nil {
			t.Fatal(err)
		}
	}
	if err := nsp.To("other").Emit("ev", "not for it"); err != nil {
		t.Fatal(err)
	}
	_ = nsp.To("r").Volatile().Emit("ev", "volatile")

	c2, hello2 := connectFor(t, rs, map[string]any{"pid": pid, "offset": offset})
	if hello2["sid"] != sid || hello2["pid"] != pid {
		t.Fatalf("recovered CONNECT %v, want sid %s pid %s", hello2, sid, pid)
	}
	for _, want := range []string{"two", "three"} {
		name, args := c2.NextEvent()
		if name != "ev" || len(args) != 2 || args[0] != want {
			t.Fatalf("missed event %s %v, want %s", name, args, want)
		}
	}
	s := nsp.Socket(sid)
	if s == nil || !s.Recovered() {
		t.Fatal("the socket is not the recovered one")
	}
	if rooms := s.Rooms(); len(rooms) != 2 || rooms[1] != "r" {
		t.Fatalf("rooms %v", rooms)
	}
	// Live again: the next broadcast comes after the missed ones.
	if err := nsp.To("r").Emit("ev", "four"); err != nil {
		t.Fatal(err)
	}
	if _, args := c2.NextEvent(); args[0] != "four" {
		t.Fatalf("live event %v", args)
	}

	// A session is used once: a second client with the same pid and
	// offset gets a fresh session.
	_, hello3 := connectFor(t, rs, map[string]any{"pid": pid, "offset": offset})
	if hello3["sid"] == sid || hello3["pid"] == pid {
		t.Fatalf("a session was recovered twice: %v", hello3)
	}
	rs.obs.check(t, 2, 1)
}

func TestRecoveryWindowPassed(t *testing.T) {
	rs := startRecoveryServer(t, nil)
	c, hello := connectFor(t, rs, nil)
	c.Emit(1, "join", "r")
	c.NextAck(1)
	_ = rs.io.Of("/").To("r").Emit("ev", "one")
	_, args := c.NextEvent()
	c.Drop()
	wait(t, rs.closed)
	rs.clk.Advance(time.Minute)
	_, hello2 := connectFor(t, rs, map[string]any{"pid": hello["pid"], "offset": args[1]})
	if hello2["sid"] == hello["sid"] {
		t.Fatal("recovered after the window")
	}
	if s := rs.io.Of("/").Socket(hello2["sid"].(string)); s == nil || s.Recovered() {
		t.Fatal("a socket after the window says it recovered")
	}
	rs.obs.check(t, 1, 0)
}

func TestRecoveryDropsRefusedRooms(t *testing.T) {
	rs := startRecoveryServer(t, func(_ *socketio.Socket, room string) bool { return room != "secret" })
	nsp := rs.io.Of("/")
	c, hello := connectFor(t, rs, nil)
	for i, r := range []string{"open", "secret"} {
		c.Emit(int64(i), "join", r)
		c.NextAck(int64(i))
	}
	_ = nsp.To("open").Emit("ev", "zero")
	_, args := c.NextEvent()
	c.Drop()
	wait(t, rs.closed)
	_ = nsp.To("secret").Emit("ev", "secret one")
	_ = nsp.To("open").Emit("ev", "open one")
	_ = nsp.To("secret", "open").Emit("ev", "both")
	c2, hello2 := connectFor(t, rs, map[string]any{"pid": hello["pid"], "offset": args[1]})
	if hello2["sid"] != hello["sid"] {
		t.Fatal("not recovered")
	}
	for _, want := range []string{"open one", "both"} {
		if _, args := c2.NextEvent(); args[0] != want {
			t.Fatalf("missed %v, want %s", args, want)
		}
	}
	if rooms := nsp.Socket(hello["sid"].(string)).Rooms(); len(rooms) != 2 || rooms[1] != "open" {
		t.Fatalf("rooms %v: the refused room came back", rooms)
	}
}

// TestRecoveryOffOnlySid: with recovery off, CONNECT has no pid and events
// no offset.
func TestRecoveryOffNoOffset(t *testing.T) {
	io := socketio.NewServer(socketio.Config{})
	defer io.Shutdown(t.Context())
	got := make(chan *socketio.Socket, 1)
	io.Of("/").OnConnection(func(s *socketio.Socket) { got <- s })
	hs := httptest.NewServer(io)
	defer hs.Close()
	c := siotest.Dial(t, hs.URL, siotest.Options{})
	p := c.Connect(nil)
	if _, ok := p.Data.(map[string]any)["pid"]; ok {
		t.Fatal("pid with recovery off")
	}
	s := wait(t, got)
	_ = s.Emit("ev", "a")
	if _, args := c.NextEvent(); len(args) != 1 {
		t.Fatalf("args %v: an offset with recovery off", args)
	}
}
