package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// migrateCommand is `eventide migrate`, with the flags of serve that say
// which database.
func migrateCommand(fs, serve *flag.FlagSet) *command {
	return &command{
		name:     "migrate",
		synopsis: "migrate [--database-url URL | --data-dir DIR]",
		about: `Applies the embedded schema to the database and exits ("eventide serve" does it too
when it starts). The database is the one serve would use: --database-url (a SQLite
path, sqlite:///abs/path, or a postgres:// URL), else <data-dir>/eventide.db.`,
		fs:     fs,
		shared: []string{"data-dir", "database-url", "db-max-conns", "log-level"},
		serve:  serve,
	}
}

// runMigrate applies the embedded schema to the configured database.
func runMigrate(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	serveFS, cfg, _ := newServeFlags(lookupEnv)
	fs := newFlagSet("migrate")
	cmd := migrateCommand(fs, serveFS)
	borrow(fs, serveFS, cmd.shared...)
	if help, err := cmd.parse(args, stdout); help || err != nil {
		return err
	}
	var p problems
	checkEnv(fs, lookupEnv, &p)
	cfg.checkDatabase(&p)
	cfg.checkLogLevel(&p)
	if err := p.err(); err != nil {
		return err
	}
	cfg.DatabaseURL = cfg.databasePath()
	log := newLogger(cfg, stderr)
	db, err := openDatabase(ctx, cfg, log)
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}
	fmt.Fprintf(stdout, "schema up to date: %s\n", displayDatabase(cfg.DatabaseURL))
	return nil
}
