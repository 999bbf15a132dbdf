package realtime

import (
	"container/heap"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/auth"
)

// expiries ends sockets whose tokens expire while they are connected. It
// keeps the sessions in one min-heap by expiry with one timer for the
// earliest, rather than a timer per socket: a connection costs a heap slot.
type expiries struct {
	now       func() time.Time
	afterFunc func(time.Duration, func()) func() bool
	// until is when a token stops being valid: exp plus the verifier's
	// leeway. The same leeway for every token, so ordering by exp is
	// ordering by until.
	until  func(auth.Claims) time.Time
	expire func(*session) // called, outside the lock, once a token expired

	mu   sync.Mutex
	h    expiryHeap
	stop func() bool // cancels the last timer armed
	due  time.Time   // when that timer fires; zero if none is pending
}

// add schedules x.expire(st) for x.until(st.claims).
func (x *expiries) add(st *session) {
	x.mu.Lock()
	heap.Push(&x.h, st)
	x.armLocked()
	x.mu.Unlock()
}

// remove unschedules st (it disconnected first); a no-op if it is not queued.
func (x *expiries) remove(st *session) {
	x.mu.Lock()
	if st.heapIndex >= 0 {
		heap.Remove(&x.h, st.heapIndex)
	}
	x.mu.Unlock()
}

// armLocked points the timer at the earliest expiry.
func (x *expiries) armLocked() {
	if len(x.h) == 0 {
		return
	}
	next := x.until(x.h[0].claims)
	if !x.due.IsZero() && !next.Before(x.due) {
		return // the timer fires first; it re-arms
	}
	if x.stop != nil {
		x.stop() // a no-op if it fired: fire re-arms, once more at worst
	}
	x.due = next
	x.stop = x.afterFunc(max(next.Sub(x.now()), 0), x.fire)
}

// fire ends every session whose token has expired, then re-arms.
func (x *expiries) fire() {
	now := x.now()
	var expired []*session
	x.mu.Lock()
	for len(x.h) > 0 && !x.until(x.h[0].claims).After(now) {
		expired = append(expired, heap.Pop(&x.h).(*session))
	}
	x.due = time.Time{}
	x.armLocked()
	x.mu.Unlock()
	for _, st := range expired {
		x.expire(st)
	}
}

// expiryHeap orders sessions by token expiry (container/heap).
type expiryHeap []*session

func (h expiryHeap) Len() int { return len(h) }
func (h expiryHeap) Less(i, j int) bool {
	return h[i].claims.ExpiresAt.Before(h[j].claims.ExpiresAt)
}
func (h expiryHeap) Swap(i, j int) {
	h[i], h[j] = h[j], h[i]
	h[i].heapIndex, h[j].heapIndex = i, j
}
func (h *expiryHeap) Push(v any) {
	st := v.(*session)
	st.heapIndex = len(*h)
	*h = append(*h, st)
}
func (h *expiryHeap) Pop() any {
	old := *h
	st := old[len(old)-1]
	old[len(old)-1] = nil
	*h = old[:len(old)-1]
	st.heapIndex = -1
	return st
}
