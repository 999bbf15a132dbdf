package relay

import (
	"context"
	"time"

	"github.com/eventide/realtime/internal/availability"
)

// EventLog is what the relay needs from a store's event log. The SQLite and
// PostgreSQL stores implement it; internal/store/storetest checks them.
type EventLog interface {
	// Lead blocks until this process is the one relay of the log (or ctx
	// ends, returning its error), and returns a context that ends when it
	// stops being it or when ctx ends. A store with one process per
	// database returns ctx at once.
	Lead(ctx context.Context) (context.Context, error)
	// Wake returns a channel that receives a value after a transaction
	// that recorded events commits. Signals may be coalesced or missed
	// (the relay also polls) and may be spurious.
	Wake() <-chan struct{}
	// Unpublished returns at most limit committed events not yet marked
	// published, in (provider, seq) order.
	Unpublished(ctx context.Context, limit int) ([]availability.Change, error)
	// MarkPublished marks, for each position, the provider's events up
	// to and including its seq as published.
	MarkPublished(ctx context.Context, upTo []Position) error
	// OldestUnpublished returns when the oldest unpublished event was
	// made; ok is false when every event is published.
	OldestUnpublished(ctx context.Context) (at time.Time, ok bool, err error)
	// Prune deletes published events made before before (none when
	// before is zero) and published events more than keep behind their
	// provider's latest seq (none when keep <= 0). It never deletes an
	// unpublished event. It returns how many it deleted.
	Prune(ctx context.Context, before time.Time, keep int64) (int64, error)
}

// Tailer is an optional EventLog capability, for a store whose every write
// goes through this process (SQLite): it hands the relay each change as it
// commits, so the relay publishes it without reading it back, and marks
// changes published in batches.
type Tailer interface {
	// Tail arms the hand-over and returns its channel: changes still
	// queued on it are dropped (they are in the log), and from now on each
	// change this process commits is sent on it, in commit order, instead
	// of signalling Wake. When one does not fit (the relay is behind) the
	// hand-over stops and Wake is signalled: the relay calls Tail again to
	// re-arm it, then reads the log for what it missed.
	Tail() <-chan availability.Change
}

// Position is a point in one provider's event stream.
type Position struct {
	ProviderID string
	Seq        int64
}

// Publisher delivers a committed change to its subscribers
// (internal/realtime). It is called by one relay goroutine, in seq order
// per provider, at least once per change: it must drop a change whose seq
// it has already delivered for that provider. An error means "not
// delivered, try again later".
type Publisher interface {
	Publish(ctx context.Context, c availability.Change) error
}

// Clock is the relay's time source.
type Clock interface {
	Now() time.Time
	// NewTimer returns a timer that fires once d has passed.
	NewTimer(d time.Duration) Timer
}

// Timer is a Clock's one-shot timer.
type Timer interface {
	// C receives the time when the timer fires.
	C() <-chan time.Time
	// Stop stops a timer that has not fired.
	Stop()
}

// SystemClock is the real time.
type SystemClock struct{}

// Now returns time.Now().
func (SystemClock) Now() time.Time { return time.Now() }

// NewTimer returns a time.Timer.
func (SystemClock) NewTimer(d time.Duration) Timer { return sysTimer{time.NewTimer(d)} }

type sysTimer struct{ t *time.Timer }

func (t sysTimer) C() <-chan time.Time { return t.t.C }
func (t sysTimer) Stop()               { t.t.Stop() }

// Observer is told what the relay publishes (metrics, ADR 0024). The lag
// is not reported here: Relay.Lag reads it when asked.
type Observer interface {
	// Published: one change was handed to the Publisher.
	Published()
	// PublishFailed: the Publisher refused one (the relay retries later).
	PublishFailed()
}
