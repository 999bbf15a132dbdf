//go:build !unix

package ws

import "syscall"

// WaitReadable returns nil at once on this platform: ReadMessage waits.
func (c *Conn) WaitReadable() error { return nil }

// RawConn returns false on this platform.
func (c *Conn) RawConn() (syscall.RawConn, bool) { return nil, false }
