// Command eventide is the Eventide realtime server: a REST API for providers'
// availability slots, a Socket.IO server (Engine.IO v3 and v4) at /socket.io/
// and a plain WebSocket endpoint for attendance clients.
//
// Usage:
//
//	eventide serve        start the server (SQLite under ./data by default)
//	eventide token ...    print a signed token
//	eventide migrate      apply the database schema
//	eventide conformance  run the protocol test-suite server
package main

import (
	"context"
	"fmt"
	"io"
	"os"
	"os/signal"
	"syscall"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "eventide:", err)
		os.Exit(1)
	}
}

const usage = `eventide — realtime availability server

Commands:
  serve        start the server
  token        print a signed JWT (eventide token --sub S --role provider|client|admin ...)
  migrate      apply the database schema and exit
  conformance  serve the configuration the official Socket.IO / Engine.IO test suites expect

Run "eventide <command> -h" for a command's flags.
`

// run is the whole program; main only supplies the process's context,
// arguments, environment and streams, so tests can call run directly.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("no command given")
	}
	switch cmd, rest := args[0], args[1:]; cmd {
	case "serve":
		return runServe(ctx, rest, lookupEnv, stdout, stderr)
	case "token":
		return runToken(ctx, rest, lookupEnv, stdout, stderr)
	case "migrate":
		return runMigrate(ctx, rest, lookupEnv, stdout, stderr)
	case "conformance":
		return runConformance(ctx, rest, lookupEnv, stdout, stderr)
	case "-h", "--help", "help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}
