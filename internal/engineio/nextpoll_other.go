//go:build !unix

package engineio

import "github.com/eventide/realtime/internal/ws"

// readOnce has nothing to read where sockets are not watched.
func readOnce(*ws.Conn, []byte) (int, error) { return 0, errNothingToRead }
