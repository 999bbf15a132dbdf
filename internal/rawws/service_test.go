package rawws_test

import (
	"context"
	"errors"
	"strings"
	"sync"
	"testing"

	"github.com/eventide/realtime/internal/rawws"
	"github.com/eventide/realtime/internal/ws"
)

func TestBroadcastReachesAll(t *testing.T) {
	f := start(t, rawws.Config{})
	const n = 3
	conns := make([]*ws.Conn, n)
	for i := range conns {
		conns[i], _ = f.connect(t)
	}
	if got := f.svc.Count(); got != n {
		t.Fatalf("Count = %d, want %d", got, n)
	}
	if ids := f.svc.Clients(); len(ids) != n {
		t.Fatalf("Clients = %v, want %d ids", ids, n)
	}
	if err := f.svc.Broadcast(map[string]any{"message": "Hello to all clients!", "type": "info"}); err != nil {
		t.Fatal(err)
	}
	for i, c := range conns {
		if got, want := string(read(t, c)), `{"message":"Hello to all clients!","type":"info"}`; got != want {
			t.Errorf("client %d got %s, want %s", i, got, want)
		}
	}
}

func TestBroadcastUnencodable(t *testing.T) {
	f := start(t, rawws.Config{})
	c, _ := f.connect(t)
	if err := f.svc.Broadcast(map[string]any{"f": func() {}}); err == nil {
		t.Fatal("Broadcast of a func: want an error")
	}
	// Nothing was sent and the client is still served.
	send(t, c, `{"event":"a","payload":1}`)
	if m := readJSON(t, c); m["message"] != "Event received" {
		t.Fatalf("after failed broadcast: %v", m)
	}
}

func TestEmitToClientReachesOnlyThatClient(t *testing.T) {
	f := start(t, rawws.Config{})
	a, idA := f.connect(t)
	b, idB := f.connect(t)
	if idA == idB {
		t.Fatalf("two clients share id %s", idA)
	}
	if err := f.svc.EmitToClient(idA, map[string]string{"message": "This is a private message"}); err != nil {
		t.Fatal(err)
	}
	if got, want := string(read(t, a)), `{"message":"This is a private message"}`; got != want {
		t.Fatalf("a got %s, want %s", got, want)
	}
	// b's messages are written in order: had the emit gone to b, it would
	// come before this echo.
	send(t, b, `{"event":"probe","payload":"b"}`)
	if m := readJSON(t, b); m["message"] != "Event received" || m["payload"] != "b" {
		t.Fatalf("b got %v, want only its echo", m)
	}

	if err := f.svc.EmitToClient("nope", 1); !errors.Is(err, rawws.ErrUnknownClient) {
		t.Fatalf("EmitToClient(unknown) = %v, want ErrUnknownClient", err)
	}
}

func TestDisconnectRemovesClient(t *testing.T) {
	f := start(t, rawws.Config{})
	c, id := f.connect(t)
	_, other := f.connect(t)
	if err := c.Close(); err != nil {
		t.Fatal(err)
	}
	waitFor(t, "client removed", func() bool { return f.svc.Count() == 1 })
	if ids := f.svc.Clients(); len(ids) != 1 || ids[0] != other {
		t.Fatalf("Clients = %v, want [%s]", ids, other)
	}
	if err := f.svc.EmitToClient(id, "late"); !errors.Is(err, rawws.ErrUnknownClient) {
		t.Fatalf("EmitToClient(gone) = %v, want ErrUnknownClient", err)
	}
	f.logs.waitLog(t, "client disconnected", map[string]any{"client": string(id), "reason": "client closed"})
}

func TestAbruptDisconnectRemovesClient(t *testing.T) {
	f := start(t, rawws.Config{})
	c, id := f.connect(t)
	_ = c.Abort() // no close frame
	waitFor(t, "client removed", func() bool { return f.svc.Count() == 0 })
	e := f.logs.waitLog(t, "client disconnected", map[string]any{"client": string(id)})
	if r, _ := e["reason"].(string); !strings.HasPrefix(r, "connection lost") {
		t.Fatalf("reason %q, want connection lost", r)
	}
}

// A client that stops reading is disconnected when its queue overflows,
// while the broadcast keeps reaching a client that reads.
func TestSlowClientIsDroppedOthersServed(t *testing.T) {
	f := start(t, rawws.Config{SendQueue: 4})
	fast, _ := f.connect(t)
	_, slowID := f.connect(t) // never reads

	payload := strings.Repeat("z", 60<<10)
	want := `{"p":"` + payload + `"}`
	sent := 0
	// Lockstep with the fast client, so only the slow one falls behind. The
	// slow one's socket buffers (a few MiB on loopback) fill first, then its
	// queue; 1,000 messages of 60 KiB is far beyond both.
	for ; sent < 1000 && f.svc.Count() == 2; sent++ {
		if err := f.svc.Broadcast(map[string]string{"p": payload}); err != nil {
			t.Fatal(err)
		}
		if got := string(read(t, fast)); got != want {
			t.Fatalf("fast client message %d: wrong content (%d bytes)", sent, len(got))
		}
	}
	waitFor(t, "slow client dropped", func() bool { return f.svc.Count() == 1 })
	if ids := f.svc.Clients(); contains(ids, slowID) {
		t.Fatalf("slow client %s still connected after %d messages", slowID, sent)
	}
	f.logs.waitLog(t, "limit reached", map[string]any{"limit": rawws.LimitSendQueue, "client": string(slowID)})
	f.logs.waitLog(t, "client disconnected", map[string]any{"client": string(slowID), "reason": "send queue overflow"})

	// The fast client is still served.
	if err := f.svc.Broadcast("still here"); err != nil {
		t.Fatal(err)
	}
	if got := string(read(t, fast)); got != `"still here"` {
		t.Fatalf("fast client after drop: %s", got)
	}
}

func TestShutdownClosesClients(t *testing.T) {
	f := start(t, rawws.Config{})
	a, _ := f.connect(t)
	b, _ := f.connect(t)

	ctx, cancel := context.WithTimeout(context.Background(), ioTimeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, c := range []*ws.Conn{a, b} {
		wg.Go(func() {
			// Answer the close like a browser would, so Shutdown can finish.
			ce := readClose(t, c)
			if ce.Code != ws.CloseGoingAway || ce.Reason != "server shutting down" {
				t.Errorf("close %d %q, want 1001 \"server shutting down\"", ce.Code, ce.Reason)
			}
		})
	}
	if err := f.svc.Shutdown(ctx); err != nil {
		t.Fatalf("Shutdown: %v", err)
	}
	wg.Wait()
	if n := f.svc.Count(); n != 0 {
		t.Fatalf("Count after Shutdown = %d", n)
	}
	if err := f.svc.Shutdown(ctx); err != nil {
		t.Fatalf("second Shutdown: %v", err)
	}
	if err := f.svc.Broadcast("x"); !errors.Is(err, rawws.ErrClosed) {
		t.Fatalf("Broadcast after Shutdown = %v, want ErrClosed", err)
	}

	// A late connection is closed at once with 1001.
	late := f.dial(t, "", nil)
	if ce := readClose(t, late); ce.Code != ws.CloseGoingAway {
		t.Fatalf("late client close %d, want 1001", ce.Code)
	}
	if n := f.svc.Count(); n != 0 {
		t.Fatalf("Count = %d after a late connection", n)
	}
}
