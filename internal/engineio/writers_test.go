package engineio

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"runtime"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// withWriters sets the number of shared writers (before any session opens).
func withWriters(s *Server, n int) {
	s.readyMu.Lock()
	s.maxWriters = n
	s.readyMu.Unlock()
}

// bigMessage returns a 64 KiB text message starting with its index.
func bigMessage(i int) []byte {
	b := bytes.Repeat([]byte{'x'}, 64<<10)
	copy(b, fmt.Sprintf("%06d:", i))
	return b
}

// TestSlowReaderDoesNotHoldWriter: with ONE shared writer, a client that
// stops reading (far more queued than the socket buffers take) must not keep
// another client from getting its messages, and once it reads again it gets
// every byte, in order (the timed-out write's rest is continued exactly).
func TestSlowReaderDoesNotHoldWriter(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour, SendQueue: 100000})
	withWriters(e.srv, 1)
	slow, rs := e.openWS()
	fast, rf := e.openWS()

	const n = 400 // 25 MiB: more than loopback socket buffers hold
	for i := range n {
		if err := rs.conn.Send(TextMessage(bigMessage(i))); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 3 {
		msg := fmt.Sprintf("hello %d", i)
		if err := rf.conn.Send(TextMessage([]byte(msg))); err != nil {
			t.Fatal(err)
		}
		// readWS fails after the guard: the writer would still be blocked on slow.
		if _, got := readWS(t, fast); got != "4"+msg {
			t.Fatalf("fast client got %q, want %q", got, "4"+msg)
		}
	}

	for i := range n {
		_ = slow.SetReadDeadline(time.Now().Add(guard))
		op, b, err := slow.ReadMessage(1 << 20)
		if err != nil {
			t.Fatalf("slow client, message %d: %v", i, err)
		}
		want := append([]byte("4"), bigMessage(i)...)
		if op != ws.OpText || !bytes.Equal(b, want) {
			t.Fatalf("slow client, message %d: got %d bytes starting %q", i, len(b), b[:min(len(b), 8)])
		}
	}
	// Caught up: its next message goes through the shared writer again.
	if err := rs.conn.Send(TextMessage([]byte("again"))); err != nil {
		t.Fatal(err)
	}
	if _, got := readWS(t, slow); got != "4again" {
		t.Fatalf("slow client got %q after catching up", got)
	}
}

// TestNeverReadingClientClosedByQueueBound: a client that never reads is
// closed as a slow consumer once its send queue overflows, which also ends
// the write blocked on it; others keep receiving.
func TestNeverReadingClientClosedByQueueBound(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour, SendQueue: 32})
	withWriters(e.srv, 1)
	_, rs := e.openWS() // never reads
	fast, rf := e.openWS()

	var err error
	deadline := time.Now().Add(guard)
	for i := 0; err == nil; i++ {
		if time.Now().After(deadline) {
			t.Fatal("send queue never overflowed")
		}
		err = rs.conn.Send(TextMessage(bigMessage(i)))
		if i%16 == 15 {
			time.Sleep(time.Millisecond) // let the writer fill the socket buffers
		}
	}
	if !errors.Is(err, ErrQueueFull) {
		t.Fatalf("Send = %v, want ErrQueueFull", err)
	}
	rs.wantClose(t, ReasonQueueOverflow)
	if err := rf.conn.Send(TextMessage([]byte("still here"))); err != nil {
		t.Fatal(err)
	}
	if _, got := readWS(t, fast); got != "4still here" {
		t.Fatalf("fast client got %q", got)
	}
	waitCount(t, e.srv, 1)
}

// waitIdle waits until no write of cs is under way (a writer may still be
// ending one whose bytes its client has already read).
func waitIdle(t *testing.T, cs []*Conn) {
	t.Helper()
	waitUntil(t, "connections idle", func() bool {
		for _, c := range cs {
			c.mu.Lock()
			w := c.writing
			c.mu.Unlock()
			if w {
				return false
			}
		}
		return true
	})
}

// TestConcurrentBroadcastsDeliverInOrder: broadcasts from several
// goroutines to the same connections, overlapping all the time, get every
// message out, in order per sender and connection; and a small broadcast
// made alone is written before Broadcast returns, by its caller, with no
// writer goroutine.
func TestConcurrentBroadcastsDeliverInOrder(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour, SendQueue: 100000})
	const nConns, perSender = 4, 300
	clients := make([]*ws.Conn, nConns)
	conns := make([]*Conn, nConns)
	for i := range nConns {
		var r *recorder
		clients[i], r = e.openWS()
		conns[i] = r.conn
	}
	done := make(chan struct{})
	for g := range 3 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range perSender {
				e.srv.Broadcast(conns, TextMessage(fmt.Appendf(nil, "g%d-%d", g, i)))
			}
		}()
	}
	for range 3 {
		<-done
	}
	for ci, c := range clients {
		next := [3]int{}
		for range 3 * perSender {
			_, got := readWS(t, c) // fails after the guard if a queue were stuck
			var g, i int
			if _, err := fmt.Sscanf(got, "4g%d-%d", &g, &i); err != nil || i != next[g] {
				t.Fatalf("client %d got %q, want g%d-%d next", ci, got, g, next[g])
			}
			next[g]++
		}
	}
	waitIdle(t, conns)

	e.srv.Broadcast(conns, TextMessage([]byte("inline")))
	e.srv.readyMu.Lock()
	queued, writers := len(e.srv.ready)-e.srv.readyHead, e.srv.writers
	e.srv.readyMu.Unlock()
	if queued != 0 || writers != 0 {
		t.Errorf("after a small broadcast: %d connections queued, %d writers", queued, writers)
	}
	for _, c := range clients {
		if _, got := readWS(t, c); got != "4inline" {
			t.Fatalf("got %q, want 4inline", got)
		}
	}
}

