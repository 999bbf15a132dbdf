package engineio

import (
	"bytes"
	"errors"
	"fmt"
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

// TestOverlappingHoldsStillDeliver: broadcasts from several goroutines whose
// HoldWrites overlap all the time (the count of holds never drops to zero)
// must still get every message out, in order per connection, and a small
// broadcast with no other hold must be written by the releasing goroutine.
func TestOverlappingHoldsStillDeliver(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour, SendQueue: 100000})
	const nConns, perSender = 4, 300
	clients := make([]*ws.Conn, nConns)
	recs := make([]*recorder, nConns)
	for i := range nConns {
		clients[i], recs[i] = e.openWS()
	}
	// One hold stays on for the whole flood: no release sees zero holds.
	e.srv.HoldWrites()
	done := make(chan struct{})
	for g := range 2 {
		go func() {
			defer func() { done <- struct{}{} }()
			for i := range perSender {
				e.srv.HoldWrites()
				for _, r := range recs {
					if err := r.conn.Send(TextMessage(fmt.Appendf(nil, "g%d-%d", g, i))); err != nil {
						t.Error(err)
					}
				}
				e.srv.ReleaseWrites()
			}
		}()
	}
	<-done
	<-done
	for ci, c := range clients {
		next := [2]int{}
		for range 2 * perSender {
			_, got := readWS(t, c) // fails after the guard if the queue were stuck
			var g, i int
			if _, err := fmt.Sscanf(got, "4g%d-%d", &g, &i); err != nil || i != next[g] {
				t.Fatalf("client %d got %q, want g%d-%d next", ci, got, g, next[g])
			}
			next[g]++
		}
	}
	e.srv.ReleaseWrites()

	// Alone, a small broadcast is written before ReleaseWrites returns.
	e.srv.HoldWrites()
	for _, r := range recs {
		if err := r.conn.Send(TextMessage([]byte("inline"))); err != nil {
			t.Fatal(err)
		}
	}
	e.srv.ReleaseWrites()
	e.srv.readyMu.Lock()
	queued, writers := len(e.srv.ready)-e.srv.readyHead, e.srv.writers
	e.srv.readyMu.Unlock()
	if queued != 0 || writers != 0 {
		t.Errorf("after an inline release: %d connections queued, %d writers", queued, writers)
	}
	for _, c := range clients {
		if _, got := readWS(t, c); got != "4inline" {
			t.Fatalf("got %q, want 4inline", got)
		}
	}
}

// TestInlineReleaseDoesNotWaitForSlowReader: a small broadcast is written by
// the goroutine that releases the hold; a client in it that does not read
// must not keep that goroutine (a REST handler, say) waiting. Its rest goes
// to a goroutine of its own and arrives, in order, once it reads.
func TestInlineReleaseDoesNotWaitForSlowReader(t *testing.T) {
	e := newEnv(t, Config{PingInterval: time.Hour, SendQueue: 100000})
	slow, rs := e.openWS()
	fast, rf := e.openWS()

	const n = 400 // 25 MiB: more than loopback socket buffers hold
	e.srv.HoldWrites()
	for i := range n {
		if err := rs.conn.Send(TextMessage(bigMessage(i))); err != nil {
			t.Fatal(err)
		}
	}
	if err := rf.conn.Send(TextMessage([]byte("hello"))); err != nil {
		t.Fatal(err)
	}
	// slow reads nothing until ReleaseWrites has returned: were the release
	// to wait for it, it would never return.
	released := make(chan struct{})
	go func() {
		e.srv.ReleaseWrites()
		close(released)
	}()
	select {
	case <-released:
	case <-time.After(guard):
		t.Fatal("ReleaseWrites waits for a client that does not read")
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
}
