package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"

	_ "modernc.org/sqlite" // registers the "sqlite" driver

	"github.com/eventide/realtime/internal/availability"
)

var (
	_ availability.Store       = (*DB)(nil)
	_ availability.SlotPatcher = (*DB)(nil)
)

// DB is an open SQLite database. It is safe for concurrent use.
type DB struct {
	db     *sql.DB
	path   string
	logger *slog.Logger
	memory bool
	stmts  stmts // prepared read statements

	// wake (capacity 1) and tail hand committed changes to the relay;
	// tailArmed says the tail is in use. See events.go.
	wake      chan struct{}
	tail      chan availability.Change
	tailMu    sync.Mutex
	tailArmed bool

	// wsem (capacity 1) is held by the one write in progress; it guards
	// w and closed. See writer.go.
	wsem   chan struct{}
	w      *writer
	closed bool

	closeOnce sync.Once
	closeErr  error
}

// Open opens (creating if needed) the SQLite database named by databaseURL:
// a plain path, "sqlite:///abs/path", "sqlite://rel/path", "sqlite:path" or a
// "file:path?..." URI. The parent directory is created. Open does not
// migrate; call Migrate.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	path, query, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	memory := path == ":memory:" || query.Get("mode") == "memory"
	if !memory {
		if dir := filepath.Dir(path); dir != "" {
			if err := os.MkdirAll(dir, 0o750); err != nil {
				return nil, fmt.Errorf("sqlite: create directory: %w", err)
			}
		}
	}
	query.Add("_pragma", "busy_timeout(5000)")
	query.Add("_pragma", "foreign_keys(1)")
	query.Add("_pragma", "synchronous(NORMAL)")
	if !memory {
		query.Add("_pragma", "journal_mode(WAL)")
	}
	// Every transaction this package opens is a write: take the write lock
	// at BEGIN so the overlap check and the write see the same state.
	query.Set("_txlock", "immediate")
	db, err := sql.Open("sqlite", "file:"+path+"?"+query.Encode())
	if err != nil {
		return nil, fmt.Errorf("sqlite: open: %w", err)
	}
	if memory {
		// Each connection to :memory: is its own database.
		db.SetMaxOpenConns(1)
	} else {
		// A connection carries its pragmas and prepared statements:
		// keep a few idle (the default is 2) so bursts do not close
		// and reopen them.
		db.SetMaxIdleConns(8)
	}
	d := &DB{db: db, path: path, logger: logger, memory: memory, wsem: make(chan struct{}, 1),
		wake: make(chan struct{}, 1), tail: make(chan availability.Change, tailSize)}
	if err := d.Ping(ctx); err != nil {
		db.Close()
		return nil, err
	}
	return d, nil
}

// parseURL splits databaseURL into a file path and URI query parameters.
func parseURL(s string) (string, url.Values, error) {
	if s == "" {
		return "", nil, errors.New("sqlite: empty database path")
	}
	switch {
	case strings.HasPrefix(s, "postgres://"), strings.HasPrefix(s, "postgresql://"):
		return "", nil, errors.New("sqlite: a postgres:// URL needs the PostgreSQL store")
	case strings.HasPrefix(s, "sqlite://"):
		s = strings.TrimPrefix(s, "sqlite://") // sqlite:///abs -> /abs, sqlite://rel -> rel
	case strings.HasPrefix(s, "sqlite:"):
		s = strings.TrimPrefix(s, "sqlite:")
	case strings.HasPrefix(s, "file:"):
		s = strings.TrimPrefix(s, "file:")
		s = strings.TrimPrefix(s, "//") // file:///abs -> /abs
	default:
		// A plain path: a '?' is part of the name.
		return s, url.Values{}, nil
	}
	path, rawQuery, _ := strings.Cut(s, "?")
	q, err := url.ParseQuery(rawQuery)
	if err != nil {
		return "", nil, fmt.Errorf("sqlite: database URL query: %w", err)
	}
	if path == "" {
		return "", nil, errors.New("sqlite: empty database path")
	}
	if p, err := url.PathUnescape(path); err == nil {
		path = p
	}
	return path, q, nil
}

// Path returns the database file path.
func (d *DB) Path() string { return d.path }

// Ping checks that the database answers.
func (d *DB) Ping(ctx context.Context) error {
	if err := d.db.PingContext(ctx); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	var one int
	if err := d.db.QueryRowContext(ctx, "SELECT 1").Scan(&one); err != nil {
		return fmt.Errorf("sqlite: ping: %w", err)
	}
	return nil
}

// Close closes the database; calling it again returns the first result.
func (d *DB) Close() error {
	d.closeOnce.Do(func() {
		d.closeWriter()
		d.stmts.close()
		d.closeErr = d.db.Close()
	})
	return d.closeErr
}

// inTx runs fn in one BEGIN IMMEDIATE transaction, committing when fn
// returns nil and rolling back otherwise.
func (d *DB) inTx(ctx context.Context, fn func(tx *sql.Tx) error) error {
	tx, err := d.db.BeginTx(ctx, nil)
	if err != nil {
		return fmt.Errorf("sqlite: begin: %w", err)
	}
	if err := fn(tx); err != nil {
		_ = tx.Rollback()
		return err
	}
	if err := tx.Commit(); err != nil {
		return fmt.Errorf("sqlite: commit: %w", err)
	}
	return nil
}
