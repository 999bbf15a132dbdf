package socketio

import (
	"net/http/httptest"
	"runtime"
	"testing"
	"time"
)

func TestMailboxOverflowClosesConnection(t *testing.T) {
	s := NewServer(Config{})
	defer s.Shutdown(t.Context())
	release := make(chan struct{})
	started := make(chan struct{})
	reasons := make(chan string, 1)
	s.Of("/").OnConnection(func(so *Socket) {
		so.On("block", func(e *Event) { close(started); <-release })
		so.OnDisconnect(func(r string) { reasons <- r })
	})
	c := &nullConn{id: "x", proto: 4, req: httptest.NewRequest("GET", "/socket.io/?EIO=4", nil)}
	cl := s.newClient(c)
	c.recv = cl
	cl.OnMessage([]byte("0"), false)
	cl.OnMessage([]byte(`2["block"]`), false)
	<-started
	for i := 0; i < maxQueue+1; i++ {
		cl.OnMessage([]byte(`2["x"]`), false)
	}
	cl.mu.Lock()
	closed := cl.closed
	cl.mu.Unlock()
	if !closed {
		t.Fatal("client not closed on mailbox overflow")
	}
	close(release)
	select {
	case r := <-reasons:
		if r != ReasonReceiveQueueOverflow {
			t.Fatalf("reason %q", r)
		}
	case <-time.After(guard):
		t.Fatal("no disconnect")
	}
}

func TestEventUnmarshal(t *testing.T) {
	e := &Event{Name: "x", Args: []any{map[string]any{"providerId": "p1", "n": 3.0, "b": []byte{1, 2}}}}
	var v struct {
		ProviderID string `json:"providerId"`
		N          int    `json:"n"`
		B          []byte `json:"b"`
	}
	if err := e.Unmarshal(0, &v); err != nil {
		t.Fatal(err)
	}
	if v.ProviderID != "p1" || v.N != 3 || string(v.B) != "\x01\x02" {
		t.Fatalf("got %+v", v)
	}
	if err := e.Unmarshal(1, &v); err == nil {
		t.Fatal("missing argument accepted")
	}
}

func TestOfNormalizesName(t *testing.T) {
	s := NewServer(Config{})
	defer s.Shutdown(t.Context())
	if s.Of("admin") != s.Of("/admin") || s.Of("/admin").Name() != "/admin" {
		t.Fatal("Of does not normalize")
	}
}

// TestNoGoroutinePerIdleConnection checks the mailbox goroutines exit once
// their work is done and that closed connections leave nothing behind.
func TestNoGoroutinePerIdleConnection(t *testing.T) {
	s := NewServer(Config{})
	defer s.Shutdown(t.Context())
	base := runtime.NumGoroutine()
	done := make(chan *Socket, 200)
	handled := make(chan struct{}, 200)
	s.Of("/").OnConnection(func(so *Socket) {
		so.On("x", func(*Event) { handled <- struct{}{} })
		done <- so
	})
	conns := attachN(t, s, makeConns(200), done)
	for _, c := range conns {
		c.recv.OnMessage([]byte(`2["x"]`), false)
	}
	for range conns {
		<-handled
	}
	waitGoroutines(t, base)
	if n := s.Of("/").SocketsLen(); n != 200 {
		t.Fatalf("SocketsLen %d", n)
	}
	for _, c := range conns {
		c.recv.OnClose("transport close")
	}
	deadline := time.Now().Add(guard)
	for s.Of("/").SocketsLen() != 0 {
		if time.Now().After(deadline) {
			t.Fatalf("%d sockets left", s.Of("/").SocketsLen())
		}
		time.Sleep(5 * time.Millisecond)
	}
	if rooms := s.Of("/").local().Rooms(); len(rooms) != 0 {
		t.Fatalf("rooms left: %v", rooms)
	}
	waitGoroutines(t, base)
}

func waitGoroutines(t *testing.T, base int) {
	t.Helper()
	deadline := time.Now().Add(guard)
	for runtime.NumGoroutine() > base+2 {
		if time.Now().After(deadline) {
			t.Fatalf("%d goroutines, base %d", runtime.NumGoroutine(), base)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

func TestServerSideRoomOperations(t *testing.T) {
	s := NewServer(Config{})
	defer s.Shutdown(t.Context())
	nsp := s.Of("/")
	done := make(chan *Socket, 3)
	reasons := make(chan string, 3)
	nsp.OnConnection(func(so *Socket) {
		so.OnDisconnect(func(r string) { reasons <- r })
		done <- so
	})
	attachN(t, s, makeConns(3), done)
	socks := nsp.Sockets()
	socks[0].Join("a")
	socks[1].Join("a")
	ctx := t.Context()
	if err := nsp.To("a").Except(socks[0].ID()).SocketsJoin(ctx, "b"); err != nil {
		t.Fatal(err)
	}
	if got := nsp.To("b").Sockets(); len(got) != 1 || got[0] != socks[1] {
		t.Fatalf("room b: %v", got)
	}
	if err := nsp.To("a").SocketsLeave(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got := nsp.To("a").Sockets(); len(got) != 0 {
		t.Fatalf("room a not empty: %v", got)
	}
	if got := nsp.Except("b").Sockets(); len(got) != 2 {
		t.Fatalf("except b: %d sockets", len(got))
	}
	if err := nsp.DisconnectSockets(ctx, false); err != nil {
		t.Fatal(err)
	}
	for range 3 {
		if r := <-reasons; r != ReasonServerNamespaceDisconnect {
			t.Fatalf("reason %q", r)
		}
	}
	if nsp.SocketsLen() != 0 {
		t.Fatal("sockets left")
	}
}
