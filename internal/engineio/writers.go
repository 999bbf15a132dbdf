package engineio

import (
	"errors"
	"runtime"

	"github.com/eventide/realtime/internal/ws"
)

// WebSocket writes go through a few shared writer goroutines (at most
// GOMAXPROCS) instead of a goroutine per connection: a connection with queued
// frames waits on the server's ready queue, and the writer that takes it
// writes everything queued by then in one call. In a broadcast burst the
// frames pile up while the connection waits, so most connections get the
// whole burst in one system call, and no goroutine is started per connection.
// Writers exist only while the ready queue is not empty.

// pushReady appends c (whose writing flag the caller set) to the ready queue
// and starts a writer if fewer than the maximum are running, unless writes
// are held (HoldWrites): ReleaseWrites then sees to the queue.
func (s *Server) pushReady(c *Conn) {
	s.readyMu.Lock()
	s.ready = append(s.ready, c)
	if s.held == 0 {
		s.startWritersLocked(1)
	}
	s.readyMu.Unlock()
}

// startWritersLocked starts up to n writers, within the maximum.
func (s *Server) startWritersLocked(n int) {
	for ; n > 0 && s.writers < s.maxWriters; n-- {
		s.writers++
		s.wg.Add(1) // a connection's write is counted, so this never races Wait
		go s.writer()
	}
}

// maxInlineFlush is the largest number of ready connections ReleaseWrites
// writes from its caller's goroutine; more go to the shared writers, which
// use every processor.
const maxInlineFlush = 256

// HoldWrites defers the shared writers while the caller queues messages to
// many connections (a broadcast); ReleaseWrites ends it. Between the two,
// Send only queues. Holds may overlap (other goroutines' broadcasts): a
// release while another hold is on starts the shared writers for what is
// queued, so overlapping holds never keep it waiting.
func (s *Server) HoldWrites() {
	s.readyMu.Lock()
	s.held++
	s.readyMu.Unlock()
}

// ReleaseWrites ends a HoldWrites. When it is the last one, a small ready
// queue (up to maxInlineFlush connections, such as one room's) is written
// from the caller's goroutine, as Node writes in emit: no writer goroutine
// is started or woken for it, which in an event-by-event load is most of
// the cost besides the writes themselves. A larger queue goes to the shared
// writers. Writes never block (ws.Conn.WriteFramesNow), so a slow client
// does not hold the caller.
func (s *Server) ReleaseWrites() {
	s.readyMu.Lock()
	s.held--
	n := len(s.ready) - s.readyHead
	if n == 0 {
		s.readyMu.Unlock()
		return
	}
	if s.held > 0 || n > maxInlineFlush {
		// Another broadcast is under way (holds that keep overlapping must
		// not keep the queue waiting), or the queue is large: the shared
		// writers take it.
		s.startWritersLocked(s.maxWriters)
		s.readyMu.Unlock()
		return
	}
	s.readyMu.Unlock()
	// Only as many as were queued: what others queue meanwhile is theirs
	// (writers start for it), so a busy server cannot keep the caller here.
	s.flushBatch(n)
	s.readyMu.Lock()
	if len(s.ready) > s.readyHead && s.held == 0 {
		s.startWritersLocked(1) // requeued by flush, or queued meanwhile
	}
	s.readyMu.Unlock()
}

// popInline takes the next ready connection for ReleaseWrites; nil when
// the queue is empty.
func (s *Server) popInline() *Conn {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.readyHead == len(s.ready) {
		return nil
	}
	c := s.ready[s.readyHead]
	s.ready[s.readyHead] = nil
	s.readyHead++
	if s.readyHead == len(s.ready) {
		s.ready, s.readyHead = s.ready[:0], 0
	}
	return c
}

// popReady takes the next connection; nil (and the writer is counted out)
// when the queue is empty.
func (s *Server) popReady() *Conn {
	s.readyMu.Lock()
	defer s.readyMu.Unlock()
	if s.readyHead == len(s.ready) {
		s.writers--
		if cap(s.ready) > 4096 {
			s.ready = nil // drop a burst's large array
		} else {
			s.ready = s.ready[:0]
		}
		s.readyHead = 0
		return nil
	}
	c := s.ready[s.readyHead]
	s.ready[s.readyHead] = nil
	s.readyHead++
	return c
}

