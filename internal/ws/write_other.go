//go:build !linux

package ws

import (
	"net"
	"syscall"
)

// rawConn returns nil on this platform: WriteFramesNow waits up to
// fallbackWriteWait instead.
func rawConn(net.Conn) syscall.RawConn { return nil }

func (c *Conn) writeFramesNowLocked(frames [][]byte) ([][]byte, error) {
	return c.writeFramesLocked(frames)
}

// Batcher writes each item with WriteFramesNow on this platform.
type Batcher struct{}

// NewBatcher returns a Batcher.
func NewBatcher() *Batcher { return &Batcher{} }

// Send writes each item on its own (see SendItem).
func (b *Batcher) Send(items []SendItem) { sendEach(items) }

// Path reports how Send writes: one send per connection here.
func (b *Batcher) Path() (path, reason string) { return BatchSend, "io_uring is Linux-only" }

// Close does nothing.
func (b *Batcher) Close() error { return nil }
