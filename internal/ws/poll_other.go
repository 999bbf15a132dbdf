//go:build !linux

package ws

// pollState is empty where there is no epoll: nothing is watched.
type pollState struct{}

// Watch returns false on this platform: read the connection from a
// goroutine of its own.
func (c *Conn) Watch(onReadable func()) bool { return false }

// Rearm fails on this platform, where nothing is watched.
func (c *Conn) Rearm() error { return errNotWatched }

func (c *Conn) unwatch() {}
