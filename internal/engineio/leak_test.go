package engineio

import (
	"context"
	"fmt"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// TestNoLeakAfterClose opens and closes 1,000 polling sessions in-process and
// 200 WebSocket sessions over TCP, three ways each (client close, server
// Close, ping timeout), and checks that goroutines return to the baseline,
// every OnClose ran once and the session map is empty.
func TestNoLeakAfterClose(t *testing.T) {
	if testing.Short() {
		t.Skip("slow")
	}
	var closes sync.WaitGroup
	clk := newFakeClock()
	srv := NewServer(Config{Clock: clk},
		func(c *Conn) Receiver {
			closes.Add(1)
			return &countingReceiver{wg: &closes}
		})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	http.DefaultClient.CloseIdleConnections()
	runtime.GC()
	base := runtime.NumGoroutine()

	// Polling sessions, in-process: handshake; a third closed by Close, a
	// third by a client close packet, a third by ping timeout.
	for i := range 1000 {
		rec := httptest.NewRecorder()
		srv.ServeHTTP(rec, httptest.NewRequest("GET", "/socket.io/?EIO=4&transport=polling", nil))
		if rec.Code != 200 {
			t.Fatalf("handshake %d", rec.Code)
		}
		sid := parseOpen(t, rec.Body.String()).SID
		switch i % 3 {
		case 0:
			srv.lookup(sid).Close()
		case 1:
			req := httptest.NewRequest("POST", "/socket.io/?EIO=4&transport=polling&sid="+sid, stringsReader("1"))
			srv.ServeHTTP(httptest.NewRecorder(), req)
		}
	}
	// WebSocket sessions over TCP.
	wsURL := "ws" + hs.URL[len("http"):] + "/socket.io/?EIO=4&transport=websocket"
	for i := range 200 {
		ctx, cancel := context.WithTimeout(context.Background(), guard)
		c, err := ws.Dial(ctx, wsURL, ws.DialOptions{})
		cancel()
		if err != nil {
			t.Fatal(err)
		}
		_, open, err := c.ReadMessage(1 << 20)
		if err != nil {
			t.Fatal(err)
		}
		sid := parseOpen(t, string(open)).SID
		switch i % 3 {
		case 0:
			_ = c.Close()
		case 1:
			srv.lookup(sid).Close()
			defer c.Abort()
		default:
			defer c.Abort() // silent: ping timeout
		}
	}
	// The silent ones time out; those closed by Close over polling, whose
	// client never polls again, are closed after pingTimeout.
	clk.Advance(time.Minute)
	waitDone(t, &closes)
	waitCount(t, srv, 0)
	http.DefaultClient.CloseIdleConnections()
	deadline := time.Now().Add(guard)
	for {
		runtime.GC()
		n := runtime.NumGoroutine()
		if n <= base+5 {
			break
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<20)
			t.Fatalf("goroutines: %d, baseline %d\n%s", n, base, buf[:runtime.Stack(buf, true)])
		}
		time.Sleep(20 * time.Millisecond)
	}
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
}

type countingReceiver struct {
	wg *sync.WaitGroup
	n  int
}

func (r *countingReceiver) OnMessage([]byte, bool) {}
func (r *countingReceiver) OnClose(string) {
	r.n++
	if r.n > 1 {
		panic("OnClose twice")
	}
	r.wg.Done()
}

func waitDone(t *testing.T, wg *sync.WaitGroup) {
	t.Helper()
	done := make(chan struct{})
	go func() { wg.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(guard):
		t.Fatal("not every session was closed")
	}
}

// TestIdleWebSocketsHaveNoGoroutine opens 200 WebSocket sessions and checks
// that, idle, they hold no goroutine each (the poller watches them), that
// each still receives its messages in order when its client speaks, and
// that a client going away still closes its session.
func TestIdleWebSocketsHaveNoGoroutine(t *testing.T) {
	if runtime.GOOS != "linux" {
		t.Skip("the poller is Linux-only; elsewhere a goroutine reads each connection")
	}
	e := newEnv(t, Config{PingInterval: time.Hour})
	e.openWS() // starts the poller
	runtime.GC()
	base := runtime.NumGoroutine()

	const n = 200
	clients := make([]*ws.Conn, n)
	recs := make([]*recorder, n)
	for i := range n {
		clients[i], recs[i] = e.openWS()
	}
	// The handshakes' goroutines end; the sessions' do not exist.
	waitUntil(t, fmt.Sprintf("at most %d goroutines for %d idle sessions", base+20, n), func() bool {
		return runtime.NumGoroutine() <= base+20
	})
	for i, c := range clients {
		writeWS(t, c, fmt.Sprintf("4first %d", i))
		writeWS(t, c, fmt.Sprintf("4second %d", i))
	}
	for i, r := range recs {
		r.wantMsg(t, fmt.Sprintf("first %d", i), false)
		r.wantMsg(t, fmt.Sprintf("second %d", i), false)
	}
	for _, c := range clients[:n/2] {
		_ = c.Abort()
	}
	for _, r := range recs[:n/2] {
		r.wantClose(t, ReasonTransportClose)
	}
	if got := e.srv.Count(); got != n/2+1 {
		t.Fatalf("Count = %d, want %d", got, n/2+1)
	}
}
