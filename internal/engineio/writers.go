package engineio

import (
	"runtime"
	"sync"

	"github.com/eventide/realtime/internal/ws"
)

// How the bytes leave. Every write goes one way, down: the engine hands
// the ws layer a connection's frames and is told, at most, that a write it
// handed over has ended (ws.WriteDone); it never gets bytes back.
//
// A broadcast comes in through Broadcast, which queues the messages to
// every connection and then writes the connections it made ready: up to
// maxInlineFlush (a provider room) from the caller's goroutine, in one
// io_uring submission (ws.Batcher), more through the shared writers. A
// single Send goes to the shared writers.
//
// The shared writers are a few goroutines (at most GOMAXPROCS) instead of a
// goroutine per connection: a connection with queued frames waits on the
// server's ready queue, and the writer that takes it writes everything
// queued by then. A writer takes up to maxInlineFlush connections at a time
// and writes them in one submission, as Broadcast does. In a broadcast burst
// the frames pile up while the connection waits, so most connections get
// the whole burst in one write, and many connections share a system call.
// Writers exist only while the ready queue is not empty.
//
// Writes never wait: a peer whose socket is full has the rest written by a
// goroutine of the ws layer, which then tells the connection (writeDone),
// and the connection writes what was queued meanwhile on that goroutine
// until its queue is empty. A client that stops reading never delays the
// others, and is closed by its queue bound or the heartbeat.

// maxInlineFlush is the largest number of connections Broadcast writes from
// its caller's goroutine; more go to the shared writers, which use every
// processor.
const maxInlineFlush = 256

// readyPool holds slices of connections for Broadcast.
var readyPool = sync.Pool{New: func() any { s := make([]*Conn, 0, 64); return &s }}

// Broadcast queues msgs to every connection of conns, after what each has
// queued, and sees that they are written. It is the one way a broadcast
// enters the engine: the caller hands over the messages (encoded once, see
// Message) and the recipients, and the engine decides how the bytes go. A
// broadcast to at most maxInlineFlush WebSocket connections is written
// before Broadcast returns, from the caller's goroutine, in one system
// call (ws.Batcher), as Node writes in emit: no writer goroutine is started
// or woken, which in an event-by-event load is most of the cost besides the
// writes. A larger one goes to the shared writers. Either way nothing
// waits for a slow client. A closed connection is skipped; one whose queue
// overflows is closed ("send queue overflow").
func (s *Server) Broadcast(conns []*Conn, msgs ...*Message) {
	rp := readyPool.Get().(*[]*Conn)
	ready := (*rp)[:0]
	var (
		pp     *[]parkedConn
		parked []parkedConn
	)
	for _, c := range conns {
		start, p, _ := c.enqueue(msgs, true)
		if start {
			ready = append(ready, c)
		} else if p != nil {
			if pp == nil {
				pp = parkedPool.Get().(*[]parkedConn)
				parked = (*pp)[:0]
			}
			parked = append(parked, parkedConn{c, p})
		}
	}
	if pp != nil {
		s.answerParkedBatch(parked)
		clear(parked)
		*pp = parked[:0]
		parkedPool.Put(pp)
	}
	switch {
	case len(ready) == 0:
	case len(ready) <= maxInlineFlush:
		s.flushBatch(ready, false)
	default:
		s.pushReady(ready...)
	}
	clear(ready)
	*rp = ready[:0]
	readyPool.Put(rp)
}

// parkedPool holds slices of parked polls for Broadcast.
var parkedPool = sync.Pool{New: func() any { s := make([]parkedConn, 0, 64); return &s }}

// pushReady appends cs (whose writing flag their callers set) to the ready
// queue and starts writers for them, within the maximum.
func (s *Server) pushReady(cs ...*Conn) {
	s.readyMu.Lock()
	s.ready = append(s.ready, cs...)
	s.startWritersLocked(len(cs))
	s.readyMu.Unlock()
}

// requeue puts c, which has more queued, back at the end of the ready
// queue. A writer requeues without starting another: it takes the queue
// again itself before it ends, so in a burst the writers keep going
// instead of ending and being started again for each connection.
func (s *Server) requeue(c *Conn, byWriter bool) {
	if !byWriter {
		s.pushReady(c)
		return
	}
	s.readyMu.Lock()
	s.ready = append(s.ready, c)
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

// popReady appends to dst the next connections of the ready queue, up to
// maxInlineFlush, and returns it; empty (and the writer is counted out)
// when the queue is empty.
func (s *Server) popReady(dst []*Conn) []*Conn {
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
		return dst
	}
	// Share a burst with the other writers: each takes an even part, at
	// most a batch.
	n := len(s.ready) - s.readyHead
	n = min(maxInlineFlush, max(1, (n+s.writers-1)/s.writers))
	end := s.readyHead + n
	dst = append(dst, s.ready[s.readyHead:end]...)
	clear(s.ready[s.readyHead:end])
	s.readyHead = end
	return dst
}

