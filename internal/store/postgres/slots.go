package postgres

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
)

const slotColumns = "id, provider_id, start_at, end_at, status, note, version, created_at, updated_at"

const (
	sqlGetSlot = "SELECT " + slotColumns + " FROM slots WHERE id = $1 AND provider_id = $2"
	// sqlBumpSeq is the first statement of every write: its row lock on
	// the provider makes the provider's other writers, in any process,
	// wait until this transaction ends. Every later statement of the
	// transaction starts after the lock is held, so under READ COMMITTED
	// it sees what those writers committed (a statement that waited
	// inside itself would keep its older snapshot: that is why the
	// overlap check is a statement of its own, never a CTE beside this).
	sqlBumpSeq = `INSERT INTO providers AS p (id, seq) VALUES ($1, 1)
		ON CONFLICT (id) DO UPDATE SET seq = p.seq + 1 RETURNING seq`
	sqlOverlap = `SELECT id FROM slots WHERE provider_id = $1 AND start_at < $2 AND end_at > $3 AND id <> $4
		ORDER BY start_at LIMIT 1`
	sqlInsert = `INSERT INTO slots (provider_id, start_at, end_at, status, note, version, created_at, updated_at)
		VALUES ($1, $2, $3, $4, $5, 1, $6, $7) RETURNING id`
	sqlUpdate = `UPDATE slots SET start_at = $1, end_at = $2, status = $3, note = $4, version = version + 1, updated_at = $5
		WHERE id = $6 RETURNING ` + slotColumns
	sqlDelete = "DELETE FROM slots WHERE id = $1"
)

func scanSlot(row pgx.Row) (availability.Slot, error) {
	var s availability.Slot
	if err := row.Scan(&s.ID, &s.ProviderID, &s.Start, &s.End, &s.Status, &s.Note, &s.Version, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return availability.Slot{}, err
	}
	// pgx returns timestamptz in the local zone; the domain speaks UTC.
	s.Start, s.End = s.Start.UTC(), s.End.UTC()
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return s, nil
}

// ms keeps t at the domain's TimePrecision, exactly as SQLite's store does,
// so a slot reads back as the write returned it.
func ms(t time.Time) time.Time { return time.UnixMilli(t.UnixMilli()).UTC() }

func notFound(id int64) error { return apperr.Errorf(apperr.CodeNotFound, "slot %d not found", id) }

// ListSlots returns providerID's slots overlapping w, by start then id.
func (d *DB) ListSlots(ctx context.Context, providerID string, w availability.Window) ([]availability.Slot, error) {
	var q strings.Builder
	q.WriteString("SELECT " + slotColumns + " FROM slots WHERE provider_id = $1")
	args := []any{providerID}
	if !w.From.IsZero() {
		args = append(args, ms(w.From))
		fmt.Fprintf(&q, " AND end_at > $%d", len(args))
	}
	if !w.To.IsZero() {
		args = append(args, ms(w.To))
		fmt.Fprintf(&q, " AND start_at < $%d", len(args))
	}
	q.WriteString(" ORDER BY start_at, id")
	rows, err := d.pool.Query(ctx, q.String(), args...)
	if err != nil {
		return nil, wrap("list slots", err)
	}
	out, err := pgx.CollectRows(rows, func(r pgx.CollectableRow) (availability.Slot, error) { return scanSlot(r) })
	if err != nil {
		return nil, wrap("list slots", err)
	}
	if out == nil {
		out = []availability.Slot{}
	}
	return out, nil
}

// GetSlot returns one slot of providerID.
func (d *DB) GetSlot(ctx context.Context, providerID string, id int64) (availability.Slot, error) {
	return getSlot(ctx, d.pool, providerID, id)
}

// querier is what reads and writes need of a pool or a connection.
type querier interface {
	QueryRow(ctx context.Context, sql string, args ...any) pgx.Row
	Exec(ctx context.Context, sql string, args ...any) (pgconn.CommandTag, error)
}

