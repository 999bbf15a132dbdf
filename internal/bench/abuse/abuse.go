package abuse

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net/http"
	"slices"
	"strings"
	"time"

	"github.com/eventide/realtime/internal/bench"
)

// Options is one run of `eventide-bench abuse`.
type Options struct {
	// URL is the running server's base URL (127.0.0.0/8 only); with Spawn it
	// is ignored.
	URL string
	// PID is the server's process, for RSS and descriptors from /proc; 0
	// finds the process listening on URL's port.
	PID int
	// Admin is the server's admin listener (goroutine counts); "" none.
	Admin string
	// RawURL is the plain WebSocket endpoint; "" is URL's /ws.
	RawURL string
	// Token is an admin token for REST and Socket.IO; "" asks the dev
	// endpoint POST /api/v1/dev/token (dev mode only).
	Token string
	// Spawn is a server binary: every scenario gets a fresh `Spawn serve`
	// of its own (and fd-limit one under `ulimit -n FDLimit`).
	Spawn string
	// Scenarios are the names to run; empty runs all.
	Scenarios []string

	Conns       int // attacking connections per scenario (rows 1-5, 7)
	FDConns     int // fd-limit: idle connections
	FDLimit     int // fd-limit: the spawned server's open-file limit
	Readers     int // slot-reads: concurrent readers
	Slots       int // slot-reads: slots of the provider read
	Rooms       int // rooms: rooms one client joins
	AuthBytes   int // auth-payload: size of the CONNECT auth object
	HeaderBytes int // big-header: size of the header sent
	PostBytes   int // post-*: the Content-Length announced

	Hold            time.Duration // how long an attack is held once established
	After           time.Duration // after release, before the last sample
	ProbeTimeout    time.Duration // bound on one REST or new-client probe
	CanaryEvery     time.Duration // pace of the canary's PATCHes
	DialConcurrency int           // attempts in flight
	Sources         []string      // source addresses of the attack (127.0.0.0/8)
	MaxTime         time.Duration // bound on the whole run
}

// Bounds of every run.
const (
	MaxConns   = 20000
	MaxRooms   = 1_000_000
	MaxSlots   = 50000
	MaxReaders = 2000
	MaxBytes   = 4 << 20
	MaxHold    = 10 * time.Minute
)

// Targets of issue 9.
const (
	// ServedWithin is how fast REST and a new client must be served at the
	// descriptor limit.
	ServedWithin = 15 * time.Second
)

func (o *Options) defaults() error {
	set := func(p *int, v int) {
		if *p <= 0 {
			*p = v
		}
	}
	set(&o.Conns, 500)
	set(&o.FDConns, 2100)
	set(&o.FDLimit, 2048)
	set(&o.Readers, 300)
	set(&o.Slots, 6500)
	set(&o.Rooms, 100_000)
	set(&o.AuthBytes, 900_000)
	set(&o.HeaderBytes, 1_000_000)
	set(&o.PostBytes, 999_999)
	set(&o.DialConcurrency, 64)
	setD := func(p *time.Duration, v time.Duration) {
		if *p <= 0 {
			*p = v
		}
	}
	setD(&o.Hold, 60*time.Second)
	setD(&o.After, 5*time.Second)
	setD(&o.ProbeTimeout, 30*time.Second)
	setD(&o.CanaryEvery, 200*time.Millisecond)
	setD(&o.MaxTime, 30*time.Minute)
	switch {
	case o.Conns > MaxConns || o.FDConns > MaxConns:
		return fmt.Errorf("--conns and --fd-conns must be at most %d", MaxConns)
	case o.Rooms > MaxRooms:
		return fmt.Errorf("--rooms must be at most %d", MaxRooms)
	case o.Slots > MaxSlots:
		return fmt.Errorf("--slots must be at most %d", MaxSlots)
	case o.Readers > MaxReaders:
		return fmt.Errorf("--readers must be at most %d", MaxReaders)
	case o.AuthBytes > MaxBytes || o.HeaderBytes > MaxBytes || o.PostBytes > MaxBytes:
		return fmt.Errorf("--auth-bytes, --header-bytes and --post-bytes must be at most %d", MaxBytes)
	case o.Hold > MaxHold:
		return fmt.Errorf("--hold must be at most %s", MaxHold)
	case o.FDLimit < 64:
		return errors.New("--fd-limit must be at least 64")
	}
	for _, name := range o.Scenarios {
		if !slices.ContainsFunc(Scenarios, func(s Scenario) bool { return s.Name == name }) {
			return fmt.Errorf("unknown scenario %q (%s)", name, strings.Join(Names(), ", "))
		}
	}
	if o.Spawn == "" {
		if _, err := bench.CheckLoopback(o.URL); err != nil {
			return err
		}
		if o.RawURL != "" {
			if err := checkLoopbackWS(o.RawURL); err != nil {
				return err
			}
		}
	}
	for _, s := range o.Sources {
		if _, err := bench.Sources(s, 1); err != nil {
			return err
		}
	}
	return nil
}

