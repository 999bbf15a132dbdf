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

// SendItem is one connection's part of a SendBatch.
type SendItem struct {
	Conn   *Conn
	Frames [][]byte
	Rest   [][]byte
	Err    error
}

// SendBatch writes each item with WriteFramesNow on this platform.
func SendBatch(items []SendItem) {
	for i := range items {
		items[i].Rest, items[i].Err = items[i].Conn.WriteFramesNow(items[i].Frames)
	}
}
