package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// The statements of the hot path, prepared once (on the writer's connection
// for writes, on the DB for reads) instead of being parsed by SQLite on
// every call — parsing was ~7 % of a PATCH's CPU.
const (
	sqlGetSlot = "SELECT " + slotColumns + " FROM slots WHERE id = ? AND provider_id = ?"
	sqlInsert  = `INSERT INTO slots (provider_id, start_ms, end_ms, status, note, version, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	sqlUpdate = `UPDATE slots SET start_ms = ?, end_ms = ?, status = ?, note = ?, version = version + 1, updated_ms = ?
		WHERE id = ? RETURNING ` + slotColumns
	// sqlUpdateFields changes what a slot says, not its times: it leaves
	// the (provider_id, start_ms) index alone, so the commit writes one
	// page fewer.
	sqlUpdateFields = `UPDATE slots SET status = ?, note = ?, version = version + 1, updated_ms = ?
		WHERE id = ? RETURNING ` + slotColumns
	sqlDelete  = "DELETE FROM slots WHERE id = ?"
	sqlBumpSeq = `INSERT INTO providers (id, seq) VALUES (?, 1)
		ON CONFLICT (id) DO UPDATE SET seq = seq + 1 RETURNING seq`
	sqlOverlap = `SELECT id FROM slots WHERE provider_id = ? AND start_ms < ? AND end_ms > ? AND id <> ?
		ORDER BY start_ms LIMIT 1`

	// The event log (events.go).
	sqlInsertEvent = "INSERT INTO events (" + eventColumns + ") VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
	sqlSeq         = "SELECT seq FROM providers WHERE id = ?"
	sqlEvents      = "SELECT " + eventColumns + " FROM events WHERE provider_id = ? AND seq > ? ORDER BY seq LIMIT ?"
	// published = 0 in the WHERE clause lets SQLite use the partial index.
	sqlUnpublished = "SELECT " + eventColumns + " FROM events WHERE published = 0 ORDER BY provider_id, seq LIMIT ?"
	// INDEXED BY: left alone, SQLite answers these through events_at or
	// the primary key, walking the published rows (up to the whole
	// retention); the partial index holds only the unpublished ones.
	sqlOldest = "SELECT min(at_ms) FROM events INDEXED BY events_unpublished WHERE published = 0"
	sqlMark   = `UPDATE events INDEXED BY events_unpublished SET published = 1
		WHERE published = 0 AND provider_id = ? AND seq <= ?`
	sqlPruneBefore = `DELETE FROM events WHERE (provider_id, seq) IN
		(SELECT provider_id, seq FROM events WHERE at_ms < ? AND published = 1 LIMIT ?)`
	// The providers with a published event more than keep (?1) behind
	// their seq, and the seq up to which theirs may go.
	sqlPruneCandidates = `SELECT p.id, p.seq - ?1 FROM providers p WHERE p.seq > ?1 AND EXISTS
		(SELECT 1 FROM events e WHERE e.provider_id = p.id AND e.seq <= p.seq - ?1 AND e.published = 1)`
	sqlPruneUpTo = "DELETE FROM events WHERE provider_id = ? AND seq <= ? AND published = 1"
)

type stmtID int

// The statements run outside the writer (see writer.go).
const (
	stmtGetSlot stmtID = iota
	stmtSeq
	stmtEvents
	stmtUnpublished
	stmtOldestUnpublished
	stmtPruneCandidates
	numStmts
)

var stmtSQL = [numStmts]string{
	stmtGetSlot:           sqlGetSlot,
	stmtSeq:               sqlSeq,
	stmtEvents:            sqlEvents,
	stmtUnpublished:       sqlUnpublished,
	stmtOldestUnpublished: sqlOldest,
	stmtPruneCandidates:   sqlPruneCandidates,
}

// stmts prepares lazily: the tables exist only after Migrate, and a
// statement that failed to prepare (e.g. before migrating) is tried again
// on the next call rather than remembered as broken.
type stmts struct {
	mu   sync.Mutex
	list [numStmts]*sql.Stmt
}

func (p *stmts) get(ctx context.Context, db *sql.DB, id stmtID) (*sql.Stmt, error) {
	p.mu.Lock()
	defer p.mu.Unlock()
	if s := p.list[id]; s != nil {
		return s, nil
	}
	s, err := db.PrepareContext(ctx, stmtSQL[id])
	if err != nil {
		return nil, err
	}
	p.list[id] = s
	return s, nil
}

func (p *stmts) close() {
	p.mu.Lock()
	defer p.mu.Unlock()
	for i, s := range p.list {
		if s != nil {
			_ = s.Close()
			p.list[i] = nil
		}
	}
}

// stmt returns the read statement id prepared on the DB (database/sql
// prepares it on each pooled connection once).
func (d *DB) stmt(ctx context.Context, id stmtID) (*sql.Stmt, error) {
	return d.stmts.get(ctx, d.db, id)
}
