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

// SendBatch writes each item with WriteFramesNow on this platform.
func SendBatch(items []SendItem) { sendEach(items) }

// BatchPath reports how SendBatch writes: one send per connection here.
func BatchPath() (path, reason string) { return BatchSend, "io_uring is Linux-only" }
