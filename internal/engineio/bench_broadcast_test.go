package engineio

import (
	"net/http/httptest"
	"sync"
	"testing"
	"time"
)

// BenchmarkBroadcastRoomWS broadcasts one Message per iteration to a room
// of 100 WebSocket connections over loopback TCP: the path of a provider
// room's event (written inline, in one io_uring submission where the
// kernel has it). ns/delivery includes the in-process clients' reads.
func BenchmarkBroadcastRoomWS(b *testing.B) {
	const n = 100
	var mu sync.Mutex
	var conns []*Conn
	srv := NewServer(Config{PingInterval: time.Hour, SendQueue: 1 << 20}, func(c *Conn) Receiver {
		mu.Lock()
		conns = append(conns, c)
		mu.Unlock()
		return nopReceiver{}
	})
	hs := httptest.NewServer(srv)
	defer hs.Close()
	addr := hs.Listener.Addr().String()
	clients := make([]*countingClient, 0, n)
	for range n {
		c, err := dialRaw(addr, "EIO=4&transport=websocket")
		if err != nil {
			b.Fatal(err)
		}
		clients = append(clients, c)
	}
	defer func() {
		for _, c := range clients {
			c.nc.Close()
		}
	}()
	for {
		mu.Lock()
		k := len(conns)
		mu.Unlock()
		if k == n {
			break
		}
		time.Sleep(time.Millisecond)
	}
	data := []byte(`2["availabilityUpdated",{"action":"created","providerId":"p1","slot":{"id":"s1"},"seq":1}]`)
	frameLen := int64(len(TextMessage(data).wsFrame(4)))
	b.ReportAllocs()
	b.ResetTimer()
	start := time.Now()
	for b.Loop() {
		broadcastRoom(srv, conns, TextMessage(data))
	}
	want := int64(b.N) * frameLen
	for _, c := range clients {
		for c.n.Load() < want {
			time.Sleep(100 * time.Microsecond)
		}
	}
	b.StopTimer()
	b.ReportMetric(float64(time.Since(start).Nanoseconds())/float64(b.N*n), "ns/delivery")
}

func broadcastRoom(srv *Server, conns []*Conn, m *Message) { srv.Broadcast(conns, m) }
