package main

import (
	"context"
	"log/slog"
	"net/url"

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
func openDatabase(ctx context.Context, cfg *config, log *slog.Logger) (database, error) {
	if postgres.IsURL(cfg.DatabaseURL) {
		return postgres.Open(ctx, cfg.DatabaseURL, postgres.Config{MaxConns: cfg.DBMaxConns, Logger: log})
	}
	return sqlite.Open(ctx, cfg.DatabaseURL, log)
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
