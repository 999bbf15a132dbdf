package ws

import (
	"errors"
	"strconv"
)

// ErrClosed is returned by writes after Close.
var ErrClosed = errors.New("ws: connection closed")

// ErrWouldBlock is WriteFramesNow's error when the peer's socket buffer is
// full: the rest is to be written later.
var ErrWouldBlock = errors.New("ws: the peer is not reading: write would block")

// errNotWatched is Rearm's error for a connection Watch did not take.
var errNotWatched = errors.New("ws: connection is not watched")

// CloseError reports that the peer sent a close frame (ReadMessage returns it
// after answering the close).
type CloseError struct {
	Code   int
	Reason string
}

func (e *CloseError) Error() string {
	return "ws: closed by peer: " + strconv.Itoa(e.Code) + " " + e.Reason
}

// ProtocolError reports that the peer broke the protocol or a limit;
// ReadMessage has already sent a close frame with Code.
type ProtocolError struct {
	Code   int
	Reason string
}

func (e *ProtocolError) Error() string {
	return "ws: " + e.Reason + " (close " + strconv.Itoa(e.Code) + ")"
}

// IsPeerClose reports whether err means the peer ended the connection in an
// orderly way (close frame or EOF) rather than breaking the protocol.
func IsPeerClose(err error) bool {
	var ce *CloseError
	return errors.As(err, &ce)
}