// Names lists the scenarios in order.
func Names() []string {
	var out []string
	for _, s := range Scenarios {
		out = append(out, s.Name)
	}
	return out
}

// Report is one scenario's outcome.
type Report struct {
	Scenario string
	Row      string
	What     string
	Skipped  string // why it did not run
	Server   string // what was attacked
	NoFile   int    // the server's open-file limit
	Note     string // figures not available, and why

	Established time.Duration // time to open the attack
	Samples     int           // server samples taken while held
	AdminMisses int           // of those, how many the admin listener did not answer
	State       State
	Before      Sample
	Peak        Sample // largest while held
	End         Sample // at the end of the hold
	After       Sample // After past the release
	REST        Probe  // a new connection's REST request, while held
	SocketIO    Probe  // a new Socket.IO client, while held
	Canary      CanaryResult
	Targets     []Target
}

// Target is one of the targets, met or not.
type Target struct {
	Name   string
	Met    bool
	Figure string
}

// Run runs the scenarios one after the other, printing each report to out
// as it ends and progress to progress; it returns every report.
func Run(ctx context.Context, o Options, out, progress io.Writer) ([]Report, error) {
	if err := o.defaults(); err != nil {
		return nil, err
	}
	ctx, cancel := context.WithTimeout(ctx, o.MaxTime)
	defer cancel()
	logf := func(format string, a ...any) { fmt.Fprintf(progress, "abuse: "+format+"\n", a...) }

	var run []Scenario
	for _, s := range Scenarios {
		if len(o.Scenarios) == 0 || slices.Contains(o.Scenarios, s.Name) {
			run = append(run, s)
		}
	}
	var shared *env
	defer func() {
		if shared != nil {
			shared.close()
		}
	}()
	var reports []Report
	for _, sc := range run {
		if ctx.Err() != nil {
			break
		}
		rep := Report{Scenario: sc.Name, Row: sc.Row, What: sc.What(&o)}
		var e *env
		var sp *spawned
		switch {
		case sc.FDLimit && o.Spawn == "":
			rep.Skipped = fmt.Sprintf("needs --spawn: the tool starts the server itself under ulimit -n %d", o.FDLimit)
		case o.Spawn != "":
			nofile := 0
			if sc.FDLimit {
				nofile = o.FDLimit
			}
			logf("%s: starting %s", sc.Name, o.Spawn)
			var err error
			if sp, err = spawn(ctx, o.Spawn, nofile); err != nil {
				return reports, err
			}
			if e, err = newEnv(ctx, &o, sp.server, logf); err != nil {
				sp.stop()
				return reports, err
			}
			rep.Server = fmt.Sprintf("spawned %s serve (pid %d)", o.Spawn, sp.pid)
		default:
			if shared == nil {
				srv, err := newServer(o.URL, o.RawURL, o.Admin, o.PID)
				if err != nil {
					return reports, err
				}
				if shared, err = newEnv(ctx, &o, srv, logf); err != nil {
					return reports, err
				}
			}
			e = shared
			rep.Server = fmt.Sprintf("%s (pid %d)", e.srv.url, e.srv.pid)
		}
		if e != nil {
			logf("%s (row %s): %s", sc.Name, sc.Row, rep.What)
			if err := e.run(ctx, sc, &rep); err != nil {
				rep.Skipped = err.Error()
			}
			if sp != nil {
				e.close()
				sp.stop()
			}
		}
		WriteReport(out, rep)
		reports = append(reports, rep)
	}
	return reports, ctx.Err()
}

// newEnv gets the tokens and starts the canary on srv.
func newEnv(ctx context.Context, o *Options, srv *server, logf func(string, ...any)) (*env, error) {
	r := &rest{base: srv.url, client: &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 8}}}
	e := &env{o: o, srv: srv, rest: r, logf: logf}
	if o.Token != "" {
		e.admin = o.Token
	} else {
		t, err := r.devToken(ctx, `{"sub":"abuse","role":"admin","ttl":"4h"}`)
		if err != nil {
			return nil, fmt.Errorf("no --token and the dev endpoint gave none (a production server needs --token): %w", err)
		}
		e.admin = t
	}
	r.token = e.admin
	if t, err := r.devToken(ctx, `{"sub":"abuse-rooms","role":"client","providers":"*","ttl":"4h"}`); err == nil {
		e.all = t
	} else {
		e.all = e.admin
		logf("no client token for providers \"*\" (%v): the rooms scenario uses the admin token", err)
	}
	d, err := newDialer(srv.url, o.Sources)
	if err != nil {
		return nil, err
	}
	e.d = d
	c, err := startCanary(ctx, r, srv.url)
	if err != nil {
		return nil, err
	}
	e.canary = c
	return e, nil
}

