//go:build unix

package ws

import (
	"errors"
	"syscall"
)

// rawConnOf returns the connection's syscall.RawConn when reads may wait on
// it directly: a plain socket (not TLS) and nothing buffered ahead of it.
func rawConnOf(c *Conn) syscall.RawConn {
	if c.r != c.nc {
		return nil
	}
	return c.rc
}

// WaitReadable blocks until the connection has data to read, or is closed
// or at its end, or its read deadline passes; the next ReadMessage then
// finds its bytes without waiting. A goroutine that waits here between
// messages has a much shallower stack than one waiting inside ReadMessage,
// so the garbage collector can shrink it back to the minimum: this is what
// an idle connection's reader costs. Where the socket is not reachable
// (TLS, bytes buffered ahead), it returns nil at once and ReadMessage waits.
func (c *Conn) WaitReadable() error {
	rc := rawConnOf(c)
	if rc == nil {
		return nil
	}
	err := rc.Read(peekReady)
	if err != nil && !errors.Is(err, syscall.EAGAIN) {
		return err
	}
	return nil
}

// peekReady reports whether fd has a byte to read (or an error or EOF to
// report), without consuming it. The poller is edge-triggered: bytes left
// unread by the last ReadMessage raise no new event, so look before waiting.
func peekReady(fd uintptr) bool {
	var b [1]byte
	for {
		_, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
		switch err {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // nothing yet: wait for the poller
		}
		return true // data, EOF (n == 0) or an error: ReadMessage reports it
	}
}

// RawConn returns the connection's socket, when it is a plain one (not
// TLS) with nothing buffered ahead of it, for a caller that reads it
// without waiting (the engine reading a long-poll's next request).
func (c *Conn) RawConn() (syscall.RawConn, bool) {
	rc := rawConnOf(c)
	return rc, rc != nil
}
