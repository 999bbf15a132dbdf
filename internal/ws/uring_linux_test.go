//go:build linux

package ws

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"strings"
	"testing"
	"time"
)

// readAll reads want from the client side, in order, failing on a mismatch.
func readAll(t *testing.T, nc net.Conn, want [][]byte) error {
	cli := NewClientConn(nc)
	for i, w := range want {
		_ = nc.SetReadDeadline(time.Now().Add(guard))
		_, p, err := cli.ReadMessage(1 << 20)
		if err != nil {
			return err
		}
		if !bytes.Equal(p, w) {
			return fmt.Errorf("message %d: %d bytes, want %d", i, len(p), len(w))
		}
	}
	return nil
}

// TestSendBatch sends one batch to a connection with one frame, one with
// several (copied together) and one closed before the batch: the first two
// get their bytes, the closed one ErrClosed and all its frames back.
func TestSendBatch(t *testing.T) {
	b := NewBatcher()
	t.Cleanup(func() { b.Close() })
	path, why := b.Path()
	t.Logf("Batcher path here: %s %s", path, why)
	one, oneCli := tcpPair(t)
	several, severalCli := tcpPair(t)
	closed, _ := tcpPair(t)
	_ = closed.Close()

	oneMsg := numbered(1, 200)
	sev := [][]byte{numbered(2, 100), numbered(3, 300), numbered(4, 50)}
	items := []SendItem{
		{Conn: one, Frames: [][]byte{AppendFrame(nil, OpText, oneMsg)}},
		{Conn: several, Frames: [][]byte{AppendFrame(nil, OpBinary, sev[0]), AppendFrame(nil, OpBinary, sev[1]), AppendFrame(nil, OpBinary, sev[2])}},
		{Conn: closed, Frames: [][]byte{AppendFrame(nil, OpText, []byte("never"))}},
	}
	b.Send(items)
	if items[0].Err != nil || items[0].Rest != nil || items[1].Err != nil || items[1].Rest != nil {
		t.Fatalf("readers: %v %v / %v %v", items[0].Err, items[0].Rest, items[1].Err, items[1].Rest)
	}
	if !errors.Is(items[2].Err, ErrClosed) || len(items[2].Rest) != 1 {
		t.Fatalf("closed connection: err %v, rest %d frames", items[2].Err, len(items[2].Rest))
	}
	if err := readAll(t, oneCli, [][]byte{oneMsg}); err != nil {
		t.Fatal(err)
	}
	if err := readAll(t, severalCli, sev); err != nil {
		t.Fatal(err)
	}
}

// TestSendBatchFullSocket batches to a client that does not read until one
// batch comes back with ErrWouldBlock and a rest; written later with
// WriteFrames, the rest completes the stream byte for byte.
func TestSendBatchFullSocket(t *testing.T) {
	bt := NewBatcher()
	t.Cleanup(func() { bt.Close() })
	c, cli := tcpPair(t)
	var sent [][]byte
	var rest [][]byte
	for len(rest) == 0 {
		if len(sent) > 5000 {
			t.Fatal("the socket never filled")
		}
		p, q := numbered(len(sent), 20<<10), numbered(len(sent)+1, 100)
		sent = append(sent, p, q)
		items := []SendItem{{Conn: c, Frames: [][]byte{AppendFrame(nil, OpBinary, p), AppendFrame(nil, OpBinary, q)}}}
		bt.Send(items)
		switch {
		case errors.Is(items[0].Err, ErrWouldBlock):
			if len(items[0].Rest) == 0 {
				t.Fatal("ErrWouldBlock with nothing left")
			}
			rest = items[0].Rest
		case items[0].Err != nil:
			t.Fatal(items[0].Err)
		}
	}
	got := make(chan error, 1)
	go func() { got <- readAll(t, cli, sent) }()
	if err := c.WriteFrames(rest); err != nil {
		t.Fatal(err)
	}
	if err := <-got; err != nil {
		t.Fatal(err)
	}
}

// doneFunc is a WriteDone.
type doneFunc func(error)

func (f doneFunc) WriteDone(err error) { f(err) }

// TestSendBatchFinishesTheRestInBackground batches, with a Done, to a
// client that does not read: once its socket is full, the item is pending
// (Send returns with neither an error nor a rest); the client, reading at
// last, gets every byte in order, and Done is told with no error.
func TestSendBatchFinishesTheRestInBackground(t *testing.T) {
	bt := NewBatcher()
	t.Cleanup(func() { bt.Close() })
	c, cli := tcpPair(t)
	finished := make(chan error, 1)
	done := doneFunc(func(err error) { finished <- err })
	var sent [][]byte
	for pending := false; !pending; {
		if len(sent) > 5000 {
			t.Fatal("the socket never filled")
		}
		p := numbered(len(sent), 20<<10)
		sent = append(sent, p)
		items := []SendItem{{Conn: c, Frames: [][]byte{AppendFrame(nil, OpBinary, p)}, Done: done}}
		bt.Send(items)
		if items[0].Err != nil || items[0].Rest != nil {
			t.Fatalf("err %v, rest %d frames: a Done item returns neither", items[0].Err, len(items[0].Rest))
		}
		pending = items[0].Pending
	}
	if err := readAll(t, cli, sent); err != nil {
		t.Fatal(err)
	}
	if err := <-finished; err != nil {
		t.Fatal(err)
	}
}

