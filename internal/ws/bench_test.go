package ws

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strconv"
	"testing"
	"time"
)

// loopConn is a net.Conn whose reads replay the same bytes forever and whose
// writes are discarded: ReadMessage's own cost, without a socket.
type loopConn struct {
	data []byte
	off  int
}

func (c *loopConn) Read(p []byte) (int, error) {
	n := copy(p, c.data[c.off:])
	c.off = (c.off + n) % len(c.data)
	return n, nil
}
func (c *loopConn) Write(p []byte) (int, error)      { return len(p), nil }
func (c *loopConn) Close() error                     { return nil }
func (c *loopConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *loopConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *loopConn) SetDeadline(time.Time) error      { return nil }
func (c *loopConn) SetReadDeadline(time.Time) error  { return nil }
func (c *loopConn) SetWriteDeadline(time.Time) error { return nil }

// BenchmarkReadMessage reads masked client messages of several sizes, as the
// engine reads what a browser sends (the small size is a typical Socket.IO
// event; 64 KiB is the plain WebSocket's default limit).
func BenchmarkReadMessage(b *testing.B) {
	for _, size := range []int{100, 4 << 10, 64 << 10} {
		b.Run(strconv.Itoa(size)+"B", func(b *testing.B) {
			c := NewServerConn(&loopConn{data: frame(0x81, true, bytes.Repeat([]byte{'a'}, size))})
			b.SetBytes(int64(size))
			b.ReportAllocs()
			for b.Loop() {
				if _, p, err := c.ReadMessage(1 << 20); err != nil || len(p) != size {
					b.Fatal(len(p), err)
				}
			}
		})
	}
}

// fanOut is n loopback TCP connections whose clients read and discard
// everything, and one pre-encoded 250-byte frame (an availabilityUpdated
// event's size).
type fanOut struct {
	conns []*Conn
	frame []byte
}

func newFanOut(b *testing.B, n int) *fanOut {
	f := &fanOut{frame: AppendFrame(nil, OpText, bytes.Repeat([]byte{'e'}, 250))}
	for range n {
		c, cli := tcpPair(b)
		go func() { _, _ = io.Copy(io.Discard, cli) }()
		f.conns = append(f.conns, c)
	}
	return f
}

// finish writes what a non-blocking write left, as the connection's own
// writer goroutine would.
func finish(b *testing.B, c *Conn, rest [][]byte, err error) {
	if errors.Is(err, ErrWouldBlock) {
		err = c.WriteFrames(rest)
	}
	if err != nil {
		b.Fatal(err)
	}
}

// BenchmarkWriteFramesNow writes one frame to each of 100 connections with
// WriteFramesNow (one send(2) each): the shared writers' path.
func BenchmarkWriteFramesNow(b *testing.B) {
	f := newFanOut(b, 100)
	scratch := make([][]byte, 1)
	b.ReportAllocs()
	for b.Loop() {
		for _, c := range f.conns {
			scratch[0] = f.frame
			rest, err := c.WriteFramesNow(scratch)
			finish(b, c, rest, err)
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(f.conns)), "ns/send")
}

// BenchmarkSendBatch writes one frame to each of 100 connections with one
// Batcher.Send: a small room's broadcast.
func BenchmarkSendBatch(b *testing.B) {
	bt := NewBatcher()
	defer bt.Close()
	benchSendBatch(b, bt.Send)
}

func benchSendBatch(b *testing.B, send func([]SendItem)) {
	f := newFanOut(b, 100)
	items := make([]SendItem, len(f.conns))
	frames := make([][]byte, len(f.conns))
	b.ReportAllocs()
	for b.Loop() {
		for i, c := range f.conns {
			frames[i] = f.frame
			items[i] = SendItem{Conn: c, Frames: frames[i : i+1 : i+1]}
		}
		send(items)
		for i := range items {
			if items[i].Err != nil {
				finish(b, items[i].Conn, items[i].Rest, items[i].Err)
			}
		}
	}
	b.ReportMetric(float64(b.Elapsed().Nanoseconds())/float64(b.N*len(f.conns)), "ns/send")
}
