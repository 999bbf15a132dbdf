package sqlite

import (
	"context"
	"database/sql"
	"database/sql/driver"

	"github.com/eventide/realtime/internal/availability"
)

// Writes go through one connection held by the DB (the "writer"), with
// their statements prepared on it once, and run their transaction as plain
// BEGIN IMMEDIATE / COMMIT statements on it rather than through sql.Tx.
//
// Why: SQLite admits one writer at a time anyway, and every part of a
// sql.Tx under a cancellable (request) context starts a goroutine — the
// Tx's own watcher, one per Rows, and one per statement in the driver to
// interrupt SQLite on cancellation — about ten per PATCH, which showed up
// as scheduler and sysmon time in the profiles. The statements of a write
// therefore run under context.WithoutCancel: once a write has the writer
// it runs to COMMIT or ROLLBACK (bounded by busy_timeout), while waiting
// for the writer still honours ctx.

type wstmtID int

const (
	wBegin wstmtID = iota
	wCommit
	wRollback
	wGetSlot
	wInsert
	wUpdate
	wUpdateFields
	wDelete
	wBumpSeq
	wOverlap
	wInsertEvent
	wMarkPublished
	wPruneBefore
	wPruneUpTo
	numWStmts
)

var wstmtSQL = [numWStmts]string{
	wBegin:         "BEGIN IMMEDIATE",
	wCommit:        "COMMIT",
	wRollback:      "ROLLBACK",
	wGetSlot:       sqlGetSlot,
	wInsert:        sqlInsert,
	wUpdate:        sqlUpdate,
	wUpdateFields:  sqlUpdateFields,
	wDelete:        sqlDelete,
	wBumpSeq:       sqlBumpSeq,
	wOverlap:       sqlOverlap,
	wInsertEvent:   sqlInsertEvent,
	wMarkPublished: sqlMark,
	wPruneBefore:   sqlPruneBefore,
	wPruneUpTo:     sqlPruneUpTo,
}

// writer is the write connection and its prepared statements. It is used
// only by the holder of DB.wsem.
type writer struct {
	conn  *sql.Conn
	stmts [numWStmts]*sql.Stmt
	// recorded holds the changes the write recorded, handed to the relay
	// at its commit.
	recorded []availability.Change
}

// stmt returns statement id prepared on the writer's connection.
func (w *writer) stmt(ctx context.Context, id wstmtID) (*sql.Stmt, error) {
	if s := w.stmts[id]; s != nil {
		return s, nil
	}
	s, err := w.conn.PrepareContext(ctx, wstmtSQL[id])
	if err != nil {
		return nil, err
	}
	w.stmts[id] = s
	return s, nil
}

func (w *writer) exec(ctx context.Context, id wstmtID, args ...any) error {
	s, err := w.stmt(ctx, id)
	if err != nil {
		return err
	}
	_, err = s.ExecContext(ctx, args...)
	return err
}

// execN runs statement id and returns the rows it affected.
func (w *writer) execN(ctx context.Context, id wstmtID, args ...any) (int64, error) {
	s, err := w.stmt(ctx, id)
	if err != nil {
		return 0, err
	}
	res, err := s.ExecContext(ctx, args...)
	if err != nil {
		return 0, err
	}
	return res.RowsAffected()
}

// queryRow runs statement id; a failure to prepare is reported by Scan.
func (w *writer) queryRow(ctx context.Context, id wstmtID, args ...any) rowScanner {
	s, err := w.stmt(ctx, id)
	if err != nil {
		return errRow{err}
	}
	return s.QueryRowContext(ctx, args...)
}

type rowScanner interface{ Scan(dest ...any) error }

type errRow struct{ err error }

func (r errRow) Scan(...any) error { return r.err }

// close releases the statements and the connection; bad discards the
// connection instead of returning it to the pool (its transaction state is
// unknown).
func (w *writer) close(bad bool) {
	for i, s := range w.stmts {
		if s != nil {
			_ = s.Close()
			w.stmts[i] = nil
		}
	}
	if bad {
		_ = w.conn.Raw(func(any) error { return driver.ErrBadConn })
	}
	_ = w.conn.Close()
}

// write runs fn in one BEGIN IMMEDIATE transaction on the writer,
// committing when fn returns nil and rolling back otherwise.
func (d *DB) write(ctx context.Context, fn func(ctx context.Context, w *writer) error) (err error) {
	if err := ctx.Err(); err != nil { // select below picks randomly when both are ready
		return wrap("begin", err)
	}
	select {
	case d.wsem <- struct{}{}:
	case <-ctx.Done():
		return wrap("begin", ctx.Err())
	}
	defer func() { <-d.wsem }()
	if d.closed {
		return wrap("begin", sql.ErrConnDone)
	}
	wctx := context.WithoutCancel(ctx)
	if d.w == nil {
		c, err := d.db.Conn(wctx)
		if err != nil {
			return wrap("begin", err)
		}
		d.w = &writer{conn: c}
	}
	w := d.w
	// ok: the transaction ended (COMMIT or ROLLBACK succeeded). Otherwise
	// — a failed BEGIN, ROLLBACK or a panic in fn — the connection's state
	// is unknown and it is discarded; the next write takes a fresh one.
	ok := false
	defer func() {
		// A :memory: database has one connection, which reads need too.
		if !ok || d.memory {
			w.close(!ok)
			d.w = nil
		}
	}()
	if err := w.exec(wctx, wBegin); err != nil {
		return wrap("begin", err)
	}
	w.recorded = w.recorded[:0]
	if err := fn(wctx, w); err != nil {
		ok = w.exec(wctx, wRollback) == nil
		return err
	}
	if err := w.exec(wctx, wCommit); err != nil {
		ok = w.exec(wctx, wRollback) == nil
		return wrap("commit", err)
	}
	ok = true
	if len(w.recorded) > 0 {
		d.committed(w.recorded)
	}
	return nil
}

// closeWriter releases the writer for Close.
func (d *DB) closeWriter() {
	d.wsem <- struct{}{}
	defer func() { <-d.wsem }()
	d.closed = true
	if d.w != nil {
		d.w.close(false)
		d.w = nil
	}
}