// TestSendBatchFallback forces, on this kernel, each way io_uring can be
// unusable elsewhere: io_uring_setup fails (seccomp, io_uring_disabled); the
// probe finds the send opcode missing (a kernel before 5.6); the kernel takes
// the submission but refuses every send (a kernel without the opcode that
// the probe could not ask). Each time the batcher says it writes one send
// per connection and why, and every message reaches every connection, in
// order, with nothing lost on the batch the kernel refused.
func TestSendBatchFallback(t *testing.T) {
	here := NewBatcher()
	ioURingHere := here.fallback.Load() == nil
	here.Close()
	const missing = 255 // an opcode no kernel has
	for _, tc := range []struct {
		name    string
		cfg     batcherConfig
		upfront bool   // the fallback is known before the first batch
		whyHas  string // in the reason, where io_uring works here
	}{
		{"setup fails", batcherConfig{entries: 0, rings: 1, op: ioringOpSend}, true, "io_uring_setup"},
		{"opcode missing", batcherConfig{entries: ringEntries, rings: 2, op: missing}, true, "lacks io_uring opcode 255"},
		{"sends refused at run time", batcherConfig{entries: ringEntries, rings: 2, op: missing, skipProbe: true}, false,
			"refused io_uring opcode 255 at run time"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			b := newBatcher(tc.cfg)
			t.Cleanup(func() { b.Close() })
			path, why := b.Path()
			if tc.upfront || !ioURingHere {
				if path != BatchSend || why == "" {
					t.Fatalf("path %q (%q), want %q with a reason", path, why, BatchSend)
				}
			} else if path != BatchIOURing {
				t.Fatalf("path %q (%q) before the first batch, want %q", path, why, BatchIOURing)
			}
			deliverAll(t, b)
			path, why = b.Path()
			t.Logf("after the batches: %s, %s", path, why)
			if path != BatchSend {
				t.Fatalf("path %q after the batches, want %q", path, BatchSend)
			}
			if ioURingHere && !strings.Contains(why, tc.whyHas) {
				t.Fatalf("reason %q, want it to mention %q", why, tc.whyHas)
			}
		})
	}
}

// deliverAll sends 20 batches through b to 30 connections (one frame for
// some, three copied together for others) plus one closed connection, then
// reads every connection's stream and compares it message by message.
func deliverAll(t *testing.T, b *Batcher) {
	t.Helper()
	const conns, rounds = 30, 20
	srv := make([]*Conn, conns)
	cli := make([]net.Conn, conns)
	want := make([][][]byte, conns)
	for i := range srv {
		srv[i], cli[i] = tcpPair(t)
	}
	for round := range rounds {
		closed, _ := tcpPair(t)
		_ = closed.Close()
		items := []SendItem{{Conn: closed, Frames: [][]byte{AppendFrame(nil, OpText, []byte("never"))}}}
		for i, c := range srv {
			var frames [][]byte
			for j := range 1 + 2*(i%2) {
				p := numbered(round*1000+i*10+j, 100+50*j+i)
				want[i] = append(want[i], p)
				frames = append(frames, AppendFrame(nil, OpBinary, p))
			}
			items = append(items, SendItem{Conn: c, Frames: frames})
		}
		b.send(items)
		if !errors.Is(items[0].Err, ErrClosed) || len(items[0].Rest) != 1 {
			t.Fatalf("round %d, closed connection: err %v, rest %d frames", round, items[0].Err, len(items[0].Rest))
		}
		for _, it := range items[1:] {
			err := it.Err
			if errors.Is(err, ErrWouldBlock) {
				err = it.Conn.WriteFrames(it.Rest)
			}
			if err != nil {
				t.Fatalf("round %d: %v", round, err)
			}
		}
	}
	for i := range cli {
		if err := readAll(t, cli[i], want[i]); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
}

// BenchmarkSendBatchFallback is BenchmarkSendBatch where io_uring cannot be
// set up: one send(2) per connection.
func BenchmarkSendBatchFallback(b *testing.B) {
	bt := newBatcher(batcherConfig{entries: 0, rings: 1, op: ioringOpSend})
	defer bt.Close()
	benchSendBatch(b, bt.Send)
}

// TestSendBatchesOfChangingSize sends batches of 2, 5 and 3 connections in
// turn through one Batcher (its rings keep what a batch of each size needs
// and reuse it): every connection gets its frames, in order.
func TestSendBatchesOfChangingSize(t *testing.T) {
	b := NewBatcher()
	t.Cleanup(func() { b.Close() })
	const n = 5
	conns := make([]*Conn, n)
	clis := make([]net.Conn, n)
	for i := range n {
		conns[i], clis[i] = tcpPair(t)
	}
	want := make([][][]byte, n)
	for round, size := range []int{2, 5, 3} {
		items := make([]SendItem, size)
		for i := range size {
			msg := numbered(round*n+i, 100+i)
			want[i] = append(want[i], msg)
			items[i] = SendItem{Conn: conns[i], Frames: [][]byte{AppendFrame(nil, OpText, msg)}}
		}
		b.Send(items)
		for i := range items {
			if items[i].Err != nil || items[i].Rest != nil {
				t.Fatalf("batch of %d, connection %d: %v, rest %d frames", size, i, items[i].Err, len(items[i].Rest))
			}
		}
	}
	for i := range n {
		if err := readAll(t, clis[i], want[i]); err != nil {
			t.Fatalf("connection %d: %v", i, err)
		}
	}
}
