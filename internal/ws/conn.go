package ws

import (
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
	"unicode/utf8"
)

// DefaultMaxFragments caps the frames one message may be split into. Browsers
// and socket.io clients send a message in one frame; a cap keeps a peer from
// making us do per-frame work thousands of times for a tiny message.
const DefaultMaxFragments = 1024

// closeWriteTimeout bounds how long writing a close frame may block.
const closeWriteTimeout = time.Second

// Conn is one side of a WebSocket connection. ReadMessage must be called from
// one goroutine at a time; writes are safe from any goroutine (one mutex
// serialises them with the control-frame replies made by ReadMessage).
type Conn struct {
	nc net.Conn
	r  io.Reader       // nc, or buffered bytes then nc
	rc syscall.RawConn // nc's socket, when nc is a plain socket (not TLS)

	// OnFrame, when set, is called by ReadMessage for every frame, once its
	// header is read and checked and before its payload, with the opcode
	// and the FIN bit. It tells a caller what ReadMessage keeps to itself:
	// that the peer is alive (pings and pongs never leave ReadMessage) and
	// that a message has begun and is not complete yet. It runs on the
	// reading goroutine and must not block. Set it before the first read.
	OnFrame func(op Opcode, fin bool)

	poll atomic.Pointer[pollState] // set by Watch
	wmu  sync.Mutex
	// flags: connClosed, connClosing, connCloseCalled (one word rather
	// than three atomics and a sync.Once: every idle connection has them).
	flags atomic.Uint32

	// MaxFragments caps the frames per message (0: DefaultMaxFragments).
	MaxFragments int32

	server    bool
	wdeadline bool                     // a write deadline may be set (WriteFramesNow without a raw socket); under wmu
	hdr       [MaxFrameHeaderSize]byte // read scratch, reader goroutine only
}

// Readable is told that a watched connection has something to read
// (Conn.Watch). An interface rather than a func: a connection's owner can
// be its own Readable, where a closure would be one more allocation per
// connection.
type Readable interface{ OnReadable() }

// ReadableFunc is a func as a Readable.
type ReadableFunc func()

// OnReadable calls f.
func (f ReadableFunc) OnReadable() { f() }

// Conn.flags.
const (
	connClosed      = 1 << iota // no more writes; the socket is closed or being closed
	connClosing                 // a close frame's deadline is set: keep it
	connCloseCalled             // CloseWith has run or is running
)

// isClosed reports whether c is closed (or being closed).
func (c *Conn) isClosed() bool { return c.flags.Load()&connClosed != 0 }

type header struct {
	fin    bool
	rsv    byte
	op     Opcode
	masked bool
	key    [4]byte
	length int64
}

// RemoteAddr returns the peer's address.
func (c *Conn) RemoteAddr() net.Addr { return c.nc.RemoteAddr() }

// LocalAddr returns the local address.
func (c *Conn) LocalAddr() net.Addr { return c.nc.LocalAddr() }

// SetReadDeadline sets the deadline of the underlying connection's reads.
func (c *Conn) SetReadDeadline(t time.Time) error { return c.nc.SetReadDeadline(t) }

// SetWriteDeadline sets the deadline of the underlying connection's writes.
func (c *Conn) SetWriteDeadline(t time.Time) error { return c.nc.SetWriteDeadline(t) }

// readHeader reads one frame header without allocating.
func (c *Conn) readHeader() (header, error) {
	var h header
	b := c.hdr[:2]
	if _, err := io.ReadFull(c.r, b); err != nil {
		return h, err
	}
	h.fin = b[0]&0x80 != 0
	h.rsv = (b[0] >> 4) & 0x7
	h.op = Opcode(b[0] & 0x0f)
	h.masked = b[1]&0x80 != 0
	l := int64(b[1] & 0x7f)
	extra := 0
	switch l {
	case 126:
		extra = 2
	case 127:
		extra = 8
	}
	if h.masked {
		extra += 4
	}
	if extra > 0 {
		e := c.hdr[2 : 2+extra]
		if _, err := io.ReadFull(c.r, e); err != nil {
			return h, err
		}
		switch l {
		case 126:
			l = int64(binary.BigEndian.Uint16(e))
			e = e[2:]
		case 127:
			u := binary.BigEndian.Uint64(e)
			if u>>63 != 0 {
				return h, c.fail(CloseProtocolError, "frame length has the most significant bit set")
			}
			l = int64(u)
			e = e[8:]
		}
		if h.masked {
			copy(h.key[:], e)
		}
	}
	h.length = l
	return h, nil
}

