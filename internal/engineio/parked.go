package engineio

import (
	"errors"
	"net"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// Parked polls (ADR 0031). A GET poll that has to wait leaves net/http:
// its handler hijacks the connection and returns, so a waiting poll holds
// no goroutine, no bufio buffers and no request, only a waitingPoll (the
// socket, the header lines the middleware set, a flag). The server's
// ws.Poller watches the socket meanwhile, so a client that goes away ends
// the poll as net/http's background read did ("poll connection closed
// prematurely": transport error). When the poll is answered the engine
// writes the HTTP/1.1 response itself (for a broadcast, all of them in one
// io_uring submission with ws.Batcher, as WebSocket sends go) and then
// hands the connection back to net/http through the listener of
// HandBackListener, which the application serves with the same
// http.Server: the connection's next request goes through the same
// middleware, limits and handlers as any other.
//
// Parking is on once HandBackListener has been called (nobody serving it,
// nothing could be handed back); until then, or where a connection cannot
// be parked (HTTP/1.0, "Connection: close", HTTP/2, a ResponseWriter that
// cannot hijack), a poll waits on its handler's goroutine as before.

// waitingPoll is the GET poll a session has waiting.
type waitingPoll struct {
	// wake is closed to wake a handler waiting on its goroutine; nil for
	// a parked poll.
	wake chan struct{}

	// A parked poll: the hijacked socket (a ws.Conn only as a byte
	// stream the ws layer can write and watch), the response header lines
	// captured from the handler (CORS, Vary...), bytes net/http had read
	// ahead (replayed to it) and whether a v3 answer may be binary.
	wsc     *ws.Conn
	nc      net.Conn
	header  headerLines
	pre     []byte
	binary  bool
	watched bool

	// edge: the poller reported the socket readable while nobody was
	// reading it (parked with bytes sent ahead, or being answered), so
	// its edge-triggered registration will not report those bytes again
	// (ws.WatchEdges): whoever next waits for the next request re-arms.
	// Guarded by the session's mu.
	edge bool

	// What a next poll read by the engine (ReadNextPolls) must match:
	// the parked request's path and Origin header.
	path, origin string
	hasOrigin    bool
}

// handBack is the listener HandBackListener returns: its Accept yields
// the connections of answered parked polls.
type handBack struct {
	ch   chan net.Conn
	done chan struct{}
	once sync.Once
}

type handBackAddr struct{}

func (handBackAddr) Network() string { return "engineio" }
func (handBackAddr) String() string  { return "engineio hand-back" }

// Accept returns the next connection handed back.
func (l *handBack) Accept() (net.Conn, error) {
	select {
	case c := <-l.ch:
		return c, nil
	case <-l.done:
		return nil, net.ErrClosed
	}
}

// Close stops handing back: connections waiting to be accepted, and those
// answered from then on, are closed. Safe to call twice.
func (l *handBack) Close() error {
	l.once.Do(func() { close(l.done) })
	l.drain()
	return nil
}

// drain closes the connections waiting to be accepted.
func (l *handBack) drain() {
	for {
		select {
		case c := <-l.ch:
			_ = c.Close()
		default:
			return
		}
	}
}

func (l *handBack) Addr() net.Addr { return handBackAddr{} }

// give hands nc to whoever serves the listener, or closes it once the
// listener is closed.
func (l *handBack) give(nc net.Conn) {
	select {
	case <-l.done:
		_ = nc.Close()
		return
	default:
	}
	select {
	case l.ch <- nc:
		select {
		case <-l.done:
			l.drain() // closed meanwhile: Close may have drained before
		default:
		}
	case <-l.done:
		_ = nc.Close()
	}
}

// HandBackListener returns the listener through which the server hands
// back the connections of parked long-polls once they are answered, and
// turns parking on. Serve it with the same http.Server (http.Server.Serve
// may be called with several listeners) as the listener the Engine.IO
// handler is reached through, so a connection's next request is served
// exactly as it would have been. Shutdown closes it; so does the
// http.Server's Shutdown.
func (s *Server) HandBackListener() net.Listener {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.handBack == nil {
		s.handBack = &handBack{ch: make(chan net.Conn, 256), done: make(chan struct{})}
	}
	return s.handBack
}

// parkable reports whether r's connection may be parked.
func (s *Server) parkable(r *http.Request) *handBack {
	if r.ProtoMajor != 1 || r.ProtoMinor != 1 || r.Close || r.TLS != nil {
		return nil
	}
	s.mu.Lock()
	hb := s.handBack
	s.mu.Unlock()
	return hb
}

// park hijacks w's connection for a GET poll that has to wait (c.polling
// is set). false: it could not, nothing was written, and the poll waits on
// this goroutine. true: the poll is parked, or answered already if
// something came meanwhile.
func (c *Conn) park(w http.ResponseWriter, r *http.Request) bool {
	if c.srv.parkable(r) == nil {
		return false
	}
	header := captureHeader(w.Header())
	nc, rw, err := http.NewResponseController(w).Hijack()
	if err != nil {
		return false
	}
	if rc, ok := nc.(*replayConn); ok && len(rc.pre) == 0 {
		nc = rc.Conn // handed back earlier; net/http has read the bytes replayed
	}
	origin, hasOrigin := r.Header["Origin"]
	p := &waitingPoll{wsc: ws.NewServerConn(nc), nc: nc, header: header,
		binary: c.proto == 3 && !c.b64 && !r.URL.Query().Has("b64"),
		path:   r.URL.EscapedPath(), hasOrigin: hasOrigin && len(origin) == 1}
	if p.hasOrigin {
		p.origin = origin[0]
	} else if hasOrigin {
		p.path = "" // several Origin headers: no next poll matches (nextPollOf)
	}
	if n := rw.Reader.Buffered(); n > 0 {
		p.pre, _ = rw.Reader.Peek(n)
		p.pre = slices.Clone(p.pre)
	}
	c.mu.Lock()
	c.releaseNextLocked() // the client polls on another connection now
	if len(c.queue) == 0 && c.state == stateOpen && !c.probed && !c.onWS {
		c.polledLocked().poll = p
		// Watched under c.mu, so the answer, which takes the poll under
		// c.mu, unwatches a registration that is complete. With bytes
		// read ahead the socket says nothing of the client leaving.
		if p.pre == nil {
			p.watched = p.wsc.WatchEdges(c.srv.poller(), ws.ReadableFunc(func() { c.onWatchedReadable(p) }))
		}
		c.mu.Unlock()
		return true
	}
	c.srv.wg.Add(1) // the session's count is held
	c.mu.Unlock()
	c.answerParked(p) // something came while hijacking
	return true
}

// wakePollLocked ends the waiting GET poll, if any: a handler waiting on
// its goroutine is woken; a parked poll is answered on a goroutine of its
// own. c.polling stays set until the answer has its packets.
func (c *Conn) wakePollLocked() {
	p := c.pendingPollLocked()
	if p == nil {
		return
	}
	c.pl.poll = nil
	if p.wake != nil {
		close(p.wake)
		return
	}
	c.srv.wg.Add(1) // the session's count is held
	go c.answerParked(p)
}

// takeParkedLocked takes the parked poll for a broadcast to answer (and
// counts the answer on srv.wg); nil when none is parked.
func (c *Conn) takeParkedLocked() *waitingPoll {
	p := c.pendingPollLocked()
	if p == nil || p.wake != nil {
		return nil
	}
	c.pl.poll = nil
	c.srv.wg.Add(1)
	return p
}

// onWatchedReadable runs on the poller's goroutine when the socket of a
// parked poll, or of an answered one waiting for its next request, polls
// readable.
func (c *Conn) onWatchedReadable(p *waitingPoll) {
	c.mu.Lock()
	switch {
	case c.pendingPollLocked() == p:
		c.onParkedReadableLocked(p)
	case c.nextPollLocked() == p:
		c.pl.next = nil
		p.edge = false // readNext takes all there is
		c.mu.Unlock()
		c.readNext(p)
	default:
		// Being answered: the answer owns the socket, and re-arms it
		// when it waits for the next request (finishParked).
		p.edge = true
		c.mu.Unlock()
	}
}

// onParkedReadableLocked: the client of a parked poll went away (the poll
// ends the session, as Node's "poll connection closed prematurely"), or it
// sent bytes ahead, which are left for net/http to read after the answer.
// It unlocks c.mu.
func (c *Conn) onParkedReadableLocked(p *waitingPoll) {
	if !p.wsc.PeerGone() {
		p.edge = true // bytes left for the next request's reader
		c.mu.Unlock()
		return
	}
	c.pl.poll = nil
	c.polling = false
	c.mu.Unlock()
	_ = p.wsc.Abort()
	c.closeNow(ReasonTransportError)
}

// answerParked answers the parked poll p, which the caller took (counted
// on srv.wg), and hands its connection back.
func (c *Conn) answerParked(p *waitingPoll) {
	bp := bodyPool.Get().(*[]byte)
	resp, n, closing := c.parkedResponse(p, (*bp)[:0])
	var frame [1][]byte
	frame[0] = resp
	rest, err := p.wsc.WriteFramesNow(frame[:])
	c.finishParked(p, n, closing, rest, err)
	putBody(bp, resp)
}

// answerParkedBatch answers the parked polls of a broadcast, taken by its
// caller, in as few system calls as the batcher makes.
func (s *Server) answerParkedBatch(ps []parkedConn) {
	for len(ps) > 0 {
		chunk := ps[:min(len(ps), maxInlineFlush)]
		ps = ps[len(chunk):]
		sc := parkScratchPool.Get().(*parkScratch)
		items, frames, bufs := sc.items[:0], sc.frames[:0], sc.bufs[:0]
		if cap(frames) < len(chunk) {
			frames = make([][]byte, 0, len(chunk))
		}
		for _, pc := range chunk {
			bp := bodyPool.Get().(*[]byte)
			resp, n, closing := pc.c.parkedResponse(pc.p, (*bp)[:0])
			bufs = append(bufs, parkBuf{bp: bp, resp: resp, n: n, closing: closing})
			frames = append(frames, resp)
			items = append(items, ws.SendItem{Conn: pc.p.wsc, Frames: frames[len(frames)-1 : len(frames) : len(frames)]})
		}
		s.batcher().Send(items)
		for i, pc := range chunk {
			b := bufs[i]
			pc.c.finishParked(pc.p, b.n, b.closing, items[i].Rest, items[i].Err)
			putBody(b.bp, b.resp)
		}
		clear(items)
		clear(frames)
		clear(bufs)
		sc.items, sc.frames, sc.bufs = items[:0], frames[:0], bufs[:0]
		parkScratchPool.Put(sc)
	}
}

// parkedConn is a connection whose parked poll a broadcast answers.
type parkedConn struct {
	c *Conn
	p *waitingPoll
}

type parkBuf struct {
	bp      *[]byte
	resp    []byte
	n       int
	closing bool
}

type parkScratch struct {
	items  []ws.SendItem
	frames [][]byte
	bufs   []parkBuf
}

var parkScratchPool = sync.Pool{New: func() any { return new(parkScratch) }}

// putBody returns a response buffer to bodyPool (b is what it grew to).
func putBody(bp *[]byte, b []byte) {
	if cap(b) <= 64<<10 {
		*bp = b[:0]
		bodyPool.Put(bp)
	}
}

// parkedResponse appends to dst the whole HTTP response of a parked poll:
// the status line, the captured headers, ours, and the payload. n is the
// payload's length; closing as pollBody's.
func (c *Conn) parkedResponse(p *waitingPoll, dst []byte) (resp []byte, n int, closing bool) {
	sp := bodyPool.Get().(*[]byte)
	body, contentType, closing := c.pollBody((*sp)[:0], p.binary)
	dst = append(dst, "HTTP/1.1 200 OK\r\n"...)
	h := p.header
	dst = append(dst, h.b[:h.cache]...)
	dst = append(dst, "Cache-Control: no-store\r\n"...)
	dst = append(dst, h.b[h.cache:h.length]...)
	dst = append(dst, "Content-Length: "...)
	dst = strconv.AppendInt(dst, int64(len(body)), 10)
	dst = append(dst, "\r\nContent-Type: "...)
	dst = append(dst, contentType...)
	dst = append(dst, "\r\n"...)
	dst = append(dst, h.b[h.length:]...)
	dst = append(dst, "Date: "...)
	dst = time.Now().UTC().AppendFormat(dst, http.TimeFormat)
	dst = append(dst, "\r\n\r\n"...)
	dst = append(dst, body...)
	n = len(body)
	putBody(sp, body)
	return dst, n, closing
}

// finishParked ends the answer of a parked poll, given what its first,
// non-blocking write left (rest, err): the rest is written on a goroutine
// within pollWriteTimeout; then the connection is handed back, or closed
// with the session if the write failed. It counts the answer out of
// srv.wg.
func (c *Conn) finishParked(p *waitingPoll, n int, closing bool, rest [][]byte, err error) {
	if errors.Is(err, ws.ErrWouldBlock) {
		rest = append(make([][]byte, 0, len(rest)), rest...)
		for i, b := range rest {
			rest[i] = slices.Clone(b)
		}
		go func() {
			_ = p.nc.SetWriteDeadline(time.Now().Add(c.pollWriteTimeout()))
			err := p.wsc.WriteFrames(rest)
			if err == nil {
				err = p.nc.SetWriteDeadline(time.Time{})
			}
			c.parkedWritten(p, n, closing, err)
		}()
		return
	}
	c.parkedWritten(p, n, closing, err)
}

// parkedWritten ends the answer of a parked poll once its bytes are out
// (err nil) or could not be (the session ends, as respondPoll's).
func (c *Conn) parkedWritten(p *waitingPoll, n int, closing bool, err error) {
	defer c.srv.wg.Done()
	if err != nil {
		_ = p.wsc.Abort()
		c.srv.log.Debug("engineio: poll write failed", "sid", c.id, "err", err)
		c.closeNow(ReasonTransportError)
		return
	}
	if o := c.srv.cfg.Observer; o != nil {
		o.BytesWritten(transportPolling, n)
	}
	if closing {
		c.closeNow(ReasonForcedClose)
	}
	if c.srv.cfg.ReadNextPolls && p.watched && p.pre == nil {
		c.mu.Lock()
		kept := c.keepForNextLocked(p)
		c.mu.Unlock()
		if kept {
			return
		}
	}
	if p.watched {
		_ = p.wsc.Unwatch()
	}
	c.handBackConn(p)
}

// keepForNextLocked makes p's connection the one the session's next poll
// is read from (readNext), the session owning it until then, and has the
// poller report that request. false, changing nothing, when the session is
// closed or upgraded, another connection already has that place, or the
// poller cannot watch it: the caller hands the connection back to
// net/http. Needs c.mu.
func (c *Conn) keepForNextLocked(p *waitingPoll) bool {
	if c.state == stateClosed || c.onWS || c.nextPollLocked() != nil {
		return false
	}
	c.polledLocked().next = p
	if p.waitNextLocked() != nil {
		c.pl.next = nil
		return false
	}
	return true
}

// waitNextLocked arranges for the poller to report p's next request (p
// is parked, or waits for it, again). Its registration is edge-triggered
// and stays armed, so only a socket that reported bytes nobody read (p.edge)
// needs an epoll_ctl to report them again; otherwise new bytes will raise
// an event. Needs c.mu.
func (p *waitingPoll) waitNextLocked() error {
	if p.edge {
		p.edge = false
		return p.wsc.Rearm()
	}
	return p.wsc.Watched()
}

// releaseNextLocked hands the connection waiting for the session's next
// poll back to net/http, which applies its idle timeout: the session ends,
// or its client polls on another connection.
func (c *Conn) releaseNextLocked() {
	p := c.nextPollLocked()
	if p == nil {
		return
	}
	c.pl.next = nil
	go func() {
		_ = p.wsc.Unwatch()
		c.handBackConn(p)
	}()
}

// handBackConn hands a parked poll's connection back to net/http, with
// the bytes read ahead of it.
func (c *Conn) handBackConn(p *waitingPoll) {
	var nc net.Conn = p.nc
	if p.pre != nil {
		nc = &replayConn{Conn: p.nc, pre: p.pre}
	}
	c.srv.mu.Lock()
	hb := c.srv.handBack
	c.srv.mu.Unlock()
	hb.give(nc)
}

// replayConn reads pre before its connection: bytes net/http had read
// ahead when the poll was hijacked.
type replayConn struct {
	net.Conn
	pre []byte
}

func (c *replayConn) Read(b []byte) (int, error) {
	if len(c.pre) > 0 {
		n := copy(b, c.pre)
		c.pre = c.pre[n:]
		return n, nil
	}
	return c.Conn.Read(b)
}

// ownHeaders are the response headers the engine writes itself.
var ownHeaders = map[string]bool{"Cache-Control": true, "Content-Length": true, "Content-Type": true, "Date": true,
	"Connection": true, "Transfer-Encoding": true}

// headerSanitizer makes a header value one line, as net/http does.
var headerSanitizer = strings.NewReplacer("\n", " ", "\r", " ")

// headerLines are a response's header lines ("Key: value\r\n", sorted by
// key as net/http writes them) without the headers the engine writes
// itself; cache and length are where Cache-Control and Content-Length
// would go, so a parked poll's answer has its headers in net/http's order.
type headerLines struct {
	b             []byte
	cache, length int
}

// captureHeader returns h's lines.
func captureHeader(h http.Header) headerLines {
	keys := make([]string, 0, len(h))
	for k := range h {
		if !ownHeaders[k] {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	hl := headerLines{cache: -1, length: -1}
	for _, k := range keys {
		if k > "Cache-Control" && hl.cache < 0 {
			hl.cache = len(hl.b)
		}
		if k > "Content-Type" && hl.length < 0 {
			hl.length = len(hl.b)
		}
		for _, v := range h[k] {
			hl.b = append(hl.b, k...)
			hl.b = append(hl.b, ": "...)
			hl.b = append(hl.b, headerSanitizer.Replace(strings.TrimSpace(v))...)
			hl.b = append(hl.b, "\r\n"...)
		}
	}
	if hl.length < 0 {
		hl.length = len(hl.b)
	}
	if hl.cache < 0 {
		hl.cache = hl.length
	}
	return hl
}

// closeHandBack closes the hand-back listener, if any (Shutdown, once the
// sessions' answers are written).
func (s *Server) closeHandBack() {
	s.mu.Lock()
	hb := s.handBack
	s.mu.Unlock()
	if hb != nil {
		_ = hb.Close()
	}
}
