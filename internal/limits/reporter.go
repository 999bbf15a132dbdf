package limits

import (
	"log/slog"
	"sort"
	"sync"
	"time"
)

// DefaultInterval is how often one limit may write a WARN line.
const DefaultInterval = 10 * time.Second

// Reporter counts limit hits and logs them, rate-limited per limit. Its
// methods are safe for concurrent use; a nil *Reporter does nothing.
type Reporter struct {
	log   *slog.Logger
	every time.Duration
	now   func() time.Time

	mu     sync.Mutex
	limits map[string]*state
}

type state struct {
	total      uint64
	suppressed uint64 // hits since the last line
	last       time.Time
}

// Config configures a Reporter. Zero values take the defaults.
type Config struct {
	// Logger receives the WARN lines; nil discards them (hits are still counted).
	Logger *slog.Logger
	// Interval is the least time between two lines of one limit. Default
	// DefaultInterval.
	Interval time.Duration
	// Now is the clock; default time.Now.
	Now func() time.Time
}

// New returns a Reporter.
func New(cfg Config) *Reporter {
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.Interval <= 0 {
		cfg.Interval = DefaultInterval
	}
	if cfg.Now == nil {
		cfg.Now = time.Now
	}
	return &Reporter{log: cfg.Logger, every: cfg.Interval, now: cfg.Now, limits: make(map[string]*state)}
}

// Hit records that a client at remote reached limit (a short constant name
// such as "http.header_bytes": never a value chosen by the client, since
// names are counted and become metric labels). attrs are extra key/value
// pairs for the log line.
func (r *Reporter) Hit(limit, remote string, attrs ...any) {
	if r == nil {
		return
	}
	now := r.now()
	r.mu.Lock()
	st := r.limits[limit]
	if st == nil {
		st = &state{}
		r.limits[limit] = st
	}
	st.total++
	if !st.last.IsZero() && now.Sub(st.last) < r.every {
		st.suppressed++
		r.mu.Unlock()
		return
	}
	suppressed := st.suppressed
	st.suppressed = 0
	st.last = now
	r.mu.Unlock()

	args := make([]any, 0, 6+len(attrs))
	args = append(args, "limit", limit, "remote", remote)
	if suppressed > 0 {
		args = append(args, "suppressed", suppressed)
	}
	args = append(args, attrs...)
	r.log.Warn("limit reached", args...)
}

// Count returns how many times limit was hit.
func (r *Reporter) Count(limit string) uint64 {
	if r == nil {
		return 0
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	if st := r.limits[limit]; st != nil {
		return st.total
	}
	return 0
}

// Counts returns every limit hit so far with its count, sorted by name.
func (r *Reporter) Counts() []Count {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	out := make([]Count, 0, len(r.limits))
	for name, st := range r.limits {
		out = append(out, Count{Limit: name, Hits: st.total})
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return out[i].Limit < out[j].Limit })
	return out
}

// Count is one limit's total hits.
type Count struct {
	Limit string
	Hits  uint64
}