// TestInlineBroadcastDoesNotWaitForSlowReader: a small broadcast is written
// by the goroutine that makes it; a client in it that does not read must
// not keep that goroutine (the relay's, say) waiting. Its rest is written
// by the ws layer's goroutine and arrives, in order, once it reads, with
// what was broadcast meanwhile after it.
func TestInlineBroadcastDoesNotWaitForSlowReader(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour, SendQueue: 100000})
	slow, rs := e.openWS()
	fast, rf := e.openWS()

	const n = 400 // 25 MiB: more than loopback socket buffers hold
	// slow reads nothing until every Broadcast has returned: were one to
	// wait for it, it would never return.
	broadcast := make(chan struct{})
	go func() {
		for i := range n {
			e.srv.Broadcast([]*Conn{rs.conn}, TextMessage(bigMessage(i)))
		}
		e.srv.Broadcast([]*Conn{rs.conn, rf.conn}, TextMessage([]byte("hello")))
		close(broadcast)
	}()
	select {
	case <-broadcast:
	case <-time.After(guard):
		t.Fatal("Broadcast waits for a client that does not read")
	}
	if _, got := readWS(t, fast); got != "4hello" {
		t.Fatalf("fast client got %q", got)
	}
	for i := range n {
		_ = slow.SetReadDeadline(time.Now().Add(guard))
		op, b, err := slow.ReadMessage(1 << 20)
		if err != nil {
			t.Fatalf("slow client, message %d: %v", i, err)
		}
		if want := append([]byte("4"), bigMessage(i)...); op != ws.OpText || !bytes.Equal(b, want) {
			t.Fatalf("slow client, message %d: got %d bytes starting %q", i, len(b), b[:min(len(b), 8)])
		}
	}
	if _, got := readWS(t, slow); got != "4hello" {
		t.Fatalf("slow client got %q after catching up", got)
	}
}

// TestLargeBroadcastGoesToWriters: a broadcast to more connections than a
// goroutine writes inline is handed to the shared writers, and reaches
// every connection.
func TestLargeBroadcastGoesToWriters(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour})
	const n = maxInlineFlush + 20
	clients := make([]*ws.Conn, n)
	conns := make([]*Conn, n)
	for i := range n {
		var r *recorder
		clients[i], r = e.openWS()
		conns[i] = r.conn
	}
	e.srv.Broadcast(conns, TextMessage([]byte("many")))
	for _, c := range clients {
		if _, got := readWS(t, c); got != "4many" {
			t.Fatalf("got %q, want 4many", got)
		}
	}
}

// TestServersOwnTheirPollerAndBatcher: two engines in one process each
// watch and write their own connections, and each Shutdown releases its
// own poller and batcher while the other keeps serving.
func TestServersOwnTheirPollerAndBatcher(t *testing.T) {
	a := newEnv(t, Config{PingInterval: time.Hour})
	b := newEnv(t, Config{PingInterval: time.Hour})
	ca, ra := a.openWS()
	cb, rb := b.openWS()
	for _, e := range []*testEnv{a, b} {
		if runtime.GOOS == "linux" && e.srv.res.poller.Load() == nil {
			t.Fatal("no poller after a WebSocket session opened")
		}
	}
	if a.srv.res.poller.Load() == b.srv.res.poller.Load() {
		t.Fatal("two servers share a poller")
	}
	a.srv.Broadcast([]*Conn{ra.conn}, TextMessage([]byte("a")))
	b.srv.Broadcast([]*Conn{rb.conn}, TextMessage([]byte("b")))
	if _, got := readWS(t, ca); got != "4a" {
		t.Fatalf("got %q", got)
	}
	if _, got := readWS(t, cb); got != "4b" {
		t.Fatalf("got %q", got)
	}
	if a.srv.res.batcher.Load() == b.srv.res.batcher.Load() {
		t.Fatal("two servers share a batcher")
	}

	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := a.srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if a.srv.res.poller.Load() != nil {
		t.Fatal("the poller outlives Shutdown")
	}
	if path, _ := a.srv.BatchPath(); path != ws.BatchSend {
		t.Fatalf("after Shutdown the batch path is %q", path)
	}
	// The other server still reads and writes.
	writeWS(t, cb, "4ping")
	rb.wantMsg(t, "ping", false)
	b.srv.Broadcast([]*Conn{rb.conn}, TextMessage([]byte("still")))
	if _, got := readWS(t, cb); got != "4still" {
		t.Fatalf("got %q", got)
	}
}
