package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
)

const slotColumns = "id, provider_id, start_ms, end_ms, status, note, version, created_ms, updated_ms"

func scanSlot(row rowScanner) (availability.Slot, error) {
	var s availability.Slot
	var start, end, created, updated int64
	if err := row.Scan(&s.ID, &s.ProviderID, &start, &end, &s.Status, &s.Note, &s.Version, &created, &updated); err != nil {
		return availability.Slot{}, err
	}
	s.Start, s.End = fromMillis(start), fromMillis(end)
	s.CreatedAt, s.UpdatedAt = fromMillis(created), fromMillis(updated)
	return s, nil
}

func millis(t time.Time) int64        { return t.UnixMilli() }
func fromMillis(ms int64) time.Time   { return time.UnixMilli(ms).UTC() }
func notFound(id int64) error         { return apperr.Errorf(apperr.CodeNotFound, "slot %d not found", id) }
func wrap(op string, err error) error { return fmt.Errorf("sqlite: %s: %w", op, err) }

// ListSlots returns providerID's slots overlapping w, by start then id.
func (d *DB) ListSlots(ctx context.Context, providerID string, w availability.Window) ([]availability.Slot, error) {
	var q strings.Builder
	q.WriteString("SELECT " + slotColumns + " FROM slots WHERE provider_id = ?")
	args := []any{providerID}
	if !w.From.IsZero() {
		q.WriteString(" AND end_ms > ?")
		args = append(args, millis(w.From))
	}
	if !w.To.IsZero() {
		q.WriteString(" AND start_ms < ?")
		args = append(args, millis(w.To))
	}
	q.WriteString(" ORDER BY start_ms, id")
	rows, err := d.db.QueryContext(ctx, q.String(), args...)
	if err != nil {
		return nil, wrap("list slots", err)
	}
	defer rows.Close()
	out := []availability.Slot{}
	for rows.Next() {
		s, err := scanSlot(rows)
		if err != nil {
			return nil, wrap("list slots", err)
		}
		out = append(out, s)
	}
	if err := rows.Err(); err != nil {
		return nil, wrap("list slots", err)
	}
	return out, nil
}

// GetSlot returns one slot of providerID.
func (d *DB) GetSlot(ctx context.Context, providerID string, id int64) (availability.Slot, error) {
	st, err := d.stmt(ctx, stmtGetSlot)
	if err != nil {
		return availability.Slot{}, wrap("get slot", err)
	}
	return slotResult(st.QueryRowContext(ctx, id, providerID), id)
}

// getSlot reads one slot inside a write.
func getSlot(ctx context.Context, w *writer, providerID string, id int64) (availability.Slot, error) {
	return slotResult(w.queryRow(ctx, wGetSlot, id, providerID), id)
}

func slotResult(row rowScanner, id int64) (availability.Slot, error) {
	s, err := scanSlot(row)
	if errors.Is(err, sql.ErrNoRows) {
		return availability.Slot{}, notFound(id)
	}
	if err != nil {
		return availability.Slot{}, wrap("get slot", err)
	}
	return s, nil
}

// CreateSlot inserts s with version 1, bumps the provider's seq and
// records the change.
func (d *DB) CreateSlot(ctx context.Context, s availability.Slot, at time.Time) (availability.Change, error) {
	var c availability.Change
	err := d.write(ctx, func(ctx context.Context, w *writer) error {
		seq, err := bumpSeq(ctx, w, s.ProviderID)
		if err != nil {
			return err
		}
		if err := checkOverlap(ctx, w, s, 0); err != nil {
			return err
		}
		s.Version = 1
		err = w.queryRow(ctx, wInsert, s.ProviderID, millis(s.Start), millis(s.End), s.Status, s.Note, s.Version,
			millis(s.CreatedAt), millis(s.UpdatedAt)).Scan(&s.ID)
		if err != nil {
			return wrap("insert slot", err)
		}
		c = change(availability.ActionCreated, roundTrip(s), seq, at)
		return recordChange(ctx, w, c)
	})
	if err != nil {
		return availability.Change{}, err
	}
	return c, nil
}

// UpdateSlot rewrites the slot's fields, raises its version and the seq,
// and records the change.
func (d *DB) UpdateSlot(ctx context.Context, s availability.Slot, expectedVersion int64, at time.Time) (availability.Change, error) {
	return d.PatchSlot(ctx, s.ProviderID, s.ID, at, func(cur availability.Slot) (availability.Slot, error) {
		if err := checkVersion(cur, expectedVersion); err != nil {
			return availability.Slot{}, err
		}
		return s, nil
	})
}

