//go:build linux

package ws

import (
	"errors"
	"runtime"
	"testing"
	"time"
)

// maskedFrame is a client's text frame carrying p.
func maskedFrame(p string) []byte {
	c := &Conn{server: false}
	return c.appendFrame(nil, OpText, []byte(p))
}

// TestPollerWatchRearmClose: a watched connection is reported once per
// arming when its client writes; two pollers watch their own connections;
// once a poller is closed its goroutine is gone, Rearm fails and its
// connections can no longer be watched, while the other poller goes on.
func TestPollerWatchRearmClose(t *testing.T) {
	base := runtime.NumGoroutine()
	p1, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	p2, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p1.Close(); p2.Close() })

	c1, cli1 := tcpPair(t)
	c2, cli2 := tcpPair(t)
	ready1, ready2 := make(chan struct{}, 4), make(chan struct{}, 4)
	if !c1.Watch(p1, ReadableFunc(func() { ready1 <- struct{}{} })) || !c2.Watch(p2, ReadableFunc(func() { ready2 <- struct{}{} })) {
		t.Fatal("Watch refused a plain TCP connection")
	}
	if c1.Watch(p2, ReadableFunc(func() {})) {
		t.Fatal("a connection watched twice")
	}
	read := func(c *Conn, ready chan struct{}, cli interface{ Write([]byte) (int, error) }, msg string) {
		t.Helper()
		if _, err := cli.Write(maskedFrame(msg)); err != nil {
			t.Fatal(err)
		}
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatal("no onReadable")
		}
		if _, got, err := c.ReadMessage(1 << 10); err != nil || string(got) != msg {
			t.Fatalf("read %q, %v", got, err)
		}
		if err := c.Rearm(); err != nil {
			t.Fatal(err)
		}
	}
	read(c1, ready1, cli1, "one")
	read(c2, ready2, cli2, "two")
	read(c1, ready1, cli1, "three")

	if err := p1.Close(); err != nil {
		t.Fatal(err)
	}
	if err := p1.Close(); err != nil { // twice
		t.Fatal(err)
	}
	if err := c1.Rearm(); !errors.Is(err, errPollerClosed) {
		t.Fatalf("Rearm after Close = %v", err)
	}
	c3, _ := tcpPair(t)
	if c3.Watch(p1, ReadableFunc(func() {})) {
		t.Fatal("a closed poller took a connection")
	}
	read(c2, ready2, cli2, "four")
	if err := p2.Close(); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(10 * time.Second)
	for runtime.NumGoroutine() > base+2 { // tcpPair's accept goroutines end too
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines after both pollers closed, %d before", runtime.NumGoroutine(), base)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// TestClosedConnLeavesPoller: closing a watched connection forgets it.
func TestClosedConnLeavesPoller(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	for range 10 {
		c, _ := tcpPair(t)
		if !c.Watch(p, ReadableFunc(func() {})) {
			t.Fatal("Watch refused")
		}
		_ = c.Close()
	}
	p.mu.RLock()
	n := len(p.conns)
	p.mu.RUnlock()
	if n != 0 {
		t.Fatalf("%d closed connections still in the poller", n)
	}
}

// TestPollerWatchEdges: a WatchEdges connection is reported each time
// bytes arrive, with no Rearm in between; bytes left unread are reported
// again by Rearm; Watched holds until the poller is closed.
func TestPollerWatchEdges(t *testing.T) {
	p, err := NewPoller()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { p.Close() })
	c, cli := tcpPair(t)
	ready := make(chan struct{}, 16)
	if !c.WatchEdges(p, ReadableFunc(func() { ready <- struct{}{} })) {
		t.Fatal("WatchEdges refused a plain TCP connection")
	}
	if err := c.Watched(); err != nil {
		t.Fatal(err)
	}
	wait := func(what string) {
		t.Helper()
		select {
		case <-ready:
		case <-time.After(10 * time.Second):
			t.Fatal("no onReadable: " + what)
		}
	}
	for _, msg := range []string{"one", "two", "three"} {
		if _, err := cli.Write(maskedFrame(msg)); err != nil {
			t.Fatal(err)
		}
		wait(msg) // no Rearm: still armed
		if _, got, err := c.ReadMessage(1 << 10); err != nil || string(got) != msg {
			t.Fatalf("read %q, %v", got, err)
		}
	}
	// Reported, not read: Rearm reports it again at once.
	if _, err := cli.Write(maskedFrame("four")); err != nil {
		t.Fatal(err)
	}
	wait("four")
	if err := c.Rearm(); err != nil {
		t.Fatal(err)
	}
	wait("four, re-armed")
	if _, got, err := c.ReadMessage(1 << 10); err != nil || string(got) != "four" {
		t.Fatalf("read %q, %v", got, err)
	}
	if p.rc == nil {
		t.Fatal("the poller waits in epoll_wait, not in the netpoller")
	}
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if err := c.Watched(); !errors.Is(err, errPollerClosed) {
		t.Fatalf("Watched after Close = %v", err)
	}
}
