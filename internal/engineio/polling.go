package engineio

import (
	"errors"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

var (
	noopOnly  = []*Message{noopPacket}
	closeOnly = []*Message{closePacket}
)

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// Deadlines of polling requests. The engine sets them itself, whatever the
// HTTP server's per-request deadlines: a long-poll waits as long as the
// heartbeat lets it, and net/http cancels a request's context when a read
// deadline passes in its background read, which would end the poll (and its
// session) early.
//
// A GET poll waits at most PingInterval + PingTimeout (the heartbeat, or
// the closing deadline, wakes it); its answer must then be written within
// pollWriteTimeout. A POST's body must arrive within Config.PollBodyTimeout.

// pollWriteMargin is added to PingTimeout to bound writing a poll's answer:
// a client that cannot take it in PingTimeout misses the heartbeat anyway,
// and the margin keeps short test intervals from failing a loaded machine.
const pollWriteMargin = 10 * time.Second

func (c *Conn) pollWriteTimeout() time.Duration { return c.srv.cfg.PingTimeout + pollWriteMargin }

// servePoll answers a GET poll: at once with what is queued, or when
// something is queued, the session closes or an upgrade needs the poll ended.
// A poll that has to wait is parked where it can be (parked.go); otherwise
// it waits on this goroutine.
func (c *Conn) servePoll(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		writeError(w, codeUnknownSID)
		return
	}
	if c.polling {
		// Node: "overlap from client". The pending poll gets the close packet.
		c.mu.Unlock()
		c.srv.log.Debug("engineio: overlapping poll, closing", "sid", c.id)
		c.closeNow(ReasonTransportError)
		writeError(w, codeBadRequest)
		return
	}
	c.polling = true
	mustWait := len(c.queue) == 0 && c.state == stateOpen && !c.probed
	c.mu.Unlock()
	if mustWait && c.park(w, r) {
		return
	}
	c.mu.Lock()
	var wake *waitingPoll
	if len(c.queue) == 0 && c.state == stateOpen && !c.probed && !c.onWS {
		wake = &waitingPoll{wake: make(chan struct{})}
		c.polledLocked().poll = wake
	}
	c.mu.Unlock()
	if wake != nil {
		cfg := &c.srv.cfg
		wait := cfg.PingInterval + cfg.PingTimeout + c.pollWriteTimeout()
		_ = http.NewResponseController(w).SetReadDeadline(time.Now().Add(wait))
		select {
		case <-wake.wake:
		case <-r.Context().Done():
			c.mu.Lock()
			aborted := c.pendingPollLocked() == wake
			if aborted {
				c.pl.poll = nil
				c.polling = false
			}
			c.mu.Unlock()
			if aborted {
				// Node: "poll connection closed prematurely".
				c.closeNow(ReasonTransportError)
				return
			}
		}
	}
	c.respondPoll(w, r)
}

// pollBody takes what a poll answers (everything queued, or a noop / close
// packet), clears c.polling, which the caller has set, and appends the
// payload to dst. binary: a v3 payload with binary packets may be sent as
// binary. closing: the close packet was sent, the session ends once it is
// written.
func (c *Conn) pollBody(dst []byte, binary bool) (body []byte, contentType string, closing bool) {
	c.mu.Lock()
	var q []*Message
	owned := false
	switch {
	case c.state == stateClosed:
		q = closeOnly
		if c.pollNoop {
			q = noopOnly
		}
	case c.onWS:
		q = noopOnly // upgraded while this poll waited
	case len(c.queue) > 0:
		// Also when closing: the close packet goes in the next poll (Close).
		q, owned = c.queue, true
		c.queue = nil
	case c.state == stateClosing:
		q, closing = closeOnly, true
	default:
		q = noopOnly
	}
	// The poll is over once it has its packets: the client may send the
	// next one as soon as the answer's last byte is out, which can be
	// before the answer's writer returns.
	c.polling = false
	c.mu.Unlock()

	contentType = "text/plain; charset=UTF-8"
	switch {
	case c.proto == 4:
		body = appendPayloadV4(dst, q)
	case binary && hasBinary(q):
		body = appendPayloadV3Binary(dst, q)
		contentType = "application/octet-stream"
	default:
		body = appendPayloadV3String(dst, q)
	}
	if owned {
		clear(q)
	}
	return body, contentType, closing
}

