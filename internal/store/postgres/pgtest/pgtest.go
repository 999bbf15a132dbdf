// Package pgtest gives each test a PostgreSQL database of its own.
//
// The server is EVENTIDE_TEST_POSTGRES_URL, or DefaultURL (the local
// server, trust auth) when it is unset; its user must be allowed to create
// databases. A test that cannot reach it fails rather than skips: the
// PostgreSQL tests are part of `make test`, which starts the local server
// (scripts/ensure-deps.sh).
package pgtest

import (
	"context"
	"os"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/store/postgres"
)

// EnvURL names the environment variable that points the tests at a server.
const EnvURL = "EVENTIDE_TEST_POSTGRES_URL"

// DefaultURL is the server the tests use when EnvURL is unset.
const DefaultURL = "postgres://postgres@127.0.0.1:5432/postgres?sslmode=disable"

// ServerURL returns the server the tests use.
func ServerURL() string {
	if u := os.Getenv(EnvURL); u != "" {
		return u
	}
	return DefaultURL
}

// NewDatabase creates an empty database for t and returns its URL; the
// database is dropped when t ends, with any connection still open to it.
func NewDatabase(t testing.TB) string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	dbURL, drop, err := postgres.NewScratchDatabase(ctx, ServerURL())
	if err != nil {
		t.Fatalf("PostgreSQL at %s (set %s to use another server; `make deps` starts the local one): %v", ServerURL(), EnvURL, err)
	}
	t.Cleanup(func() {
		if err := drop(); err != nil {
			t.Errorf("drop test database: %v", err)
		}
	})
	return dbURL
}

// Open returns a migrated store on a new database of t's own, closed when
// t ends. cfg.MaxConns defaults to 4 here: the server's connections are
// shared by every package testing in parallel.
func Open(t testing.TB, cfg postgres.Config) *postgres.DB {
	t.Helper()
	if cfg.MaxConns == 0 {
		cfg.MaxConns = 4
	}
	db, err := postgres.Open(context.Background(), NewDatabase(t), cfg)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	return db
}
