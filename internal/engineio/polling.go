package engineio

import (
	"io"
	"net/http"
	"strconv"
	"strings"
	"sync"
)

var (
	noopOnly  = []*Message{noopPacket}
	closeOnly = []*Message{closePacket}
)

var bodyPool = sync.Pool{New: func() any { b := make([]byte, 0, 512); return &b }}

// servePoll answers a GET poll: at once with what is queued, or when
// something is queued, the session closes or an upgrade needs the poll ended.
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
	var wake chan struct{}
	if len(c.queue) == 0 && c.state == stateOpen && !c.probed {
		wake = make(chan struct{})
		c.poll = wake
	}
	c.mu.Unlock()
	if wake != nil {
		select {
		case <-wake:
		case <-r.Context().Done():
			c.mu.Lock()
			aborted := c.poll == wake
			if aborted {
				c.poll = nil
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

// respondPoll writes one poll response with everything queued (or a noop /
// close packet) and clears c.polling, which the caller has set.
func (c *Conn) respondPoll(w http.ResponseWriter, r *http.Request) {
	c.mu.Lock()
	var q []*Message
	owned, closing := false, false
	switch {
	case c.state == stateClosed:
		q = closeOnly
		if c.pollNoop {
			q = noopOnly
		}
	case c.transport != transportPolling:
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
	// before this handler returns (a large body).
	c.polling = false
	c.mu.Unlock()

	bp := bodyPool.Get().(*[]byte)
	body := (*bp)[:0]
	contentType := "text/plain; charset=UTF-8"
	switch {
	case c.proto == 4:
		body = appendPayloadV4(body, q)
	case !c.b64 && hasBinary(q) && !r.URL.Query().Has("b64"):
		body = appendPayloadV3Binary(body, q)
		contentType = "application/octet-stream"
	default:
		body = appendPayloadV3String(body, q)
	}
	if owned {
		clear(q)
	}
	h := w.Header()
	h.Set("Content-Type", contentType)
	h.Set("Content-Length", strconv.Itoa(len(body)))
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusOK)
	_, err := w.Write(body)
	if cap(body) <= 64<<10 {
		*bp = body[:0]
		bodyPool.Put(bp)
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

	limit := c.srv.cfg.MaxPayload
	if r.ContentLength > limit {
		c.tooLarge(w)
		return
	}
	var body []byte
	var err error
	if r.ContentLength > 0 {
		body = make([]byte, r.ContentLength)
		_, err = io.ReadFull(r.Body, body)
	} else {
		body, err = io.ReadAll(io.LimitReader(r.Body, limit+1))
	}
	if err != nil {
		c.closeNow(ReasonTransportError)
		writeError(w, codeBadRequest)
		return
	}
	if int64(len(body)) > limit {
		c.tooLarge(w)
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

func (c *Conn) tooLarge(w http.ResponseWriter) {
	c.srv.log.Debug("engineio: payload too large, closing", "sid", c.id)
	c.closeNow(ReasonTransportError)
	h := w.Header()
	h.Set("Connection", "close")
	h.Set("Cache-Control", "no-store")
	w.WriteHeader(http.StatusRequestEntityTooLarge)
}
