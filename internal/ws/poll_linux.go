//go:build linux

package ws

import (
	"encoding/binary"
	"errors"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// Poller watches connections' sockets for bytes to read: one epoll set and
// one goroutine waiting on it, owned by whoever made it (the Engine.IO
// server) and released by Close. An idle connection that is watched costs a
// map entry here instead of a goroutine and its stack.
//
// Registrations are one-shot (EPOLLONESHOT): an event disarms the socket
// until Rearm, so at most one reader runs per connection and messages are
// read in order. The socket's own descriptor is registered (through
// syscall.RawConn.Control, which keeps it open for the call), not a dup, so
// a watched connection uses no extra file descriptor, and closing the
// connection removes it from the set. An event is matched to its connection
// by an id that is never reused, so a late event for a closed connection
// whose descriptor number was reused is dropped.
type Poller struct {
	epfd int
	// file is epfd as the runtime's: the loop waits for the set to have
	// events in Go's netpoller (the epoll descriptor is itself pollable)
	// rather than in a blocking epoll_wait, so an event wakes the loop
	// as a ready goroutine on a running thread, not by waking a thread
	// parked in the system call and giving it a P back.
	file *os.File
	rc   syscall.RawConn
	wake int           // eventfd, registered under id 0: Close writes it to stop the loop
	done chan struct{} // closed when the loop has returned

	// mu guards conns, next and closed, and is held (read) around every
	// use of epfd, so Close never closes it under a registration.
	mu     sync.RWMutex
	conns  map[uint64]*Conn
	next   uint64
	closed bool

	after atomic.Pointer[func()] // AfterEvents
}

// AfterEvents sets f to run on the poller's goroutine after the
// onReadable calls of each wake-up, so that work they queue can be done
// once for all of them (the engine answers the long-polls they read in
// one batch). It must not block.
func (p *Poller) AfterEvents(f func()) { p.after.Store(&f) }

// pollState is a watched connection's registration.
type pollState struct {
	p    *Poller
	id   uint64
	r    Readable
	edge bool // WatchEdges: edge-triggered, never disarmed
}

const (
	pollEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | syscall.EPOLLONESHOT
	// edgeEvents: EPOLLET is 1<<31, which syscall spells as a negative
	// int; the event mask is a uint32.
	edgeEvents = syscall.EPOLLIN | syscall.EPOLLRDHUP | uint32(1)<<31
)

// errPollerClosed is Rearm's error once the poller is closed.
var errPollerClosed = errors.New("ws: poller closed")

// NewPoller creates an epoll set and starts the goroutine that waits on it.
func NewPoller() (*Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, err
	}
	wake, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = syscall.Close(epfd)
		return nil, err
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN} // id 0
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, wake, &ev); err != nil {
		_ = syscall.Close(wake)
		_ = syscall.Close(epfd)
		return nil, err
	}
	p := &Poller{epfd: epfd, wake: wake, done: make(chan struct{}), conns: make(map[uint64]*Conn)}
	// Non-blocking, so os.NewFile hands it to the netpoller; if that
	// fails the loop waits in epoll_wait.
	if err := syscall.SetNonblock(epfd, true); err == nil {
		p.file = os.NewFile(uintptr(epfd), "epoll")
		p.rc, _ = p.file.SyscallConn()
	}
	go p.loop()
	return p, nil
}

// Close stops the poller's goroutine (after any OnReadable it is running)
// and releases the epoll set. Watched connections are forgotten: they get
// no more OnReadable, and Rearm fails. Safe to call twice.
func (p *Poller) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		<-p.done
		return nil
	}
	p.closed = true
	clear(p.conns)
	p.mu.Unlock()
	var one [8]byte
	binary.NativeEndian.PutUint64(one[:], 1)
	if _, err := syscall.Write(p.wake, one[:]); err != nil {
		return err
	}
	<-p.done
	p.mu.Lock() // no ctl in flight: they hold it (read) and check closed
	var err error
	if p.file != nil {
		err = p.file.Close()
	} else {
		err = syscall.Close(p.epfd)
	}
	p.mu.Unlock()
	if werr := syscall.Close(p.wake); err == nil {
		err = werr
	}
	return err
}

// Watch arranges for r.OnReadable to run once c has something to read:
// bytes, the end of the stream or an error. It runs on p's goroutine and must
// not block: it should start the goroutine that calls ReadMessage. After
// reading, call Rearm to be told again. Watch returns false, and changes
// nothing, when c cannot be watched (not a plain socket, such as TLS; bytes
// buffered ahead of the socket; watched already; p nil or closed): read it
// from a goroutine of its own instead. A closed connection is forgotten.
func (c *Conn) Watch(p *Poller, r Readable) bool { return c.watch(p, r, false) }

// WatchEdges is Watch with an edge-triggered registration that stays
// armed: r.OnReadable runs each time bytes (or the end of the stream)
// arrive, with no Rearm in between, so a connection read now and then
// costs no epoll_ctl per read. The reader must take everything the socket
// has each time (until a read returns less than it asked, or EAGAIN), or
// call Rearm when it has not (Rearm re-reports a socket that is readable
// at once): bytes already there when an event was not acted on raise no
// new one. OnReadable may run while the reader is busy with the
// connection elsewhere; it must record that it did and not lose it.
func (c *Conn) WatchEdges(p *Poller, r Readable) bool { return c.watch(p, r, true) }

