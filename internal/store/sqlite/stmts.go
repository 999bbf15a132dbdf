package sqlite

import (
	"context"
	"database/sql"
	"sync"
)

// The statements of the write path, prepared once per DB (database/sql then
// keeps one prepared copy per pooled connection) instead of being parsed by
// SQLite on every call — parsing was ~7 % of a PATCH's CPU.
const (
	sqlGetSlot = "SELECT " + slotColumns + " FROM slots WHERE id = ? AND provider_id = ?"
	sqlInsert  = `INSERT INTO slots (provider_id, start_ms, end_ms, status, note, version, created_ms, updated_ms)
		VALUES (?, ?, ?, ?, ?, ?, ?, ?) RETURNING id`
	sqlUpdate = `UPDATE slots SET start_ms = ?, end_ms = ?, status = ?, note = ?, version = version + 1, updated_ms = ?
		WHERE id = ? RETURNING ` + slotColumns
	sqlDelete  = "DELETE FROM slots WHERE id = ?"
	sqlBumpSeq = `INSERT INTO providers (id, seq) VALUES (?, 1)
		ON CONFLICT (id) DO UPDATE SET seq = seq + 1 RETURNING seq`
	sqlOverlap = `SELECT id FROM slots WHERE provider_id = ? AND start_ms < ? AND end_ms > ? AND id <> ?
		ORDER BY start_ms LIMIT 1`
)

type stmtID int

const (
	stmtGetSlot stmtID = iota
	stmtInsert
	stmtUpdate
	stmtDelete
	stmtBumpSeq
	stmtOverlap
	numStmts
)

var stmtSQL = [numStmts]string{
	stmtGetSlot: sqlGetSlot,
	stmtInsert:  sqlInsert,
	stmtUpdate:  sqlUpdate,
	stmtDelete:  sqlDelete,
	stmtBumpSeq: sqlBumpSeq,
	stmtOverlap: sqlOverlap,
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

// stmt returns the prepared statement id for use in tx (nil: on the DB).
func (d *DB) stmt(ctx context.Context, tx *sql.Tx, id stmtID) (*sql.Stmt, error) {
	s, err := d.stmts.get(ctx, d.db, id)
	if err != nil || tx == nil {
		return s, err
	}
	// Tx.StmtContext reuses the copy already prepared on the
	// transaction's connection; it re-prepares only on a new connection.
	return tx.StmtContext(ctx, s), nil
}
