package postgres

import (
	"context"
	"errors"
	"fmt"
	"hash/fnv"
	"io"
	"log/slog"
	"strings"
	"sync"

	"github.com/jackc/pgx/v5"
	"github.com/jackc/pgx/v5/pgconn"
	"github.com/jackc/pgx/v5/pgxpool"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
)

var (
	_ availability.Store       = (*DB)(nil)
	_ availability.SlotPatcher = (*DB)(nil)
)

// Config tunes Open. The zero value works.
type Config struct {
	// MaxConns bounds the pool. 0 keeps the URL's pool_max_conns, or
	// DefaultMaxConns when the URL has none.
	MaxConns int
	// Logger receives migration and relay messages; nil discards them.
	Logger *slog.Logger
}

// DefaultMaxConns is the pool size when neither Config.MaxConns nor the
// URL's pool_max_conns says otherwise.
const DefaultMaxConns = 10

// DB is an open PostgreSQL database. It is safe for concurrent use.
type DB struct {
	pool   *pgxpool.Pool
	logger *slog.Logger
	// schema is the schema the tables live in (the connection's
	// current_schema()); advisory lock keys and the NOTIFY channel are
	// derived from it, so two deployments sharing one database in
	// different schemas never take each other's locks.
	schema string

	// wake is the 1-buffered channel Wake returns.
	wake chan struct{}
	// closing ends every lead held by this DB when Close is called;
	// holders counts the goroutines holding one. mu orders a new holder
	// against Close.
	mu      sync.Mutex
	closing context.Context
	close   context.CancelFunc
	holders sync.WaitGroup

	closeOnce sync.Once
}

// IsURL reports whether databaseURL names a PostgreSQL database
// (postgres:// or postgresql://), the rule `eventide` uses to pick a store.
func IsURL(databaseURL string) bool {
	return strings.HasPrefix(databaseURL, "postgres://") || strings.HasPrefix(databaseURL, "postgresql://")
}

// Open connects to the database named by databaseURL (a postgres:// URL,
// with any libpq parameters pgx understands) and checks that it answers.
// Open does not migrate; call Migrate.
func Open(ctx context.Context, databaseURL string, cfg Config) (*DB, error) {
	if !IsURL(databaseURL) {
		return nil, errors.New("postgres: the database URL must start with postgres:// or postgresql://")
	}
	logger := cfg.Logger
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	pc, err := pgxpool.ParseConfig(databaseURL)
	if err != nil {
		// pgx's message quotes the URL, password included.
		return nil, errors.New("postgres: the database URL does not parse")
	}
	switch {
	case cfg.MaxConns > 0:
		pc.MaxConns = int32(cfg.MaxConns)
	case !strings.Contains(databaseURL, "pool_max_conns="):
		pc.MaxConns = DefaultMaxConns
	}
	pool, err := pgxpool.NewWithConfig(ctx, pc)
	if err != nil {
		return nil, fmt.Errorf("postgres: open: %w", err)
	}
	d := &DB{pool: pool, logger: logger, wake: make(chan struct{}, 1)}
	d.closing, d.close = context.WithCancel(context.Background())
	if err := pool.QueryRow(ctx, "SELECT current_schema()").Scan(&d.schema); err != nil {
		pool.Close()
		return nil, fmt.Errorf("postgres: connect: %w", err)
	}
	return d, nil
}

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	var one int
	if err := d.pool.QueryRow(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("postgres: ping: %w", err)
	}
	return nil
}

// Close gives up the relay lead if this DB holds it, then closes the pool,
// waiting for connections in use to be returned. Calling it again does
// nothing.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.mu.Lock()
		d.close()
		d.mu.Unlock()
		d.holders.Wait()
		d.pool.Close()
	})
	return nil
}

// lockKey is the advisory lock key for name in this DB's schema.
func (d *DB) lockKey(name string) int64 {
	h := fnv.New64a()
	h.Write([]byte("eventide:" + d.schema + ":" + name))
	return int64(h.Sum64())
}

func wrap(op string, err error) error {
	var pe *pgconn.PgError
	if errors.As(err, &pe) && pe.Code == "22021" {
		// character_not_in_repertoire: PostgreSQL text cannot hold NUL,
		// and a note is the only free text a client writes.
		return apperr.Invalid("note", "must not contain NUL characters")
	}
	return fmt.Errorf("postgres: %s: %w", op, err)
}

func isNoRows(err error) bool { return errors.Is(err, pgx.ErrNoRows) }
