//go:build linux

package ws

import (
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// The process-wide poller: one epoll set holding every watched connection's
// socket, and one goroutine waiting on it. An idle connection that is
// watched costs a map entry here instead of a goroutine and its stack.
//
// Registrations are one-shot (EPOLLONESHOT): an event disarms the socket
// until Rearm, so at most one reader runs per connection and messages are
// read in order. The socket's own descriptor is registered (through
// syscall.RawConn.Control, which keeps it open for the call), not a dup, so
// a watched connection uses no extra file descriptor, and closing the
// connection removes it from the set. An event is matched to its connection
// by an id that is never reused, so a late event for a closed connection
// whose descriptor number was reused is dropped.
type poller struct {
	epfd int

	mu    sync.Mutex
	conns map[uint64]*Conn
	next  uint64
}

// pollState is a watched connection's registration.
type pollState struct {
	id         uint64
	onReadable func()
}

const pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT

var (
	defaultPoller     atomic.Pointer[poller]
	defaultPollerOnce sync.Once
)

// getPoller starts the poller on first use; nil if epoll is unavailable.
func getPoller() *poller {
	defaultPollerOnce.Do(func() {
		epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
		if err != nil {
			return
		}
		p := &poller{epfd: epfd, conns: make(map[uint64]*Conn)}
		defaultPoller.Store(p)
		go p.loop()
	})
	return defaultPoller.Load()
}

// Watch arranges for onReadable to run once c has something to read: bytes,
// the end of the stream or an error. It runs on the poller's goroutine and
// must not block: it should start the goroutine that calls ReadMessage. After
// reading, call Rearm to be told again. Watch returns false, and changes
// nothing, when c cannot be watched (not a plain socket, such as TLS; bytes
// buffered ahead of the socket; no epoll): read it from a goroutine of its
// own instead. A closed connection is forgotten.
func (c *Conn) Watch(onReadable func()) bool {
	if c.closed.Load() {
		return false
	}
	rc := rawConnOf(c)
	if rc == nil {
		return false
	}
	p := getPoller()
	if p == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if c.poll != nil {
		return false // watched already
	}
	p.next++
	st := &pollState{id: p.next, onReadable: onReadable}
	// Close marks c closed before it calls unwatch (which waits for p.mu):
	// either it finds the entry made here, or this sees it closed. Adding to
	// the set under p.mu orders this before the first event's delivery.
	if c.closed.Load() || p.ctl(rc, st, syscall.EPOLL_CTL_ADD) != nil {
		return false
	}
	c.poll = st
	p.conns[st.id] = c
	return true
}

// Rearm asks for the next onReadable of a watched connection. Call it once
// the bytes that raised the last one have been read (if more are waiting,
// onReadable runs again at once). Not safe to call concurrently with itself.
func (c *Conn) Rearm() error {
	st := c.poll
	if st == nil {
		return errNotWatched
	}
	return defaultPoller.Load().ctl(c.rc, st, syscall.EPOLL_CTL_MOD)
}

// ctl adds or re-arms st's socket in the set, with st's id as the event data.
func (p *poller) ctl(rc syscall.RawConn, st *pollState, op int) error {
	ev := syscall.EpollEvent{Events: pollEvents, Fd: int32(uint32(st.id)), Pad: int32(uint32(st.id >> 32))}
	var cerr error
	err := rc.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil {
		return err
	}
	return cerr
}

// forget drops c's registration; closing the socket takes it out of the
// epoll set.
func (p *poller) forget(c *Conn) {
	p.mu.Lock()
	if st := c.poll; st != nil {
		delete(p.conns, st.id)
	}
	p.mu.Unlock()
}

// unwatch is called when c is closed, after it is marked closed.
func (c *Conn) unwatch() {
	if p := defaultPoller.Load(); p != nil {
		p.forget(c)
	}
}

func (p *poller) loop() {
	events := make([]syscall.EpollEvent, 256)
	ready := make([]*Conn, 0, 256)
	for {
		n, err := syscall.EpollWait(p.epfd, events, -1)
		if err != nil {
			if err != syscall.EINTR {
				// Not expected with a valid epoll descriptor: keep serving,
				// without spinning.
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		ready = ready[:0]
		p.mu.Lock()
		for i := range n {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if c := p.conns[id]; c != nil {
				ready = append(ready, c)
			}
		}
		p.mu.Unlock()
		for i, c := range ready {
			c.poll.onReadable()
			ready[i] = nil
		}
	}
}