// respondPoll writes one poll response with everything queued (or a noop /
// close packet) and clears c.polling, which the caller has set.
func (c *Conn) respondPoll(w http.ResponseWriter, r *http.Request) {
	bp := bodyPool.Get().(*[]byte)
	body, contentType, closing := c.pollBody((*bp)[:0], c.proto == 3 && !c.b64 && !r.URL.Query().Has("b64"))
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	rc := http.NewResponseController(w)
	_ = rc.SetWriteDeadline(time.Now().Add(c.pollWriteTimeout()))
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	if err == nil {
		err = rc.Flush()
	}
	// No deadline of ours outlives the request on a kept-alive connection.
	_ = rc.SetWriteDeadline(time.Time{})
	putBody(bp, body)

	if o := c.srv.cfg.Observer; o != nil && err == nil {
		o.BytesWritten(transportPolling, len(body))
	}
	if err != nil {
		c.srv.log.Debug("engineio: poll write failed", "sid", c.id, "err", err)
		c.closeNow(ReasonTransportError)
		return
	}
	if closing {
		c.closeNow(ReasonForcedClose)
	}
}

// servePost reads a POSTed payload, delivers its packets and answers "ok".
func (c *Conn) servePost(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	if c.state == stateClosed {
		c.mu.Unlock()
		writeError(w, codeUnknownSID)
		return
	}
	if c.posting {
		c.mu.Unlock()
		c.srv.log.Debug("engineio: overlapping post, closing", "sid", c.id)
		c.closeNow(ReasonTransportError)
		writeError(w, codeBadRequest)
		return
	}
	c.posting = true
	c.mu.Unlock()
	defer func() {
		c.mu.Lock()
		c.posting = false
		c.mu.Unlock()
	}()

	limit, limitName := c.readLimit()
	if r.ContentLength > limit {
		c.tooLarge(w, r, limitName, r.ContentLength)
		return
	}
	body, ended, err := c.readPost(w, r, limit)
	switch {
	case ended:
		writeError(w, codeUnknownSID)
		return
	case errors.Is(err, errBodyTooLarge):
		c.tooLarge(w, r, limitName, int64(len(body)))
		return
	case errors.Is(err, os.ErrDeadlineExceeded):
		c.srv.limits.Hit(LimitPostTimeout, r.RemoteAddr, "sid", c.id, "received", len(body),
			"timeout", c.srv.cfg.PollBodyTimeout.String())
		c.closeNow(ReasonTransportError)
		w.Header().Set("Cache-Control", "no-store")
		w.WriteHeader(http.StatusRequestTimeout)
		return
	case err != nil:
		c.closeNow(ReasonTransportError)
		writeError(w, codeBadRequest)
		return
	}
	binaryBody := strings.HasPrefix(r.Header.Get("Content-Type"), "application/octet-stream")
	var pkts []packet
	switch {
	case c.proto == 4 && binaryBody:
		err = errBinaryPayload
	case c.proto == 4:
		pkts, err = decodePayloadV4(body)
	case binaryBody:
		pkts, err = decodePayloadV3Binary(body)
	default:
		pkts, err = decodePayloadV3String(body)
	}
	if err != nil {
		c.srv.log.Debug("engineio: bad payload, closing", "sid", c.id, "err", err)
		c.closeNow(ReasonParseError)
		writeError(w, codeBadRequest)
		return
	}
	c.deliver(pkts)

	// text/html, as Node, avoids a download dialog on some user agents.
	h := w.Header()
	h.Set("Content-Type", "text/html")
	h.Set("Content-Length", "2")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, _ = io.WriteString(w, "ok")
}

