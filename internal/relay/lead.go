package relay

import (
	"context"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/faults"
)

// maxCursors bounds the providers a term remembers. Forgetting one is safe:
// at worst a change is handed to the publisher twice, which drops it.
const maxCursors = 1 << 16

// Changes handed over from the tail are marked published in batches: when
// markBatch are pending, or when none has come for markDelay. A mark is a
// write transaction; one per change cost about a third of the e2e latency.
// A crash publishes at most these again.
const (
	markBatch = 64
	markDelay = 50 * time.Millisecond
)

// term is the relay's state while it leads, owned by the relay goroutine.
type term struct {
	r   *Relay
	ctx context.Context // the work context: it ends when the lead is lost

	// cursor is, per provider, the last seq published in this term:
	// rows and hand-overs at or below it are skipped.
	cursor map[string]int64
	// pending is, per provider, the last seq published and not yet
	// marked: marks are written in batches.
	pending map[string]int64

	// tail is the store's hand-over (nil without a Tailer). synced says
	// that every committed change not yet published is on the tail: set
	// by a round that read every unpublished row after arming it.
	tailer Tailer
	tail   <-chan availability.Change
	synced bool

	// markFailed says the last flush failed: retry after the poll
	// interval, not the mark delay.
	markFailed bool
}

// lead runs while this process leads: rounds that read the log, hand-overs
// from the tail, marks, prunes, and waits for a wake, the tail, the poll
// interval, or the end.
func (r *Relay) lead(lctx context.Context) {
	// Work runs under work: it ends when leadership is lost or the
	// relay is shut down hard, not when a graceful Shutdown begins.
	work, cancel := context.WithCancel(r.hardCtx)
	defer cancel()
	stopWatch := context.AfterFunc(lctx, func() {
		if r.stopCtx.Err() == nil {
			cancel()
		}
	})
	defer stopWatch()

	t := &term{r: r, ctx: work, cursor: map[string]int64{}, pending: map[string]int64{}}
	t.tailer, _ = r.cfg.Log.(Tailer)
	defer t.flush() // what was published is marked before the term ends
	defer t.finish()

	wake := r.cfg.Log.Wake()
	nextPrune := r.cfg.Clock.Now()
	needRound := true
	for {
		if needRound {
			more, ok := t.round()
			needRound = more && ok
		}
		if lctx.Err() != nil {
			return
		}
		if now := r.cfg.Clock.Now(); !now.Before(nextPrune) {
			r.prune(work, now)
			nextPrune = now.Add(r.cfg.PruneInterval)
		}
		if needRound {
			continue
		}
		// One timer at a time: the mark delay while changes are pending,
		// else the poll. While the relay works none is pending, so a test
		// that sees one knows the relay is idle.
		d, marking := r.cfg.PollInterval, len(t.pending) > 0
		if marking && !t.markFailed {
			d = min(markDelay, d)
		}
		timer := r.cfg.Clock.NewTimer(d)
		select {
		case <-lctx.Done():
			timer.Stop()
			return
		case <-wake:
			timer.Stop()
			needRound = true
		case c := <-t.tail:
			timer.Stop()
			needRound = !t.handOver(c)
		case <-timer.C():
			needRound = !marking || !t.flush()
		}
	}
}

// finish publishes, when Drain stopped the relay, what is committed and
// not published yet: rounds until one reads a batch that is not full (or
// fails, or Drain's context ends the work).
func (t *term) finish() {
	if !t.r.final.Load() || t.r.stopCtx.Err() == nil {
		return // the lead was lost: another process relays now
	}
	for {
		if more, ok := t.round(); !more || !ok {
			return
		}
	}
}

// round marks what is pending, (re-)arms the tail, then publishes one
// batch of the log's unpublished events. more says the batch was full and
// moved on; ok that nothing failed.
func (t *term) round() (more, ok bool) {
	r := t.r
	if !t.flush() {
		return false, false
	}
	if t.tailer != nil {
		// Armed before the read: a change committed after it is on the
		// tail, one committed before is in the read (or both; the cursor
		// skips the second).
		t.tail = t.tailer.Tail()
	}
	t.synced = false
	batch, err := r.cfg.Log.Unpublished(t.ctx, r.cfg.BatchSize)
	if err != nil {
		r.fail("read unpublished events", err)
		return false, false
	}
	published := 0
	var blocked map[string]bool // providers whose publish failed this round
	for _, c := range batch {
		if blocked[c.ProviderID] {
			continue // keep its order: the rest waits for the next round
		}
		if last, ok := t.cursor[c.ProviderID]; ok && c.Seq <= last {
			continue // published in this term, not marked yet
		}
		if !t.publish(c) {
			if blocked == nil {
				blocked = make(map[string]bool)
			}
			blocked[c.ProviderID] = true
			continue
		}
		published++
	}
	full := len(batch) == r.cfg.BatchSize
	if len(blocked) == 0 {
		r.recovered()
		t.synced = !full
	}
	if published > 0 && !t.flush() {
		return false, false
	}
	if len(blocked) == 0 && !full {
		r.observeLag(0)
	} else if lag, err := r.Lag(t.ctx); err == nil {
		r.observeLag(lag)
	}
	return full && published > 0, len(blocked) == 0
}

// handOver publishes a change from the tail, and the others already
// waiting there; false when the log must be read (a gap, or a failure).
func (t *term) handOver(c availability.Change) bool {
	for n := 0; ; n++ {
		if !t.handOne(c) {
			return false
		}
		if n+1 >= t.r.cfg.BatchSize {
			break
		}
		select {
		case c = <-t.tail:
			continue
		default:
		}
		break
	}
	if len(t.pending) >= markBatch {
		return t.flush()
	}
	return true // marked after markDelay without another change
}

func (t *term) handOne(c availability.Change) bool {
	last, known := t.cursor[c.ProviderID]
	switch {
	case known && c.Seq <= last:
		return true // a round published it already
	case known && c.Seq == last+1, !known && t.synced:
		if !t.publish(c) {
			t.synced = false
			return false
		}
		return true
	default:
		// Not the next one: what comes between is in the log.
		t.synced = false
		return false
	}
}

// publish hands c to the publisher and records it as pending.
func (t *term) publish(c availability.Change) bool {
	faults.Point(FaultBeforePublish)
	if err := t.r.cfg.Publisher.Publish(t.ctx, c); err != nil {
		t.r.fail("publish a change", err, "provider_id", c.ProviderID, "seq", c.Seq)
		if o := t.r.cfg.Observer; o != nil {
			o.PublishFailed()
		}
		return false
	}
	if o := t.r.cfg.Observer; o != nil {
		o.Published()
	}
	t.cursor[c.ProviderID] = c.Seq
	t.pending[c.ProviderID] = c.Seq
	return true
}

// flush marks the pending changes published; false when that failed (they
// stay pending; if the process ends first, the next relay publishes them
// again and the publisher drops the duplicates).
func (t *term) flush() bool {
	if len(t.pending) == 0 {
		return true
	}
	if t.ctx.Err() != nil {
		return false // the lead is gone; the next relay publishes them again
	}
	marks := make([]Position, 0, len(t.pending))
	for p, seq := range t.pending {
		marks = append(marks, Position{ProviderID: p, Seq: seq})
	}
	if err := t.r.cfg.Log.MarkPublished(t.ctx, marks); err != nil {
		t.r.fail("mark events published", err)
		t.markFailed = true
		return false
	}
	t.markFailed = false
	clear(t.pending)
	if len(t.cursor) > maxCursors {
		clear(t.cursor)
	}
	return true
}