// PatchSlot reads the slot, lets apply compute its new state from the
// stored one, checks for overlaps, writes it (raising its version), bumps
// the provider's seq and records the change, all in one write transaction,
// so the slot is read once and no other writer can come in between.
func (d *DB) PatchSlot(ctx context.Context, providerID string, id int64, at time.Time, apply func(cur availability.Slot) (availability.Slot, error)) (availability.Change, error) {
	var c availability.Change
	err := d.write(ctx, func(ctx context.Context, w *writer) error {
		cur, err := getSlot(ctx, w, providerID, id)
		if err != nil {
			return err
		}
		next, err := apply(cur)
		if err != nil {
			return err
		}
		// The identity of the row is not apply's to change.
		next.ID, next.ProviderID = cur.ID, cur.ProviderID
		var out availability.Slot
		if millis(next.Start) == millis(cur.Start) && millis(next.End) == millis(cur.End) {
			// Same times (a status or note change, the common case): no
			// overlap can appear, and the times' index stays as it is.
			out, err = scanSlot(w.queryRow(ctx, wUpdateFields, next.Status, next.Note, millis(next.UpdatedAt), id))
		} else {
			if err := checkOverlap(ctx, w, next, id); err != nil {
				return err
			}
			out, err = scanSlot(w.queryRow(ctx, wUpdate, millis(next.Start), millis(next.End), next.Status, next.Note,
				millis(next.UpdatedAt), id))
		}
		if err != nil {
			return wrap("update slot", err)
		}
		seq, err := bumpSeq(ctx, w, providerID)
		if err != nil {
			return err
		}
		c = change(availability.ActionUpdated, out, seq, at)
		return recordChange(ctx, w, c)
	})
	if err != nil {
		return availability.Change{}, err
	}
	return c, nil
}

// DeleteSlot removes the slot, bumps the seq and records the change (with
// the slot as it was).
func (d *DB) DeleteSlot(ctx context.Context, providerID string, id int64, expectedVersion int64, at time.Time) (availability.Change, error) {
	var c availability.Change
	err := d.write(ctx, func(ctx context.Context, w *writer) error {
		cur, err := getSlot(ctx, w, providerID, id)
		if err != nil {
			return err
		}
		if err := checkVersion(cur, expectedVersion); err != nil {
			return err
		}
		if err := w.exec(ctx, wDelete, id); err != nil {
			return wrap("delete slot", err)
		}
		seq, err := bumpSeq(ctx, w, providerID)
		if err != nil {
			return err
		}
		c = change(availability.ActionDeleted, cur, seq, at)
		return recordChange(ctx, w, c)
	})
	if err != nil {
		return availability.Change{}, err
	}
	return c, nil
}

// bumpSeq raises providerID's sequence number (creating the provider at 1)
// and returns the new value.
func bumpSeq(ctx context.Context, w *writer, providerID string) (int64, error) {
	var seq int64
	if err := w.queryRow(ctx, wBumpSeq, providerID).Scan(&seq); err != nil {
		return 0, wrap("bump seq", err)
	}
	return seq, nil
}

// checkOverlap fails with a conflict when another slot (not exceptID) of
// the provider shares an instant with s.
func checkOverlap(ctx context.Context, w *writer, s availability.Slot, exceptID int64) error {
	var other int64
	err := w.queryRow(ctx, wOverlap, s.ProviderID, millis(s.End), millis(s.Start), exceptID).Scan(&other)
	switch {
	case errors.Is(err, sql.ErrNoRows):
		return nil
	case err != nil:
		return wrap("overlap check", err)
	}
	return apperr.Errorf(apperr.CodeConflict, "overlaps slot %d of provider %s", other, s.ProviderID)
}

func checkVersion(cur availability.Slot, expected int64) error {
	if expected != 0 && cur.Version != expected {
		return apperr.Errorf(apperr.CodePreconditionFailed, "slot %d is at version %d, not %d", cur.ID, cur.Version, expected)
	}
	return nil
}

// roundTrip returns s as it reads back from the database (UTC, milliseconds).
func roundTrip(s availability.Slot) availability.Slot {
	s.Start, s.End = fromMillis(millis(s.Start)), fromMillis(millis(s.End))
	s.CreatedAt, s.UpdatedAt = fromMillis(millis(s.CreatedAt)), fromMillis(millis(s.UpdatedAt))
	return s
}
