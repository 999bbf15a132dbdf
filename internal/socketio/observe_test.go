package socketio_test

import (
	"context"
	"slices"
	"sync"
	"testing"

	"github.com/eventide/realtime/internal/socketio"
)

// recorder keeps what a server's hooks report.
type recorder struct {
	mu     sync.Mutex
	opened int
	closed []string
	rooms  []string // "+room" joined, "-room" left
}

func (r *recorder) hooks() socketio.Hooks {
	return socketio.Hooks{
		ClientOpened: func() { r.mu.Lock(); r.opened++; r.mu.Unlock() },
		ClientClosed: func(reason string) { r.mu.Lock(); r.closed = append(r.closed, reason); r.mu.Unlock() },
		RoomJoined:   func(_ *socketio.Socket, room string) { r.mu.Lock(); r.rooms = append(r.rooms, "+"+room); r.mu.Unlock() },
		RoomLeft:     func(_ *socketio.Socket, room string) { r.mu.Lock(); r.rooms = append(r.rooms, "-"+room); r.mu.Unlock() },
	}
}

func (r *recorder) roomsSoFar() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return slices.Clone(r.rooms)
}

// TestHooksReportConnectionsAndRoomChanges: the hooks see a connection
// open, each room a socket joins (once, never its own) and leaves, by its
// own Join/Leave and by SocketsJoin/SocketsLeave; a disconnect reports the
// connection closed and no room left. The counters count what came and went.
func TestHooksReportConnectionsAndRoomChanges(t *testing.T) {
	n := startNode(t, nil)
	var rec recorder
	n.io.SetHooks(rec.hooks())
	before := n.io.Counters()
	c, s := n.client("a", "b")
	c.Emit(2, "join", "a") // joined already: not reported again
	c.NextAck(2)
	s.Leave("b")
	s.Leave("b") // not in it any more: not reported
	ctx := context.Background()
	if err := n.nsp().In(s.ID()).SocketsJoin(ctx, "c", s.ID()); err != nil {
		t.Fatal(err)
	}
	if err := n.nsp().Except().SocketsLeave(ctx, "a"); err != nil {
		t.Fatal(err)
	}
	if got, want := rec.roomsSoFar(), []string{"+a", "+b", "-b", "+c", "-a"}; !slices.Equal(got, want) {
		t.Fatalf("room changes %v, want %v", got, want)
	}
	if err := n.nsp().Emit("hello", "world"); err != nil {
		t.Fatal(err)
	}
	if name, _ := c.NextEvent(); name != "hello" {
		t.Fatalf("got %s", name)
	}
	after := n.io.Counters()
	// In: CONNECT and two "join" events; out: CONNECT, two acks, "hello".
	if in, out := after.PacketsIn-before.PacketsIn, after.PacketsOut-before.PacketsOut; in != 3 || out != 4 {
		t.Errorf("packets in %d, out %d; want 3 and 4", in, out)
	}
	if after.BytesIn <= before.BytesIn || after.BytesOut <= before.BytesOut {
		t.Errorf("bytes not counted: %+v -> %+v", before, after)
	}

	s.Disconnect(true)
	c.Closed()
	rec.mu.Lock()
	defer rec.mu.Unlock()
	if rec.opened != 1 || len(rec.closed) != 1 {
		t.Fatalf("opened %d, closed %v; want 1 and one reason", rec.opened, rec.closed)
	}
	if len(rec.rooms) != 5 {
		t.Fatalf("a disconnect reported rooms left: %v", rec.rooms)
	}
}
