package abuse

import (
	"bufio"
	"bytes"
	"context"
	"fmt"
	"net"
	"sync"
	"time"
)

// Scenario is one attack of issue 9's table.
type Scenario struct {
	Name string
	Row  string // the table row
	// What the attacker does, for the printout.
	What func(o *Options) string
	// GrowthTarget is the most the server's RSS may grow while the attack
	// is held (rows 1-5: unauthenticated clients); 0: no target.
	GrowthTarget int64
	// FDLimit scenarios need their own server under a descriptor limit
	// (Options.Spawn) and have the 15 s service target.
	FDLimit bool
	// setup runs before the "before" sample (e.g. creating slots).
	setup func(ctx context.Context, e *env) error
	// attack opens and keeps the connections; it returns once they are
	// established (or refused).
	attack func(ctx context.Context, e *env, h *holder)
}

// env is what an attack needs.
type env struct {
	o      *Options
	srv    *server
	d      *dialer
	rest   *rest
	admin  string // admin token
	all    string // a client token for providers "*"
	canary *canary
	logf   func(format string, a ...any)
	shared sharedBufs
}

type sharedBufs struct {
	once   sync.Once
	filler []byte // read-only padding written by many connections
}

func (e *env) filler(n int) []byte {
	e.shared.once.Do(func() { e.shared.filler = bytes.Repeat([]byte("a"), MaxBytes) })
	return e.shared.filler[:min(n, len(e.shared.filler))]
}

// MB is a megabyte (2^20 bytes) of RSS.
const MB = 1 << 20

// Scenarios are every attack, in the order.
var Scenarios = []Scenario{
	{
		Name: "post-stall", Row: "1", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d polling sessions each POST with Content-Length %d, then send nothing", o.Conns, o.PostBytes)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.stalledPost(ctx, h, false) })
		},
	},
	{
		Name: "post-partial", Row: "1", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d polling sessions each POST with Content-Length %d, then send all but one byte", o.Conns, o.PostBytes)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.stalledPost(ctx, h, true) })
		},
	},
	{
		Name: "big-header", Row: "2", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d polling handshakes with a %d-byte header (as much as the server takes), connection closed at once", o.Conns, o.HeaderBytes)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.bigHeader(ctx, h) })
		},
	},
	{
		Name: "idle-http", Row: "3", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d connections: one GET /healthz each, then idle", o.Conns)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.idleHTTP(ctx, h) })
		},
	},
	{
		Name: "fd-limit", Row: "3", FDLimit: true,
		What: func(o *Options) string {
			return fmt.Sprintf("%d connections: one GET /healthz each, then idle, against a server under ulimit -n %d", o.FDConns, o.FDLimit)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.FDConns, h, func(ctx context.Context) { e.idleHTTP(ctx, h) })
		},
	},
	{
		Name: "ws-frame", Row: "4", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d Socket.IO WebSockets each send a frame header announcing the server's maxPayload (1 MB), no payload, no CONNECT", o.Conns)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.wsFrame(ctx, h) })
		},
	},
	{
		Name: "rawws-idle", Row: "5", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d plain WebSockets, idle: nothing sent, pings unanswered", o.Conns)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.rawWS(ctx, h, false) })
		},
	},
	{
		Name: "rawws-half", Row: "5", GrowthTarget: 50 * MB,
		What: func(o *Options) string {
			return fmt.Sprintf("%d plain WebSockets each send half a frame (%d of %d bytes)", o.Conns, halfFrame/2, halfFrame)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.rawWS(ctx, h, true) })
		},
	},
	{
		Name: "slot-reads", Row: "6",
		What: func(o *Options) string {
			return fmt.Sprintf("%d concurrent readers list the slots of a provider with %d slots, over and over", o.Readers, o.Slots)
		},
		setup:  func(ctx context.Context, e *env) error { return e.createSlots(ctx) },
		attack: func(ctx context.Context, e *env, h *holder) { e.slotReads(ctx, h) },
	},
	{
		Name: "auth-payload", Row: "7",
		What: func(o *Options) string {
			return fmt.Sprintf("%d Socket.IO clients with a valid token CONNECT with a %d-byte auth object and stay", o.Conns, o.AuthBytes)
		},
		attack: func(ctx context.Context, e *env, h *holder) {
			e.parallel(ctx, e.o.Conns, h, func(ctx context.Context) { e.authPayload(ctx, h) })
		},
	},
	{
		Name: "rooms", Row: "7",
		What: func(o *Options) string {
			return fmt.Sprintf(`one client with providers "*" joins %d rooms and stays`, o.Rooms)
		},
		attack: func(ctx context.Context, e *env, h *holder) { e.manyRooms(ctx, h) },
	},
}

// halfFrame is the frame rawws-half announces; it sends half of it.
const halfFrame = 4096

// parallel runs n attempts, DialConcurrency at a time.
func (e *env) parallel(ctx context.Context, n int, h *holder, one func(ctx context.Context)) {
	sem := make(chan struct{}, e.o.DialConcurrency)
	var wg sync.WaitGroup
	for i := 0; i < n && ctx.Err() == nil; i++ {
		sem <- struct{}{}
		wg.Add(1)
		go func() {
			defer func() { <-sem; wg.Done() }()
			one(ctx)
		}()
		if (i+1)%1000 == 0 {
			e.logf("  %d/%d attempts", i+1, n)
		}
	}
	wg.Wait()
}

// hold registers nc as a held connection watched through br.
func (h *holder) hold(nc net.Conn, br *bufio.Reader, kind string) {
	c := newHeld(func() { nc.Close() })
	h.add(c)
	if kind == "ws" {
		h.watchWS(c, br)
	} else {
		h.watchHTTP(c, br)
	}
}

func shortErr(err error) string {
	s := err.Error()
	if len(s) > 140 {
		s = s[:140]
	}
	return s
}

func round(d time.Duration) time.Duration {
	switch {
	case d >= time.Second:
		return d.Round(10 * time.Millisecond)
	case d >= time.Millisecond:
		return d.Round(100 * time.Microsecond)
	}
	return d.Round(time.Microsecond)
}
