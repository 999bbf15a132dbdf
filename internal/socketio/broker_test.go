package socketio_test

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/http/httptest"
	"reflect"
	"slices"
	"sort"
	"sync"
	"sync/atomic"
	"testing"

	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/socketio/siotest"
)

// node is one server of a test cluster on a loopback port. Its clients
// join rooms with the "join" event (ack "ok"); connected sockets arrive on
// sockets.
type node struct {
	t       *testing.T
	io      *socketio.Server
	url     string
	sockets chan *socketio.Socket
}

func startNode(t *testing.T, broker socketio.Broker) *node {
	t.Helper()
	io := socketio.NewServer(socketio.Config{Broker: broker})
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
		if err := io.Shutdown(ctx); err != nil {
			t.Errorf("shutdown: %v", err)
		}
		hs.Close()
	})
	return n
}

// client connects a client to n, in rooms; it returns the client and its
// socket on the server.
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

// expect checks the next events of c are these (name and first argument),
// then a "marker" that n sends to c's socket alone on this node: so an
// event that should not have come is seen without waiting for time to pass.
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
		if len(args) > 0 {
			b, _ := json.Marshal(args[0])
			name += " " + string(b)
		}
		got = append(got, name)
	}
	if !slices.Equal(got, want) {
		t.Fatalf("events %q, want %q", got, want)
	}
}

func TestMemoryClusterBroadcastReachesEveryNode(t *testing.T) {
	cluster := socketio.NewMemoryCluster()
	a, b := startNode(t, cluster.NewBroker()), startNode(t, cluster.NewBroker())
	ca, sa := a.client("r")
	cb, sb := b.client("r")
	other, so := b.client("q")

	if err := a.nsp().To("r").Emit("x", "to r"); err != nil {
		t.Fatal(err)
	}
	if err := a.nsp().Local().To("r").Emit("x", "local"); err != nil {
		t.Fatal(err)
	}
	if err := b.nsp().Except("q").Emit("x", "all but q"); err != nil {
		t.Fatal(err)
	}
	expect(t, a, ca, sa, `x "to r"`, `x "local"`, `x "all but q"`)
	expect(t, b, cb, sb, `x "to r"`, `x "all but q"`)
	expect(t, b, other, so)
}

// wire is a fake pub/sub transport between nodes, shaped like the classic
// Redis adapter's: a broadcast to exactly one room goes on that room's
// channel, others on the namespace's; messages are bytes, decoded by the
// receiving node on a goroutine of its own, in order. It exists to show
// that a node can drop a message for a room it does not host before
// decoding it, through the Local interface only.
type wire struct {
	mu    sync.Mutex
	nodes []*wireBroker
}

type wireMsg struct {
	channel string
	data    []byte
}

type wireBroker struct {
	w     *wire
	id    int
	inbox chan wireMsg
	done  chan struct{}

	mu    sync.Mutex
	local socketio.Local

	dropped, decoded atomic.Int64
}

func (w *wire) newBroker() *wireBroker {
	w.mu.Lock()
	defer w.mu.Unlock()
	b := &wireBroker{w: w, id: len(w.nodes), inbox: make(chan wireMsg, 64), done: make(chan struct{})}
	w.nodes = append(w.nodes, b)
	go b.receive()
	return b
}

// envelope is the wire form of a Broadcast.
type envelope struct {
	From        int
	Nsp         string
	Type        socketio.PacketType
	Text        []byte
	Attachments [][]byte
	Rooms       []string
	Except      []string
	Stream      string
	Seq         int64
}

func (b *wireBroker) Subscribe(_ context.Context, l socketio.Local) error {
	b.mu.Lock()
	b.local = l
	b.mu.Unlock()
	return nil
}

func (b *wireBroker) Unsubscribe(context.Context, string) error {
	b.mu.Lock()
	b.local = nil
	b.mu.Unlock()
	return nil
}

func (b *wireBroker) Publish(_ context.Context, bc *socketio.Broadcast) (string, error) {
	data, err := json.Marshal(envelope{
		From: b.id, Nsp: bc.Namespace, Type: bc.Packet.Type, Text: bc.Packet.Text, Attachments: bc.Packet.Attachments,
		Rooms: bc.Rooms, Except: bc.Except, Stream: bc.Stream, Seq: bc.Seq,
	})
	if err != nil {
		return "", err
	}
	channel := bc.Namespace + "#"
	if len(bc.Rooms) == 1 {
		channel += bc.Rooms[0] + "#"
	}
	b.w.mu.Lock()
	defer b.w.mu.Unlock()
	for _, n := range b.w.nodes {
		n.inbox <- wireMsg{channel, data} // the publisher too, as Redis does
	}
	return "", nil
}

