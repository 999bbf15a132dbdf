package engineio

import (
	"sync"
	"time"
)

// heartbeats runs every session's timer (the heartbeat, or the closing
// deadline) on one Clock timer: a min-heap of the sessions by
// Conn.timerAt, with the timer armed at the earliest. A runtime timer per
// session cost about 130 bytes of every idle connection (ADR 0029).
type heartbeats struct {
	mu     sync.Mutex
	q      []*Conn // a heap by timerAt; Conn.hbIndex is each one's place, -1 when not in it
	timer  Timer   // nil until the first session is scheduled
	armed  time.Duration
	active bool // timer is armed, at armed
}

// schedule sets c's timer to fire at at (from srv.epoch), replacing the
// one it had. Needs c.mu: timerAt is written under both locks, so onTimer
// reads it under c.mu and the heap under h.mu.
func (h *heartbeats) schedule(s *Server, c *Conn, at time.Duration) {
	h.mu.Lock()
	defer h.mu.Unlock()
	c.timerAt = at
	if c.hbIndex < 0 {
		c.hbIndex = int32(len(h.q))
		h.q = append(h.q, c)
		h.up(int(c.hbIndex))
	} else {
		h.down(int(c.hbIndex))
		h.up(int(c.hbIndex))
	}
	h.armLocked(s)
}

// remove takes c's timer away (the session is closed).
func (h *heartbeats) remove(c *Conn) {
	h.mu.Lock()
	defer h.mu.Unlock()
	if i := int(c.hbIndex); i >= 0 {
		h.removeAt(i)
	}
	if len(h.q) == 0 && cap(h.q) > 1024 {
		h.q = nil // a crowd gone: let its backing array go
	}
}

// stop stops the timer (Shutdown); a later schedule arms it again.
func (h *heartbeats) stop() {
	h.mu.Lock()
	defer h.mu.Unlock()
	if h.timer != nil && h.active {
		h.timer.Stop()
	}
	h.active = false
}

// armLocked arms the timer at the earliest session's time, unless it is
// armed at that time or before (an early firing finds nothing due and
// arms it again).
func (h *heartbeats) armLocked(s *Server) {
	if len(h.q) == 0 {
		return
	}
	at := h.q[0].timerAt
	if h.active && h.armed <= at {
		return
	}
	d := at - s.since()
	if h.timer == nil {
		h.timer = s.clock.AfterFunc(d, func() { h.fire(s) })
	} else {
		h.timer.Reset(d)
	}
	h.armed, h.active = at, true
}

// fire runs the timers that are due, in order, outside the heap's lock:
// onTimer takes the session's lock, under which schedule is called.
func (h *heartbeats) fire(s *Server) {
	now := s.since()
	var due []*Conn
	h.mu.Lock()
	h.active = false
	for len(h.q) > 0 && h.q[0].timerAt <= now {
		due = append(due, h.q[0])
		h.removeAt(0)
	}
	h.armLocked(s)
	h.mu.Unlock()
	for _, c := range due {
		c.onTimer()
	}
}

func (h *heartbeats) removeAt(i int) {
	last := len(h.q) - 1
	c := h.q[i]
	if i != last {
		h.swap(i, last)
	}
	h.q[last] = nil
	h.q = h.q[:last]
	c.hbIndex = -1
	if i != last {
		h.down(i)
		h.up(i)
	}
}

func (h *heartbeats) swap(i, j int) {
	h.q[i], h.q[j] = h.q[j], h.q[i]
	h.q[i].hbIndex = int32(i)
	h.q[j].hbIndex = int32(j)
}

func (h *heartbeats) up(i int) {
	for i > 0 {
		p := (i - 1) / 2
		if h.q[p].timerAt <= h.q[i].timerAt {
			return
		}
		h.swap(i, p)
		i = p
	}
}

func (h *heartbeats) down(i int) {
	for {
		l := 2*i + 1
		if l >= len(h.q) {
			return
		}
		m := l
		if r := l + 1; r < len(h.q) && h.q[r].timerAt < h.q[l].timerAt {
			m = r
		}
		if h.q[i].timerAt <= h.q[m].timerAt {
			return
		}
		h.swap(i, m)
		i = m
	}
}
