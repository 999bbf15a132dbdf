package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
)

var (
	_ relay.EventLog = (*DB)(nil)
	_ relay.Tailer   = (*DB)(nil)
)

// tailSize is how many committed changes wait for the relay on the tail
// before the hand-over stops (and the relay reads the log instead).
const tailSize = 1024

// The event log (ADR 0014): the events table is written by every slot write
// (recordChange) and read by the relay (Unpublished, MarkPublished,
// OldestUnpublished, Prune) and by catch-up (Seq, Events). One process
// uses a SQLite file, so it is always the relay (Lead), woken after each
// commit that recorded a change (Wake).

const eventColumns = "provider_id, seq, action, at_ms, slot_id, start_ms, end_ms, status, note, version, created_ms, updated_ms"

// pruneBatch bounds the rows one pruning transaction deletes, so writers
// wait for the write lock no longer than a small write takes.
const pruneBatch = 500

func change(action string, s availability.Slot, seq int64, at time.Time) availability.Change {
	return availability.Change{Action: action, ProviderID: s.ProviderID, Slot: s, Seq: seq, At: fromMillis(millis(at))}
}

// recordChange inserts c into the event log, inside the write; the commit
// hands it to the relay.
func recordChange(ctx context.Context, w *writer, c availability.Change) error {
	s := c.Slot
	if err := w.exec(ctx, wInsertEvent, c.ProviderID, c.Seq, c.Action, millis(c.At), s.ID, millis(s.Start), millis(s.End),
		s.Status, s.Note, s.Version, millis(s.CreatedAt), millis(s.UpdatedAt)); err != nil {
		return wrap("record change", err)
	}
	w.recorded = append(w.recorded, c)
	return nil
}

func scanChange(row rowScanner) (availability.Change, error) {
	var c availability.Change
	var at, start, end, created, updated int64
	s := &c.Slot
	if err := row.Scan(&c.ProviderID, &c.Seq, &c.Action, &at, &s.ID, &start, &end, &s.Status, &s.Note, &s.Version,
		&created, &updated); err != nil {
		return availability.Change{}, err
	}
	s.ProviderID = c.ProviderID
	c.At = fromMillis(at)
	s.Start, s.End = fromMillis(start), fromMillis(end)
	s.CreatedAt, s.UpdatedAt = fromMillis(created), fromMillis(updated)
	return c, nil
}

func (d *DB) queryChanges(ctx context.Context, op string, id stmtID, args ...any) ([]availability.Change, error) {
	st, err := d.stmt(ctx, id)
	if err != nil {
		return nil, wrap(op, err)
	}
	rows, err := st.QueryContext(ctx, args...)
	if err != nil {
		return nil, wrap(op, err)
	}
	defer rows.Close()
	out := []availability.Change{}
	for rows.Next() {
		c, err := scanChange(rows)
		if err != nil {
			return nil, wrap(op, err)
		}
		out = append(out, c)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap(op, err)
	}
	return out, nil
}

// Seq returns providerID's current seq, 0 before its first change.
func (d *DB) Seq(ctx context.Context, providerID string) (int64, error) {
	st, err := d.stmt(ctx, stmtSeq)
	if err != nil {
		return 0, wrap("read seq", err)
	}
	var seq int64
	switch err := st.QueryRowContext(ctx, providerID).Scan(&seq); {
	case errors.Is(err, sql.ErrNoRows):
		return 0, nil
	case err != nil:
		return 0, wrap("read seq", err)
	}
	return seq, nil
}

// Events returns providerID's changes after after, in seq order (catch-up).
func (d *DB) Events(ctx context.Context, providerID string, after int64, limit int) ([]availability.Change, int64, error) {
	// The seq first: a change committed after this read is returned or
	// not, but a missing after+1 then means pruned, never "not yet".
	seq, err := d.Seq(ctx, providerID)
	if err != nil {
		return nil, 0, err
	}
	if after > seq {
		return nil, 0, apperr.Errorf(apperr.CodeGone,
			"provider %s has no seq %d (its latest is %d): refetch the slots", providerID, after, seq)
	}
	if after == seq {
		return []availability.Change{}, seq, nil
	}
	out, err := d.queryChanges(ctx, "read events", stmtEvents, providerID, after, limit)
	if err != nil {
		return nil, 0, err
	}
	if len(out) == 0 || out[0].Seq != after+1 {
		return nil, 0, apperr.Errorf(apperr.CodeGone,
			"the changes of provider %s after seq %d are no longer kept: refetch the slots", providerID, after)
	}
	return out, max(seq, out[len(out)-1].Seq), nil
}

