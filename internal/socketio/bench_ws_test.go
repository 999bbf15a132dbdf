package socketio

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// BenchmarkEmitRoomWS emits one event per iteration to a room of 100
// sockets connected over real WebSockets on loopback: the whole path of a
// provider room's event below the application (encoding, the namespace's
// delivery, the engine's write). ns/delivery includes the in-process
// clients' reads, which share the CPU.
func BenchmarkEmitRoomWS(b *testing.B) { benchEmitRoomWS(b, Config{}) }

// benchEmitRoomWS is BenchmarkEmitRoomWS on a server configured by cfg
// (BenchmarkFanoutWSObserved: with and without the metrics' observers).
func benchEmitRoomWS(b *testing.B, cfg Config) {
	const n = 100
	s := NewServer(cfg)
	defer s.Shutdown(context.Background())
	joined := make(chan struct{}, n)
	s.Of("/").OnConnection(func(so *Socket) {
		so.Join("provider-1")
		joined <- struct{}{}
	})
	hs := httptest.NewServer(s)
	defer hs.Close()
	var got atomic.Int64
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		c, err := ws.Dial(ctx, url, ws.DialOptions{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		if _, _, err := c.ReadMessage(1 << 20); err != nil { // open
			b.Fatal(err)
		}
		if err := c.WriteMessage(ws.OpText, []byte("40")); err != nil {
			b.Fatal(err)
		}
		if _, _, err := c.ReadMessage(1 << 20); err != nil { // CONNECT
			b.Fatal(err)
		}
		go func() {
			for {
				if _, _, err := c.ReadMessage(1 << 20); err != nil {
					return
				}
				got.Add(1)
			}
		}()
	}
	for range n {
		<-joined
	}
	op := s.Of("/").To("provider-1")
	payload := map[string]any{"action": "updated", "providerId": "1", "seq": 42, "slot": map[string]any{"id": "s1", "start": "2026-01-01T10:00:00Z"}}
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		if err := op.Emit("availabilityUpdated", payload); err != nil {
			b.Fatal(err)
		}
	}
	for got.Load() < int64(b.N*n) {
		time.Sleep(100 * time.Microsecond)
	}
	b.StopTimer()
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n), "ns/delivery")
}
