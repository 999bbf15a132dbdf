package ws

import "errors"

// The ways a Batcher writes, as Batcher.Path reports them.
const (
	// BatchIOURing: one io_uring submission for a batch's sends (Linux).
	BatchIOURing = "io_uring"
	// BatchSend: one send(2) per connection (WriteFramesNow).
	BatchSend = "send"
)

// WriteDone is told when a write that went on in the background (the part
// of a WriteNow or a Batcher.Send the socket did not take at once) ends:
// err is nil once every byte was written.
type WriteDone interface {
	WriteDone(err error)
}

// SendItem is one connection's part of a Batcher.Send.
type SendItem struct {
	Conn   *Conn
	Frames [][]byte // modified in place, like WriteFramesNow's
	// Done, when set, takes over a peer whose socket is full: what the
	// socket did not take is written in the background, then Done is
	// told, and Pending is set. When nil, Rest is set instead.
	Done WriteDone

	// Set by Send. Pending: the rest is being written (Done will be
	// told); Err: the write's outcome otherwise. Rest: what was not
	// written, as WriteFramesNow returns it (only without Done).
	Pending bool
	Err     error
	Rest    [][]byte

	// Used by the io_uring batch (uring_linux.go).
	buf    []byte // what is sent: the frame, or the frames copied together
	fd     uintptr
	locked bool // Conn.wmu is held
}

// sendEach writes each item on its own, with WriteFramesNow: Send where a
// batch cannot be made.
func sendEach(items []SendItem) {
	for i := range items {
		items[i].Rest, items[i].Err = items[i].Conn.WriteFramesNow(items[i].Frames)
	}
	settle(items)
}

// settle hands the rest of each item with a Done whose socket was full to
// a background write. Called once the items' write locks are released.
func settle(items []SendItem) {
	for i := range items {
		it := &items[i]
		if it.Done != nil && errors.Is(it.Err, ErrWouldBlock) {
			it.Conn.finishLater(it.Rest, it.Done)
			it.Rest, it.Err, it.Pending = nil, nil, true
		}
	}
}

// WriteNow writes frames as far as the socket takes them at once, without
// waiting. When the peer's socket buffer is full, what it did not take is
// written by a goroutine of its own, blocking, and done is then told; the
// caller must not write to c until then. pending says so; otherwise err is
// the write's outcome (nil: all written). frames may be reused once it
// returns.
func (c *Conn) WriteNow(frames [][]byte, done WriteDone) (pending bool, err error) {
	rest, err := c.WriteFramesNow(frames)
	if errors.Is(err, ErrWouldBlock) {
		c.finishLater(rest, done)
		return true, nil
	}
	return false, err
}

// finishLater writes rest (copied: the caller's slice is reused) on a
// goroutine of its own, then tells done. A peer that never reads is ended
// by closing the connection, which fails the write.
func (c *Conn) finishLater(rest [][]byte, done WriteDone) {
	rest = append(make([][]byte, 0, len(rest)), rest...)
	go func() {
		err := c.WriteFrames(rest)
		clear(rest)
		done.WriteDone(err)
	}()
}