// ReadMessage reads the next data message, reassembling fragments. It answers
// pings, ignores pongs and answers a close frame (returning *CloseError). A
// violation of the protocol or of the limits (maxSize bytes per message,
// MaxFragments frames per message, UTF-8 text) sends the matching close frame
// and returns *ProtocolError; the caller should then Close. The message's
// buffer grows with the bytes that arrive (readChunk), never to the length a
// frame header announces before its payload has come.
func (c *Conn) ReadMessage(maxSize int64) (Opcode, []byte, error) {
	if maxSize <= 0 {
		maxSize = 32 << 20
	}
	maxFrags := int(c.MaxFragments)
	if maxFrags <= 0 {
		maxFrags = DefaultMaxFragments
	}
	var (
		msgOp Opcode
		buf   []byte
		frags int
		inMsg bool
	)
	for {
		h, err := c.readHeader()
		if err != nil {
			return 0, nil, err
		}
		if h.rsv != 0 {
			return 0, nil, c.fail(CloseProtocolError, "reserved bits set")
		}
		switch h.op {
		case OpContinuation, OpText, OpBinary, OpClose, OpPing, OpPong:
		default:
			return 0, nil, c.fail(CloseProtocolError, "unknown opcode "+h.op.String())
		}
		if c.server && !h.masked {
			return 0, nil, c.fail(CloseProtocolError, "unmasked frame from client")
		}
		if !c.server && h.masked {
			return 0, nil, c.fail(CloseProtocolError, "masked frame from server")
		}
		if c.OnFrame != nil {
			c.OnFrame(h.op, h.fin)
		}
		if h.op.isControl() {
			if !h.fin || h.length > 125 {
				return 0, nil, c.fail(CloseProtocolError, "fragmented or oversized control frame")
			}
			// Control frames are rare (clients seldom ping): allocate
			// rather than keep a 125-byte scratch on every connection.
			p := make([]byte, h.length)
			if _, err := io.ReadFull(c.r, p); err != nil {
				return 0, nil, err
			}
			if h.masked {
				mask(p, h.key)
			}
			switch h.op {
			case OpPing:
				if err := c.writeControl(OpPong, p); err != nil {
					return 0, nil, err
				}
			case OpClose:
				return 0, nil, c.onClose(p)
			}
			continue
		}
		if h.op == OpContinuation {
			if !inMsg {
				return 0, nil, c.fail(CloseProtocolError, "continuation frame without a message")
			}
		} else {
			if inMsg {
				return 0, nil, c.fail(CloseProtocolError, "new message inside a fragmented message")
			}
			inMsg, msgOp = true, h.op
		}
		frags++
		if frags > maxFrags {
			return 0, nil, c.fail(ClosePolicyViolation, "too many fragments")
		}
		if h.length > maxSize-int64(len(buf)) {
			return 0, nil, c.fail(CloseMessageTooBig, "message too big")
		}
		if h.length > 0 {
			start := len(buf)
			if buf, err = c.readPayload(buf, int(h.length)); err != nil {
				return 0, nil, err
			}
			if h.masked {
				mask(buf[start:], h.key)
			}
		}
		if h.fin {
			if msgOp == OpText && !utf8.Valid(buf) {
				return 0, nil, c.fail(CloseInvalidPayload, "invalid UTF-8 in text message")
			}
			if buf == nil {
				buf = []byte{}
			}
			return msgOp, buf, nil
		}
	}
}

// readChunk is the most ReadMessage allocates ahead of the bytes that have
// arrived. A frame header may announce up to the message limit (1 MB for the
// engine) and the payload may never come: the buffer grows with what is read,
// doubling, so it holds at most about twice what the peer actually sent, or
// readChunk. A message that fits in readChunk is read into one allocation of
// its exact size, as before.
const readChunk = 4 << 10

// readPayload appends the next n payload bytes from the connection to buf.
func (c *Conn) readPayload(buf []byte, n int) ([]byte, error) {
	if buf == nil && n <= readChunk {
		buf = make([]byte, n)
		_, err := io.ReadFull(c.r, buf)
		return buf, err
	}
	for n > 0 {
		if len(buf) == cap(buf) {
			// Grow by what is there already (doubling), at least readChunk,
			// at most what the frame still announces.
			grow := min(n, max(len(buf), readChunk))
			nb := make([]byte, len(buf), len(buf)+grow)
			copy(nb, buf)
			buf = nb
		}
		k := min(n, cap(buf)-len(buf))
		if _, err := io.ReadFull(c.r, buf[len(buf):len(buf)+k]); err != nil {
			return buf, err
		}
		buf = buf[:len(buf)+k]
		n -= k
	}
	return buf, nil
}

func validCloseCode(code int) bool {
	switch {
	case code >= 1000 && code <= 1003, code >= 1007 && code <= 1014, code >= 3000 && code <= 4999:
		return true
	}
	return false
}

