package ratelimit_test

import (
	"fmt"
	"math"
	"runtime"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/ratelimit"
)

var t0 = time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)

// TestBucketBurstThenRate: a new bucket gives its burst at once, then one
// token per 1/Rate, and says how long until the next.
func TestBucketBurstThenRate(t *testing.T) {
	b := ratelimit.NewBucket(ratelimit.Limit{Rate: 2, Burst: 3})
	for i := range 3 {
		if !b.Allow(t0) {
			t.Fatalf("event %d of the burst refused", i+1)
		}
	}
	refused, wait := ratelimit.Take(t0, b)
	if refused != 0 || wait != 500*time.Millisecond {
		t.Fatalf("fourth event: refused %d, wait %s; want 0, 500ms", refused, wait)
	}
	if b.Allow(t0.Add(499 * time.Millisecond)) {
		t.Fatal("a token before 1/Rate had passed")
	}
	if !b.Allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("no token after 1/Rate")
	}
	if b.Allow(t0.Add(500 * time.Millisecond)) {
		t.Fatal("two tokens after 1/Rate")
	}
	// Idle long enough, it is full again, and no fuller.
	later := t0.Add(time.Hour)
	if got := b.Tokens(later); got != 3 {
		t.Fatalf("%v tokens after an hour, want the burst, 3", got)
	}
}

// TestBucketInit: a bucket inside another struct starts full too.
func TestBucketInit(t *testing.T) {
	var holder struct {
		n int
		b ratelimit.Bucket
	}
	holder.b.Init(ratelimit.Limit{Rate: 0.001, Burst: 5})
	if got := holder.b.Tokens(t0); got != 5 {
		t.Fatalf("%v tokens in a new bucket, want 5", got)
	}
}

// TestTakeAllOrNothing: an event refused by a later bucket takes nothing
// from the earlier ones.
func TestTakeAllOrNothing(t *testing.T) {
	sock := ratelimit.NewBucket(ratelimit.Limit{Rate: 1, Burst: 10})
	subj := ratelimit.NewBucket(ratelimit.Limit{Rate: 1, Burst: 2})
	for range 2 {
		if refused, _ := ratelimit.Take(t0, sock, subj); refused != -1 {
			t.Fatalf("refused by %d within both bursts", refused)
		}
	}
	refused, wait := ratelimit.Take(t0, sock, subj)
	if refused != 1 || wait != time.Second {
		t.Fatalf("refused %d, wait %s; want 1 (the second bucket), 1s", refused, wait)
	}
	if got := sock.Tokens(t0); got != 8 {
		t.Fatalf("first bucket holds %v after a refusal by the second, want 8", got)
	}
	if refused, _ := ratelimit.Take(t0, nil, sock, nil); refused != -1 {
		t.Fatal("nil buckets refused")
	}
}

func TestUnlimited(t *testing.T) {
	b := ratelimit.NewBucket(ratelimit.Unlimited)
	for range 10_000 {
		if !b.Allow(t0) {
			t.Fatal("an unlimited bucket refused")
		}
	}
	var nilBucket *ratelimit.Bucket
	var nilKeyed *ratelimit.Keyed
	if !nilBucket.Allow(t0) || nilKeyed.Bucket("x") != nil || nilKeyed.Len() != 0 {
		t.Fatal("nil refuses or keeps something")
	}
	if !ratelimit.Unlimited.IsUnlimited() || (ratelimit.Limit{Rate: 1e9, Burst: 1}).IsUnlimited() {
		t.Fatal("IsUnlimited")
	}
}

// TestZeroBurstNeverAllows: a bucket that can hold nothing refuses for ever.
func TestZeroBurstNeverAllows(t *testing.T) {
	b := ratelimit.NewBucket(ratelimit.Limit{Rate: 5, Burst: 0})
	if refused, wait := ratelimit.Take(t0, b); refused != 0 || wait != time.Duration(math.MaxInt64) {
		t.Fatalf("refused %d, wait %s", refused, wait)
	}
}

// TestKeyedSharesAndBounds: one bucket per key, shared by its callers, and
// at most the bound kept, the least recently used dropped first.
func TestKeyedSharesAndBounds(t *testing.T) {
	k := ratelimit.NewKeyed(ratelimit.Limit{Rate: 1, Burst: 2}, 2)
	a := k.Bucket("a")
	if k.Bucket("a") != a {
		t.Fatal("a key's bucket changed")
	}
	a.Allow(t0)
	a.Allow(t0)
	if k.Bucket("a").Allow(t0) {
		t.Fatal("a's bucket refilled between two look-ups")
	}
	k.Bucket("b")
	k.Bucket("a") // a is now the most recent
	k.Bucket("c") // drops b
	if n := k.Len(); n != 2 {
		t.Fatalf("%d keys kept, want the bound, 2", n)
	}
	if k.Bucket("a") != a {
		t.Fatal("the recently used key lost its bucket")
	}
	// b comes back full (dropping c); c then drops a, which comes back
	// full too.
	if got := k.Bucket("b").Tokens(t0); got != 2 {
		t.Fatalf("b has %v tokens, want a new full bucket", got)
	}
	k.Bucket("c")
	if got := k.Bucket("a"); got == a || got.Tokens(t0) != 2 {
		t.Fatal("a kept its bucket beyond the bound")
	}
}

// TestKeyedConcurrent: callers racing for one key's burst get exactly the
// burst between them.
func TestKeyedConcurrent(t *testing.T) {
	const burst = 50
	k := ratelimit.NewKeyed(ratelimit.Limit{Rate: 1, Burst: burst}, 10)
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for g := range 8 {
		wg.Go(func() {
			for i := range 100 {
				if k.Bucket("same").Allow(t0) {
					allowed.Add(1)
				}
				k.Bucket(fmt.Sprint("other-", g, "-", i)) // churn the LRU meanwhile
			}
		})
	}
	wg.Wait()
	// "same" may be dropped by the churn and come back full: at least the
	// burst, and a whole number of bursts.
	if n := allowed.Load(); n < burst || n%burst != 0 {
		t.Fatalf("%d allowed, want a multiple of the burst %d", n, burst)
	}
}

// BenchmarkKeyedMemory reports what a Keyed holds per key (the figure in
// docs/operations.md and ADR 0022).
func BenchmarkKeyedMemory(b *testing.B) {
	const keys = 100_000
	names := make([]string, keys)
	for i := range names {
		names[i] = fmt.Sprintf("user-%08d", i) // a 13-byte subject
	}
	var before, after runtime.MemStats
	var k *ratelimit.Keyed
	for b.Loop() {
		runtime.GC()
		runtime.ReadMemStats(&before)
		k = ratelimit.NewKeyed(ratelimit.Limit{Rate: 50, Burst: 1000}, keys)
		for _, n := range names {
			k.Bucket(n).Allow(t0)
		}
		runtime.GC()
		runtime.ReadMemStats(&after)
	}
	b.ReportMetric(float64(after.HeapAlloc-before.HeapAlloc)/keys, "bytes/key")
	runtime.KeepAlive(k)
}

// BenchmarkTake is the cost of admitting one event through a connection's
// bucket and its subject's.
func BenchmarkTake(b *testing.B) {
	sock := ratelimit.NewBucket(ratelimit.Unlimited)
	k := ratelimit.NewKeyed(ratelimit.Limit{Rate: 1e9, Burst: 1 << 30}, 1000)
	now := t0
	for b.Loop() {
		now = now.Add(time.Microsecond)
		ratelimit.Take(now, sock, k.Bucket("user"))
	}
}
