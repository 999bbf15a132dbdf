package ws

import (
	"bytes"
	"encoding/binary"
	"errors"
	"io"
	"runtime"
	"testing"
)

// allocatedPerRead returns the bytes allocated by one ReadMessage of in on a
// fresh server connection, averaged over many reads, and checks that each
// read ends with the stream (the payload never completes).
func allocatedPerRead(t *testing.T, in []byte, maxSize int64) uint64 {
	t.Helper()
	const reads = 200
	conns := make([]*Conn, reads)
	for i := range conns {
		conns[i] = NewServerConn(&bytesConn{r: bytes.NewReader(in)})
	}
	var before, after runtime.MemStats
	runtime.ReadMemStats(&before)
	for _, c := range conns {
		if _, _, err := c.ReadMessage(maxSize); !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Fatalf("ReadMessage = %v, want the stream to end inside the payload", err)
		}
	}
	runtime.ReadMemStats(&after)
	return (after.TotalAlloc - before.TotalAlloc) / reads
}

// header1MB is a masked binary frame header announcing a 1 MiB payload.
func header1MB() []byte {
	h := []byte{0x82, 0x80 | 127, 0, 0, 0, 0, 0, 0, 0, 0, 1, 2, 3, 4}
	binary.BigEndian.PutUint64(h[2:10], 1<<20)
	return h
}

// TestDeclaredLengthIsNotAllocated is row 4 of issue 9: a frame header
// announcing 1 MiB followed by a few bytes must not cost the server 1 MiB.
// What a read allocates grows with the bytes that arrived, not with the
// length the header declares.
func TestDeclaredLengthIsNotAllocated(t *testing.T) {
	few := append(header1MB(), make([]byte, 100)...)
	got := allocatedPerRead(t, few, 2<<20)
	t.Logf("1 MiB announced, 100 bytes sent: %d bytes allocated per read", got)
	if got > 4*readChunk {
		t.Errorf("1 MiB announced, 100 bytes sent: %d bytes allocated per read, want at most %d", got, 4*readChunk)
	}

	// More bytes, still far from the announced length: the buffer doubles
	// as they arrive, so all it ever allocated stays within a small
	// multiple of what was sent.
	const sent = 100 << 10
	some := append(header1MB(), make([]byte, sent)...)
	got = allocatedPerRead(t, some, 2<<20)
	t.Logf("1 MiB announced, %d bytes sent: %d bytes allocated per read", sent, got)
	if got > 3*sent {
		t.Errorf("1 MiB announced, %d bytes sent: %d bytes allocated per read, want at most %d", sent, got, 3*sent)
	}
}

// TestLargeFragmentedMessage reads a message larger than readChunk in
// fragments of sizes around the chunk boundaries: the bytes come back
// whole and unmasked.
func TestLargeFragmentedMessage(t *testing.T) {
	var want []byte
	var in []byte
	sizes := []int{1, readChunk - 1, readChunk, readChunk + 1, 3 * readChunk, 50 << 10}
	for i, n := range sizes {
		p := numbered(i, max(n, 4))[:n]
		want = append(want, p...)
		b0 := byte(0x00)
		if i == 0 {
			b0 = 0x02
		}
		if i == len(sizes)-1 {
			b0 |= 0x80
		}
		in = append(in, frame(b0, true, p)...)
	}
	// A single frame bigger than readChunk, after the fragmented message.
	big := numbered(9, 70<<10)
	in = append(in, frame(0x82, true, big)...)

	c := NewServerConn(&bytesConn{r: bytes.NewReader(in)})
	for _, w := range [][]byte{want, big} {
		op, p, err := c.ReadMessage(1 << 20)
		if err != nil || op != OpBinary {
			t.Fatalf("ReadMessage = %v, %v", op, err)
		}
		if !bytes.Equal(p, w) {
			t.Fatalf("message of %d bytes differs from the %d sent", len(p), len(w))
		}
	}
}
