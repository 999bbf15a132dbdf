package socketio

import (
	"bufio"
	"context"
	"encoding/binary"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/engineio"
)

// frameCounter is a raw WebSocket client that counts the frames it gets,
// reading them cheaply (header, skip payload), so a benchmark measures the
// server rather than its clients.
type frameCounter struct {
	nc     net.Conn
	frames atomic.Int64
}

func dialCounter(tb testing.TB, addr string) *frameCounter {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		tb.Fatal(err)
	}
	_, _ = io.WriteString(nc, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReaderSize(nc, 64<<10)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		tb.Fatalf("handshake: %v %v", res, err)
	}
	// CONNECT to "/": a masked text frame "40" (mask 0: payload as is).
	if _, err := nc.Write([]byte{0x81, 0x82, 0, 0, 0, 0, '4', '0'}); err != nil {
		tb.Fatal(err)
	}
	c := &frameCounter{nc: nc}
	go func() {
		var h [8]byte
		for {
			if _, err := io.ReadFull(br, h[:2]); err != nil {
				return
			}
			n := int64(h[1] & 0x7f)
			switch n {
			case 126:
				if _, err := io.ReadFull(br, h[:2]); err != nil {
					return
				}
				n = int64(binary.BigEndian.Uint16(h[:2]))
			case 127:
				if _, err := io.ReadFull(br, h[:8]); err != nil {
					return
				}
				n = int64(binary.BigEndian.Uint64(h[:8]))
			}
			if _, err := br.Discard(int(n)); err != nil {
				return
			}
			c.frames.Add(1)
		}
	}()
	return c
}

// BenchmarkBurstRoom1000WS emits a burst of 200 events per iteration to a
// room of 1,000 sockets on real loopback WebSockets, back to back from one
// goroutine, and waits for every frame: the fanout-1k case of
// bench/run.sh without the HTTP request (large broadcasts go to the shared
// writers, bursts coalesce).
func BenchmarkBurstRoom1000WS(b *testing.B) {
	const n, burst = 1000, 200
	s := NewServer(Config{Engine: engineioConfigForBench()})
	defer s.Shutdown(context.Background())
	joined := make(chan struct{}, n)
	s.Of("/").OnConnection(func(so *Socket) {
		so.Join("provider-1")
		joined <- struct{}{}
	})
	hs := httptest.NewServer(s)
	defer hs.Close()
	clients := make([]*frameCounter, n)
	for i := range clients {
		clients[i] = dialCounter(b, hs.Listener.Addr().String())
		defer clients[i].nc.Close()
	}
	for range n {
		<-joined
	}
	base := make([]int64, n)
	op := s.Of("/").To("provider-1")
	payload := map[string]any{"action": "updated", "providerId": "1", "seq": 42, "slot": map[string]any{"id": "s1", "start": "2026-01-01T10:00:00Z"}}
	b.ReportAllocs()
	b.ResetTimer()
	cpu0 := cpuTime()
	for b.Loop() {
		for i, c := range clients {
			base[i] = c.frames.Load()
		}
		for range burst {
			if err := op.Emit("availabilityUpdated", payload); err != nil {
				b.Fatal(err)
			}
		}
		deadline := time.Now().Add(30 * time.Second)
		for i, c := range clients {
			for c.frames.Load() < base[i]+burst {
				if time.Now().After(deadline) {
					b.Fatal(fmt.Sprintf("client %d: %d frames", i, c.frames.Load()-base[i]))
				}
				time.Sleep(50 * time.Microsecond)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*n*burst), "ns/delivery")
	b.ReportMetric(float64((cpuTime()-cpu0).Nanoseconds())/float64(b.N*n*burst), "cpu-ns/delivery")
}

// cpuTime is the process's user and system CPU time so far (the clients'
// reads included): a figure a loaded machine moves less than wall time.
func cpuTime() time.Duration {
	var ru syscall.Rusage
	_ = syscall.Getrusage(syscall.RUSAGE_SELF, &ru)
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}

func engineioConfigForBench() engineio.Config {
	return engineio.Config{PingInterval: time.Hour, SendQueue: 1 << 16}
}