// writer drains the ready queue.
func (s *Server) writer() {
	defer s.wg.Done()
	fp := framesPool.Get().(*[][]byte)
	defer framesPool.Put(fp)
	for {
		c := s.popReady()
		if c == nil {
			return
		}
		c.flush(fp)
	}
}

// flush writes what c has queued, as much as its socket takes without
// waiting (ws.Conn.WriteFramesNow). A peer whose socket buffer is full gets
// the rest from a goroutine of its own (Conn.writeLoop), so a client that
// stops reading never delays the others. c goes back to the end of the ready
// queue if more was queued meanwhile.
func (c *Conn) flush(fp *[][]byte) {
	wsc, q, frames, ok := c.beginFlush((*fp)[:0])
	if !ok {
		return
	}
	left, err := wsc.WriteFramesNow(frames)
	c.endFlush(wsc, q, left, err)
	clear(frames)
	*fp = frames[:0]
}

// beginFlush takes c's queue for a write and appends its frames to frames.
// ok is false when there is nothing to write (the write has been ended).
func (c *Conn) beginFlush(frames [][]byte) (wsc *ws.Conn, q []*Message, out [][]byte, ok bool) {
	c.mu.Lock()
	wsc = c.ws
	q, ok = c.takeQueueLocked()
	if !ok {
		c.endWriteLocked()
		return nil, nil, nil, false
	}
	c.mu.Unlock()
	return wsc, q, c.encodeFrames(frames, q), true
}

// endFlush ends a write begun with beginFlush, given what the socket did
// not take (left) and the error.
func (c *Conn) endFlush(wsc *ws.Conn, q []*Message, left [][]byte, err error) {
	var rest [][]byte
	if errors.Is(err, ws.ErrWouldBlock) {
		rest = append(make([][]byte, 0, len(left)), left...) // the frames slice is reused
		err = nil
	}
	c.mu.Lock()
	c.recycleLocked(q)
	if err != nil {
		c.writeFailedLocked(err)
		return
	}
	if rest != nil {
		// A slow reader: its own goroutine takes over (writing stays set).
		c.mu.Unlock()
		go c.writeLoop(wsc, rest)
		return
	}
	if len(c.queue) > 0 || c.state == stateClosing {
		c.mu.Unlock()
		c.srv.pushReady(c) // more arrived (or Close waits): back of the line
		return
	}
	c.writing = false
	c.mu.Unlock()
	c.srv.wg.Done()
}

// flushBatch writes up to n ready connections from the calling goroutine
// with one system call for all of them (ws.SendBatch).
func (s *Server) flushBatch(n int) {
	type pending struct {
		c   *Conn
		wsc *ws.Conn
		q   []*Message
	}
	ps := make([]pending, 0, n)
	items := make([]ws.SendItem, 0, n)
	slab := make([][]byte, 0, 2*n) // every connection's frames, one after the other
	for range n {
		c := s.popInline()
		if c == nil {
			break
		}
		wsc, q, frames, ok := c.beginFlush(slab[len(slab):len(slab)])
		if !ok {
			continue
		}
		if len(frames) <= cap(slab)-len(slab) {
			slab = slab[:len(slab)+len(frames)]
		}
		ps = append(ps, pending{c, wsc, q})
		items = append(items, ws.SendItem{Conn: wsc, Frames: frames})
	}
	ws.SendBatch(items)
	for i, p := range ps {
		p.c.endFlush(p.wsc, p.q, items[i].Rest, items[i].Err)
	}
	clear(slab[:cap(slab)])
}

// defaultWriters is the number of shared writers.
func defaultWriters() int { return max(1, runtime.GOMAXPROCS(0)) }

// Broadcast queues msgs to every connection of conns (temporary: to be
// reworked).
func (s *Server) Broadcast(conns []*Conn, msgs ...*Message) {
	s.HoldWrites()
	for _, c := range conns {
		_ = c.Send(msgs...)
	}
	s.ReleaseWrites()
}
