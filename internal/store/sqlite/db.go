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

// DefaultMaxConns bounds the connections (and so the open files) of a
// database when Open is not given WithMaxConns: one for the writer, the
// rest for concurrent reads. Reads beyond them wait for a connection.
const DefaultMaxConns = 8

// minFileConns is the least a file database works with: the writer keeps
// one connection, and reads need another.
const minFileConns = 2

// Option configures Open.
type Option func(*options)

type options struct {
	maxConns int
}

// WithMaxConns bounds the database's connection pool to n connections (at
// least 2 for a file database: one is the writer's); n <= 0 means
// DefaultMaxConns. Each connection holds the database file open (and, in
// WAL mode, its -wal and -shm files).
func WithMaxConns(n int) Option { return func(o *options) { o.maxConns = n } }

// Open opens (creating if needed) the SQLite database named by databaseURL:
// a plain path, "sqlite:///abs/path", "sqlite://rel/path", "sqlite:path" or a
// "file:path?..." URI. The file's directory must exist: Open creates no
// directory, so a mistyped path leaves nothing behind. Its errors name the
// file. Open does not migrate; call Migrate.
func Open(ctx context.Context, databaseURL string, logger *slog.Logger, opts ...Option) (*DB, error) {
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	o := options{maxConns: DefaultMaxConns}
	for _, opt := range opts {
		opt(&o)
	}
	if o.maxConns <= 0 {
		o.maxConns = DefaultMaxConns
	}
	path, query, err := parseURL(databaseURL)
	if err != nil {
		return nil, err
	}
	memory := path == ":memory:" || query.Get("mode") == "memory"
	if !memory {
		if err := checkFile(path); err != nil {
			return nil, err
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
		// A bounded pool: without it, every concurrent read opens
		// another connection (300 concurrent lists held 299 files).
		// A connection carries its pragmas and prepared statements:
		// keep them all idle (the default is 2) so bursts do not close
		// and reopen them.
		n := max(o.maxConns, minFileConns)
		db.SetMaxOpenConns(n)
		db.SetMaxIdleConns(n)
	}
	d := &DB{db: db, path: path, logger: logger, memory: memory, wsem: make(chan struct{}, 1),
		wake: make(chan struct{}, 1), tail: make(chan availability.Change, tailSize)}
	if err := d.Ping(ctx); err != nil {
		db.Close()
		return nil, fmt.Errorf("sqlite: open %s: %w", path, errors.Unwrap(err))
	}
	return d, nil
}

// FilePath returns the file a database URL of Open names, "" for an
// in-memory database.
func FilePath(databaseURL string) (string, error) {
	path, query, err := parseURL(databaseURL)
	if err != nil {
		return "", err
	}
	if path == ":memory:" || query.Get("mode") == "memory" {
		return "", nil
	}
	return path, nil
}

// checkFile says, naming the path, why path cannot be a database file
// that SQLite opens or creates.
func checkFile(path string) error {
	if fi, err := os.Stat(path); err == nil && fi.IsDir() {
		return fmt.Errorf("sqlite: %s is a directory, not a database file", path)
	}
	dir := filepath.Dir(path)
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, os.ErrNotExist):
		return fmt.Errorf("sqlite: cannot create %s: the directory %s does not exist (create it first)", path, dir)
	case err != nil:
		return fmt.Errorf("sqlite: %s: %w", path, err)
	case !fi.IsDir():
		return fmt.Errorf("sqlite: cannot create %s: %s is not a directory", path, dir)
	}
	return nil
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
