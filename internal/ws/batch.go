package ws

// The ways SendBatch writes, as BatchPath reports them.
const (
	// BatchIOURing: one io_uring submission for a batch's sends (Linux).
	BatchIOURing = "io_uring"
	// BatchSend: one send(2) per connection (WriteFramesNow).
	BatchSend = "send"
)

// SendItem is one connection's part of a SendBatch.
type SendItem struct {
	Conn   *Conn
	Frames [][]byte // modified in place, like WriteFramesNow's

	// Set by SendBatch: the part not written and the error, as
	// WriteFramesNow returns them.
	Rest [][]byte
	Err  error

	// Used by the io_uring batch (uring_linux.go).
	buf    []byte // what is sent: the frame, or the frames copied together
	fd     uintptr
	locked bool // Conn.wmu is held
}

// sendEach writes each item on its own, with WriteFramesNow: SendBatch where
// a batch cannot be made.
func sendEach(items []SendItem) {
	for i := range items {
		items[i].Rest, items[i].Err = items[i].Conn.WriteFramesNow(items[i].Frames)
	}
}
