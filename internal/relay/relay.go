package relay

import (
	"context"
	"log/slog"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventide/realtime/internal/faults"
)

// Defaults of Config.
const (
	DefaultPollInterval   = time.Second
	DefaultBatchSize      = 256
	DefaultRetention      = 24 * time.Hour
	DefaultRetentionCount = 1000
	DefaultPruneInterval  = time.Minute
	DefaultLagWarn        = 5 * time.Second
)

// Fault points the relay passes (see internal/faults; no-ops in the
// shipped binary).
const (
	FaultStart         = "relay.start"          // it begins to lead, before its first round
	FaultBeforePublish = "relay.before_publish" // an event is committed and about to be published
)

// Config configures a Relay. Zero values take the defaults.
type Config struct {
	Log       EventLog  // required
	Publisher Publisher // required
	Clock     Clock     // default SystemClock
	Logger    *slog.Logger
	// Observer is told of each change published or not (metrics); nil:
	// nobody is.
	Observer Observer

	// PollInterval is how long the relay waits for a wake before it looks
	// at the log anyway, and how long it waits before retrying after an
	// error. Default DefaultPollInterval.
	PollInterval time.Duration
	// BatchSize is how many events one round reads. Default
	// DefaultBatchSize.
	BatchSize int
	// Retention is how long published events are kept for catch-up;
	// negative keeps them regardless of age. Default DefaultRetention.
	Retention time.Duration
	// RetentionCount is how many of a provider's latest events are kept
	// at most; negative means no count limit. Default
	// DefaultRetentionCount.
	RetentionCount int64
	// PruneInterval is how often the leading relay prunes. Default
	// DefaultPruneInterval.
	PruneInterval time.Duration
	// LagWarn is the lag above which the relay logs a warning (again each
	// time the lag doubles). Default DefaultLagWarn.
	LagWarn time.Duration
}

// Relay publishes the events of an EventLog. Start it once; Shutdown stops
// it. Its methods are safe for concurrent use.
type Relay struct {
	cfg Config
	log *slog.Logger

	// stopCtx ends when Shutdown is called: the relay stops waiting and
	// leading, but a round in progress finishes. hardCtx ends when
	// Shutdown's own context does: the round is abandoned too.
	stopCtx    context.Context
	stop       context.CancelFunc
	hardCtx    context.Context
	hardCancel context.CancelFunc

	// final says Drain stopped the relay: the term publishes what is
	// committed before it ends.
	final atomic.Bool

	startOnce sync.Once
	done      chan struct{} // closed when the loop has returned (or at Shutdown, if it never started)

	// Loop state, owned by the relay goroutine.
	lagWarned time.Duration // the lag last warned about; 0 = not behind
	failing   bool          // an error was logged and no round succeeded since
}

// New returns a Relay; it does nothing until Start.
func New(cfg Config) *Relay {
	if cfg.Clock == nil {
		cfg.Clock = SystemClock{}
	}
	if cfg.Logger == nil {
		cfg.Logger = slog.New(slog.DiscardHandler)
	}
	if cfg.PollInterval <= 0 {
		cfg.PollInterval = DefaultPollInterval
	}
	if cfg.BatchSize <= 0 {
		cfg.BatchSize = DefaultBatchSize
	}
	if cfg.Retention == 0 {
		cfg.Retention = DefaultRetention
	}
	if cfg.RetentionCount == 0 {
		cfg.RetentionCount = DefaultRetentionCount
	}
	if cfg.PruneInterval <= 0 {
		cfg.PruneInterval = DefaultPruneInterval
	}
	if cfg.LagWarn <= 0 {
		cfg.LagWarn = DefaultLagWarn
	}
	r := &Relay{cfg: cfg, log: cfg.Logger, done: make(chan struct{})}
	r.stopCtx, r.stop = context.WithCancel(context.Background())
	r.hardCtx, r.hardCancel = context.WithCancel(context.Background())
	return r
}

// Start starts the relay's goroutine; calling it again does nothing.
func (r *Relay) Start() {
	r.startOnce.Do(func() { go r.run() })
}

