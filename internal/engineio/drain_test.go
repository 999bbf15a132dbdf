package engineio

import (
	"context"
	"errors"
	"net/http"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// TestDrainSpreadsCloses checks that Drain refuses new sessions at once and
// closes the open ones one by one over the spread (on the engine's clock):
// a WebSocket with close code 1001, a pending long-poll with the close
// packet, each session's receiver with "server shutting down".
func TestDrainSpreadsCloses(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, Config{Clock: clk})
	var wss []*ws.Conn
	var recs []*recorder
	for range 3 {
		c, r := e.openWS()
		wss, recs = append(wss, c), append(recs, r)
	}
	sid, pr := e.handshakeV4()
	recs = append(recs, pr)
	poll := make(chan string, 1)
	go func() { _, b := e.get("EIO=4&transport=polling&sid=" + sid); poll <- b }()
	waitPoll(t, pr.conn)

	start := clk.Now()
	type result struct {
		n   int
		err error
	}
	done := make(chan result, 1)
	go func() {
		n, err := e.srv.Drain(context.Background(), 4*time.Second)
		done <- result{n, err}
	}()

	// The first at once, then one a second.
	for i := 1; i <= 4; i++ {
		waitCount(t, e.srv, 4-i)
		if i < 4 {
			at := start.Add(time.Duration(i) * time.Second)
			waitUntil(t, "the drain's next timer", func() bool { return clk.armedAt(at) })
			if got := e.srv.Count(); got != 4-i {
				t.Fatalf("before %v: %d sessions open, want %d", at.Sub(start), got, 4-i)
			}
			if i == 1 {
				if st, _ := e.get("EIO=4&transport=polling"); st != http.StatusServiceUnavailable {
					t.Fatalf("handshake while draining: %d, want 503", st)
				}
			}
			clk.Advance(time.Second)
		}
	}
	select {
	case res := <-done:
		if res.n != 4 || res.err != nil {
			t.Fatalf("Drain = %d, %v; want 4, nil", res.n, res.err)
		}
	case <-time.After(guard):
		t.Fatal("Drain did not return")
	}
	for _, r := range recs {
		r.wantClose(t, ReasonServerShutdown)
	}
	for _, c := range wss {
		_ = c.SetReadDeadline(time.Now().Add(guard))
		_, _, err := c.ReadMessage(1 << 20)
		var ce *ws.CloseError
		if !errors.As(err, &ce) || ce.Code != ws.CloseGoingAway {
			t.Fatalf("websocket read after drain: %v, want close 1001", err)
		}
	}
	if b := <-poll; b != "1" {
		t.Fatalf("pending poll = %q, want the close packet", b)
	}

	// Again, and Shutdown after it: nothing left, no error.
	if n, err := e.srv.Drain(context.Background(), time.Second); n != 0 || err != nil {
		t.Fatalf("second Drain = %d, %v", n, err)
	}
}

// TestDrainContextEnds checks that Drain closes the rest at once when its
// context ends before the spread has passed.
func TestDrainContextEnds(t *testing.T) {
	clk := newFakeClock()
	e := newEnv(t, Config{Clock: clk})
	var recs []*recorder
	for range 3 {
		_, r := e.openWS()
		recs = append(recs, r)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan int, 1)
	go func() {
		n, _ := e.srv.Drain(ctx, time.Hour)
		done <- n
	}()
	waitCount(t, e.srv, 2)
	cancel()
	select {
	case n := <-done:
		if n != 3 {
			t.Fatalf("Drain closed %d, want 3", n)
		}
	case <-time.After(guard):
		t.Fatal("Drain did not return after its context ended")
	}
	for _, r := range recs {
		r.wantClose(t, ReasonServerShutdown)
	}
}

// drainRecorder is a recorder that is a Drainer: it notes whether the
// session was still open when OnDrain ran.
type drainRecorder struct {
	*recorder
	openAtDrain chan bool
}

func (d *drainRecorder) OnDrain(ctx context.Context, reason string) {
	d.openAtDrain <- isOpen(d.conn) && reason == ReasonServerShutdown
}

// TestDrainAsksTheReceiverFirst: a Drainer receiver's OnDrain runs while
// its session is still open, before Drain closes it.
func TestDrainAsksTheReceiverFirst(t *testing.T) {
	recs := make(chan *drainRecorder, 1)
	srv := NewServer(Config{}, func(c *Conn) Receiver {
		d := &drainRecorder{
			recorder:    &recorder{conn: c, msgs: make(chan received, 8), closed: make(chan string, 1)},
			openAtDrain: make(chan bool, 1),
		}
		recs <- d
		return d
	})
	hs := newHTTPServer(t, srv)
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	c, err := ws.Dial(ctx, "ws"+hs.URL[len("http"):]+"/socket.io/?EIO=4&transport=websocket", ws.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Abort()
	readWS(t, c)
	d := <-recs
	if n, err := srv.Drain(ctx, 0); n != 1 || err != nil {
		t.Fatalf("Drain = %d, %v", n, err)
	}
	select {
	case open := <-d.openAtDrain:
		if !open {
			t.Fatal("OnDrain ran after the session was closed (or with another reason)")
		}
	default:
		t.Fatal("Drain did not call OnDrain")
	}
	d.wantClose(t, ReasonServerShutdown)
}

// TestStopAccepting: new sessions are refused, open ones keep working.
func TestStopAccepting(t *testing.T) {
	e := newEnv(t, Config{})
	c, r := e.openWS()
	e.srv.StopAccepting()
	if st, _ := e.get("EIO=4&transport=polling"); st != http.StatusServiceUnavailable {
		t.Fatalf("handshake after StopAccepting: %d, want 503", st)
	}
	writeWS(t, c, "4hello")
	r.wantMsg(t, "hello", false)
	r.wantOpen(t)
}
