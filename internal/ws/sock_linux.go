//go:build linux

package ws

import (
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sock is a TCP socket taken over from its net.Conn after the WebSocket
// handshake (UpgradeOptions.TakeOver, ADR 0032). The standard library's
// connection keeps, for as long as it is open, its netFD, two TCPAddrs and
// a descriptor in the runtime's poller (off the Go heap); an idle WebSocket
// that is read through a Poller and written with raw sends needs none of
// them. sock is the descriptor and a reference count.
//
// The descriptor is closed once, when it is closed and no call uses it:
// every system call on it, an io_uring send included (Control), holds a
// reference, so a descriptor number is never closed, and reused by another
// connection, under a call that is about to use it.
//
// Reads and writes that must wait (a frame cut across segments, a full
// socket buffer, a close frame to a slow peer) wait in the runtime's poller
// on a duplicate of the descriptor made for that wait, with the deadline set
// on sock; Close and a new deadline reach that wait. These waits are rare:
// a watched connection is read when bytes have come, and the engine writes
// without waiting (WriteFramesNow).
type sock struct {
	// state is the reference count times two, plus sockClosed once closed.
	state atomic.Uint64
	fd    int32
	// slow holds the deadlines and the waits: made by the first deadline
	// or wait, so that an idle connection's sock is 24 bytes.
	slow atomic.Pointer[sockSlow]
}

// sockSlow is the part of a sock that deadlines and waits use.
type sockSlow struct {
	mu       sync.Mutex
	rdl, wdl int64       // read and write deadlines, Unix nanoseconds; 0: none
	waits    [2]*os.File // the duplicates read and write waits use now
}

// slowPart returns s.slow, making it if needed.
func (s *sock) slowPart() *sockSlow {
	if p := s.slow.Load(); p != nil {
		return p
	}
	s.slow.CompareAndSwap(nil, &sockSlow{})
	return s.slow.Load()
}

const sockClosed = 1

// errSockClosed is what a closed sock's calls return (net.ErrClosed, as a
// closed net.Conn's do).
var errSockClosed = net.ErrClosed

var (
	_ net.Conn        = (*sock)(nil)
	_ syscall.RawConn = (*rawSock)(nil)
)

// takeOver moves nc's socket to a sock when nc is a plain TCP connection:
// the socket's descriptor is duplicated, then adopt (when set) is told, then
// nc is closed. It returns nil, leaving nc as it was, otherwise.
func takeOver(nc net.Conn, adopt Adopter) *sock {
	tc, ok := nc.(*net.TCPConn)
	if !ok {
		return nil
	}
	rc, err := tc.SyscallConn()
	if err != nil {
		return nil
	}
	nfd := -1
	if err := rc.Control(func(fd uintptr) { nfd = dupFD(fd) }); err != nil || nfd < 0 {
		return nil
	}
	// O_NONBLOCK belongs to the open file, which the duplicate shares: it
	// stays set. Closing tc takes the old descriptor out of the runtime's
	// poller; the socket lives on in nfd.
	s := &sock{fd: int32(nfd)}
	if adopt != nil {
		adopt.Adopt(nc, s)
	}
	_ = tc.Close()
	return s
}

// dupFD duplicates fd (close-on-exec), returning -1 on failure. A raw
// system call, like the sends: it never blocks, and announcing it to the
// scheduler (entersyscall) lets the runtime hand the processor to another
// thread when the machine is busy, which during a burst of handshakes
// started dozens of threads, each with its stacks.
func dupFD(fd uintptr) int {
	r, _, errno := syscall.RawSyscall(syscall.SYS_FCNTL, fd, syscall.F_DUPFD_CLOEXEC, 0)
	if errno != 0 {
		return -1
	}
	return int(r)
}

// incref takes a reference for a call; false once s is closed.
func (s *sock) incref() bool {
	for {
		v := s.state.Load()
		if v&sockClosed != 0 {
			return false
		}
		if s.state.CompareAndSwap(v, v+2) {
			return true
		}
	}
}

// decref drops a call's reference, closing the descriptor when it was the
// last one of a closed sock.
func (s *sock) decref() {
	if s.state.Add(^uint64(1)) == sockClosed { // -2
		_ = syscall.Close(int(s.fd))
	}
}

// Open reports whether s has not been closed (an Adopter's liveness check).
func (s *sock) Open() bool { return s.state.Load()&sockClosed == 0 }

// Close marks s closed, ends the waits in progress and closes the
// descriptor, at once or when the last call using it returns.
func (s *sock) Close() error {
	for {
		v := s.state.Load()
		if v&sockClosed != 0 {
			return errSockClosed
		}
		if s.state.CompareAndSwap(v, v|sockClosed) {
			// A wait that makes the slow part after this load sees s
			// closed under its lock and does not start.
			if p := s.slow.Load(); p != nil {
				p.mu.Lock()
				for _, f := range p.waits {
					if f != nil {
						_ = f.SetDeadline(aLongTimeAgo) // the wait ends; its owner closes f
					}
				}
				p.mu.Unlock()
			}
			if v == 0 {
				_ = syscall.Close(int(s.fd))
			}
			return nil
		}
	}
}

var aLongTimeAgo = time.Unix(1, 0)

// Read reads what has come, waiting for bytes when none has.
func (s *sock) Read(b []byte) (int, error) {
	if !s.incref() {
		return 0, errSockClosed
	}
	defer s.decref()
	n, errno := s.recv(b)
	if errno == syscall.EAGAIN {
		var err error
		if n, errno, err = s.readWait(b); err != nil {
			return 0, err
		}
	}
	switch {
	case errno != 0:
		return 0, os.NewSyscallError("read", errno)
	case n == 0 && len(b) > 0:
		return 0, io.EOF
	}
	return n, nil
}

// readWait is Read's slow path: nothing had come.
func (s *sock) readWait(b []byte) (n int, errno syscall.Errno, err error) {
	err = s.wait(0, func(uintptr) bool {
		n, errno = s.recv(b)
		return errno != syscall.EAGAIN
	})
	return n, errno, err
}

// recv makes one non-blocking recv(2) into b.
func (s *sock) recv(b []byte) (int, syscall.Errno) {
	if len(b) == 0 {
		return 0, 0
	}
	for {
		n, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, uintptr(s.fd), uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
			syscall.MSG_DONTWAIT, 0, 0)
		if errno != syscall.EINTR {
			return int(n), errno
		}
	}
}

