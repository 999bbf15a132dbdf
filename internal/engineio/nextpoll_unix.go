//go:build unix

package engineio

import (
	"syscall"

	"github.com/eventide/realtime/internal/ws"
)

// readOnce reads what the socket has, without waiting.
func readOnce(wsc *ws.Conn, b []byte) (int, error) {
	rc, ok := wsc.RawConn()
	if !ok {
		return 0, errNothingToRead
	}
	var n int
	var rerr error
	err := rc.Read(func(fd uintptr) bool {
		for {
			n, rerr = syscall.Read(int(fd), b)
			if rerr != syscall.EINTR {
				return true // never wait: EAGAIN is reported
			}
		}
	})
	if err != nil {
		return 0, err
	}
	if rerr == syscall.EAGAIN {
		return 0, errNothingToRead
	}
	return max(n, 0), rerr
}
