package redisadapter

import (
	"testing"

	"github.com/eventide/realtime/internal/socketio"
)

// The cost of one broadcast through the classic format, each way: what a
// publishing node pays once per broadcast, and what every other node pays
// once per broadcast it hosts a recipient of.

func benchBroadcast(b *testing.B) *socketio.Broadcast {
	p, err := socketio.EncodeEvent("/", socketio.NoID, "availabilityUpdated", map[string]any{
		"action": "updated", "providerId": "42", "seq": 1234, "at": "2030-01-01T09:00:00.000Z",
		"slot": map[string]any{"id": 77, "start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "status": "open", "note": "", "version": 3},
	})
	if err != nil {
		b.Fatal(err)
	}
	return &socketio.Broadcast{Namespace: "/", Packet: p, Rooms: []string{"provider-42"}, Stream: "42", Seq: 1234}
}

func BenchmarkClassicEncode(b *testing.B) {
	bc := benchBroadcast(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := encodeClassicBroadcast("abcdef", bc); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkClassicDecode(b *testing.B) {
	payload, err := encodeClassicBroadcast("abcdef", benchBroadcast(b))
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	b.SetBytes(int64(len(payload)))
	for b.Loop() {
		if _, _, err := decodeClassicBroadcast(payload); err != nil {
			b.Fatal(err)
		}
	}
}

func BenchmarkStreamsEntry(b *testing.B) {
	bc := benchBroadcast(b)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := broadcastEntry("abcdef0123456789", bc); err != nil {
			b.Fatal(err)
		}
	}
}
