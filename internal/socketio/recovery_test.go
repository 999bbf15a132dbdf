package socketio

import (
	"net/http/httptest"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/fakeclock"
)

func newClock() *fakeclock.Clock {
	return fakeclock.New(time.Date(2026, 12, 3, 12, 0, 0, 0, time.UTC))
}

func TestWithOffsetSplicesOnce(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{`2["ev",{"a":1}]`, `2["ev",{"a":1},"7"]`},
		// A payload whose own last argument is a string keeps it; the
		// offset comes after it.
		{`2["ev","12-3"]`, `2["ev","12-3","7"]`},
		{`2/admin,["ev"]`, `2/admin,["ev","7"]`},
		{`51-["ev",{"_placeholder":true,"num":0}]`, `51-["ev",{"_placeholder":true,"num":0},"7"]`},
	} {
		p := &Packet{Type: PacketEvent, Text: []byte(tc.in)}
		if got := string(p.withOffset("7").Text); got != tc.want {
			t.Errorf("withOffset(%s) = %s, want %s", tc.in, got, tc.want)
		}
		if string(p.Text) != tc.in {
			t.Errorf("the original packet changed: %s", p.Text)
		}
	}
}

func TestHistoryBounds(t *testing.T) {
	clk := newClock()
	cfg := Recovery{Window: time.Minute, MaxPackets: 3, MaxBytes: 1 << 20}
	h := newHistory(cfg, clk.Now)
	b := func(s string) *Broadcast {
		return &Broadcast{Packet: &Packet{Type: PacketEvent, Text: []byte(`2["` + s + `"]`)}}
	}
	var offs []string
	for _, s := range []string{"a", "b", "c", "d", "e"} {
		offs = append(offs, h.add(b(s)))
	}
	if h.len() != 3 {
		t.Fatalf("count bound: %d kept, want 3", h.len())
	}
	// "c" is the oldest kept: an offset of "a" is gone (what came after
	// it, "b", was dropped), that of "b" still answers (everything after
	// it is kept).
	if _, _, ok := h.after("/", offs[0]); ok {
		t.Fatal("an offset whose successors were dropped answers")
	}
	missed, last, ok := h.after("/", offs[1])
	if !ok || len(missed) != 3 || last != offs[4] || missed[0].Offset != offs[2] {
		t.Fatalf("after %s: %d missed, last %s, ok %v", offs[1], len(missed), last, ok)
	}
	if _, _, ok := h.after("/", "999"); ok {
		t.Fatal("an offset never assigned answers")
	}
	if _, _, ok := h.after("/", "not-an-offset"); ok {
		t.Fatal("garbage answers")
	}

	// Window: a minute later everything is older than the window.
	clk.Advance(time.Minute)
	if _, _, ok := h.after("/", offs[3]); ok {
		t.Fatal("an offset older than the window answers")
	}
	if h.len() != 0 {
		t.Fatalf("%d entries kept past the window", h.len())
	}

	// Bytes.
	hb := newHistory(Recovery{Window: time.Minute, MaxPackets: 100, MaxBytes: 2 * (entryOverhead + 56)}, clk.Now)
	for range 10 {
		hb.add(b(strings.Repeat("x", 50)))
	}
	if hb.len() != 2 || hb.bytes > 2*(entryOverhead+56) {
		t.Fatalf("bytes bound: %d kept, %d bytes", hb.len(), hb.bytes)
	}
}

func TestMemorySessionsOnceAndBounded(t *testing.T) {
	clk := newClock()
	m := &memorySessions{max: 2, window: time.Minute, now: clk.Now, byPID: map[string]memorySession{}}
	m.put(Session{SID: "s1", PID: "p1"})
	if s, ok := m.take("p1"); !ok || s.SID != "s1" {
		t.Fatal("session not taken")
	}
	if _, ok := m.take("p1"); ok {
		t.Fatal("a session was used twice")
	}
	m.put(Session{SID: "s2", PID: "p2"})
	m.put(Session{SID: "s3", PID: "p3"})
	m.put(Session{SID: "s4", PID: "p4"})
	if m.len() != 2 {
		t.Fatalf("%d sessions kept, max 2", m.len())
	}
	if _, ok := m.take("p2"); ok {
		t.Fatal("the oldest session was not dropped")
	}
	clk.Advance(time.Minute)
	if _, ok := m.take("p3"); ok {
		t.Fatal("an expired session was taken")
	}
}

func TestOffsetAfter(t *testing.T) {
	for _, tc := range []struct {
		a, b string
		want bool
	}{
		{"2", "1", true}, {"1", "2", false}, {"10", "9", true},
		{"1700000000000-1", "1700000000000-0", true},
		{"1700000000001-0", "1700000000000-5", true},
		{"1700000000000-0", "1700000000000-0", false},
		{"x", "1", false},
	} {
		if got := offsetAfter(tc.a, tc.b); got != tc.want {
			t.Errorf("offsetAfter(%s, %s) = %v", tc.a, tc.b, got)
		}
	}
}

// recConn is an in-process connection that records the text messages
// sent to it.
type recConn struct {
	nullConn
	mu    sync.Mutex
	texts []string
}

