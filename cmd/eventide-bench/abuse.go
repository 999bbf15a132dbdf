package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/bench"
	"github.com/eventide/realtime/internal/bench/abuse"
)

// runAbuse is `eventide-bench abuse`: the attacks of issue 9 against a
// running server (or servers it spawns), with the figures they leave.
func runAbuse(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("abuse", flag.ContinueOnError)
	fs.SetOutput(stderr)
	fs.Usage = func() {
		fmt.Fprintf(stderr, `usage: eventide-bench abuse [flags]

Reproduces the attacks of issue 9 against a server on this machine, one
scenario after the other, while a canary Socket.IO client receives the
availabilityUpdated events of REST PATCHes the tool makes, and prints the
server's RSS, open fds and goroutines before, during and after each attack,
whether the canary missed an event, and whether REST and a new Socket.IO
client were served meanwhile. Targets only 127.0.0.0/8; bounded.

scenarios: %s

flags:
`, strings.Join(abuse.Names(), ", "))
		fs.PrintDefaults()
	}
	var o abuse.Options
	fs.StringVar(&o.URL, "url", "http://127.0.0.1:8080", "running server's base URL, in 127.0.0.0/8 (ignored with --spawn)")
	fs.IntVar(&o.PID, "pid", 0, "server process for RSS and fds from /proc (0: the process listening on --url's port)")
	fs.StringVar(&o.Admin, "admin", "http://127.0.0.1:9090", "server's admin listener, for goroutine counts (empty: none)")
	fs.StringVar(&o.RawURL, "raw-url", "", "plain WebSocket endpoint (default: --url's /ws), e.g. ws://127.0.0.1:7788/")
	fs.StringVar(&o.Token, "token", os.Getenv("EVENTIDE_BENCH_TOKEN"), "admin JWT (default: asked from the dev endpoint) [EVENTIDE_BENCH_TOKEN]")
	fs.StringVar(&o.Spawn, "spawn", "", "server binary (e.g. bin/eventide): start a fresh server for every scenario; needed by fd-limit")
	scenarios := fs.String("scenarios", "", "comma-separated scenarios to run (default: all)")
	fs.IntVar(&o.Conns, "conns", 500, "attacking connections per scenario")
	fs.IntVar(&o.FDConns, "fd-conns", 2100, "fd-limit: idle connections")
	fs.IntVar(&o.FDLimit, "fd-limit", 2048, "fd-limit: the spawned server's open-file limit (ulimit -n)")
	fs.IntVar(&o.Readers, "readers", 300, "slot-reads: concurrent list readers")
	fs.IntVar(&o.Slots, "slots", 6500, "slot-reads: slots of the provider they read")
	fs.IntVar(&o.Rooms, "rooms", 100_000, "rooms: rooms one client joins")
	fs.IntVar(&o.AuthBytes, "auth-bytes", 900_000, "auth-payload: size of the CONNECT auth object")
	fs.IntVar(&o.HeaderBytes, "header-bytes", 1_000_000, "big-header: header bytes sent")
	fs.IntVar(&o.PostBytes, "post-bytes", 999_999, "post-stall, post-partial: Content-Length announced")
	fs.DurationVar(&o.Hold, "hold", 60*time.Second, "how long each attack is held once established (longer than the server's idle and read deadlines, to see them end it)")
	fs.DurationVar(&o.After, "after", 5*time.Second, "after the release, wait this long before the last sample")
	fs.DurationVar(&o.ProbeTimeout, "probe-timeout", 30*time.Second, "bound on one REST or new-client probe")
	fs.DurationVar(&o.CanaryEvery, "canary-every", 200*time.Millisecond, "pace of the canary's REST PATCHes")
	fs.IntVar(&o.DialConcurrency, "dial-concurrency", 64, "attack connections being opened at once")
	sourceBase := fs.String("source-base", "127.0.3.1", "first source address of the attack connections")
	sources := fs.Int("sources", 8, "number of source addresses, from --source-base up")
	fs.DurationVar(&o.MaxTime, "max-time", 30*time.Minute, "bound on the whole run")
	strict := fs.Bool("strict", false, "exit 2 when a target is missed")
	if err := fs.Parse(args); err != nil {
		if errors.Is(err, flag.ErrHelp) {
			return nil
		}
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	if *scenarios != "" {
		for _, s := range strings.Split(*scenarios, ",") {
			if s = strings.TrimSpace(s); s != "" {
				o.Scenarios = append(o.Scenarios, s)
			}
		}
	}
	src, err := bench.Sources(*sourceBase, *sources)
	if err != nil {
		return err
	}
	o.Sources = src

	start := time.Now()
	reports, err := abuse.Run(ctx, o, stdout, stderr)
	if len(reports) > 0 {
		abuse.WriteSummary(stdout, reports, start)
	}
	if err != nil {
		return err
	}
	if missed := abuse.Missed(reports); missed > 0 {
		fmt.Fprintf(stdout, "\n%d target(s) missed\n", missed)
		if *strict {
			return exitError(2)
		}
	}
	return nil
}
