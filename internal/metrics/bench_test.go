package metrics_test

import (
	"context"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/metrics"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/ws"
)

// BenchmarkFanoutWS emits one availabilityUpdated per iteration to a room
// of 100 sockets on real loopback WebSockets (socketio's
// BenchmarkEmitRoomWS), without observers and with this package's: what
// the metrics cost a broadcast (ADR 0024 has the figures).
func BenchmarkFanoutWS(b *testing.B) {
	b.Run("observer=off", func(b *testing.B) { benchFanout(b, nil) })
	b.Run("observer=on", func(b *testing.B) {
		benchFanout(b, metrics.New(metrics.Config{Events: []string{"availabilityUpdated"}}))
	})
}

func benchFanout(b *testing.B, m *metrics.Metrics) {
	const n = 100
	cfg := socketio.Config{}
	if m != nil {
		cfg.Observer = m.SocketIO()
		cfg.Engine = engineio.Config{Observer: m.Engine()}
	}
	s := socketio.NewServer(cfg)
	defer s.Shutdown(context.Background())
	joined := make(chan struct{}, n)
	s.Of("/").OnConnection(func(so *socketio.Socket) {
		so.Join("provider-1")
		joined <- struct{}{}
	})
	hs := httptest.NewServer(s)
	defer hs.Close()
	var got atomic.Int64
	url := "ws" + strings.TrimPrefix(hs.URL, "http") + "/socket.io/?EIO=4&transport=websocket"
	for range n {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		c, err := ws.Dial(ctx, url, ws.DialOptions{})
		cancel()
		if err != nil {
			b.Fatal(err)
		}
		defer c.Close()
		for _, step := range []func() error{
			func() error { _, _, err := c.ReadMessage(1 << 20); return err }, // open
			func() error { return c.WriteMessage(ws.OpText, []byte("40")) },
			func() error { _, _, err := c.ReadMessage(1 << 20); return err }, // CONNECT
		} {
			if err := step(); err != nil {
				b.Fatal(err)
			}
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