// Lead returns ctx: one process uses a SQLite file, and it is the relay.
func (d *DB) Lead(ctx context.Context) (context.Context, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	return ctx, nil
}

// Wake receives a value after a commit that recorded a change, unless the
// change went on the armed tail.
func (d *DB) Wake() <-chan struct{} { return d.wake }

// Tail arms the hand-over of committed changes to the relay (see
// relay.Tailer).
func (d *DB) Tail() <-chan availability.Change {
	d.tailMu.Lock()
	defer d.tailMu.Unlock()
	for len(d.tail) > 0 { // left from before: the relay reads them from the log
		<-d.tail
	}
	d.tailArmed = true
	return d.tail
}

// committed hands the changes of a commit to the relay: on the tail while it
// is armed and has room, otherwise as a wake. Called by the writer after
// COMMIT, so in commit order.
func (d *DB) committed(cs []availability.Change) {
	d.tailMu.Lock()
	for _, c := range cs {
		if !d.tailArmed {
			break
		}
		select {
		case d.tail <- c:
		default:
			d.tailArmed = false // behind: the relay reads the log
		}
	}
	armed := d.tailArmed
	d.tailMu.Unlock()
	if !armed {
		select { // one pending signal covers every commit until the relay looks
		case d.wake <- struct{}{}:
		default:
		}
	}
}

// Unpublished returns at most limit unpublished changes in (provider, seq)
// order.
func (d *DB) Unpublished(ctx context.Context, limit int) ([]availability.Change, error) {
	return d.queryChanges(ctx, "read unpublished events", stmtUnpublished, limit)
}

// MarkPublished marks each provider's events up to its position published.
func (d *DB) MarkPublished(ctx context.Context, upTo []relay.Position) error {
	if len(upTo) == 0 {
		return nil
	}
	return d.write(ctx, func(ctx context.Context, w *writer) error {
		for _, p := range upTo {
			if err := w.exec(ctx, wMarkPublished, p.ProviderID, p.Seq); err != nil {
				return wrap("mark events published", err)
			}
		}
		return nil
	})
}

// OldestUnpublished returns when the oldest unpublished change was made.
func (d *DB) OldestUnpublished(ctx context.Context) (time.Time, bool, error) {
	st, err := d.stmt(ctx, stmtOldestUnpublished)
	if err != nil {
		return time.Time{}, false, wrap("read oldest unpublished event", err)
	}
	var at sql.NullInt64
	if err := st.QueryRowContext(ctx).Scan(&at); err != nil {
		return time.Time{}, false, wrap("read oldest unpublished event", err)
	}
	if !at.Valid {
		return time.Time{}, false, nil
	}
	return fromMillis(at.Int64), true, nil
}

// Prune deletes published events made before before, and published events
// more than keep behind their provider's seq, in transactions of at most
// pruneBatch rows (or providers).
func (d *DB) Prune(ctx context.Context, before time.Time, keep int64) (int64, error) {
	var total int64
	if !before.IsZero() {
		for {
			var n int64
			err := d.write(ctx, func(ctx context.Context, w *writer) error {
				var err error
				n, err = w.execN(ctx, wPruneBefore, millis(before), pruneBatch)
				return err
			})
			if err != nil {
				return total, wrap("prune events by age", err)
			}
			total += n
			if n < pruneBatch {
				break
			}
		}
	}
	if keep > 0 {
		// Which providers have events to drop: a read, off the write lock.
		type cut struct {
			provider string
			upTo     int64
		}
		var cuts []cut
		st, err := d.stmt(ctx, stmtPruneCandidates)
		if err != nil {
			return total, wrap("prune events by count", err)
		}
		rows, err := st.QueryContext(ctx, keep)
		if err != nil {
			return total, wrap("prune events by count", err)
		}
		for rows.Next() {
			var c cut
			if err := rows.Scan(&c.provider, &c.upTo); err != nil {
				rows.Close()
				return total, wrap("prune events by count", err)
			}
			cuts = append(cuts, c)
		}
		rows.Close()
		if err := rows.Err(); err != nil {
			return total, wrap("prune events by count", err)
		}
		for len(cuts) > 0 {
			batch := cuts[:min(len(cuts), pruneBatch)]
			cuts = cuts[len(batch):]
			var deleted int64
			err := d.write(ctx, func(ctx context.Context, w *writer) error {
				deleted = 0
				for _, c := range batch {
					n, err := w.execN(ctx, wPruneUpTo, c.provider, c.upTo)
					if err != nil {
						return err
					}
					deleted += n
				}
				return nil
			})
			if err != nil {
				return total, wrap("prune events by count", err)
			}
			total += deleted
		}
	}
	return total, nil
}
