package realtime

import (
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
)

// TestExpiriesOrder schedules sessions out of order, removes one, and checks
// that the rest expire in expiry order, each once, and only when due.
func TestExpiriesOrder(t *testing.T) {
	start := time.Now()
	var mu sync.Mutex
	var got []string
	done := make(chan struct{}, 10)
	x := &expiries{now: time.Now, expire: func(st *session) {
		mu.Lock()
		got = append(got, st.claims.Subject)
		mu.Unlock()
		done <- struct{}{}
	}}
	mk := func(sub string, after time.Duration) *session {
		return &session{claims: auth.Claims{Subject: sub, ExpiresAt: start.Add(after)}, heapIndex: -1}
	}
	c, a, gone, b := mk("c", 90*time.Millisecond), mk("a", 30*time.Millisecond), mk("gone", 40*time.Millisecond), mk("b", 60*time.Millisecond)
	for _, st := range []*session{c, a, gone, b} {
		x.add(st)
	}
	x.remove(gone)
	x.remove(gone) // twice is harmless
	for range 3 {
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			t.Fatalf("only %v expired", got)
		}
	}
	if elapsed := time.Since(start); elapsed < 90*time.Millisecond {
		t.Errorf("the last expired after %v, before it was due", elapsed)
	}
	select {
	case <-done:
		t.Fatal("a removed session expired")
	case <-time.After(100 * time.Millisecond):
	}
	mu.Lock()
	defer mu.Unlock()
	if len(got) != 3 || got[0] != "a" || got[1] != "b" || got[2] != "c" {
		t.Errorf("expired %v, want [a b c]", got)
	}
	x.remove(a) // after it expired: a no-op
}

// TestExpiriesPast expires a session whose token is already past at once.
func TestExpiriesPast(t *testing.T) {
	done := make(chan *session, 1)
	x := &expiries{now: time.Now, expire: func(st *session) { done <- st }}
	st := &session{claims: auth.Claims{ExpiresAt: time.Now().Add(-time.Minute)}, heapIndex: -1}
	x.add(st)
	select {
	case got := <-done:
		if got != st || st.heapIndex != -1 {
			t.Errorf("expired %p (index %d), want %p", got, got.heapIndex, st)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("not expired")
	}
}
