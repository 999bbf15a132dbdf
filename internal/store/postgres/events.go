package postgres

import (
	"context"
	"time"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
)

var _ relay.EventLog = (*DB)(nil)

const eventColumns = "provider_id, seq, action, at, slot_id, start_at, end_at, status, note, version, created_at, updated_at"

// sqlRecord writes a change's event row and, in the same statement, queues
// the notification that wakes the relays when the transaction commits
// (NOTIFY is transactional: nothing is sent on rollback, and the several
// notifications of one transaction are folded into one).
const sqlRecord = `WITH e AS (
		INSERT INTO events (` + eventColumns + `) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12) RETURNING 1
	) SELECT pg_notify($13, '') FROM e`

// sqlRecordSlot is sqlRecord with the slot's part read from its row as the
// transaction has just written it (in the same round trip, so the event is
// what the write left, without a round trip to learn it first).
const sqlRecordSlot = `WITH e AS (
		INSERT INTO events (` + eventColumns + `)
		SELECT $1, $2, $3, $4, id, start_at, end_at, status, note, version, created_at, updated_at
		FROM slots WHERE id = $5 RETURNING 1
	) SELECT pg_notify($6, '') FROM e`

func scanChange(row pgx.Row) (availability.Change, error) {
	var c availability.Change
	s := &c.Slot
	if err := row.Scan(&c.ProviderID, &c.Seq, &c.Action, &c.At, &s.ID, &s.Start, &s.End, &s.Status, &s.Note,
		&s.Version, &s.CreatedAt, &s.UpdatedAt); err != nil {
		return availability.Change{}, err
	}
	s.ProviderID = c.ProviderID
	c.At = c.At.UTC()
	s.Start, s.End = s.Start.UTC(), s.End.UTC()
	s.CreatedAt, s.UpdatedAt = s.CreatedAt.UTC(), s.UpdatedAt.UTC()
	return c, nil
}

func collectChanges(rows pgx.Rows) ([]availability.Change, error) {
	return pgx.CollectRows(rows, func(r pgx.CollectableRow) (availability.Change, error) { return scanChange(r) })
}

// Seq returns providerID's current sequence number, 0 when it has none.
func (d *DB) Seq(ctx context.Context, providerID string) (int64, error) {
	var seq int64
	err := d.pool.QueryRow(ctx, "SELECT seq FROM providers WHERE id = $1", providerID).Scan(&seq)
	if isNoRows(err) {
		return 0, nil
	}
	if err != nil {
		return 0, wrap("seq", err)
	}
	return seq, nil
}

// Events returns providerID's changes after seq after, in seq order, at
// most limit, and its current seq. One statement reads both, so they come
// from one snapshot.
func (d *DB) Events(ctx context.Context, providerID string, after int64, limit int) ([]availability.Change, int64, error) {
	rows, err := d.pool.Query(ctx, `SELECT p.seq, e.* FROM providers p
		LEFT JOIN LATERAL (
			SELECT `+eventColumns+` FROM events WHERE provider_id = p.id AND seq > $2 ORDER BY seq LIMIT $3
		) e ON true
		WHERE p.id = $1`, providerID, after, limit)
	if err != nil {
		return nil, 0, wrap("events", err)
	}
	defer rows.Close()
	var (
		cur int64
		out []availability.Change
	)
	for rows.Next() {
		var (
			seq   int64
			found *int64
		)
		// The LEFT JOIN gives one row of NULLs when there is no event.
		var ev struct {
			provider, action, status, note   *string
			at, start, end, created, updated *time.Time
			slotID, version                  *int64
		}
		if err := rows.Scan(&seq, &ev.provider, &found, &ev.action, &ev.at, &ev.slotID, &ev.start, &ev.end, &ev.status,
			&ev.note, &ev.version, &ev.created, &ev.updated); err != nil {
			return nil, 0, wrap("events", err)
		}
		cur = seq
		if found == nil {
			continue
		}
		out = append(out, availability.Change{
			Action: *ev.action, ProviderID: *ev.provider, Seq: *found, At: ev.at.UTC(),
			Slot: availability.Slot{
				ID: *ev.slotID, ProviderID: *ev.provider, Start: ev.start.UTC(), End: ev.end.UTC(), Status: *ev.status,
				Note: *ev.note, Version: *ev.version, CreatedAt: ev.created.UTC(), UpdatedAt: ev.updated.UTC(),
			},
		})
	}
	if err := rows.Err(); err != nil {
		return nil, 0, wrap("events", err)
	}
	switch {
	case after > cur:
		return nil, 0, apperr.Errorf(apperr.CodeGone, "provider %s is at seq %d, before %d: refetch the slots", providerID, cur, after)
	case after < cur && (len(out) == 0 || out[0].Seq != after+1):
		return nil, 0, apperr.Errorf(apperr.CodeGone, "the changes of provider %s after seq %d are no longer kept: refetch the slots", providerID, after)
	}
	if out == nil {
		out = []availability.Change{}
	}
	return out, cur, nil
}

