// Command eventide-bench is the load generator for Eventide and the Node.js
// reference server: Socket.IO clients over WebSocket, scenarios, and the
// figures docs/performance.md reports. See `eventide-bench -h`.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/eventide/realtime/internal/bench"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdin, os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "eventide-bench:", err)
		var ex exitError
		if errors.As(err, &ex) {
			os.Exit(int(ex))
		}
		os.Exit(1)
	}
}

// exitError is a run that happened but failed its check (exit status 2).
type exitError int

func (e exitError) Error() string { return fmt.Sprintf("exit status %d", int(e)) }

const usage = `usage:
  eventide-bench run     [flags]   one scenario against one server (the default)
  eventide-bench smoke   [flags]   50 clients, 5 events, fan-out; fails unless every delivery arrived
  eventide-bench compare [flags] FILE...  medians and ratios of earlier runs' JSON lines
  eventide-bench abuse   [flags]   the attacks of issue 9, with the server's RSS, fds and goroutines (see abuse -h)
  eventide-bench worker            (internal) a child holding a share of the connections

Every run is bounded (--max-time, at most 20000 clients or connections per server node) and targets only 127.0.0.0/8.
`

func run(ctx context.Context, args []string, stdin io.Reader, stdout, stderr io.Writer) error {
	cmd := "run"
	if len(args) > 0 && !strings.HasPrefix(args[0], "-") {
		cmd, args = args[0], args[1:]
	}
	switch cmd {
	case "run":
		return runScenario(ctx, args, stdout, stderr, false)
	case "smoke":
		return runScenario(ctx, args, stdout, stderr, true)
	case "compare":
		return runCompare(args, stdout, stderr)
	case "abuse":
		return runAbuse(ctx, args, stdout, stderr)
	case "worker":
		return bench.RunWorker(ctx, stdin, stdout)
	case "help", "-h", "--help":
		fmt.Fprint(stdout, usage)
		return nil
	default:
		fmt.Fprint(stderr, usage)
		return fmt.Errorf("unknown command %q", cmd)
	}
}

func runScenario(ctx context.Context, args []string, stdout, stderr io.Writer, smoke bool) error {
	name := "run"
	if smoke {
		name = "smoke"
	}
	fs := flag.NewFlagSet(name, flag.ContinueOnError)
	fs.SetOutput(stderr)
	var o bench.Options
	fs.StringVar(&o.Scenario, "scenario", bench.ScenarioFanout, "fanout, rooms, e2e or idle")
	fs.StringVar(&o.Case, "case", "", "name of this case for compare (default scenario-clients)")
	fs.StringVar(&o.Server, "server", "eventide", "name of the server under test (eventide, node)")
	urls := fs.String("url", "http://127.0.0.1:8080", "server base URL, in 127.0.0.0/8; several nodes of one cluster comma-separated: clients spread evenly, REST calls to a random node")
	fs.StringVar(&o.Token, "token", os.Getenv("EVENTIDE_BENCH_TOKEN"), "admin JWT for the Socket.IO auth and REST [EVENTIDE_BENCH_TOKEN]")
	pids := fs.String("pid", "", "server process id: CPU and RSS are read from /proc/PID (empty: not measured); several comma-separated (one per node) are summed")
	fs.StringVar(&o.RedisAddr, "redis-addr", "", "host:port of a Redis serving only this cluster: its CPU (INFO cpu) is reported per event")
	dbPIDs := fs.String("db-pids-cmd", "", "shell command printing the pids of the server's database processes (e.g. its PostgreSQL backends), whose CPU is reported apart")
	fs.IntVar(&o.Clients, "clients", 1000, "connections")
	fs.IntVar(&o.Rooms, "rooms", 1, "rooms the clients are spread over (rooms, e2e)")
	fs.IntVar(&o.Events, "events", 200, "events emitted (fanout, rooms) or PATCHes (e2e)")
	fs.Float64Var(&o.Rate, "rate", 0, "emit requests per second; 0: back to back")
	fs.IntVar(&o.Batch, "batch", 1, "events per emit request (its count field)")
	fs.IntVar(&o.Payload, "payload", 0, "extra bytes of data in each event")
	fs.StringVar(&o.Event, "event", "bench", "event name (fanout, rooms)")
	fs.IntVar(&o.PollingPercent, "polling-percent", 0, "percent of the clients on HTTP long-polling (never upgrading), spread over rooms and nodes; the rest on WebSocket")
	fs.IntVar(&o.PerWorker, "per-worker", 5000, "connections per process; more clients start worker children")
	sourceBase := fs.String("source-base", "127.0.1.1", "first source address")
	sources := fs.Int("sources", 16, "number of source addresses, from --source-base up")
	fs.IntVar(&o.DialConcurrency, "dial-concurrency", 64, "handshakes in flight per process")
	fs.DurationVar(&o.Settle, "settle", 2*time.Second, "pause after connecting, before reading RSS and emitting")
	fs.DurationVar(&o.Wait, "wait", 30*time.Second, "after the last emit, how long to wait for deliveries")
	fs.DurationVar(&o.MaxTime, "max-time", 5*time.Minute, "bound on the whole run")
	jsonOut := fs.String("json-out", "", "also append the JSON line to this file")
	// smoke: the same flags with seconds-long defaults, still overridable.
	if smoke {
		_ = fs.Set("clients", "50")
		_ = fs.Set("events", "5")
		_ = fs.Set("settle", "200ms")
		_ = fs.Set("wait", "10s")
		_ = fs.Set("max-time", "60s")
	}
	if err := fs.Parse(args); err != nil {
		return err
	}
	if fs.NArg() > 0 {
		return fmt.Errorf("unexpected arguments %v", fs.Args())
	}
	var err error
	if smoke && o.Scenario == bench.ScenarioIdle {
		return errors.New("smoke needs events: use fanout, rooms or e2e")
	}
	for _, u := range strings.Split(*urls, ",") {
		if u = strings.TrimSpace(u); u != "" {
			o.URLs = append(o.URLs, u)
		}
	}
	if len(o.URLs) == 0 {
		return errors.New("--url is empty")
	}
	if o.PIDs, err = parsePIDs(*pids); err != nil {
		return err
	}
	src, err := bench.Sources(*sourceBase, *sources)
	if err != nil {
		return err
	}
	o.Sources = src
	if *dbPIDs != "" {
		o.DBPIDs = commandPIDs(*dbPIDs)
	}
	if exe, err := os.Executable(); err == nil {
		o.Exe = exe
	}

	res, err := bench.Run(ctx, o, stderr)
	if err != nil {
		return err
	}
	bench.WriteTable(stdout, res)
	if err := bench.WriteJSON(stdout, res); err != nil {
		return err
	}
	if *jsonOut != "" {
		f, err := os.OpenFile(*jsonOut, os.O_CREATE|os.O_APPEND|os.O_WRONLY, 0o644)
		if err != nil {
			return fmt.Errorf("--json-out: %w", err)
		}
		werr := bench.WriteJSON(f, res)
		if err := f.Close(); werr == nil {
			werr = err
		}
		if werr != nil {
			return fmt.Errorf("--json-out: %w", werr)
		}
	}
	if !res.Complete || res.Disconnects > 0 {
		fmt.Fprintf(stderr, "eventide-bench: incomplete: %d/%d delivered, %d connect failures, %d incomplete connections, %d disconnects, %d emit errors\n",
			res.Delivered, res.Expected, res.ConnectFailed, res.Incomplete, res.Disconnects, res.EmitErrors)
		return exitError(2)
	}
	return nil
}

