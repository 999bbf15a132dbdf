package ratelimit

import (
	"math"
	"sync"
	"time"

	"github.com/hashicorp/golang-lru/v2/simplelru"
	"golang.org/x/time/rate"
)

// Limit is the shape of a bucket: Rate tokens a second, at most Burst held.
type Limit struct {
	Rate  float64
	Burst int
}

// Unlimited is a Limit that refuses nothing.
var Unlimited = Limit{Rate: math.Inf(1)}

// IsUnlimited reports whether l refuses nothing.
func (l Limit) IsUnlimited() bool { return math.IsInf(l.Rate, 1) }

func (l Limit) rate() rate.Limit {
	if l.IsUnlimited() {
		return rate.Inf
	}
	return rate.Limit(l.Rate)
}

// Bucket is one token bucket. Its zero value is not usable: call Init, or
// NewBucket. A nil *Bucket refuses nothing. Its methods are safe for
// concurrent use.
type Bucket struct {
	l rate.Limiter
}

// NewBucket returns a full bucket of shape l.
func NewBucket(l Limit) *Bucket {
	b := new(Bucket)
	b.Init(l)
	return b
}

// Init makes b a full bucket of shape l. It is there so that a bucket can
// live inside a larger struct (one allocation per connection, not two);
// call it once, before any other method.
func (b *Bucket) Init(l Limit) {
	// rate.NewLimiter would return a Limiter to copy, and a Limiter holds
	// a mutex. A Limiter last updated at the zero time has, by any later
	// instant, refilled to its burst: it starts full, as NewLimiter's do.
	b.l.SetBurstAt(time.Time{}, l.Burst)
	b.l.SetLimitAt(time.Time{}, l.rate())
}

// Allow takes a token at now, and reports whether there was one.
func (b *Bucket) Allow(now time.Time) bool {
	refused, _ := Take(now, b)
	return refused < 0
}

// Tokens returns the tokens b holds at now.
func (b *Bucket) Tokens(now time.Time) float64 {
	if b == nil {
		return math.Inf(1)
	}
	return b.l.TokensAt(now)
}

// Take takes one token from each of buckets at now, or none at all: it
// returns -1 when each had one. Otherwise it returns the index of the
// first bucket that had none (the tokens taken from those before it are
// put back) and how long until that bucket will have one. Nil buckets
// refuse nothing.
//
// A wait that would never end (a burst of 0) is math.MaxInt64.
func Take(now time.Time, buckets ...*Bucket) (refused int, wait time.Duration) {
	var taken [4]*rate.Reservation // enough for the callers, on the stack
	undo := taken[:0]
	for i, b := range buckets {
		if b == nil {
			continue
		}
		r := b.l.ReserveN(now, 1)
		if !r.OK() {
			cancelAll(undo, now)
			return i, time.Duration(math.MaxInt64)
		}
		if d := r.DelayFrom(now); d > 0 {
			r.CancelAt(now)
			cancelAll(undo, now)
			return i, d
		}
		undo = append(undo, r)
	}
	return -1, 0
}

func cancelAll(rs []*rate.Reservation, now time.Time) {
	for _, r := range rs {
		r.CancelAt(now)
	}
}

// Keyed is a bucket per key (a token subject), each of shape Limit, for at
// most a fixed number of keys: one more drops the bucket used least recently. A nil
// *Keyed refuses nothing. Its methods are safe for concurrent use.
type Keyed struct {
	limit Limit

	mu  sync.Mutex
	lru *simplelru.LRU[string, *Bucket]
}

// NewKeyed returns buckets of shape l for at most maxKeys keys (at least 1).
func NewKeyed(l Limit, maxKeys int) *Keyed {
	lru, err := simplelru.NewLRU[string, *Bucket](max(maxKeys, 1), nil)
	if err != nil { // only for a size below 1
		panic(err)
	}
	return &Keyed{limit: l, lru: lru}
}

// Bucket returns key's bucket, a full one if key has none (any more). The
// bucket stays key's while it is among the keys used most recently; take
// from it at once.
func (k *Keyed) Bucket(key string) *Bucket {
	if k == nil {
		return nil
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if b, ok := k.lru.Get(key); ok {
		return b
	}
	b := NewBucket(k.limit)
	k.lru.Add(key, b)
	return b
}

// Len returns how many keys have a bucket.
func (k *Keyed) Len() int {
	if k == nil {
		return 0
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.lru.Len()
}
