package postgres

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"net/url"
	"strings"
	"time"

	"github.com/jackc/pgx/v5"
)

// scratchPrefix starts the name of every database NewScratchDatabase
// creates, so leftovers can be recognised and dropped.
const scratchPrefix = "eventide_scratch_"

// scratchMaxAge is how old a leftover scratch database (of a test run
// that was killed before it could drop its own) must be to be dropped by
// a later NewScratchDatabase.
const scratchMaxAge = 3 * time.Hour

// NewScratchDatabase creates an empty database with a unique name on the
// server serverURL points at (its user needs CREATEDB), and returns the
// new database's URL and a function that drops it, closing any connection
// still open to it. It exists for tests, which each want a database of
// their own so that packages running in parallel never share state.
func NewScratchDatabase(ctx context.Context, serverURL string) (string, func() error, error) {
	u, err := url.Parse(serverURL)
	if err != nil || !IsURL(serverURL) {
		return "", nil, errors.New("postgres: scratch database: the server URL must be a postgres:// URL")
	}
	conn, err := pgx.Connect(ctx, serverURL)
	if err != nil {
		return "", nil, fmt.Errorf("postgres: scratch database: connect: %w", err)
	}
	defer conn.Close(context.WithoutCancel(ctx))
	dropStale(ctx, conn)

	now := time.Now().UTC()
	rnd := make([]byte, 6)
	_, _ = rand.Read(rnd)
	name := scratchPrefix + now.Format("20060102150405") + "_" + hex.EncodeToString(rnd)
	// template0 never has connections, so concurrent creates never fail
	// with "source database is being accessed by other users".
	if _, err := conn.Exec(ctx, "CREATE DATABASE "+name+" TEMPLATE template0"); err != nil {
		return "", nil, fmt.Errorf("postgres: scratch database: %w", err)
	}
	u.Path = "/" + name
	drop := func() error {
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		c, err := pgx.Connect(ctx, serverURL)
		if err != nil {
			return fmt.Errorf("postgres: drop scratch database: %w", err)
		}
		defer c.Close(ctx)
		if _, err := c.Exec(ctx, "DROP DATABASE IF EXISTS "+name+" WITH (FORCE)"); err != nil {
			return fmt.Errorf("postgres: drop scratch database: %w", err)
		}
		return nil
	}
	return u.String(), drop, nil
}

// dropStale drops scratch databases older than scratchMaxAge; failures
// are ignored (another run may be dropping the same one).
func dropStale(ctx context.Context, conn *pgx.Conn) {
	rows, err := conn.Query(ctx, "SELECT datname FROM pg_database WHERE datname LIKE $1", scratchPrefix+"%")
	if err != nil {
		return
	}
	names, err := pgx.CollectRows(rows, pgx.RowTo[string])
	if err != nil {
		return
	}
	for _, name := range names {
		stamp, _, _ := strings.Cut(strings.TrimPrefix(name, scratchPrefix), "_")
		created, err := time.Parse("20060102150405", stamp)
		if err != nil || time.Since(created) < scratchMaxAge {
			continue
		}
		_, _ = conn.Exec(ctx, "DROP DATABASE IF EXISTS "+pgx.Identifier{name}.Sanitize()+" WITH (FORCE)")
	}
}