// onClose answers a close frame with payload p.
func (c *Conn) onClose(p []byte) error {
	if len(p) == 0 {
		_ = c.writeClose(nil)
		return &CloseError{Code: CloseNoStatus}
	}
	if len(p) == 1 {
		return c.fail(CloseProtocolError, "close frame with a 1-byte payload")
	}
	code := int(binary.BigEndian.Uint16(p))
	if !validCloseCode(code) {
		return c.fail(CloseProtocolError, fmt.Sprintf("invalid close code %d", code))
	}
	if !utf8.Valid(p[2:]) {
		return c.fail(CloseInvalidPayload, "invalid UTF-8 in close reason")
	}
	reason := string(p[2:])
	_ = c.writeClose(p[:2])
	return &CloseError{Code: code, Reason: reason}
}

// fail sends a close frame with code and returns the *ProtocolError.
func (c *Conn) fail(code int, reason string) error {
	var p [2]byte
	binary.BigEndian.PutUint16(p[:], uint16(code))
	_ = c.writeClose(p[:])
	return &ProtocolError{Code: code, Reason: reason}
}

// The deadline is set before taking the write lock: it also cuts short a
// write in progress to a peer that does not read.
func (c *Conn) writeClose(p []byte) error {
	c.flags.Or(connClosing)
	_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
	return c.writeControl(OpClose, p)
}

// writeControl writes a control frame (len(p) <= 125) under the write lock.
func (c *Conn) writeControl(op Opcode, p []byte) error {
	var a [MaxFrameHeaderSize + 125]byte
	b := c.appendFrame(a[:0], op, p)
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return ErrClosed
	}
	if op == OpClose {
		c.wdeadline = true // set by writeClose
	} else {
		c.clearWriteDeadlineLocked()
	}
	_, err := c.nc.Write(b)
	return err
}

// appendFrame appends a frame with payload p, masked on the client side.
func (c *Conn) appendFrame(dst []byte, op Opcode, p []byte) []byte {
	if c.server {
		return AppendFrame(dst, op, p)
	}
	start := len(dst)
	dst = AppendFrameHeader(dst, op, len(p))
	dst[start+1] |= 0x80
	key := newMaskKey()
	dst = append(dst, key[:]...)
	off := len(dst)
	dst = append(dst, p...)
	mask(dst[off:], key)
	return dst
}

// WriteMessage writes p as one frame (masked on the client side).
func (c *Conn) WriteMessage(op Opcode, p []byte) error {
	bp := getBuf(MaxFrameHeaderSize + len(p))
	b := c.appendFrame((*bp)[:0], op, p)
	c.wmu.Lock()
	var err error
	if c.isClosed() {
		err = ErrClosed
	} else {
		c.clearWriteDeadlineLocked()
		_, err = c.nc.Write(b)
	}
	c.wmu.Unlock()
	*bp = b
	putBuf(bp)
	return err
}

// maxCopyCoalesce is the size up to which WriteFrames copies frames into one
// pooled buffer rather than using writev (small frames: a copy is cheaper than
// an iovec, and the kernel caches no iovec array on the connection).
const maxCopyCoalesce = 32 << 10

// maxIovecs bounds the frames per writev.
const maxIovecs = 64

// WriteFrames writes pre-encoded server frames (AppendFrame) in as few
// system calls as possible: one for the common case. It may modify the
// elements of frames (not the bytes they point to); pass a scratch slice.
// It blocks until everything is written (no deadline).
func (c *Conn) WriteFrames(frames [][]byte) error {
	if len(frames) == 0 {
		return nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return ErrClosed
	}
	c.clearWriteDeadlineLocked()
	_, err := c.writeFramesLocked(frames)
	return err
}

// WriteFramesNow writes as much of frames as the socket takes at once,
// without waiting: when the peer's socket buffer is full it returns
// ErrWouldBlock and rest, the part of frames not written (its first element
// may be the tail of a frame; rest shares frames' backing array). The
// connection stays usable: the caller writes rest later, with WriteFrames.
// A writer shared by many connections uses it so that a peer that stops
// reading cannot hold the writer. On a socket it cannot reach (TLS), it
// waits up to fallbackWriteWait instead.
func (c *Conn) WriteFramesNow(frames [][]byte) (rest [][]byte, err error) {
	if len(frames) == 0 {
		return nil, nil
	}
	c.wmu.Lock()
	defer c.wmu.Unlock()
	if c.isClosed() {
		return frames, ErrClosed
	}
	if c.rc != nil {
		c.clearWriteDeadlineLocked()
		return c.writeFramesNowLocked(frames)
	}
	c.wdeadline = true
	if err := c.nc.SetWriteDeadline(time.Now().Add(fallbackWriteWait)); err != nil {
		return frames, err
	}
	rest, err = c.writeFramesLocked(frames)
	if IsTimeout(err) {
		err = ErrWouldBlock
	}
	return rest, err
}