// Shutdown stops the relay: it lets a round in progress finish, unless ctx
// ends first, and then abandons it (its events are published again by the
// next relay; subscribers drop the duplicates). Safe to call twice, and
// before Start.
func (r *Relay) Shutdown(ctx context.Context) error {
	r.stop()
	r.startOnce.Do(func() { close(r.done) }) // never started: nothing to wait for
	select {
	case <-r.done:
		return nil
	case <-ctx.Done():
		r.hardCancel()
		return ctx.Err()
	}
}

// Drain stops the relay as Shutdown does, after publishing every event
// committed so far: while it leads, a last round (repeated while a batch is
// full) reads the log, so what waits on the hand-over or committed since
// the last round is published and marked before the relay stops. It is
// for a store that one process uses (SQLite): no other relay would publish
// those events until the next start. With a shared store (PostgreSQL) call
// Shutdown, which hands the lead on at once to another process's relay.
// Bounded by ctx as Shutdown is; safe to call twice, and with Shutdown.
func (r *Relay) Drain(ctx context.Context) error {
	r.final.Store(true)
	return r.Shutdown(ctx)
}

// Lag returns the age of the oldest unpublished event, 0 when every event
// is published: how far behind the relay is.
func (r *Relay) Lag(ctx context.Context) (time.Duration, error) {
	at, ok, err := r.cfg.Log.OldestUnpublished(ctx)
	if err != nil || !ok {
		return 0, err
	}
	return max(r.cfg.Clock.Now().Sub(at), 0), nil
}

func (r *Relay) run() {
	defer close(r.done)
	defer r.hardCancel()
	for r.stopCtx.Err() == nil {
		lctx, err := r.cfg.Log.Lead(r.stopCtx)
		if err != nil {
			if r.stopCtx.Err() != nil {
				return
			}
			r.fail("wait to lead the event relay", err)
			if !r.sleep(r.stopCtx, r.cfg.PollInterval) {
				return
			}
			continue
		}
		r.log.Info("relaying events")
		faults.Point(FaultStart)
		r.lead(lctx)
		if r.stopCtx.Err() == nil {
			r.log.Warn("no longer relaying events: another process leads")
		}
	}
}

// prune deletes published events past retention.
func (r *Relay) prune(ctx context.Context, now time.Time) {
	var before time.Time
	if r.cfg.Retention > 0 {
		before = now.Add(-r.cfg.Retention)
	}
	n, err := r.cfg.Log.Prune(ctx, before, r.cfg.RetentionCount)
	if err != nil {
		r.fail("prune events", err)
		return
	}
	if n > 0 {
		r.log.Info("pruned events past retention", "events", n)
	}
}

// observeLag logs when the lag passes LagWarn and each time it doubles,
// and once when it is back under LagWarn.
func (r *Relay) observeLag(lag time.Duration) {
	switch {
	case lag >= r.cfg.LagWarn && (r.lagWarned == 0 || lag >= 2*r.lagWarned):
		r.lagWarned = lag
		r.log.Warn("event relay is behind", "lag", lag.Round(time.Millisecond))
	case lag < r.cfg.LagWarn && r.lagWarned != 0:
		r.lagWarned = 0
		r.log.Info("event relay caught up")
	}
}

// fail logs the first error of a run of failures; the lag warnings say
// how long it lasts.
func (r *Relay) fail(what string, err error, attrs ...any) {
	if r.failing {
		r.log.Debug("event relay: "+what, append(attrs, "err", err)...)
		return
	}
	r.failing = true
	r.log.Warn("event relay: "+what, append(attrs, "err", err)...)
}

func (r *Relay) recovered() {
	if r.failing {
		r.failing = false
		r.log.Info("event relay recovered")
	}
}

// sleep waits d on the clock; false when ctx ended first.
func (r *Relay) sleep(ctx context.Context, d time.Duration) bool {
	t := r.cfg.Clock.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return false
	case <-t.C():
		return true
	}
}
