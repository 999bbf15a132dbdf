package rawws_test

import (
	"runtime"
	"sync/atomic"
	"testing"

	"github.com/eventide/realtime/internal/rawws"
)

// BenchmarkBroadcast measures one Broadcast to 10 real clients over loopback
// (encoded once, queued to each). The clients drain concurrently; every 512
// messages the loop waits for them, so no queue overflows.
func BenchmarkBroadcast(b *testing.B) {
	const clients, window = 10, 512
	f := start(b, rawws.Config{SendQueue: 2 * window})
	var received atomic.Int64
	for range clients {
		c := f.dial(b, "", nil)
		go func() {
			for {
				if _, _, err := c.ReadMessage(0); err != nil {
					return
				}
				received.Add(1)
			}
		}()
	}
	for f.svc.Count() != clients {
		runtime.Gosched()
	}
	msg := map[string]any{"message": "attendance", "attendeeId": 456, "status": "present"}
	b.ReportAllocs()
	b.ResetTimer()
	for i := 0; b.Loop(); i++ {
		if err := f.svc.Broadcast(msg); err != nil {
			b.Fatal(err)
		}
		if (i+1)%window == 0 {
			for received.Load() < int64((i+1)*clients) {
				runtime.Gosched()
			}
		}
	}
	b.StopTimer()
	if f.svc.Count() != clients {
		b.Fatalf("%d clients left: a queue overflowed", f.svc.Count())
	}
}