// Write writes all of b, waiting while the socket buffer is full.
func (s *sock) Write(b []byte) (int, error) {
	if !s.incref() {
		return 0, errSockClosed
	}
	defer s.decref()
	done, errno := s.send(b, 0)
	if errno == syscall.EAGAIN {
		var err error
		if done, errno, err = s.writeWait(b, done); err != nil {
			return done, err
		}
	}
	if errno != 0 {
		return done, os.NewSyscallError("write", errno)
	}
	return done, nil
}

// writeWait is Write's slow path: the socket buffer was full.
func (s *sock) writeWait(b []byte, done int) (int, syscall.Errno, error) {
	var errno syscall.Errno
	err := s.wait(1, func(uintptr) bool {
		done, errno = s.send(b, done)
		return errno != syscall.EAGAIN
	})
	return done, errno, err
}

// send writes b[done:] with non-blocking send(2)s until it is all written
// or the socket says otherwise (EAGAIN: it is full). It returns how much of
// b is written then.
func (s *sock) send(b []byte, done int) (int, syscall.Errno) {
	for done < len(b) {
		p := b[done:]
		n, _, errno := syscall.RawSyscall6(syscall.SYS_SENDTO, uintptr(s.fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)),
			sendFlags, 0, 0)
		switch errno {
		case 0:
			done += int(n)
		case syscall.EINTR:
		default:
			return done, errno
		}
	}
	return done, 0
}

