package socketio

import "testing"

// ConnectNullN is connectN for the external tests: n in-process sockets in
// room, counting what they are sent.
func ConnectNullN(tb testing.TB, s *Server, n int, room string) { connectN(tb, s, n, room) }

// BenchEmitRoomWS is BenchmarkEmitRoomWS on a server configured by cfg.
func BenchEmitRoomWS(b *testing.B, cfg Config) { benchEmitRoomWS(b, cfg) }