func (c *recConn) Send(msgs ...*engineio.Message) error {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, m := range msgs {
		if !m.IsBinary() {
			c.texts = append(c.texts, string(m.Data()))
		}
	}
	return nil
}

func (c *recConn) sent() []string {
	c.mu.Lock()
	defer c.mu.Unlock()
	return append([]string(nil), c.texts...)
}

// TestRecoveryPendingBuffer: what is delivered while a socket is being
// recovered waits in its buffer and goes after the missed events, those
// the history already gave dropped; later broadcasts reach it live.
func TestRecoveryPendingBuffer(t *testing.T) {
	clk := newClock()
	s := NewServer(Config{Recovery: Recovery{Window: time.Minute}, Now: clk.Now})
	defer s.Shutdown(t.Context())
	nsp := s.Of("/")
	emit := func(arg string) {
		t.Helper()
		if err := nsp.To("r").Emit("ev", arg); err != nil {
			t.Fatal(err)
		}
	}
	emit("one") // offset 1: the last the client got
	emit("two") // offset 2: missed
	s.recovery.mem.put(Session{SID: "old", PID: "p", Rooms: []string{"old", "r"}})

	conn := &recConn{nullConn: nullConn{id: "x", proto: 4, req: httptest.NewRequest("GET", "/socket.io/?EIO=4", nil)}}
	cl := s.newClient(conn)
	conn.recv = cl
	so := newSocket(nsp, cl, map[string]any{})
	r := nsp.restore(so, "p", "1")
	if r == nil {
		t.Fatal("not restored")
	}
	emit("three") // offset 3, delivered while pending: buffered
	// A delivery of offset 2 racing the history read: buffered too, and
	// dropped, since the history gave it.
	nsp.pmu.Lock()
	r.pr.buf = append(r.pr.buf, &Packet{Type: PacketEvent, Text: []byte(`2["ev","two","2"]`)})
	r.pr.offs = append(r.pr.offs, "2")
	nsp.pmu.Unlock()
	nsp.completeRecovery(so, r)
	emit("four") // live

	got := conn.sent()
	want := []string{`2["ev","two","2"]`, `2["ev","three","3"]`, `2["ev","four","4"]`}
	if len(got) != 4 || !strings.HasPrefix(got[0], "0{") || !strings.Contains(got[0], `"sid":"old"`) || !strings.Contains(got[0], `"pid":"p"`) {
		t.Fatalf("sent %q: want CONNECT {sid, pid} then %q", got, want)
	}
	for i, w := range want {
		if got[i+1] != w {
			t.Fatalf("sent %q: want CONNECT then %q", got, want)
		}
	}
	if so.ID() != "old" || !so.Recovered() || nsp.npending.Load() != 0 {
		t.Fatalf("socket %s recovered %v pending %d", so.ID(), so.Recovered(), nsp.npending.Load())
	}
}

// An event emitted to one socket is kept without a Broadcast and comes back
// as a broadcast to that socket's room, between the broadcasts around it.
func TestHistoryEmitToOneSocket(t *testing.T) {
	clk := newClock()
	h := newHistory(Recovery{Window: time.Minute, MaxPackets: 10, MaxBytes: 1 << 20}, clk.Now)
	first := h.add(&Broadcast{Namespace: "/admin", Packet: &Packet{Type: PacketEvent, Text: []byte(`2["a"]`)}, Rooms: []string{"r"}})
	p := &Packet{Type: PacketEvent, Text: []byte(`2["joined"]`)}
	off := h.addTo(p, "sock1")
	h.add(&Broadcast{Namespace: "/admin", Packet: &Packet{Type: PacketEvent, Text: []byte(`2["c"]`)}})
	missed, _, ok := h.after("/admin", first)
	if !ok || len(missed) != 2 {
		t.Fatalf("after %s: %d missed, ok %v", first, len(missed), ok)
	}
	got := missed[0]
	if got.Offset != off || string(got.Packet.Text) != `2["joined"]` || got.Packet.Type != PacketEvent || got.Packet.Namespace != "/admin" ||
		got.Namespace != "/admin" || len(got.Rooms) != 1 || got.Rooms[0] != "sock1" {
		t.Fatalf("the socket's own event came back as %+v", got)
	}
	if string(missed[1].Packet.Text) != `2["c"]` || len(missed[1].Rooms) != 0 {
		t.Fatalf("the broadcast after it came back as %+v", missed[1])
	}
}

// An event with attachments emitted to one socket keeps its packet whole.
func TestHistoryEmitToOneSocketBinary(t *testing.T) {
	h := newHistory(Recovery{Window: time.Minute, MaxPackets: 10, MaxBytes: 1 << 20}, newClock().Now)
	first := h.add(&Broadcast{Packet: &Packet{Type: PacketEvent, Text: []byte(`2["a"]`)}})
	p := &Packet{Type: PacketBinaryEvent, Namespace: "/", Text: []byte(`51-["file",{"_placeholder":true,"num":0}]`), Attachments: [][]byte{{1, 2}}}
	h.addTo(p, "sock1")
	missed, _, ok := h.after("/", first)
	if !ok || len(missed) != 1 || missed[0].Packet != p || missed[0].Rooms[0] != "sock1" {
		t.Fatalf("after %s: %+v, ok %v", first, missed, ok)
	}
}
