package engineio

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

func BenchmarkMessageFrame(b *testing.B) {
	data := []byte(`2["availabilityUpdated",{"action":"created","providerId":"p1","seq":1}]`)
	b.Run("encode", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			TextMessage(data).wsFrame(4)
		}
	})
	b.Run("cached", func(b *testing.B) {
		m := TextMessage(data)
		m.wsFrame(4)
		b.ReportAllocs()
		for b.Loop() {
			m.wsFrame(4)
		}
	})
}

// countingClient is a raw WebSocket client that counts the bytes it receives.
type countingClient struct {
	nc net.Conn
	n  atomic.Int64
}

func dialRaw(addr, query string) (*countingClient, error) {
	nc, err := net.Dial("tcp", addr)
	if err != nil {
		return nil, err
	}
	_, _ = io.WriteString(nc, "GET /socket.io/?"+query+" HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
		"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(nc)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		nc.Close()
		return nil, fmt.Errorf("handshake: %v %v", res, err)
	}
	var h [2]byte // the open packet
	if _, err := io.ReadFull(br, h[:]); err != nil {
		return nil, err
	}
	if _, err := io.CopyN(io.Discard, br, int64(h[1]&0x7f)); err != nil {
		return nil, err
	}
	c := &countingClient{nc: nc}
	go func() {
		buf := make([]byte, 32<<10)
		for {
			n, err := br.Read(buf)
			c.n.Add(int64(n))
			if err != nil {
				return
			}
		}
	}()
	return c, nil
}

// BenchmarkFanOutWS sends one Message to 1,000 WebSocket connections over
// loopback TCP per iteration. ns/delivery includes the in-process clients'
// reads (they share the CPU), so the server's own cost is lower.
func BenchmarkFanOutWS(b *testing.B) {
	const n = 1000
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
		m := TextMessage(data)
		for _, c := range conns {
			if err := c.Send(m); err != nil {
				b.Fatal(err)
			}
		}
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

type nopReceiver struct{}

func (nopReceiver) OnMessage([]byte, bool) {}
func (nopReceiver) OnClose(string)         {}

// BenchmarkIdleMemory reports the heap and stack held per idle WebSocket
// session (server side; the in-process clients only hold their sockets).
func BenchmarkIdleMemory(b *testing.B) {
	const n = 1000
	for b.Loop() {
		srv := NewServer(Config{PingInterval: time.Hour}, func(c *Conn) Receiver { return nopReceiver{} })
		hs := httptest.NewServer(srv)
		addr := hs.Listener.Addr().String()
		runtime.GC()
		var before, after runtime.MemStats
		runtime.ReadMemStats(&before)
		ncs := make([]net.Conn, 0, n)
		for range n {
			nc, err := net.Dial("tcp", addr)
			if err != nil {
				b.Fatal(err)
			}
			_, _ = io.WriteString(nc, "GET /socket.io/?EIO=4&transport=websocket HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n"+
				"Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
			ncs = append(ncs, nc)
		}
		for srv.Count() < n {
			time.Sleep(time.Millisecond)
		}
		time.Sleep(50 * time.Millisecond)
		runtime.GC()
		runtime.ReadMemStats(&after)
		perConn := float64((after.HeapInuse+after.StackInuse)-(before.HeapInuse+before.StackInuse)) / n
		b.ReportMetric(perConn, "bytes/conn")
		for _, nc := range ncs {
			nc.Close()
		}
		hs.Close()
		_ = srv.Shutdown(context.Background())
	}
}
