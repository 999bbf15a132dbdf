// Package fakeclock is a manual clock for tests: time moves only when the
// test calls Advance, so a test of a timeout neither waits for it nor
// depends on how fast a loaded machine runs.
//
// Its Now and AfterFunc methods fit the clock fields of our packages'
// configurations (Now func() time.Time, AfterFunc func(time.Duration,
// func()) func() bool).
package fakeclock

import (
	"sort"
	"sync"
	"time"
)

// Clock is a fake clock. The zero value is not usable; call New.
type Clock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*timer
	seq    int // creation order, to fire timers due at the same time in order
	armed  chan struct{}
}

type timer struct {
	at  time.Time
	seq int
	f   func()
}

// New returns a clock reading start.
func New(start time.Time) *Clock { return &Clock{now: start, armed: make(chan struct{})} }

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// AfterFunc calls f once the clock has been advanced by d, and returns a
// function that cancels the call (false if f already ran or was
// cancelled), as time.AfterFunc(d, f).Stop. A d <= 0 runs f at once on a
// goroutine of its own, as time.AfterFunc does.
func (c *Clock) AfterFunc(d time.Duration, f func()) (stop func() bool) {
	if d <= 0 {
		go f()
		return func() bool { return false }
	}
	c.mu.Lock()
	t := &timer{at: c.now.Add(d), seq: c.seq, f: f}
	c.seq++
	c.timers = append(c.timers, t)
	close(c.armed)
	c.armed = make(chan struct{})
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		for i, o := range c.timers {
			if o == t {
				c.timers = append(c.timers[:i], c.timers[i+1:]...)
				return true
			}
		}
		return false
	}
}

// Advance moves the clock forward by d and runs, on the caller's
// goroutine and in order of their due time, the functions of the timers
// due by then; each sees Now at its due time. Functions they schedule
// run too if they fall due within d.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		sort.SliceStable(c.timers, func(i, j int) bool {
			a, b := c.timers[i], c.timers[j]
			return a.at.Before(b.at) || a.at.Equal(b.at) && a.seq < b.seq
		})
		if len(c.timers) == 0 || c.timers[0].at.After(end) {
			break
		}
		t := c.timers[0]
		c.timers = c.timers[1:]
		c.now = t.at
		c.mu.Unlock()
		t.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

// Set moves the clock to t (forward only), as Advance(t.Sub(Now())).
func (c *Clock) Set(t time.Time) {
	if d := t.Sub(c.Now()); d > 0 {
		c.Advance(d)
	}
}

// Pending returns the number of timers neither run nor stopped.
func (c *Clock) Pending() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitPending blocks until at least n timers are pending, or the deadline
// (a guard against a test that would hang) passes; it reports whether
// they are.
func (c *Clock) WaitPending(n int, deadline time.Duration) bool {
	give := time.After(deadline)
	for {
		c.mu.Lock()
		ok, armed := len(c.timers) >= n, c.armed
		c.mu.Unlock()
		if ok {
			return true
		}
		select {
		case <-armed:
		case <-give:
			return false
		}
	}
}
