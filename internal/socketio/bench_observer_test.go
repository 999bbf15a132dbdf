package socketio_test

import (
	"testing"

	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/metrics"
	"github.com/eventide/realtime/internal/socketio"
)

// BenchmarkFanoutObserved is BenchmarkBroadcastRoom1000 (1000 in-process
// sockets: the Socket.IO layer alone, no network) without an observer and
// with the metrics' (ADR 0024): the cost of the hooks on a broadcast.
func BenchmarkFanoutObserved(b *testing.B) {
	for _, on := range []bool{false, true} {
		name := "observer=off"
		if on {
			name = "observer=on"
		}
		b.Run(name, func(b *testing.B) {
			cfg := socketio.Config{}
			if on {
				cfg.Observer = metrics.New(metrics.Config{Events: []string{"availabilityUpdated"}}).SocketIO()
			}
			s := socketio.NewServer(cfg)
			defer s.Shutdown(b.Context())
			socketio.ConnectNullN(b, s, 1000, "provider-1")
			op := s.Of("/").To("provider-1")
			payload := map[string]any{"action": "updated", "providerId": "1", "seq": 42, "slot": map[string]any{"id": "s1", "start": "2026-01-01T10:00:00Z"}}
			b.ReportAllocs()
			for b.Loop() {
				if err := op.Emit("availabilityUpdated", payload); err != nil {
					b.Fatal(err)
				}
			}
			b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N)/1000, "ns/delivery")
		})
	}
}

// BenchmarkFanoutWSObserved is BenchmarkEmitRoomWS (100 sockets on real
// loopback WebSockets: encoding, delivery, the engine's writes) without
// observers and with the metrics' engineio and socketio observers.
func BenchmarkFanoutWSObserved(b *testing.B) {
	b.Run("observer=off", func(b *testing.B) { socketio.BenchEmitRoomWS(b, socketio.Config{}) })
	b.Run("observer=on", func(b *testing.B) {
		m := metrics.New(metrics.Config{Events: []string{"availabilityUpdated"}})
		socketio.BenchEmitRoomWS(b, socketio.Config{Observer: m.SocketIO(), Engine: engineio.Config{Observer: m.Engine()}})
	})
}
