//go:build linux

package ws

import (
	"net"
	"os"
	"syscall"
	"unsafe"
)

// rawConn returns nc's syscall.RawConn when nc is a plain TCP or Unix
// socket, whose bytes are the WebSocket's (not TLS); nil otherwise.
func rawConn(nc net.Conn) syscall.RawConn {
	var sc syscall.Conn
	switch v := nc.(type) {
	case *sock:
		return (*rawSock)(v)
	case *net.TCPConn:
		sc = v
	case *net.UnixConn:
		sc = v
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	return rc
}

// writeFramesNowLocked writes frames without waiting (see WriteFramesNow):
// small frames are copied into one buffer of up to maxCopyCoalesce bytes
// per system call; a large frame is written as it is.
func (c *Conn) writeFramesNowLocked(frames [][]byte) ([][]byte, error) {
	var bp *[]byte
	defer func() {
		if bp != nil {
			putBuf(bp)
		}
	}()
	for len(frames) > 0 {
		b, k := frames[0], 1
		if len(frames) > 1 && len(b) < maxCopyCoalesce {
			if bp == nil {
				bp = getBuf(maxCopyCoalesce)
			}
			buf := (*bp)[:0]
			for k = 0; k < len(frames) && len(buf)+len(frames[k]) <= maxCopyCoalesce; k++ {
				buf = append(buf, frames[k]...)
			}
			b, *bp = buf, buf
		}
		n, err := c.writeNow(b)
		if err != nil || n < len(b) {
			if err == nil {
				err = ErrWouldBlock // a short write: the socket buffer is full
			}
			return skipBytes(frames, n), err
		}
		frames = frames[k:]
	}
	return nil, nil
}

// sendFlags: never wait, and a peer that has gone gives EPIPE, not SIGPIPE.
const sendFlags = syscall.MSG_DONTWAIT | syscall.MSG_NOSIGNAL

// writeNow makes one send(2) on the socket: it returns what was written and
// ErrWouldBlock if the socket took nothing. send, not write: it goes
// straight to the socket layer, past the file layer's bookkeeping (position
// lock, fsnotify), which was a sixth of a small write's cost. The call is a
// raw system call, which the scheduler does not see: a write that cannot
// block takes microseconds, and announcing it (entersyscall) makes the
// runtime's monitor hand the writer's processor to another thread and poll
// every 20 µs while writes follow each other, which cost more than the
// writes' own bookkeeping in the profiles (docs/performance.md).
func (c *Conn) writeNow(b []byte) (int, error) {
	if len(b) == 0 {
		return 0, nil
	}
	var (
		n     uintptr
		errno syscall.Errno
	)
	// Control, not Write: it keeps the descriptor open for the call without
	// the poller's write preparation, which a write that never waits for
	// the poller does not need; c.wmu already orders the writes.
	err := c.rc.Control(func(fd uintptr) {
		for {
			n, _, errno = syscall.RawSyscall6(syscall.SYS_SENDTO, fd, uintptr(unsafe.Pointer(&b[0])), uintptr(len(b)),
				sendFlags, 0, 0)
			if errno != syscall.EINTR {
				return
			}
		}
	})
	switch {
	case err != nil:
		return 0, err
	case errno == syscall.EAGAIN:
		return 0, ErrWouldBlock
	case errno != 0:
		return 0, os.NewSyscallError("write", errno)
	}
	return int(n), nil
}
