package relaytest

import (
	"sort"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/relay"
)

// Clock is a relay.Clock that moves only when Advance is called. Tests wait
// for the code under test to set a timer (WaitForTimers) instead of
// sleeping.
type Clock struct {
	mu      sync.Mutex
	now     time.Time
	timers  []*timer
	changed chan struct{} // closed and replaced when timers are added
}

var _ relay.Clock = (*Clock)(nil)

// NewClock returns a Clock reading now.
func NewClock(now time.Time) *Clock { return &Clock{now: now, changed: make(chan struct{})} }

type timer struct {
	c     *Clock
	at    time.Time
	ch    chan time.Time
	fired bool
}

// Now returns the clock's time.
func (c *Clock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

// NewTimer returns a timer that fires when the clock reaches now+d.
func (c *Clock) NewTimer(d time.Duration) relay.Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &timer{c: c, at: c.now.Add(d), ch: make(chan time.Time, 1)}
	if d <= 0 {
		t.fired = true
		t.ch <- c.now
		return t
	}
	c.timers = append(c.timers, t)
	close(c.changed)
	c.changed = make(chan struct{})
	return t
}

func (t *timer) C() <-chan time.Time { return t.ch }

func (t *timer) Stop() {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	t.c.remove(t)
}

// remove drops t from the pending timers; under mu.
func (c *Clock) remove(t *timer) {
	for i, x := range c.timers {
		if x == t {
			c.timers = append(c.timers[:i], c.timers[i+1:]...)
			return
		}
	}
}

// Advance moves the clock by d and fires the timers that are due, in order.
func (c *Clock) Advance(d time.Duration) {
	c.mu.Lock()
	defer c.mu.Unlock()
	c.now = c.now.Add(d)
	sort.SliceStable(c.timers, func(i, j int) bool { return c.timers[i].at.Before(c.timers[j].at) })
	kept := c.timers[:0]
	for _, t := range c.timers {
		if t.at.After(c.now) {
			kept = append(kept, t)
			continue
		}
		t.fired = true
		t.ch <- c.now
	}
	c.timers = kept
}

// Timers returns how many timers are pending.
func (c *Clock) Timers() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.timers)
}

// WaitForTimers blocks until at least n timers are pending, or fails the
// test after a generous deadline (a guard against a hang, not a timing).
func (c *Clock) WaitForTimers(t TB, n int) {
	t.Helper()
	deadline := time.NewTimer(waitGuard)
	defer deadline.Stop()
	for {
		c.mu.Lock()
		have, changed := len(c.timers), c.changed
		c.mu.Unlock()
		if have >= n {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("relaytest: %d timers pending after %v, want %d", have, waitGuard, n)
		}
	}
}

// waitGuard bounds the waits of this package: long enough never to fail
// a correct test on a loaded machine.
const waitGuard = 30 * time.Second

// TB is the part of testing.TB the helpers use.
type TB interface {
	Helper()
	Fatalf(format string, args ...any)
}