func runCompare(args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("compare", flag.ContinueOnError)
	fs.SetOutput(stderr)
	ours := fs.String("ours", "eventide", "server name of ours")
	ref := fs.String("ref", "node", "server name of the reference")
	strict := fs.Bool("strict", false, "exit non-zero when a target is missed")
	targets := fs.Bool("targets", true, "check the targets (ours against the Node.js reference)")
	cases := fs.String("cases", "", "`A,B`: compare case A against case B, both of server --ours (no targets)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	var pair []string
	if *cases != "" {
		if pair = strings.Split(*cases, ","); len(pair) != 2 || pair[0] == "" || pair[1] == "" || pair[0] == pair[1] {
			return fmt.Errorf("--cases %q: want two different case names, A,B", *cases)
		}
	}
	if fs.NArg() == 0 {
		return errors.New("compare needs result files (JSON lines)")
	}
	var all []bench.Result
	for _, name := range fs.Args() {
		f, err := os.Open(name)
		if err != nil {
			return err
		}
		rs, err := bench.ReadResults(f)
		f.Close()
		if err != nil {
			return fmt.Errorf("%s: %w", name, err)
		}
		all = append(all, rs...)
	}
	if pair != nil {
		bench.Compare(stdout, bench.PairCases(all, *ours, pair[0], pair[1]), pair[0], pair[1], nil)
		return nil
	}
	var check []bench.Target
	if *targets {
		check = bench.Targets
	}
	missed := bench.Compare(stdout, all, *ours, *ref, check)
	if *strict && missed > 0 {
		return exitError(2)
	}
	return nil
}

// parsePIDs reads --pid: process ids separated by commas, none when empty.
func parsePIDs(s string) ([]int, error) {
	var out []int
	for _, f := range strings.Split(s, ",") {
		if f = strings.TrimSpace(f); f == "" || f == "0" {
			continue
		}
		pid, err := strconv.Atoi(f)
		if err != nil || pid < 0 {
			return nil, fmt.Errorf("--pid %q: not a process id", f)
		}
		out = append(out, pid)
	}
	return out, nil
}

// commandPIDs returns a function that runs cmd with sh and reads the pids
// it prints, one per line (or separated by spaces).
func commandPIDs(cmd string) func(ctx context.Context) ([]int, error) {
	return func(ctx context.Context) ([]int, error) {
		out, err := exec.CommandContext(ctx, "sh", "-c", cmd).Output()
		if err != nil {
			return nil, fmt.Errorf("--db-pids-cmd: %w", err)
		}
		var pids []int
		for _, f := range strings.Fields(string(out)) {
			pid, err := strconv.Atoi(f)
			if err != nil {
				return nil, fmt.Errorf("--db-pids-cmd printed %q, not a pid", f)
			}
			pids = append(pids, pid)
		}
		return pids, nil
	}
}