func (c *Conn) watch(p *Poller, r Readable, edge bool) bool {
	if p == nil || c.isClosed() {
		return false
	}
	rc := rawConnOf(c)
	if rc == nil {
		return false
	}
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed || c.poll.Load() != nil {
		return false
	}
	p.next++
	st := &pollState{p: p, id: p.next, r: r, edge: edge}
	// Published before closed is read: Close marks c closed before it
	// loads poll, so either it sees st (and its unwatch waits for p.mu,
	// held here, to undo what this does) or this sees c closed.
	c.poll.Store(st)
	if c.isClosed() || p.ctlLocked(rc, st, syscall.EPOLL_CTL_ADD) != nil {
		c.poll.Store(nil)
		return false
	}
	p.conns[st.id] = c
	return true
}

// Rearm asks for the next OnReadable of a watched connection. Call it once
// the bytes that raised the last one have been read (if more are waiting,
// OnReadable runs again at once). Not safe to call concurrently with itself.
// For WatchEdges it makes a socket with bytes waiting report them again.
func (c *Conn) Rearm() error {
	st := c.poll.Load()
	if st == nil {
		return errNotWatched
	}
	p := st.p
	p.mu.RLock()
	defer p.mu.RUnlock()
	if p.closed {
		return errPollerClosed
	}
	return p.ctlLocked(c.rc, st, syscall.EPOLL_CTL_MOD)
}

// Watched reports, without a system call, whether c is still watched by an
// open poller: what a WatchEdges reader checks where a Watch reader would
// Rearm.
func (c *Conn) Watched() error {
	st := c.poll.Load()
	if st == nil {
		return errNotWatched
	}
	st.p.mu.RLock()
	defer st.p.mu.RUnlock()
	if st.p.closed {
		return errPollerClosed
	}
	if c.isClosed() {
		return ErrClosed
	}
	return nil
}

// ctlLocked adds or re-arms st's socket in the set, with st's id as the
// event data. Needs p.mu held (either way) and p open.
func (p *Poller) ctlLocked(rc syscall.RawConn, st *pollState, op int) error {
	events := uint32(pollEvents)
	if st.edge {
		events = edgeEvents
	}
	ev := syscall.EpollEvent{Events: events, Fd: int32(uint32(st.id)), Pad: int32(uint32(st.id >> 32))}
	var cerr error
	err := rc.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, op, int(fd), &ev)
	})
	if err != nil {
		return err
	}
	return cerr
}

// unwatch is called when c is closed, after it is marked closed; closing
// the socket takes it out of the epoll set, this out of the map.
func (c *Conn) unwatch() {
	if st := c.poll.Load(); st != nil {
		st.p.mu.Lock()
		delete(st.p.conns, st.id)
		st.p.mu.Unlock()
	}
}

func (p *Poller) loop() {
	defer close(p.done)
	events := make([]syscall.EpollEvent, 256)
	ready := make([]*Conn, 0, 256)
	for {
		n, err := p.wait(events)
		if err != nil {
			if err != syscall.EINTR {
				// Not expected with a valid epoll descriptor: keep serving,
				// without spinning.
				time.Sleep(10 * time.Millisecond)
			}
			continue
		}
		ready = ready[:0]
		stop := false
		p.mu.RLock()
		for i := range n {
			id := uint64(uint32(events[i].Fd)) | uint64(uint32(events[i].Pad))<<32
			if id == 0 {
				stop = true
			} else if c := p.conns[id]; c != nil {
				ready = append(ready, c)
			}
		}
		p.mu.RUnlock()
		if stop {
			return
		}
		for i, c := range ready {
			if st := c.poll.Load(); st != nil {
				st.r.OnReadable()
			}
			ready[i] = nil
		}
		if f := p.after.Load(); f != nil {
			(*f)()
		}
	}
}

// wait returns the set's next events, waiting for some in the netpoller
// (p.rc) when it can, else in epoll_wait.
func (p *Poller) wait(events []syscall.EpollEvent) (int, error) {
	if p.rc != nil {
		var n int
		var err error
		rerr := p.rc.Read(func(fd uintptr) bool {
			n, err = syscall.EpollWait(int(fd), events, 0)
			return n > 0 || err != nil // none yet: wait for the set to be readable
		})
		if rerr == nil {
			return n, err
		}
		p.rc = nil // not pollable after all: only this goroutine reads rc
	}
	return syscall.EpollWait(p.epfd, events, -1)
}

// Unwatch stops watching c without closing it, so that its socket can be
// read by someone else, or watched again (the engine hands a parked
// long-poll's connection back to net/http this way). An onReadable already
// taken from the set may still run once after it returns: it must check
// that it is still wanted.
func (c *Conn) Unwatch() error {
	st := c.poll.Load()
	if st == nil {
		return errNotWatched
	}
	p := st.p
	p.mu.Lock()
	defer p.mu.Unlock()
	delete(p.conns, st.id)
	c.poll.Store(nil)
	if p.closed {
		return errPollerClosed
	}
	var cerr error
	err := c.rc.Control(func(fd uintptr) {
		cerr = syscall.EpollCtl(p.epfd, syscall.EPOLL_CTL_DEL, int(fd), nil)
	})
	if err != nil {
		return err
	}
	return cerr
}

// PeerGone reports whether the peer of a socket that polled readable has
// closed its side (or the socket failed), as opposed to having sent bytes,
// which it leaves unread. False where the socket is not reachable (TLS).
func (c *Conn) PeerGone() bool {
	if c.rc == nil {
		return false
	}
	gone := false
	_ = c.rc.Control(func(fd uintptr) {
		var b [1]byte
		for {
			n, _, err := syscall.Recvfrom(int(fd), b[:], syscall.MSG_PEEK|syscall.MSG_DONTWAIT)
			switch {
			case err == syscall.EINTR:
				continue
			case err == syscall.EAGAIN:
			case err != nil, n == 0:
				gone = true
			}
			return
		}
	})
	return gone
}