func getSlot(ctx context.Context, q querier, providerID string, id int64) (availability.Slot, error) {
	s, err := scanSlot(q.QueryRow(ctx, sqlGetSlot, id, providerID))
	if isNoRows(err) {
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
	s = roundTrip(s)
	return d.write(ctx, s.ProviderID, availability.ActionCreated, at, nil, func(ctx context.Context, tx querier, _ *pgx.Batch) (change, error) {
		if err := checkOverlap(ctx, tx, s, 0); err != nil {
			return change{}, err
		}
		s.Version = 1
		if err := tx.QueryRow(ctx, sqlInsert, s.ProviderID, s.Start, s.End, s.Status, s.Note, s.CreatedAt, s.UpdatedAt).Scan(&s.ID); err != nil {
			return change{}, wrap("insert slot", err)
		}
		return change{slot: s}, nil
	})
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
// the provider's seq and records the change, all in one transaction that
// holds the provider's row lock, so no other writer of the provider comes
// in between. The slot is read in the round trip that takes the lock, and
// written in the one that records the event and commits: two round trips,
// three when the times change (the overlap check).
func (d *DB) PatchSlot(ctx context.Context, providerID string, id int64, at time.Time, apply func(cur availability.Slot) (availability.Slot, error)) (availability.Change, error) {
	var cur availability.Slot
	var readErr error
	read := func(b *pgx.Batch) {
		b.Queue(sqlGetSlot, id, providerID).QueryRow(func(row pgx.Row) error {
			cur, readErr = scanSlot(row)
			return nil // judged below, before anything is written
		})
	}
	return d.write(ctx, providerID, availability.ActionUpdated, at, read, func(ctx context.Context, tx querier, last *pgx.Batch) (change, error) {
		switch {
		case isNoRows(readErr):
			return change{}, notFound(id)
		case readErr != nil:
			return change{}, wrap("get slot", readErr)
		}
		next, err := apply(cur)
		if err != nil {
			return change{}, err
		}
		// The identity of the row is not apply's to change.
		next = roundTrip(next)
		next.ID, next.ProviderID = cur.ID, cur.ProviderID
		if !next.Start.Equal(cur.Start) || !next.End.Equal(cur.End) {
			if err := checkOverlap(ctx, tx, next, id); err != nil {
				return change{}, err
			}
		}
		written := new(availability.Slot) // filled when the last round trip is read
		last.Queue(sqlUpdate, next.Start, next.End, next.Status, next.Note, next.UpdatedAt, id).QueryRow(func(row pgx.Row) error {
			var err error
			if *written, err = scanSlot(row); err != nil {
				return wrap("update slot", err)
			}
			return nil
		})
		return change{recordFrom: id, written: written}, nil
	})
}

// DeleteSlot removes the slot, bumps the seq and records the change, whose
// slot is the slot as it was.
func (d *DB) DeleteSlot(ctx context.Context, providerID string, id int64, expectedVersion int64, at time.Time) (availability.Change, error) {
	return d.write(ctx, providerID, availability.ActionDeleted, at, nil, func(ctx context.Context, tx querier, _ *pgx.Batch) (change, error) {
		cur, err := getSlot(ctx, tx, providerID, id)
		if err != nil {
			return change{}, err
		}
		if err := checkVersion(cur, expectedVersion); err != nil {
			return change{}, err
		}
		if _, err := tx.Exec(ctx, sqlDelete, id); err != nil {
			return change{}, wrap("delete slot", err)
		}
		return change{slot: cur}, nil
	})
}

// change is what a write's fn decided: either the slot to record, already
// written, or (recordFrom) the id of the slot whose write fn queued in the
// last round trip; the event is then recorded from that row as written,
// and written holds it once the round trip is done.
type change struct {
	slot       availability.Slot
	recordFrom int64
	written    *availability.Slot
}

// write runs one change in one transaction: it raises providerID's seq
// first (taking the provider's row lock, see sqlBumpSeq), lets fn write the
// slot, and records the event, committing when all succeed and rolling
// everything back, the seq too, otherwise. It returns the recorded change.
//
// BEGIN goes in one round trip with the bump and what read queues (reads
// under the lock), and the event with COMMIT and what fn queues on the
// last batch (the slot's own write): the server runs a pipeline in order
// and skips the rest of it after an error, so nothing after a failed
// statement is committed.
//
// Waiting for a connection honours ctx; once the transaction has begun it
// runs to COMMIT or ROLLBACK even if ctx is cancelled, so a client that
// goes away never leaves a change whose commit is in doubt.
func (d *DB) write(ctx context.Context, providerID, action string, at time.Time, read func(*pgx.Batch), fn func(ctx context.Context, tx querier, last *pgx.Batch) (change, error)) (availability.Change, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return availability.Change{}, wrap("begin", err)
	}
	// A connection left inside a transaction (a failed ROLLBACK) is
	// closed by the pool on Release rather than reused.
	defer conn.Release()
	ctx = context.WithoutCancel(ctx)
	c := availability.Change{Action: action, ProviderID: providerID, At: ms(at)}

	begin := &pgx.Batch{}
	begin.Queue("BEGIN")
	begin.Queue(sqlBumpSeq, providerID).QueryRow(func(row pgx.Row) error { return row.Scan(&c.Seq) })
	if read != nil {
		read(begin)
	}
	if err := conn.SendBatch(ctx, begin).Close(); err != nil {
		rollback(ctx, conn)
		return availability.Change{}, wrap("bump seq", err)
	}
	last := &pgx.Batch{}
	ch, err := fn(ctx, conn, last)
	if err != nil {
		rollback(ctx, conn)
		return availability.Change{}, err
	}
	if ch.recordFrom != 0 {
		// The row is the one fn's queued write leaves: the provider's
		// lock, held since the first round trip, keeps every other writer
		// of its slots out.
		last.Queue(sqlRecordSlot, c.ProviderID, c.Seq, c.Action, c.At, ch.recordFrom, d.channel())
	} else {
		s := ch.slot
		last.Queue(sqlRecord, c.ProviderID, c.Seq, c.Action, c.At, s.ID, s.Start, s.End, s.Status, s.Note,
			s.Version, s.CreatedAt, s.UpdatedAt, d.channel())
	}
	last.Queue("COMMIT")
	if err := conn.SendBatch(ctx, last).Close(); err != nil {
		rollback(ctx, conn)
		return availability.Change{}, wrap("record and commit", err)
	}
	c.Slot = ch.slot
	if ch.recordFrom != 0 {
		c.Slot = *ch.written
	}
	return c, nil
}

func rollback(ctx context.Context, conn *pgxpool.Conn) {
	_, _ = conn.Exec(ctx, "ROLLBACK")
}

// checkOverlap fails with a conflict when another slot (not exceptID) of
// the provider shares an instant with s.
func checkOverlap(ctx context.Context, tx querier, s availability.Slot, exceptID int64) error {
	var other int64
	err := tx.QueryRow(ctx, sqlOverlap, s.ProviderID, s.End, s.Start, exceptID).Scan(&other)
	switch {
	case isNoRows(err):
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
	s.Start, s.End = ms(s.Start), ms(s.End)
	s.CreatedAt, s.UpdatedAt = ms(s.CreatedAt), ms(s.UpdatedAt)
	return s
}
