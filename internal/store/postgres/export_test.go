package postgres

import "context"

// Backends counts the server connections open to this database, the
// caller's included.
func (d *DB) Backends(ctx context.Context) (int, error) {
	var n int
	err := d.pool.QueryRow(ctx, "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database()").Scan(&n)
	return n, err
}
