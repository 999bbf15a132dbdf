package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/url"
	"os"
	"path/filepath"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/store/postgres"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// database is what serve and migrate need of a store, whichever it is: the
// slots, the event log the relay reads, migrations and a health check.
type database interface {
	availability.Store
	relay.EventLog
	Migrate(ctx context.Context) error
	Ping(ctx context.Context) error
	Close() error
}

// openDatabase opens the store --database-url names: PostgreSQL for a
// postgres:// or postgresql:// URL, SQLite for anything else.
//
// The only directory it creates is the data directory, for a SQLite file
// directly in it (the default, <data-dir>/eventide.db); any other file's
// directory must exist, so a mistyped path fails and leaves nothing behind.
// A data directory created here is removed again if the database does not
// open.
func openDatabase(ctx context.Context, cfg *config, log *slog.Logger) (database, error) {
	if postgres.IsURL(cfg.DatabaseURL) {
		return postgres.Open(ctx, cfg.DatabaseURL, postgres.Config{MaxConns: cfg.DBMaxConns, Logger: log})
	}
	path, err := sqlite.FilePath(cfg.DatabaseURL)
	if err != nil {
		return nil, fmt.Errorf("--database-url %q: %w", cfg.DatabaseURL, err)
	}
	var created []string
	if path != "" && absPath(filepath.Dir(path)) == absPath(cfg.DataDir) {
		if created, err = mkdirs(cfg.DataDir); err != nil {
			return nil, fmt.Errorf("create the data directory (--data-dir %s): %w", cfg.DataDir, err)
		}
		if len(created) > 0 {
			log.Info("created the data directory", "dir", absPath(cfg.DataDir))
		}
	}
	var opts []sqlite.Option
	if cfg.DBMaxConns > 0 {
		opts = append(opts, sqlite.WithMaxConns(cfg.DBMaxConns))
	}
	db, err := sqlite.Open(ctx, cfg.DatabaseURL, log, opts...)
	if err != nil {
		for _, dir := range created {
			_ = os.Remove(dir) // only while empty
		}
		return nil, err
	}
	return db, nil
}

// mkdirs creates dir and its missing parents, and returns those it
// created, deepest first.
func mkdirs(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); !errors.Is(err, os.ErrNotExist) {
			break
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	if len(missing) == 0 {
		return nil, nil
	}
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return nil, err
	}
	return missing, nil
}

// displayDatabase is the database URL without its password, for output.
func displayDatabase(databaseURL string) string {
	if !postgres.IsURL(databaseURL) {
		return databaseURL
	}
	u, err := url.Parse(databaseURL)
	if err != nil {
		return "(a postgres:// URL that does not parse)"
	}
	return u.Redacted()
}