// writer drains the ready queue, a batch at a time.
func (s *Server) writer() {
	defer s.wg.Done()
	rp := readyPool.Get().(*[]*Conn)
	defer readyPool.Put(rp)
	fp := framesPool.Get().(*[][]byte)
	defer framesPool.Put(fp)
	for {
		batch := s.popReady((*rp)[:0])
		switch len(batch) {
		case 0:
			return
		case 1:
			batch[0].flush(fp) // one send(2): a submission of one costs more
		default:
			s.flushBatch(batch, true)
		}
		clear(batch)
		*rp = batch[:0]
	}
}

// flush writes what c has queued, as much as its socket takes without
// waiting; the ws layer finishes the rest (ws.Conn.WriteNow). It runs on a
// shared writer.
func (c *Conn) flush(fp *[][]byte) {
	wsc, q, frames, ok := c.beginFlush((*fp)[:0])
	if !ok {
		return
	}
	pending, err := wsc.WriteNow(frames, c.writeDone())
	if err == nil {
		c.srv.wroteFrames(frames)
	}
	c.endFlush(q, pending, err, true)
	clear(frames)
	*fp = frames[:0]
}

// beginFlush takes c's queue for a write and appends its frames to frames.
// ok is false when there is nothing to write (the write has been ended).
func (c *Conn) beginFlush(frames [][]byte) (wsc *ws.Conn, q []*Message, out [][]byte, ok bool) {
	wsc, q, ok = c.takeForFlush()
	if !ok {
		return nil, nil, nil, false
	}
	return wsc, q, c.encodeFrames(frames, q), true
}

// takeForFlush takes c's queue for a write; ok is false when there is
// nothing to write (the write has been ended).
func (c *Conn) takeForFlush() (wsc *ws.Conn, q []*Message, ok bool) {
	c.mu.Lock()
	wsc = c.ws
	q, ok = c.takeQueueLocked()
	if !ok {
		c.endWriteLocked()
		return nil, nil, false
	}
	c.mu.Unlock()
	return wsc, q, true
}

// endFlush ends a write begun with beginFlush: pending means the ws layer
// finishes it and will tell writeDone; otherwise err is its outcome.
// byWriter says a shared writer made the write.
func (c *Conn) endFlush(q []*Message, pending bool, err error, byWriter bool) {
	c.mu.Lock()
	c.recycleLocked(q)
	switch {
	case pending:
		c.mu.Unlock() // writing stays set until writeDone
	case err != nil:
		c.writeFailedLocked(err)
	case len(c.queue) > 0 || c.state == stateClosing:
		c.mu.Unlock()
		c.srv.requeue(c, byWriter) // more arrived (or Close waits): back of the line
	default:
		c.writing = false
		c.mu.Unlock()
		c.srv.wg.Done()
	}
}

// flushScratch is what a batch write needs besides the connections, kept
// between batches (scratchPool) so a batch allocates nothing.
type flushScratch struct {
	taken  []taken
	items  []ws.SendItem
	frames [][]byte // every connection's frames, one after the other
}

// taken is a connection whose queue a batch took.
type taken struct {
	c   *Conn
	wsc *ws.Conn
	q   []*Message
}

var scratchPool = sync.Pool{New: func() any { return new(flushScratch) }}

// maxScratchFrames bounds the frames array a flushScratch keeps: a burst's
// larger one is dropped.
const maxScratchFrames = 64 << 10

// flushBatch writes the ready connections cs from the calling goroutine
// with one system call for all of them (ws.Batcher). byWriter says the
// caller is a shared writer.
func (s *Server) flushBatch(cs []*Conn, byWriter bool) {
	sc := scratchPool.Get().(*flushScratch)
	ts, total := sc.taken[:0], 0
	for _, c := range cs {
		if wsc, q, ok := c.takeForFlush(); ok {
			ts = append(ts, taken{c, wsc, q})
			total += len(q)
		}
	}
	// One array for every frame, large enough up front: the items' slices
	// of it stay valid.
	frames := sc.frames[:0]
	if cap(frames) < total {
		frames = make([][]byte, 0, total)
	}
	items := sc.items[:0]
	for _, t := range ts {
		start := len(frames)
		frames = t.c.encodeFrames(frames, t.q)
		items = append(items, ws.SendItem{Conn: t.wsc, Frames: frames[start:len(frames):len(frames)], Done: t.c.writeDone()})
	}
	s.batcher().Send(items)
	if o := s.cfg.Observer; o != nil {
		n := 0
		for i := range items {
			if items[i].Err == nil {
				for _, f := range items[i].Frames {
					n += len(f)
				}
			}
		}
		o.BytesWritten(transportWebSocket, n)
	}
	for i, t := range ts {
		t.c.endFlush(t.q, items[i].Pending, items[i].Err, byWriter)
	}
	clear(ts)
	clear(items)
	clear(frames)
	sc.taken, sc.items, sc.frames = ts[:0], items[:0], frames[:0]
	if cap(frames) > maxScratchFrames {
		sc.frames = nil
	}
	scratchPool.Put(sc)
}

// defaultWriters is the number of shared writers.
func defaultWriters() int { return max(1, runtime.GOMAXPROCS(0)) }
