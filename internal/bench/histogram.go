package bench

import (
	"math/bits"
	"sync/atomic"
)

// Histogram is a log-linear latency histogram of nanosecond values: exact
// below 64 ns, then 64 buckets per power of two (about 1.6% precision).
// Record is lock-free, so every connection's goroutine records into one
// Histogram; histograms of several processes are merged with Merge.
type Histogram struct {
	counts [histBuckets]atomic.Uint64
	max    atomic.Int64
}

const (
	histSub     = 64
	histBuckets = histSub * 40 // values up to 2^39 ns (about 9 minutes)
)

func histIndex(v int64) int {
	if v < 0 {
		v = 0
	}
	u := uint64(v)
	if u < histSub {
		return int(u)
	}
	e := bits.Len64(u) - 7 // u>>e is in [64, 128)
	i := (e+1)*histSub + int(u>>uint(e)) - histSub
	if i >= histBuckets {
		i = histBuckets - 1
	}
	return i
}

// histValue is the middle of bucket i's range.
func histValue(i int) int64 {
	if i < histSub {
		return int64(i)
	}
	e := i/histSub - 1
	m := int64(i%histSub + histSub)
	lo := m << uint(e)
	return lo + (int64(1)<<uint(e))/2
}

// Record adds one value in nanoseconds.
func (h *Histogram) Record(ns int64) {
	h.counts[histIndex(ns)].Add(1)
	for {
		m := h.max.Load()
		if ns <= m || h.max.CompareAndSwap(m, ns) {
			return
		}
	}
}

// Count is the number of recorded values.
func (h *Histogram) Count() uint64 {
	var n uint64
	for i := range h.counts {
		n += h.counts[i].Load()
	}
	return n
}

// Max is the largest recorded value, exact.
func (h *Histogram) Max() int64 { return h.max.Load() }

// Quantile returns the value at q (0..1), within the bucket precision.
func (h *Histogram) Quantile(q float64) int64 {
	n := h.Count()
	if n == 0 {
		return 0
	}
	rank := uint64(q*float64(n-1)) + 1
	var seen uint64
	for i := range h.counts {
		seen += h.counts[i].Load()
		if seen >= rank {
			v := histValue(i)
			if m := h.Max(); v > m {
				v = m
			}
			return v
		}
	}
	return h.Max()
}

// HistogramData is a Histogram in transit between processes: the non-empty
// buckets as [index, count] pairs, and the exact maximum.
type HistogramData struct {
	Buckets [][2]uint64 `json:"buckets"`
	Max     int64       `json:"max"`
}

// Export returns h's non-empty buckets.
func (h *Histogram) Export() HistogramData {
	d := HistogramData{Max: h.Max()}
	for i := range h.counts {
		if c := h.counts[i].Load(); c > 0 {
			d.Buckets = append(d.Buckets, [2]uint64{uint64(i), c})
		}
	}
	return d
}

// Merge adds d's counts into h.
func (h *Histogram) Merge(d HistogramData) {
	for _, b := range d.Buckets {
		if b[0] < histBuckets {
			h.counts[b[0]].Add(b[1])
		}
	}
	for {
		m := h.max.Load()
		if d.Max <= m || h.max.CompareAndSwap(m, d.Max) {
			return
		}
	}
}