func (b *wireBroker) Close() error {
	close(b.done)
	return nil
}

// receive is the node's subscriber: it drops what it need not decode.
func (b *wireBroker) receive() {
	for {
		select {
		case <-b.done:
			return
		case m := <-b.inbox:
			b.mu.Lock()
			l := b.local
			b.mu.Unlock()
			if l == nil {
				continue
			}
			prefix := l.Name() + "#"
			if room := m.channel[len(prefix):]; room != "" && !l.HasRoom(room[:len(room)-1]) {
				b.dropped.Add(1) // not decoded
				continue
			}
			var e envelope
			if err := json.Unmarshal(m.data, &e); err != nil {
				panic(err)
			}
			b.decoded.Add(1)
			if e.From == b.id {
				continue // its own: the publisher delivered it
			}
			l.Deliver(&socketio.Broadcast{
				Namespace: e.Nsp, Packet: socketio.NewPacket(e.Type, e.Nsp, e.Text, e.Attachments),
				Rooms: e.Rooms, Except: e.Except, Stream: e.Stream, Seq: e.Seq,
			})
		}
	}
}

func TestRoomMessageForRoomNotHostedIsDroppedUndecoded(t *testing.T) {
	w := &wire{}
	ba, bb := w.newBroker(), w.newBroker()
	t.Cleanup(func() { ba.Close(); bb.Close() })
	a, b := startNode(t, ba), startNode(t, bb)
	_, _ = a.client("q")
	cb, sb := b.client("r")

	if err := a.nsp().To("q").Emit("x", "q only"); err != nil { // B hosts no socket of q
		t.Fatal(err)
	}
	if err := a.nsp().To("r").Emit("x", []byte{1, 2}); err != nil { // binary, to B's room
		t.Fatal(err)
	}
	name, args := cb.NextEvent()
	if name != "x" || !reflect.DeepEqual(args, []any{[]byte{1, 2}}) {
		t.Fatalf("got %s %v", name, args)
	}
	// B's subscriber handles messages in order: the one for q came first.
	if d, n := bb.dropped.Load(), bb.decoded.Load(); d != 1 || n != 1 {
		t.Fatalf("node B dropped %d and decoded %d messages, want 1 and 1", d, n)
	}
	expect(t, b, cb, sb)
}

// failingBroker refuses to publish while down is set.
type failingBroker struct {
	socketio.Broker
	down atomic.Bool
}

var errDown = errors.New("broker down")

func (f *failingBroker) Publish(ctx context.Context, b *socketio.Broadcast) (string, error) {
	if f.down.Load() {
		return "", errDown
	}
	return f.Broker.Publish(ctx, b)
}

func TestPublishErrorDeliversNothing(t *testing.T) {
	cluster := socketio.NewMemoryCluster()
	fb := &failingBroker{Broker: cluster.NewBroker()}
	a, b := startNode(t, fb), startNode(t, cluster.NewBroker())
	ca, sa := a.client("r")
	cb, sb := b.client("r")

	fb.down.Store(true)
	err := a.nsp().To("r").Sequenced("p", 1).EmitContext(t.Context(), "x", 1)
	if !errors.Is(err, errDown) {
		t.Fatalf("EmitContext = %v, want the broker's error", err)
	}
	expect(t, a, ca, sa) // not even this node's sockets got it
	expect(t, b, cb, sb)

	// The publisher tries again once the broker is back: delivered once.
	fb.down.Store(false)
	for range 2 {
		if err := a.nsp().To("r").Sequenced("p", 1).EmitContext(t.Context(), "x", 1); err != nil {
			t.Fatal(err)
		}
	}
	expect(t, a, ca, sa, "x 1")
	expect(t, b, cb, sb, "x 1")
}

