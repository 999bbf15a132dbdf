package realtime

import (
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/fakeclock"
)

// newTestExpiries returns expiries on a fake clock with a leeway, recording
// what expires.
func newTestExpiries(clock *fakeclock.Clock, leeway time.Duration) (*expiries, func() []string) {
	var mu sync.Mutex
	var got []string
	x := &expiries{
		now:       clock.Now,
		afterFunc: clock.AfterFunc,
		until:     func(c auth.Claims) time.Time { return c.ExpiresAt.Add(leeway) },
		expire: func(st *session) {
			mu.Lock()
			got = append(got, st.claims.Subject)
			mu.Unlock()
		},
	}
	return x, func() []string {
		mu.Lock()
		defer mu.Unlock()
		return append([]string(nil), got...)
	}
}

// TestExpiriesOrder schedules sessions out of order, removes one, and checks
// that the rest expire in expiry order, each once, and only when due: at
// exp plus the leeway.
func TestExpiriesOrder(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clock := fakeclock.New(start)
	x, got := newTestExpiries(clock, 30*time.Second)
	mk := func(sub string, after time.Duration) *session {
		return &session{claims: auth.Claims{Subject: sub, ExpiresAt: start.Add(after)}, heapIndex: -1}
	}
	c, a, gone, b := mk("c", 90*time.Second), mk("a", 30*time.Second), mk("gone", 40*time.Second), mk("b", 60*time.Second)
	for _, st := range []*session{c, a, gone, b} {
		x.add(st)
	}
	x.remove(gone)
	x.remove(gone) // twice is harmless

	clock.Set(start.Add(60*time.Second - time.Nanosecond)) // a's exp + leeway, all but a nanosecond
	if g := got(); len(g) != 0 {
		t.Fatalf("expired %v before exp + leeway", g)
	}
	clock.Advance(time.Nanosecond)
	if g := got(); len(g) != 1 || g[0] != "a" {
		t.Fatalf("expired %v at a's exp + leeway, want [a]", g)
	}
	clock.Set(start.Add(120 * time.Second))
	if g := got(); len(g) != 3 || g[1] != "b" || g[2] != "c" {
		t.Fatalf("expired %v, want [a b c]", g)
	}
	clock.Advance(time.Hour)
	if g := got(); len(g) != 3 {
		t.Fatalf("expired %v: a removed session expired, or one twice", g)
	}
	x.remove(a) // after it expired: a no-op
	if n := clock.Pending(); n > 1 {
		t.Fatalf("%d timers pending with no session", n)
	}
}

// TestExpiriesEarlierArrival re-arms for a session that expires before the
// one the timer waits for.
func TestExpiriesEarlierArrival(t *testing.T) {
	start := time.Unix(1_700_000_000, 0)
	clock := fakeclock.New(start)
	x, got := newTestExpiries(clock, 0)
	x.add(&session{claims: auth.Claims{Subject: "late", ExpiresAt: start.Add(time.Hour)}, heapIndex: -1})
	x.add(&session{claims: auth.Claims{Subject: "early", ExpiresAt: start.Add(time.Minute)}, heapIndex: -1})
	clock.Advance(time.Minute)
	if g := got(); len(g) != 1 || g[0] != "early" {
		t.Fatalf("expired %v after a minute, want [early]", g)
	}
	clock.Advance(time.Hour)
	if g := got(); len(g) != 2 || g[1] != "late" {
		t.Fatalf("expired %v, want [early late]", g)
	}
}

// TestExpiriesPast expires a session whose token is already past at once.
func TestExpiriesPast(t *testing.T) {
	clock := fakeclock.New(time.Unix(1_700_000_000, 0))
	done := make(chan *session, 1)
	x := &expiries{now: clock.Now, afterFunc: clock.AfterFunc,
		until:  func(c auth.Claims) time.Time { return c.ExpiresAt },
		expire: func(st *session) { done <- st }}
	st := &session{claims: auth.Claims{ExpiresAt: clock.Now().Add(-time.Minute)}, heapIndex: -1}
	x.add(st)
	select {
	case got := <-done:
		if got != st || st.heapIndex != -1 {
			t.Errorf("expired %p (index %d), want %p", got, got.heapIndex, st)
		}
	case <-time.After(10 * time.Second): // a guard: it runs at once
		t.Fatal("not expired")
	}
}
