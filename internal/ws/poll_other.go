//go:build !linux

package ws

import "errors"

// Poller is not available on this platform: NewPoller fails, and
// connections are read from a goroutine of their own.
type Poller struct{}

// pollState is empty where there is no epoll: nothing is watched.
type pollState struct{}

// NewPoller fails on this platform.
func NewPoller() (*Poller, error) { return nil, errors.New("ws: no epoll on this platform") }

// Close does nothing.
func (p *Poller) Close() error { return nil }

// Watch returns false on this platform: read the connection from a
// goroutine of its own.
func (c *Conn) Watch(p *Poller, r Readable) bool { return false }

// WatchEdges returns false on this platform.
func (c *Conn) WatchEdges(p *Poller, r Readable) bool { return false }

// Watched fails on this platform, where nothing is watched.
func (c *Conn) Watched() error { return errNotWatched }

// Rearm fails on this platform, where nothing is watched.
func (c *Conn) Rearm() error { return errNotWatched }

func (c *Conn) unwatch() {}

// Unwatch fails on this platform, where nothing is watched.
func (c *Conn) Unwatch() error { return errNotWatched }

// PeerGone is false on this platform: nothing is watched.
func (c *Conn) PeerGone() bool { return false }

// AfterEvents does nothing on this platform.
func (p *Poller) AfterEvents(f func()) {}
