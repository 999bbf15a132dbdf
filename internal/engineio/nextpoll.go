package engineio

import (
	"bytes"
	"errors"
	"sync"
)

// Reading a parked poll's connection's next request (Config.ReadNextPolls,
// ADR 0031). Once a parked poll is answered its socket stays in the
// poller's set; when it polls readable the engine reads what came, at
// most maxNextPollBytes in one non-blocking read (the registration is
// edge-triggered, ws.WatchEdges: a read that returns less than it asked has
// taken everything, so waiting again costs no system call). If that is exactly one
// plain GET poll of the same session (same path, same Origin, no body, no
// upgrade, nothing behind it), it is served here as servePoll would: parked
// again, or answered at once. Anything else — another request, a partial
// or larger one, a closed or upgrading session — goes to net/http with the
// bytes read replayed first, so it is served exactly as before.

// maxNextPollBytes bounds what is read of a next poll: a browser's GET poll
// with its cookies fits; a larger one goes to net/http, which applies
// --http-max-header-bytes.
const maxNextPollBytes = 4096

var nextPollPool = sync.Pool{New: func() any { b := make([]byte, maxNextPollBytes); return &b }}

// errNothingToRead: the socket polled readable and had nothing (spurious).
var errNothingToRead = errors.New("engineio: nothing to read")

// readNext reads and serves the next request on p's connection; the
// caller (the poller's goroutine) took p from c.pl.next, so it owns it.
func (c *Conn) readNext(p *waitingPoll) {
	bp := nextPollPool.Get().(*[]byte)
	defer nextPollPool.Put(bp)
	n, err := readOnce(p.wsc, *bp)
	switch {
	case errors.Is(err, errNothingToRead):
		c.mu.Lock()
		kept := c.keepForNextLocked(p)
		c.mu.Unlock()
		if !kept {
			c.giveBack(p, nil)
		}
		return
	case err != nil || n == 0:
		// The client closed its idle connection (net/http would close
		// it too): the session is not concerned.
		_ = p.wsc.Abort()
		return
	}
	req := (*bp)[:n]
	// A full buffer may have left bytes in the socket, which its
	// edge-triggered registration would not report again: net/http reads
	// them (no GET poll is that large).
	binary, ok := c.nextPollOf(p, req)
	if !ok || n == len(*bp) {
		c.giveBack(p, req)
		return
	}
	c.mu.Lock()
	if c.state != stateOpen || c.polling || c.onWS || c.probed || c.probeLocked() != nil {
		// The unusual cases (overlap, closed session, upgrade) keep
		// net/http's path.
		c.mu.Unlock()
		c.giveBack(p, req)
		return
	}
	c.polling = true
	p.binary = binary
	if len(c.queue) == 0 {
		c.polledLocked().poll = p
		if p.waitNextLocked() == nil {
			c.mu.Unlock()
			return
		}
		c.pl.poll = nil
	}
	c.srv.wg.Add(1) // the session's count is held
	c.mu.Unlock()
	// Answered with the others the same wake-up of the poller read, in
	// one batch (answerReadPolls).
	c.srv.readAnswers = append(c.srv.readAnswers, parkedConn{c, p})
}

// answerReadPolls answers, in one batch, the polls readNext found
// something queued for: the poller's AfterEvents, on its goroutine.
func (s *Server) answerReadPolls() {
	if len(s.readAnswers) == 0 {
		return
	}
	s.answerParkedBatch(s.readAnswers)
	clear(s.readAnswers)
	s.readAnswers = s.readAnswers[:0]
}

// giveBack hands p's connection to net/http with read, the bytes read of
// its next request, replayed first.
func (c *Conn) giveBack(p *waitingPoll, read []byte) {
	_ = p.wsc.Unwatch()
	if len(read) > 0 {
		p.pre = bytes.Clone(read)
	}
	p.watched = false
	go c.handBackConn(p)
}

// nextPollOf reports whether req is exactly one GET poll of c that the
// engine may serve itself (see the package comment above), and whether its
// answer may be binary (v3, no b64).
func (c *Conn) nextPollOf(p *waitingPoll, req []byte) (binary, ok bool) {
	g, ok := parseSimpleGet(req)
	if !ok || g.path != p.path || g.hasOrigin != p.hasOrigin || g.origin != p.origin {
		return false, false
	}
	q, ok := parsePollQuery(g.query)
	if !ok || q.transport != transportPolling || q.sid != c.id {
		return false, false
	}
	switch {
	case c.proto == 4 && q.eio == "4", c.proto == 3 && q.eio == "3":
	default:
		return false, false
	}
	return c.proto == 3 && !c.b64 && !q.b64, true
}