// readPost reads the body of a POST within PollBodyTimeout. ended reports
// that the session ended meanwhile (closeNow aborts the read). When the
// body was read in time, its read deadline is gone when it returns; when
// not (ended, an error, or the deadline may have fired: in the read, or in
// net/http's background read once the body was read, which cancels the
// connection's context), the connection ends with this response (dropConn).
func (c *Conn) readPost(w http.ResponseWriter, r *http.Request, limit int64) (body []byte, ended bool, err error) {
	rc := http.NewResponseController(w)
	deadline := time.Now().Add(c.srv.cfg.PollBodyTimeout)
	_ = rc.SetReadDeadline(deadline)
	c.mu.Lock()
	c.polledLocked().post = rc
	ended = c.state == stateClosed
	c.mu.Unlock()
	if !ended {
		body, err = readBody(r.Body, r.ContentLength, limit)
	}
	c.mu.Lock()
	c.pl.post = nil
	ended = c.state == stateClosed
	c.mu.Unlock()
	if ended || err != nil || !time.Now().Before(deadline) || r.Context().Err() != nil {
		dropConn(w)
	} else {
		_ = rc.SetReadDeadline(time.Time{})
	}
	return body, ended, err
}

// dropConn makes w's connection end with this response, at once. Saying
// "Connection: close" is not enough: after the handler returns, net/http
// reads what is left of an unread body (up to 256 KiB of it) to look for
// its end, with whatever read deadline the connection has, so a client that
// announced a body and stopped sending would keep the connection and its
// goroutine, after its 408 or 413, for as long as it liked. A deadline in
// the past ends that read at once.
func dropConn(w http.ResponseWriter) {
	w.Header().Set("Connection", "close")
	_ = http.NewResponseController(w).SetReadDeadline(aLongTimeAgo)
}

// errBodyTooLarge is readBody's error for a body over its limit.
var errBodyTooLarge = errors.New("engineio: body too large")

// readBody reads a body of at most limit bytes into a buffer that grows
// with the bytes that arrive: a declared length (declared, -1 if unknown)
// only sizes the first read, so a client announcing a large body and
// sending little makes the server hold little. Over limit it returns what
// it read and errBodyTooLarge.
func readBody(r io.Reader, declared, limit int64) ([]byte, error) {
	const firstRead = 4096
	size := int64(firstRead)
	if declared >= 0 && declared < size {
		size = declared
	}
	buf := make([]byte, 0, max(size, 1))
	for {
		if len(buf) == cap(buf) {
			if declared >= 0 && int64(len(buf)) == declared {
				return buf, nil // net/http ends a body at its Content-Length
			}
			// Double, but never past the declared length or the limit
			// (plus the byte that tells it was exceeded).
			grow := int64(cap(buf))
			if declared >= 0 {
				grow = min(grow, declared-int64(len(buf)))
			}
			grow = min(grow, limit+1-int64(len(buf)))
			if grow <= 0 {
				return buf, errBodyTooLarge
			}
			nb := make([]byte, len(buf), int64(cap(buf))+grow)
			copy(nb, buf)
			buf = nb
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if int64(len(buf)) > limit {
			return buf, errBodyTooLarge
		}
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// tooLarge answers 413 to a body over limit (n bytes, declared or read),
// as Node does, and closes the session.
func (c *Conn) tooLarge(w http.ResponseWriter, r *http.Request, limit string, n int64) {
	maxBytes := c.srv.cfg.MaxPayload
	if limit == LimitPendingPayloadBytes {
		maxBytes = c.srv.cfg.MaxPendingPayload
	}
	c.srv.limits.Hit(limit, r.RemoteAddr, "sid", c.id, "bytes", n, "max", maxBytes)
	c.closeNow(ReasonTransportError)
	dropConn(w) // the rest of the body is not read
	h := w.Header()
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
}
