package postgres

import (
	"context"

	"github.com/jackc/pgx/v5"
)

// Backends counts the server connections open to this database, the
// caller's included.
func (d *DB) Backends(ctx context.Context) (int, error) {
	var n int
	err := d.pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").Scan(&n)
	return n, err
}

// RelayLock returns the server pids holding and waiting for this DB's relay
// lock.
func (d *DB) RelayLock(ctx context.Context) (holders, waiters []int32, err error) {
	rows, err := d.pool.Query(ctx, `SELECT pid, granted FROM pg_locks
		WHERE locktype = 'advisory' AND database = (SELECT oid FROM pg_database WHERE datname = current_database())
		AND ((classid::bigint << 32) | objid::bigint) = $1`, d.lockKey("relay"))
	if err != nil {
		return nil, nil, err
	}
	defer rows.Close()
	for rows.Next() {
		var pid int32
		var granted bool
		if err := rows.Scan(&pid, &granted); err != nil {
			return nil, nil, err
		}
		if granted {
			holders = append(holders, pid)
		} else {
			waiters = append(waiters, pid)
		}
	}
	return holders, waiters, rows.Err()
}

// Terminate ends a server connection, as if its process had died.
func (d *DB) Terminate(ctx context.Context, pid int32) error {
	_, err := d.pool.Exec(ctx, "SELECT pg_terminate_backend($1)", pid)
	return err
}

// BackendPIDs lists the server processes connected to this database.
func (d *DB) BackendPIDs(ctx context.Context) ([]int, error) {
	rows, err := d.pool.Query(ctx, "SELECT pid FROM pg_stat_activity WHERE datname = current_database()")
	if err != nil {
		return nil, err
	}
	return pgx.CollectRows(rows, pgx.RowTo[int])
}