// wait calls try, which makes the system call, each time s is readable
// (dir 0) or writable (dir 1) until it returns true, or the deadline passes,
// or s is closed. The caller holds a reference. try is called first after
// the wait is set up, so that readiness that came meanwhile is not missed.
func (s *sock) wait(dir int, try func(uintptr) bool) error {
	p := s.slowPart()
	p.mu.Lock()
	if !s.Open() {
		p.mu.Unlock()
		return errSockClosed
	}
	dl := p.rdl
	if dir == 1 {
		dl = p.wdl
	}
	if dl != 0 && time.Now().UnixNano() >= dl {
		p.mu.Unlock()
		return os.ErrDeadlineExceeded
	}
	nfd, err := unix.FcntlInt(uintptr(s.fd), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		p.mu.Unlock()
		return os.NewSyscallError("fcntl", err)
	}
	// The duplicate is non-blocking: the file goes into the runtime's
	// poller, and its deadlines work.
	w := os.NewFile(uintptr(nfd), "")
	if dl != 0 {
		_ = w.SetDeadline(time.Unix(0, dl))
	}
	p.waits[dir] = w
	p.mu.Unlock()
	defer func() {
		p.mu.Lock()
		p.waits[dir] = nil
		p.mu.Unlock()
		_ = w.Close()
	}()
	rc, err := w.SyscallConn()
	if err != nil {
		return err
	}
	if dir == 0 {
		err = rc.Read(try)
	} else {
		err = rc.Write(try)
	}
	switch {
	case err == nil:
		return nil
	case !s.Open():
		return errSockClosed
	case errors.Is(err, os.ErrDeadlineExceeded):
		return os.ErrDeadlineExceeded
	}
	return err
}

// SetReadDeadline sets the deadline of reads that wait.
func (s *sock) SetReadDeadline(t time.Time) error { return s.setDeadline(0, t) }

// SetWriteDeadline sets the deadline of writes that wait.
func (s *sock) SetWriteDeadline(t time.Time) error { return s.setDeadline(1, t) }

// SetDeadline sets both deadlines.
func (s *sock) SetDeadline(t time.Time) error {
	if err := s.setDeadline(0, t); err != nil {
		return err
	}
	return s.setDeadline(1, t)
}

func (s *sock) setDeadline(dir int, t time.Time) error {
	var dl int64
	if !t.IsZero() {
		dl = t.UnixNano()
		if dl == 0 {
			dl = 1
		}
	}
	if dl == 0 && s.slow.Load() == nil {
		// No deadline to clear: an idle sock stays without its slow part.
		if !s.Open() {
			return errSockClosed
		}
		return nil
	}
	p := s.slowPart()
	p.mu.Lock()
	defer p.mu.Unlock()
	if !s.Open() {
		return errSockClosed
	}
	if dir == 0 {
		p.rdl = dl
	} else {
		p.wdl = dl
	}
	if w := p.waits[dir]; w != nil {
		if dir == 0 {
			_ = w.SetReadDeadline(t)
		} else {
			_ = w.SetWriteDeadline(t)
		}
	}
	return nil
}

// LocalAddr returns the socket's address (nil once closed).
func (s *sock) LocalAddr() net.Addr { return s.addr(syscall.Getsockname) }

// RemoteAddr returns the peer's address (nil once closed).
func (s *sock) RemoteAddr() net.Addr { return s.addr(syscall.Getpeername) }

func (s *sock) addr(get func(int) (syscall.Sockaddr, error)) net.Addr {
	if !s.incref() {
		return nil
	}
	defer s.decref()
	sa, err := get(int(s.fd))
	if err != nil {
		return nil
	}
	switch a := sa.(type) {
	case *syscall.SockaddrInet4:
		return &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
	case *syscall.SockaddrInet6:
		ta := &net.TCPAddr{IP: append(net.IP(nil), a.Addr[:]...), Port: a.Port}
		if a.ZoneId != 0 {
			if ifi, err := net.InterfaceByIndex(int(a.ZoneId)); err == nil {
				ta.Zone = ifi.Name
			}
		}
		return ta
	}
	return nil
}

// rawSock is sock seen as a syscall.RawConn (its Read and Write take
// functions, not bytes).
type rawSock sock

// Control runs f with the descriptor, which stays open for the call.
func (r *rawSock) Control(f func(fd uintptr)) error {
	s := (*sock)(r)
	if !s.incref() {
		return errSockClosed
	}
	f(uintptr(s.fd))
	s.decref()
	return nil
}

// Read runs f until it returns true, waiting for the socket to be readable
// between calls.
func (r *rawSock) Read(f func(fd uintptr) bool) error { return r.rawIO(0, f) }

// Write runs f until it returns true, waiting for the socket to be writable
// between calls.
func (r *rawSock) Write(f func(fd uintptr) bool) error { return r.rawIO(1, f) }

func (r *rawSock) rawIO(dir int, f func(fd uintptr) bool) error {
	s := (*sock)(r)
	if !s.incref() {
		return errSockClosed
	}
	defer s.decref()
	try := func(uintptr) bool { return f(uintptr(s.fd)) }
	if try(0) {
		return nil
	}
	return s.wait(dir, try)
}