// fallbackWriteWait bounds WriteFramesNow where the socket is out of reach.
const fallbackWriteWait = 10 * time.Millisecond

// IsTimeout reports whether err is a write (or read) deadline expiry.
func IsTimeout(err error) bool { return errors.Is(err, os.ErrDeadlineExceeded) }

// clearWriteDeadlineLocked removes a deadline left by WriteFramesNow
// before a write that must not be cut short.
func (c *Conn) clearWriteDeadlineLocked() {
	if c.wdeadline && c.flags.Load()&connClosing == 0 {
		c.wdeadline = false
		_ = c.nc.SetWriteDeadline(time.Time{})
	}
}

// writeFramesLocked writes frames under wmu; on an error it returns what
// was not written (see WriteFramesNow).
func (c *Conn) writeFramesLocked(frames [][]byte) ([][]byte, error) {
	if len(frames) == 1 {
		n, err := c.nc.Write(frames[0])
		if err != nil {
			frames[0] = frames[0][n:]
			return frames, err
		}
		return nil, nil
	}
	total := 0
	for _, f := range frames {
		total += len(f)
	}
	if total <= maxCopyCoalesce {
		bp := getBuf(total)
		b := (*bp)[:0]
		for _, f := range frames {
			b = append(b, f...)
		}
		n, err := c.nc.Write(b)
		*bp = b
		putBuf(bp)
		if err != nil {
			return skipBytes(frames, n), err
		}
		return nil, nil
	}
	for len(frames) > 0 {
		n := min(len(frames), maxIovecs)
		nb := net.Buffers(frames[:n])
		// WriteTo consumes nb in place: written frames become empty, a
		// partly written one is cut to its unwritten tail.
		if _, err := nb.WriteTo(c.nc); err != nil {
			for len(frames) > 0 && len(frames[0]) == 0 {
				frames = frames[1:]
			}
			return frames, err
		}
		frames = frames[n:]
	}
	return nil, nil
}

// skipBytes returns frames without their first n bytes.
func skipBytes(frames [][]byte, n int) [][]byte {
	for len(frames) > 0 && len(frames[0]) <= n {
		n -= len(frames[0])
		frames = frames[1:]
	}
	if len(frames) > 0 {
		frames[0] = frames[0][n:]
	}
	return frames
}

// Close sends a normal close frame and closes the connection.
func (c *Conn) Close() error { return c.CloseWith(CloseNormal, "") }

// CloseWith sends a close frame with code and reason (best effort, bounded
// by a short write deadline) and closes the connection. Safe to call twice:
// a second call returns ErrClosed at once.
func (c *Conn) CloseWith(code int, reason string) error {
	if c.flags.Or(connCloseCalled)&connCloseCalled != 0 {
		return ErrClosed
	}
	var err error
	func() {
		if len(reason) > 123 {
			reason = reason[:123]
		}
		var a [125]byte
		binary.BigEndian.PutUint16(a[:], uint16(code))
		n := 2 + copy(a[2:], reason)
		// Before the lock: it also cuts short a blocked write.
		c.flags.Or(connClosing)
		_ = c.nc.SetWriteDeadline(time.Now().Add(closeWriteTimeout))
		c.wmu.Lock()
		c.wdeadline = true
		if !c.isClosed() {
			var fb [MaxFrameHeaderSize + 125]byte
			_, _ = c.nc.Write(c.appendFrame(fb[:0], OpClose, a[:n]))
		}
		c.flags.Or(connClosed)
		c.wmu.Unlock()
		err = c.nc.Close()
		c.unwatch()
	}()
	return err
}

// Abort closes the connection at once, without a close frame (for a peer that
// does not read).
func (c *Conn) Abort() error {
	c.flags.Or(connClosed)
	err := c.nc.Close()
	c.unwatch()
	return err
}

var bufPool sync.Pool

// getBuf returns a pooled buffer with capacity >= n. Buffers above 1 MiB are
// not pooled.
func getBuf(n int) *[]byte {
	if v, ok := bufPool.Get().(*[]byte); ok {
		if cap(*v) >= n {
			return v
		}
		bufPool.Put(v)
	}
	b := make([]byte, 0, max(n, 4096))
	return &b
}

func putBuf(bp *[]byte) {
	if cap(*bp) > 1<<20 {
		return
	}
	*bp = (*bp)[:0]
	bufPool.Put(bp)
}
