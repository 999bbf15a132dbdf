package main

import (
	"context"
	"flag"
	"fmt"
	"io"
)

// runMigrate applies the embedded schema to the configured database.
func runMigrate(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("migrate", flag.ContinueOnError)
	fs.SetOutput(stderr)
	cfg, _ := bindConfig(fs, lookupEnv)
	if err := fs.Parse(args); err != nil {
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
