//go:build linux

package ws

import (
	"bytes"
	"errors"
	"fmt"
	"net"
	"testing"
	"time"
)

// readAll reads want from the client side, in order, failing on a mismatch.
func readAll(t *testing.T, nc net.Conn, want [][]byte) error {
	cli := NewClientConn(nc)
	for i, w := range want {
		_ = nc.SetReadDeadline(time.Now().Add(10 * time.Second))
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
	t.Logf("io_uring available: %v", uringAvailable())
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
	SendBatch(items)
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
		SendBatch(items)
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
