package ws

import (
	"bytes"
	"errors"
	"io"
	"net"
	"strings"
	"testing"
	"time"
	"unicode/utf8"
)

// bytesConn is a net.Conn reading from a fixed input and discarding writes.
type bytesConn struct {
	r *bytes.Reader
	w bytes.Buffer
}

func (c *bytesConn) Read(p []byte) (int, error)       { return c.r.Read(p) }
func (c *bytesConn) Write(p []byte) (int, error)      { return c.w.Write(p) }
func (c *bytesConn) Close() error                     { return nil }
func (c *bytesConn) LocalAddr() net.Addr              { return &net.TCPAddr{} }
func (c *bytesConn) RemoteAddr() net.Addr             { return &net.TCPAddr{} }
func (c *bytesConn) SetDeadline(time.Time) error      { return nil }
func (c *bytesConn) SetReadDeadline(time.Time) error  { return nil }
func (c *bytesConn) SetWriteDeadline(time.Time) error { return nil }

func FuzzReadMessage(f *testing.F) {
	seeds := [][]byte{
		frame(0x81, true, []byte("hello")),
		frame(0x82, true, []byte{0, 1, 2}),
		frame(0xC1, true, []byte("x")), // RSV1
		frame(0x83, true, nil),
		frame(0x8F, true, nil),
		frame(0x81, false, []byte("x")),
		frame(0x81, true, []byte{0xff, 0xfe}),
		frame(0x89, true, []byte("ping")),
		frame(0x09, true, nil),
		frame(0x88, true, []byte{3}),
		frame(0x88, true, []byte{3, 0xe8, 0xff}),
		append(frame(0x01, true, []byte("a")), frame(0x80, true, []byte("b"))...),
		append(frame(0x01, true, []byte("a")), bytes.Repeat(frame(0x00, true, []byte("a")), 200)...),
		{0x82, 0xff, 0x7f, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 1, 2, 3, 4},
		{0x82, 0xfe, 0xff},
		{},
		[]byte(strings.Repeat("\x80", 50)),
	}
	for _, s := range seeds {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		nc := &bytesConn{r: bytes.NewReader(in)}
		c := NewServerConn(nc)
		c.MaxFragments = 64
		for range 100 {
			op, p, err := c.ReadMessage(4096)
			if err != nil {
				var pe *ProtocolError
				if errors.As(err, &pe) && nc.w.Len() == 0 {
					t.Fatal("protocol error without a close frame")
				}
				if !errors.As(err, &pe) && !IsPeerClose(err) && !errors.Is(err, io.EOF) && !errors.Is(err, io.ErrUnexpectedEOF) {
					t.Fatalf("unexpected error %v", err)
				}
				return
			}
			if op != OpText && op != OpBinary {
				t.Fatalf("opcode %v returned", op)
			}
			if len(p) > 4096 {
				t.Fatalf("message of %d bytes over the limit", len(p))
			}
			if op == OpText && !utf8.Valid(p) {
				t.Fatal("invalid UTF-8 text returned")
			}
		}
	})
}