// Unpublished returns at most limit committed events not yet marked
// published, in (provider, seq) order. A provider's writers are serialised
// by its row lock, so its committed events are always 1..k with no hole,
// and the unpublished ones a suffix of them.
func (d *DB) Unpublished(ctx context.Context, limit int) ([]availability.Change, error) {
	rows, err := d.pool.Query(ctx, "SELECT "+eventColumns+
		" FROM events WHERE published_at IS NULL ORDER BY provider_id, seq LIMIT $1", limit)
	if err != nil {
		return nil, wrap("unpublished events", err)
	}
	out, err := collectChanges(rows)
	if err != nil {
		return nil, wrap("unpublished events", err)
	}
	return out, nil
}

// MarkPublished marks each provider's events up to its position's seq as
// published, in one statement.
//
// Its COMMIT does not wait for the WAL to reach the disk
// (synchronous_commit off for this transaction only): a mark lost in a
// crash of the database server only makes the next relay publish those
// events again, which delivery at-least-once allows (consumers drop
// duplicates by provider and seq), and the relay's round no longer waits
// for a flush nor adds one to every change's.
func (d *DB) MarkPublished(ctx context.Context, upTo []relay.Position) error {
	if len(upTo) == 0 {
		return nil
	}
	providers := make([]string, len(upTo))
	seqs := make([]int64, len(upTo))
	for i, p := range upTo {
		providers[i], seqs[i] = p.ProviderID, p.Seq
	}
	_, err := d.lazyCommit(ctx, `UPDATE events e SET published_at = now()
		FROM unnest($1::text[], $2::bigint[]) AS u (provider_id, seq)
		WHERE e.provider_id = u.provider_id AND e.seq <= u.seq AND e.published_at IS NULL`, providers, seqs)
	if err != nil {
		return wrap("mark published", err)
	}
	return nil
}

// lazyCommit runs one statement in a transaction whose COMMIT does not wait
// for the WAL flush, in one round trip; it returns the rows affected.
func (d *DB) lazyCommit(ctx context.Context, query string, args ...any) (int64, error) {
	conn, err := d.pool.Acquire(ctx)
	if err != nil {
		return 0, err
	}
	defer conn.Release()
	var n int64
	b := &pgx.Batch{}
	b.Queue("BEGIN")
	b.Queue("SET LOCAL synchronous_commit = off")
	b.Queue(query, args...).Exec(func(tag pgconn.CommandTag) error { n = tag.RowsAffected(); return nil })
	b.Queue("COMMIT")
	if err := conn.SendBatch(context.WithoutCancel(ctx), b).Close(); err != nil {
		rollback(context.WithoutCancel(ctx), conn)
		return 0, err
	}
	return n, nil
}

// OldestUnpublished returns when the oldest unpublished event was made.
func (d *DB) OldestUnpublished(ctx context.Context) (time.Time, bool, error) {
	var at *time.Time
	if err := d.pool.QueryRow(ctx, "SELECT min(at) FROM events WHERE published_at IS NULL").Scan(&at); err != nil {
		return time.Time{}, false, wrap("oldest unpublished", err)
	}
	if at == nil {
		return time.Time{}, false, nil
	}
	return at.UTC(), true, nil
}

// pruneBatch is how many events one DELETE removes: each batch is its own
// short statement, so pruning a long backlog never holds many row locks.
const pruneBatch = 1000

// Prune deletes published events made before before (none when before is
// zero) and published events more than keep behind their provider's
// latest seq (none when keep <= 0), in batches. Unpublished events are
// never deleted.
func (d *DB) Prune(ctx context.Context, before time.Time, keep int64) (int64, error) {
	var total int64
	prune := func(op, query string, args ...any) error {
		for {
			// Lazily committed too: a prune lost in a crash is done again.
			n, err := d.lazyCommit(ctx, query, append(args, pruneBatch)...)
			if err != nil {
				return wrap(op, err)
			}
			total += n
			if n < pruneBatch {
				return nil
			}
		}
	}
	if !before.IsZero() {
		// By age: the partial index on at of published events.
		err := prune("prune events by age", `DELETE FROM events WHERE ctid = ANY (ARRAY (
			SELECT ctid FROM events WHERE published_at IS NOT NULL AND at < $1 LIMIT $2))`, ms(before))
		if err != nil {
			return total, err
		}
	}
	if keep > 0 {
		// By count: a range of the primary key for each provider past keep.
		err := prune("prune events by count", `DELETE FROM events WHERE ctid = ANY (ARRAY (
			SELECT e.ctid FROM providers p JOIN events e ON e.provider_id = p.id AND e.seq <= p.seq - $1
			WHERE p.seq > $1 AND e.published_at IS NOT NULL LIMIT $2))`, keep)
		if err != nil {
			return total, err
		}
	}
	return total, nil
}
