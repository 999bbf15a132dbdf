package socketio

import (
	"net/http"
	"net/http/httptest"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/engineio"
)

// nullConn is an in-process engine connection that counts what it is sent:
// it measures the Socket.IO layer alone, without network or engine queues.
type nullConn struct {
	id     string
	proto  int
	req    *http.Request
	sent   atomic.Int64
	mu     sync.Mutex
	last   []*engineio.Message
	recv   engineio.Receiver
	close  sync.Once
	closed atomic.Bool
}

func (c *nullConn) ID() string             { return c.id }
func (c *nullConn) Protocol() int          { return c.proto }
func (c *nullConn) Transport() string      { return "websocket" }
func (c *nullConn) Request() *http.Request { return c.req }
func (c *nullConn) Send(msgs ...*engineio.Message) error {
	c.sent.Add(int64(len(msgs)))
	return nil
}
func (c *nullConn) Close() {
	c.close.Do(func() {
		c.closed.Store(true)
		go c.recv.OnClose(engineio.ReasonForcedClose)
	})
}
func (c *nullConn) Admit() {}

// connectN connects n in-process sockets to "/" and puts them in room.
func connectN(tb testing.TB, s *Server, n int, room string) []*nullConn {
	tb.Helper()
	done := make(chan *Socket, n)
	s.Of("/").OnConnection(func(so *Socket) {
		so.Join(room)
		done <- so
	})
	return attachN(tb, s, makeConns(n), done)
}

func makeConns(n int) []*nullConn {
	conns := make([]*nullConn, n)
	for i := range conns {
		conns[i] = &nullConn{id: strconv.Itoa(i), proto: 4, req: httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=websocket", nil)}
	}
	return conns
}

// attachN opens a client on each conn and connects it to "/".
func attachN(tb testing.TB, s *Server, conns []*nullConn, done chan *Socket) []*nullConn {
	n := len(conns)
	for _, c := range conns {
		cl := s.newClient(c)
		c.recv = cl
		cl.OnMessage([]byte("0"), false)
	}
	for range n {
		select {
		case <-done:
		case <-time.After(10 * time.Second):
			tb.Fatal("sockets did not connect")
		}
	}
	return conns
}

func TestBroadcastInProcess(t *testing.T) {
	s := NewServer(Config{})
	defer s.Shutdown(t.Context())
	conns := connectN(t, s, 50, "r")
	before := make([]int64, len(conns))
	for i, c := range conns {
		before[i] = c.sent.Load()
	}
	if err := s.Of("/").To("r", "r", s.Of("/").Sockets()[0].ID()).Emit("x", []byte{1}); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if got := c.sent.Load() - before[i]; got != 2 { // text + one attachment, once
			t.Fatalf("conn %d got %d messages", i, got)
		}
	}
}

func BenchmarkBroadcastRoom1000(b *testing.B) { benchBroadcastRoom1000(b, Config{}) }

// BenchmarkBroadcastRoom1000Recovery is BenchmarkBroadcastRoom1000 with
// connection-state recovery on (ADR 0023): each broadcast is recorded in
// the namespace's history and gets its offset spliced, once.
func BenchmarkBroadcastRoom1000Recovery(b *testing.B) {
	benchBroadcastRoom1000(b, Config{Recovery: Recovery{Window: DefaultRecoveryWindow}})
}

// benchBroadcastRoom1000 is BenchmarkBroadcastRoom1000 on a server
// configured by cfg (recovery on, or the metrics' observer:
// BenchmarkFanoutObserved).
func benchBroadcastRoom1000(b *testing.B, cfg Config) {
	s := NewServer(cfg)
	defer s.Shutdown(b.Context())
	connectN(b, s, 1000, "provider-1")
	op := s.Of("/").To("provider-1")
	payload := map[string]any{"action": "updated", "providerId": "1", "seq": 42, "slot": map[string]any{"id": "s1", "start": "2026-01-01T10:00:00Z"}}
	b.ReportAllocs()
	b.ResetTimer()
	for b.Loop() {
		if err := op.Emit("availabilityUpdated", payload); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/delivery")
}

func BenchmarkEncodeEvent(b *testing.B) {
	payload := map[string]any{"action": "updated", "providerId": "1", "seq": 42, "slot": map[string]any{"id": "s1", "start": "2026-01-01T10:00:00Z"}}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := EncodeEvent("/", NoID, "availabilityUpdated", payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkDecodeEvent(b *testing.B) {
	msg := []byte(`2["joinRoom",{"providerId":"1","token":"abc"}]`)
	var d Decoder
	b.ReportAllocs()
	for b.Loop() {
		if _, err := d.Add(msg, false); err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkIdleSocketMemory reports the heap held by this layer per connected
// idle socket (client, socket, own room, one joined room, one handler).
func BenchmarkIdleSocketMemory(b *testing.B) {
	const n = 2000
	var total float64
	for b.Loop() {
		s := NewServer(Config{})
		done := make(chan *Socket, n)
		s.Of("/").OnConnection(func(so *Socket) {
			so.On("x", func(*Event) {})
			so.Join("room")
			done <- so
		})
		conns := makeConns(n)
		var before, after runtime.MemStats
		runtime.GC()
		runtime.ReadMemStats(&before)
		attachN(b, s, conns, done)
		runtime.GC()
		runtime.ReadMemStats(&after)
		total += float64(after.HeapAlloc-before.HeapAlloc) / n
		runtime.KeepAlive(conns)
		s.Shutdown(b.Context())
	}
	b.ReportMetric(total/float64(b.N), "B/socket")
}

// BenchmarkReceiveEvent measures an event from a client to its handler:
// the reader's checks, the mailbox and the decoding in it.
func BenchmarkReceiveEvent(b *testing.B) {
	s := NewServer(Config{})
	defer s.Shutdown(b.Context())
	var handled atomic.Int64
	done := make(chan *Socket, 1)
	s.Of("/").OnConnection(func(so *Socket) {
		so.On("joinRoom", func(*Event) { handled.Add(1) })
		done <- so
	})
	conn := attachN(b, s, makeConns(1), done)[0]
	msg := []byte(`2["joinRoom",{"providerId":"1"}]`)
	b.ReportAllocs()
	b.ResetTimer()
	n := int64(0)
	for b.Loop() {
		conn.recv.OnMessage(msg, false)
		n++
		if n%1000 == 0 {
			for handled.Load() < n-100 {
				runtime.Gosched() // stay within the mailbox bound
			}
		}
	}
	for handled.Load() < n {
		runtime.Gosched()
	}
}
