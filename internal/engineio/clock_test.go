package engineio

import (
	"sync"
	"testing"
	"time"
)

// fakeClock is a Clock that moves only when a test advances it; due timers
// run on the goroutine that advances it, in order.
type fakeClock struct {
	mu     sync.Mutex
	now    time.Time
	timers []*fakeTimer
}

type fakeTimer struct {
	c      *fakeClock
	at     time.Time
	f      func()
	active bool
}

func newFakeClock() *fakeClock { return &fakeClock{now: time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC)} }

func (c *fakeClock) Now() time.Time {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.now
}

func (c *fakeClock) AfterFunc(d time.Duration, f func()) Timer {
	c.mu.Lock()
	defer c.mu.Unlock()
	t := &fakeTimer{c: c, at: c.now.Add(d), f: f, active: true}
	c.timers = append(c.timers, t)
	return t
}

func (t *fakeTimer) Stop() bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.active = false
	return was
}

func (t *fakeTimer) Reset(d time.Duration) bool {
	t.c.mu.Lock()
	defer t.c.mu.Unlock()
	was := t.active
	t.at, t.active = t.c.now.Add(d), true
	return was
}

// Advance moves the clock forward by d, running every timer that falls due
// (including ones armed by the timers it runs) at its time.
func (c *fakeClock) Advance(d time.Duration) {
	c.mu.Lock()
	end := c.now.Add(d)
	for {
		var next *fakeTimer
		for _, t := range c.timers {
			if t.active && !t.at.After(end) && (next == nil || t.at.Before(next.at)) {
				next = t
			}
		}
		if next == nil {
			break
		}
		if next.at.After(c.now) {
			c.now = next.at
		}
		next.active = false
		c.mu.Unlock()
		next.f()
		c.mu.Lock()
	}
	c.now = end
	c.mu.Unlock()
}

func TestFakeClock(t *testing.T) {
	c := newFakeClock()
	var got []string
	t1 := c.AfterFunc(10*time.Second, func() { got = append(got, "a") })
	c.AfterFunc(5*time.Second, func() {
		got = append(got, "b")
		t1.Reset(20 * time.Second) // now due at 25 s
	})
	c.Advance(24 * time.Second)
	if len(got) != 1 || got[0] != "b" {
		t.Fatalf("after 24 s: %v", got)
	}
	c.Advance(time.Second)
	if len(got) != 2 || got[1] != "a" {
		t.Fatalf("after 25 s: %v", got)
	}
	if t1.Stop() {
		t.Fatal("Stop of a fired timer reported active")
	}
}

// armedAt reports whether an active timer is due at at.
func (c *fakeClock) armedAt(at time.Time) bool {
	c.mu.Lock()
	defer c.mu.Unlock()
	for _, t := range c.timers {
		if t.active && t.at.Equal(at) {
			return true
		}
	}
	return false
}