func (e *env) close() {
	if e.canary != nil {
		e.canary.close()
	}
}

// run is one scenario: before, attack, hold (with probes), release, after.
func (e *env) run(ctx context.Context, sc Scenario, rep *Report) error {
	rep.NoFile = e.srv.nofile
	rep.Note = e.srv.note
	if sc.setup != nil {
		if err := sc.setup(ctx, e); err != nil {
			return err
		}
	}
	rep.Before = e.srv.sample(ctx)
	drv := e.canary.drive(e.rest, e.o.CanaryEvery)

	h := newHolder()
	start := time.Now()
	sc.attack(ctx, e, h)
	rep.Established = time.Since(start)
	e.logf("  attack established in %s: %v", round(rep.Established), h.state().Tally)

	holdEnd := time.Now().Add(e.o.Hold)
	probes := make(chan [2]Probe, 1)
	go func() {
		select {
		case <-time.After(time.Second): // let the attack settle
		case <-ctx.Done():
			return
		}
		sio := make(chan Probe, 1)
		go func() { sio <- probeSocketIO(ctx, e.srv.url, e.admin, e.o.ProbeTimeout) }()
		r := probeREST(ctx, e.srv.url, e.admin, e.o.ProbeTimeout)
		probes <- [2]Probe{r, <-sio}
	}()
	// The peak is over the samples taken while held: a figure none of them
	// could read stays n/a.
	peak := Sample{RSS: -1, Heap: -1, FDs: -1, Goroutines: -1, LogBytes: -1}
	tick := time.NewTicker(time.Second)
	probing := true
	for ctx.Err() == nil && (probing || time.Now().Before(holdEnd)) {
		select {
		case p := <-probes:
			rep.REST, rep.SocketIO = p[0], p[1]
			probing = false
		case <-tick.C:
			s := e.srv.sample(ctx)
			rep.Samples++
			if e.srv.admin != "" && s.Goroutines < 0 {
				rep.AdminMisses++
			}
			peak = peak.peak(s)
		case <-ctx.Done():
		}
	}
	tick.Stop()
	rep.End = e.srv.sample(ctx)
	rep.Peak = peak.peak(rep.End)
	rep.State = h.state()
	h.releaseAll()
	rep.State.Summary = h.state().Summary
	e.logf("  released; waiting %s", e.o.After)
	select {
	case <-time.After(e.o.After):
	case <-ctx.Done():
	}
	rep.After = e.srv.sample(ctx)
	rep.Canary = drv.finish(15 * time.Second)
	rep.Targets = targets(sc, rep)
	return nil
}

// targets judges a report against the targets.
func targets(sc Scenario, rep *Report) []Target {
	var out []Target
	if sc.GrowthTarget > 0 {
		t := Target{Name: fmt.Sprintf("RSS growth while held <= %d MB", sc.GrowthTarget/MB)}
		if rep.Before.RSS < 0 || rep.Peak.RSS < 0 {
			t.Figure = "not measured"
		} else {
			g := rep.Peak.RSS - rep.Before.RSS
			t.Met = g <= sc.GrowthTarget
			t.Figure = fmt.Sprintf("%+.1f MB", float64(g)/MB)
		}
		out = append(out, t)
		// Memory allocated but not yet written is not resident: a fresh
		// server's RSS hides a buffer sized from a declared length until the
		// memory is reused. The heap does not.
		if rep.Before.Heap >= 0 && rep.Peak.Heap >= 0 {
			g := rep.Peak.Heap - rep.Before.Heap
			out = append(out, Target{
				Name:   fmt.Sprintf("Go heap growth while held <= %d MB", sc.GrowthTarget/MB),
				Met:    g <= sc.GrowthTarget,
				Figure: fmt.Sprintf("%+.1f MB", float64(g)/MB),
			})
		}
	}
	if sc.FDLimit {
		for _, p := range []struct {
			name  string
			probe Probe
		}{{"REST", rep.REST}, {"new socket.io client", rep.SocketIO}} {
			t := Target{Name: fmt.Sprintf("%s served within %s", p.name, ServedWithin)}
			t.Met = p.probe.served() && p.probe.Took <= ServedWithin
			t.Figure = p.probe.String()
			out = append(out, t)
		}
	}
	c := rep.Canary
	out = append(out, Target{
		Name:   "canary misses no event",
		Met:    len(c.Missed) == 0,
		Figure: fmt.Sprintf("%d of %d received", c.Received, c.Patches),
	})
	return out
}

// String is "served in 3ms" or "no answer in 30s: timeout".
func (p Probe) String() string {
	if p.served() {
		return "served in " + round(p.Took).String()
	}
	if p.Took == 0 && p.Err == "" {
		return "not run"
	}
	return fmt.Sprintf("not served (%s after %s)", p.Err, round(p.Took))
}
