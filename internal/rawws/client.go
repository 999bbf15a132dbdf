package rawws

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// writeTimeout bounds one write to a client: a client that stops reading is
// dropped instead of holding its writer forever.
const writeTimeout = 10 * time.Second

// maxBatch caps the queued frames coalesced into one write.
const maxBatch = 16

// client is one connection: the reader runs in ServeHTTP, the writer in
// writeLoop, and queue joins them, so a slow socket only fills its own queue.
type client struct {
	id     ClientID
	remote string // the peer's address, for limit reports
	conn   *ws.Conn
	queue  chan []byte

	once   sync.Once
	done   chan struct{}
	reason string // why the server ended the connection; set once, read after done

	// Bumped by the reader, read by the sweep (heartbeat.go).
	frames   atomic.Uint64 // frames read, control frames included
	started  atomic.Uint64 // data messages begun (their first frame's header read)
	finished atomic.Uint64 // data messages the reader is done with
	beat     beat          // the sweep's record
}

func newClient(id ClientID, remote string, conn *ws.Conn, queue int) *client {
	c := &client{id: id, remote: remote, conn: conn, queue: make(chan []byte, queue), done: make(chan struct{})}
	conn.OnFrame = c.onFrame
	return c
}

// onFrame counts what ReadMessage reads (ws.Conn.OnFrame).
func (c *client) onFrame(op ws.Opcode, _ bool) {
	c.frames.Add(1)
	if op == ws.OpText || op == ws.OpBinary {
		c.started.Add(1)
	}
}

// writeLoop writes queued frames, coalescing whatever is queued into one
// write, until the client is closed.
func (c *client) writeLoop() {
	batch := make([][]byte, 0, maxBatch)
	scratch := make([][]byte, 0, maxBatch) // WriteFrames may modify its argument
	for {
		select {
		case <-c.done:
			return
		case f := <-c.queue:
			batch = append(batch[:0], f)
		drain:
			for len(batch) < maxBatch {
				select {
				case f := <-c.queue:
					batch = append(batch, f)
				default:
					break drain
				}
			}
			scratch = append(scratch[:0], batch...)
			_ = c.conn.SetWriteDeadline(time.Now().Add(writeTimeout))
			err := c.conn.WriteFrames(scratch)
			clear(batch)
			clear(scratch)
			if err != nil {
				c.closeWith(ws.CloseGoingAway, "write failed: "+err.Error())
				return
			}
		}
	}
}

func (c *client) isClosed() bool {
	select {
	case <-c.done:
		return true
	default:
		return false
	}
}

// closeWith ends the connection once with a close frame (code, reason). The
// reader then fails, and ServeHTTP removes the client.
func (c *client) closeWith(code int, reason string) {
	c.once.Do(func() {
		c.reason = reason
		close(c.done)
		_ = c.conn.CloseWith(code, reason)
	})
}

// end is closeWith for a caller that must not wait on the client (the
// sweep): the client is marked ended at once, and the close frame, bounded
// by a short write deadline, is written by a goroutine of its own.
func (c *client) end(code int, reason string) {
	c.once.Do(func() {
		c.reason = reason
		close(c.done)
		go func() { _ = c.conn.CloseWith(code, reason) }()
	})
}

// abort ends the connection once without another close frame: used after
// ReadMessage has already exchanged or sent one.
func (c *client) abort(reason string) {
	c.once.Do(func() {
		c.reason = reason
		close(c.done)
		_ = c.conn.Abort()
	})
}

// serverReason returns why the server closed c, or "" when it did not.
func (c *client) serverReason() string {
	if !c.isClosed() {
		return ""
	}
	return c.reason
}
