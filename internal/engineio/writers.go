package engineio

import (
	"runtime"
	"time"

	"github.com/eventide/realtime/internal/ws"
)

// sharedWriteTimeout bounds one write by a shared writer. A peer whose socket
// buffer is full does not take its frames within it; the rest of its write
// moves to a goroutine of its own (Conn.writeLoop), so a client that stops
// reading delays the others by at most this much.
const sharedWriteTimeout = 10 * time.Millisecond

// WebSocket writes go through a few shared writer goroutines (at most
// GOMAXPROCS) instead of a goroutine per connection: a connection with queued
// frames waits on the server's ready queue, and the writer that takes it
// writes everything queued by then in one call. In a broadcast burst the
// frames pile up while the connection waits, so most connections get the
// whole burst in one system call, and no goroutine is started per connection.
// Writers exist only while the ready queue is not empty.

// pushReady appends c (whose writing flag the caller set) to the ready queue
// and starts a writer if fewer than the maximum are running.
func (s *Server) pushReady(c *Conn) {
	s.readyMu.Lock()
	s.ready = append(s.ready, c)
	if s.writers < s.maxWriters {
		s.writers++
		s.wg.Add(1) // a connection's write is counted, so this never races Wait
		go s.writer()
	}
	s.readyMu.Unlock()
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

// flush writes what c has queued, bounded by sharedWriteTimeout. c goes back
// to the end of the ready queue if more was queued meanwhile.
func (c *Conn) flush(fp *[][]byte) {
	c.mu.Lock()
	wsc := c.ws
	q, ok := c.takeQueueLocked()
	if !ok {
		c.endWriteLocked()
		return
	}
	c.mu.Unlock()

	frames := c.encodeFrames((*fp)[:0], q)
	left, err := wsc.WriteFramesWithin(frames, sharedWriteTimeout)
	var rest [][]byte
	if err != nil && ws.IsTimeout(err) {
		rest = append(make([][]byte, 0, len(left)), left...) // frames is reused
		err = nil
	}
	clear(frames)
	*fp = frames[:0]

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

// defaultWriters is the number of shared writers.
func defaultWriters() int { return max(1, runtime.GOMAXPROCS(0)) }
