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
	b.Run("observer=off", func(b *testing.B) { socketio.BenchBroadcastRoom1000(b, socketio.Config{}) })
	b.Run("observer=on", func(b *testing.B) {
		m := metrics.New(metrics.Config{Events: []string{"availabilityUpdated"}})
		socketio.BenchBroadcastRoom1000(b, socketio.Config{Observer: m.SocketIO()})
	})
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
