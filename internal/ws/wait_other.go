//go:build !unix

package ws

// WaitReadable returns nil at once on this platform: ReadMessage waits.
func (c *Conn) WaitReadable() error { return nil }
