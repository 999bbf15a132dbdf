package socketio

import "testing"

// BenchBroadcastRoom1000 is BenchmarkBroadcastRoom1000 on a server
// configured by cfg.
func BenchBroadcastRoom1000(b *testing.B, cfg Config) { benchBroadcastRoom1000(b, cfg) }

// BenchEmitRoomWS is BenchmarkEmitRoomWS on a server configured by cfg.
func BenchEmitRoomWS(b *testing.B, cfg Config) { benchEmitRoomWS(b, cfg) }