func TestSequencedBroadcastsOncePerNodeInOrder(t *testing.T) {
	cluster := socketio.NewMemoryCluster()
	a, b := startNode(t, cluster.NewBroker()), startNode(t, cluster.NewBroker())
	ca, sa := a.client("r")
	cb, sb := b.client("r")

	emit := func(n *node, stream string, seq int64) {
		t.Helper()
		if err := n.nsp().To("r").Sequenced(stream, seq).Emit("x", stream+"/"+string(rune('0'+seq))); err != nil {
			t.Fatal(err)
		}
	}
	emit(a, "p", 1)
	emit(b, "p", 1) // the same change published again, from another node
	emit(a, "p", 2)
	emit(a, "p", 1) // late
	emit(b, "other", 1)
	emit(b, "p", 4) // a gap is delivered: clients catch up by seq
	emit(a, "p", 3)
	for _, c := range []struct {
		n *node
		c *siotest.Client
		s *socketio.Socket
	}{{a, ca, sa}, {b, cb, sb}} {
		expect(t, c.n, c.c, c.s, `x "p/1"`, `x "p/2"`, `x "other/1"`, `x "p/4"`)
	}
}

// capturingBroker keeps the Local its namespace subscribed with.
type capturingBroker struct {
	socketio.Broker
	mu    sync.Mutex
	local socketio.Local
}

func (b *capturingBroker) Subscribe(ctx context.Context, l socketio.Local) error {
	b.mu.Lock()
	b.local = l
	b.mu.Unlock()
	return b.Broker.Subscribe(ctx, l)
}

func TestStreamGapFilledBeforeTheBroadcastThatShowsIt(t *testing.T) {
	cluster := socketio.NewMemoryCluster()
	bb := &capturingBroker{Broker: cluster.NewBroker()}
	a, b := startNode(t, cluster.NewBroker()), startNode(t, bb)
	// The publisher's log of stream "p": b asks it for what it missed.
	logged := func(seq int64) *socketio.Broadcast {
		p, err := socketio.EncodeEvent("/", socketio.NoID, "x", fmt.Sprint("p/", seq))
		if err != nil {
			t.Fatal(err)
		}
		return &socketio.Broadcast{Namespace: "/", Packet: p, Rooms: []string{"r"}, Stream: "p", Seq: seq}
	}
	var mu sync.Mutex
	var asked []string
	pruned := int64(0) // a seq the log no longer has
	newest := int64(0) // the last seq emitted
	b.nsp().FillStreamGaps(func(stream string, after, before int64) []*socketio.Broadcast {
		mu.Lock()
		defer mu.Unlock()
		asked = append(asked, fmt.Sprint(stream, " ", after, " ", before))
		if before == 0 {
			before = newest + 1
		}
		var out []*socketio.Broadcast
		for seq := after + 1; seq < before; seq++ {
			if seq != pruned {
				out = append(out, logged(seq))
			}
		}
		return out
	})
	ca, sa := a.client("r")
	cb, sb := b.client("r")
	emit := func(seq int64, lost bool) {
		t.Helper()
		mu.Lock()
		newest = max(newest, seq)
		mu.Unlock()
		op := a.nsp().To("r")
		if lost { // delivered on a only: b's broker never hears of it
			op = a.nsp().Local().To("r")
		}
		if err := op.Sequenced("p", seq).Emit("x", fmt.Sprint("p/", seq)); err != nil {
			t.Fatal(err)
		}
	}
	emit(1, false)
	emit(2, true)
	emit(3, true)
	emit(4, false) // b fills 2 and 3 first
	expect(t, a, ca, sa, `x "p/1"`, `x "p/2"`, `x "p/3"`, `x "p/4"`)
	expect(t, b, cb, sb, `x "p/1"`, `x "p/2"`, `x "p/3"`, `x "p/4"`)

	mu.Lock()
	pruned = 5
	mu.Unlock()
	emit(5, true)
	emit(6, true)
	emit(7, false) // 5 is gone from the log: b gets 6 and 7
	emit(7, false) // a repeat asks nothing
	expect(t, b, cb, sb, `x "p/6"`, `x "p/7"`)

	// The room emptied on b and joined again: its member was not there for
	// 8 and 9, and is not given them.
	sb.Leave("r")
	sb.Join("r")
	emit(8, true)
	emit(9, true)
	emit(10, false)
	expect(t, b, cb, sb, `x "p/10"`)

	// Lost with nothing after them: a resync (the broker subscribed again)
	// asks for everything after 10.
	emit(11, true)
	emit(12, true)
	bb.mu.Lock()
	r, ok := bb.local.(socketio.Resyncer)
	bb.mu.Unlock()
	if !ok {
		t.Fatal("the namespace's Local is not a Resyncer")
	}
	r.ResyncStreams()
	expect(t, b, cb, sb, `x "p/11"`, `x "p/12"`)
	emit(12, false) // the publisher's own copy, later: a repeat
	emit(13, false)
	expect(t, b, cb, sb, `x "p/13"`)

	mu.Lock()
	defer mu.Unlock()
	if want := []string{"p 1 4", "p 4 7", "p 10 0"}; !slices.Equal(asked, want) {
		t.Fatalf("filler asked %q, want %q", asked, want)
	}
}