// simpleGet is what parseSimpleGet keeps of a request.
type simpleGet struct {
	path, query, origin string
	hasOrigin           bool
}

// parseSimpleGet parses b as exactly one HTTP/1.1 GET request without a
// body: its request line, then header lines, then the empty line, and
// nothing after it. ok is false for anything else, or anything net/http
// would treat in a way of its own: a body (Content-Length,
// Transfer-Encoding), an upgrade, Expect, "Connection" other than
// keep-alive, a missing or repeated Host, a repeated Origin, folded or
// malformed lines.
func parseSimpleGet(b []byte) (g simpleGet, ok bool) {
	end := bytes.Index(b, []byte("\r\n\r\n"))
	if end < 0 || end+4 != len(b) {
		return g, false
	}
	b = b[:end+2] // each line ends with \r\n
	line, b, _ := bytes.Cut(b, []byte("\r\n"))
	rest, found := bytes.CutPrefix(line, []byte("GET "))
	if !found {
		return g, false
	}
	target, found := bytes.CutSuffix(rest, []byte(" HTTP/1.1"))
	if !found || len(target) == 0 || target[0] != '/' {
		return g, false
	}
	for _, ch := range target {
		if ch <= ' ' || ch >= 0x7f || ch == '#' {
			return g, false
		}
	}
	path, query, _ := bytes.Cut(target, []byte("?"))
	hosts := 0
	for len(b) > 0 {
		line, b, _ = bytes.Cut(b, []byte("\r\n"))
		name, value, found := bytes.Cut(line, []byte(":"))
		if !found || len(name) == 0 || !isToken(name) {
			return g, false
		}
		value = bytes.Trim(value, " \t")
		for _, ch := range value {
			if ch < ' ' && ch != '\t' || ch == 0x7f {
				return g, false
			}
		}
		switch {
		case asciiEqualFold(name, "Host"):
			hosts++
		case asciiEqualFold(name, "Origin"):
			if g.hasOrigin {
				return g, false
			}
			g.hasOrigin, g.origin = true, string(value)
		case asciiEqualFold(name, "Connection"):
			if !asciiEqualFold(value, "keep-alive") {
				return g, false
			}
		case asciiEqualFold(name, "Content-Length"), asciiEqualFold(name, "Transfer-Encoding"),
			asciiEqualFold(name, "Upgrade"), asciiEqualFold(name, "Expect"), asciiEqualFold(name, "Te"),
			asciiEqualFold(name, "Trailer"), asciiEqualFold(name, "Http2-Settings"):
			return g, false
		}
	}
	if hosts != 1 {
		return g, false
	}
	g.path, g.query = string(path), string(query)
	return g, true
}

// pollQuery is what parsePollQuery keeps of a poll's query.
type pollQuery struct {
	eio, transport, sid string
	b64                 bool
}

// parsePollQuery parses a poll's query: EIO, transport, sid, and t (a
// cache buster) and b64, each at most once, nothing else, and no escapes
// in the values kept. ok is false for anything else.
func parsePollQuery(s string) (q pollQuery, ok bool) {
	var seen [5]bool
	for s != "" {
		var kv string
		kv, s, _ = cutByte(s, '&')
		k, v, _ := cutByte(kv, '=')
		i := -1
		switch k {
		case "EIO":
			i, q.eio = 0, v
		case "transport":
			i, q.transport = 1, v
		case "sid":
			i, q.sid = 2, v
		case "t":
			i = 3
		case "b64":
			i, q.b64 = 4, true
		}
		if i < 0 || seen[i] {
			return q, false
		}
		seen[i] = true
		if i <= 2 {
			for j := 0; j < len(v); j++ {
				if v[j] == '%' || v[j] == '+' {
					return q, false
				}
			}
		}
	}
	return q, true
}

func cutByte(s string, sep byte) (before, after string, found bool) {
	for i := 0; i < len(s); i++ {
		if s[i] == sep {
			return s[:i], s[i+1:], true
		}
	}
	return s, "", false
}

// isToken reports whether b is an HTTP token (a header name).
func isToken(b []byte) bool {
	for _, ch := range b {
		switch {
		case ch >= 'a' && ch <= 'z', ch >= 'A' && ch <= 'Z', ch >= '0' && ch <= '9':
		case bytes.IndexByte([]byte("!#$%&'*+-.^_`|~"), ch) >= 0:
		default:
			return false
		}
	}
	return true
}

// asciiEqualFold reports whether b equals s, ASCII case-insensitively.
func asciiEqualFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range b {
		x, y := b[i], s[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if 'A' <= y && y <= 'Z' {
			y += 'a' - 'A'
		}
		if x != y {
			return false
		}
	}
	return true
}
