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
//	eventide hash-password  print a bcrypt hash for --admin-ui-auth
package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"os/signal"
	"strings"
	"syscall"
)

func main() {
	ctx, stop := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	signal.Notify(sigs, os.Interrupt, syscall.SIGTERM)
	go onSignals(sigs, stop, func(sig os.Signal) {
		fmt.Fprintf(os.Stderr, "eventide: %v again during the shutdown: exiting now, without finishing the drain\n", sig)
		os.Exit(exitForced)
	})
	err := run(ctx, os.Args[1:], os.LookupEnv, os.Stdout, os.Stderr)
	signal.Stop(sigs)
	if err != nil {
		fmt.Fprintln(os.Stderr, "eventide:", err)
	}
	os.Exit(exitCode(err))
}

// exitForced is the exit status after a second signal cut the shutdown
// short.
const exitForced = 1

// onSignals ends ctx (stop, with the signal as the cause) at the first
// signal, which starts the graceful shutdown, and calls force at the
// second: an operator who does not want to wait for the drain.
func onSignals(sigs <-chan os.Signal, stop context.CancelCauseFunc, force func(os.Signal)) {
	sig := <-sigs
	stop(fmt.Errorf("%v signal received", sig))
	force(<-sigs)
}

const usage = `eventide — realtime availability server

Usage: eventide <command> [flags]

Commands:
  serve        start the server (SQLite under ./data by default)
  token        print a signed JWT: eventide token --sub S --role provider|client|admin ...
  migrate      apply the database schema and exit
  conformance  serve the configuration the official Socket.IO / Engine.IO test suites expect
  hash-password  print the bcrypt hash of a password read from stdin, for --admin-ui-auth

Run "eventide <command> --help" for a command's flags.
`

// serveCommand is `eventide serve`; its flags are all the settings.
func serveCommand(fs *flag.FlagSet) *command {
	return &command{
		name:     "serve",
		synopsis: "serve [flags]",
		about: `Runs the server: the REST API, Socket.IO at /socket.io/, the plain WebSocket and the
dashboard. Every flag has the environment variable in brackets; a flag wins over it.
dev (the default) generates a JWT secret into <data-dir>/jwt-secret and prints an admin
token; production needs --jwt-secret or --jwt-public-key and --cors-origins.
Every flag and limit: docs/operations.md.`,
		fs: fs,
	}
}

// run is the whole program; main only supplies the process's context,
// arguments, environment and streams, so tests can call run directly.
// exitCode maps its error to the process's exit status.
func run(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	if len(args) == 0 {
		fmt.Fprint(stderr, usage)
		return &usageError{"no command given"}
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
	case "hash-password":
		return runHashPassword(ctx, rest, os.Stdin, stdout, stderr)
	case "help":
		if len(rest) > 0 && rest[0] != "help" {
			// "eventide help token" is "eventide token --help".
			return run(ctx, []string{rest[0], "--help"}, lookupEnv, stdout, stderr)
		}
		fmt.Fprint(stdout, usage)
		return nil
	case "-h", "-help", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		if strings.HasPrefix(cmd, "-") {
			return &usageError{fmt.Sprintf("%s before a command: flags follow the command, as in \"eventide serve %s\"; see \"eventide --help\"", cmd, strings.Join(args, " "))}
		}
		return &usageError{fmt.Sprintf("unknown command %q; the commands are serve, token, migrate, conformance and hash-password (see \"eventide --help\")", cmd)}
	}
}