func TestClusterRequests(t *testing.T) {
	cluster := socketio.NewMemoryCluster()
	a, b := startNode(t, cluster.NewBroker()), startNode(t, cluster.NewBroker())
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
		!reflect.DeepEqual(got.Data, map[string]any{"user": "bob"}) || got.Handshake.Protocol != 4 {
		t.Fatalf("FetchSockets = %+v", got)
	}

	// socketsJoin on every node: B's socket joins "t", and gets what A sends there.
	if err := a.nsp().To("r").SocketsJoin(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if err := a.nsp().To("t").Emit("x", "t"); err != nil {
		t.Fatal(err)
	}
	expect(t, a, ca, sa, `x "t"`)
	expect(t, b, cb, sb, `x "t"`)
	if err := a.nsp().To("t").Except(sa.ID()).SocketsLeave(ctx, "t"); err != nil {
		t.Fatal(err)
	}
	if got := sb.Rooms(); !slices.Equal(got, []string{sb.ID(), "r", "s"}) {
		t.Fatalf("B's socket rooms %v after SocketsLeave", got)
	}

	// serverSideEmit: B answers.
	b.nsp().OnServerSideEmit("ping", func(args []any, ack func(any)) { ack(args[0].(string) + " pong") })
	replies, err := a.nsp().ServerSideEmitWithAck(ctx, "ping", "hi")
	if err != nil || !reflect.DeepEqual(replies, []any{"hi pong"}) {
		t.Fatalf("ServerSideEmitWithAck = %v, %v", replies, err)
	}

	// A broadcast with acks gathers every client's answer, on both nodes.
	done := make(chan [][]any, 1)
	go func() {
		acks, err := a.nsp().To("r").EmitWithAck(ctx, "ask", "?")
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
		c.Send(mustAck(t, p.ID, c == ca))
	}
	acks := <-done
	sort.Slice(acks, func(i, j int) bool { return acks[i][0] == true })
	if !reflect.DeepEqual(acks, [][]any{{true}, {false}}) {
		t.Fatalf("acks %v", acks)
	}

	// disconnectSockets across nodes: B's client is told.
	if err := a.nsp().To("s").DisconnectSockets(ctx, false); err != nil {
		t.Fatal(err)
	}
	if p := cb.Next(); p.Type != socketio.PacketDisconnect {
		t.Fatalf("got %s, want DISCONNECT", p.Type)
	}
	if n := b.nsp().SocketsLen(); n != 0 {
		t.Fatalf("%d sockets left on B", n)
	}
}

func mustAck(t *testing.T, id int64, v any) *socketio.Packet {
	t.Helper()
	p, err := socketio.EncodeAck("/", id, v)
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func TestSingleNodeClusterAnswersAlone(t *testing.T) {
	a := startNode(t, nil) // the default broker: a cluster of one
	ctx := t.Context()
	_, sa := a.client("r")
	if n, err := a.nsp().ServerCount(ctx); err != nil || n != 1 {
		t.Fatalf("ServerCount = %d, %v", n, err)
	}
	if rooms, err := a.nsp().AllRooms(ctx); err != nil || len(rooms) != 2 {
		t.Fatalf("AllRooms = %v, %v", rooms, err)
	}
	if infos, err := a.nsp().FetchSockets(ctx); err != nil || len(infos) != 1 || infos[0].ID != sa.ID() {
		t.Fatalf("FetchSockets = %+v, %v", infos, err)
	}
	if replies, err := a.nsp().ServerSideEmitWithAck(ctx, "ping"); err != nil || len(replies) != 0 {
		t.Fatalf("ServerSideEmitWithAck = %v, %v", replies, err)
	}
}
