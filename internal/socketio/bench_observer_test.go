package socketio_test

import (
	"testing"

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
