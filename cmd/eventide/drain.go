package main

import (
	"context"
	"errors"
	"flag"
	"log/slog"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/rawws"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/socketio"
)

// Defaults of the graceful shutdown's flags (ADR 0026). The timeout fits in
// Kubernetes' default terminationGracePeriodSeconds (30) with room to spare.
const (
	defaultDrainDelay      = 0
	defaultDrainSpread     = 2 * time.Second
	defaultShutdownTimeout = 25 * time.Second
)

// bindDrain registers the flags of the graceful shutdown (issue 12).
func bindDrain(fs *flag.FlagSet, c *config, getenv func(string) string) {
	fs.DurationVar(&c.DrainDelay, "drain-delay", envDuration(getenv, "EVENTIDE_DRAIN_DELAY", defaultDrainDelay), "on SIGTERM, how long /readyz answers 503 while the node still serves, for load balancers to stop sending, before it stops accepting [EVENTIDE_DRAIN_DELAY]")
	fs.DurationVar(&c.DrainSpread, "drain-spread", envDuration(getenv, "EVENTIDE_DRAIN_SPREAD", defaultDrainSpread), "on SIGTERM, the interval over which the Socket.IO connections are closed, so their clients do not all reconnect at once; 0: all at once [EVENTIDE_DRAIN_SPREAD]")
	fs.DurationVar(&c.ShutdownTimeout, "shutdown-timeout", envDuration(getenv, "EVENTIDE_SHUTDOWN_TIMEOUT", defaultShutdownTimeout), "on SIGTERM, the most the whole shutdown takes (--drain-delay included); then what is left is closed and the process exits [EVENTIDE_SHUTDOWN_TIMEOUT]")
}

// checkDrain reports drain settings that cannot work.
func (c *config) checkDrain(p *problems) {
	if c.DrainDelay < 0 {
		p.addf("--drain-delay must be 0 or positive, not %s", c.DrainDelay)
	}
	if c.DrainSpread < 0 {
		p.addf("--drain-spread must be 0 or positive, not %s", c.DrainSpread)
	}
	if c.ShutdownTimeout <= 0 {
		p.addf("--shutdown-timeout must be positive, not %s", c.ShutdownTimeout)
	} else if c.DrainDelay >= 0 && c.DrainSpread >= 0 && c.DrainDelay+c.DrainSpread >= c.ShutdownTimeout {
		p.addf("--drain-delay (%s) plus --drain-spread (%s) must be less than --shutdown-timeout (%s), which bounds the whole shutdown", c.DrainDelay, c.DrainSpread, c.ShutdownTimeout)
	}
}

// inflight counts the requests being served other than Socket.IO's and
// WebSocket upgrades (REST, health, the dashboard), for the drain to wait
// for: a long-poll lasts until its session ends, and the drain ends those
// sessions itself.
type inflight struct {
	mu   sync.Mutex
	n    int
	idle chan struct{} // closed when n drops to 0; nil while nobody waits
}

// wrap counts h's requests.
func (q *inflight) wrap(h http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if strings.HasPrefix(r.URL.Path, "/socket.io") || httpapi.IsWebSocketUpgrade(r) {
			h.ServeHTTP(w, r)
			return
		}
		q.mu.Lock()
		q.n++
		q.mu.Unlock()
		defer q.done()
		h.ServeHTTP(w, r)
	})
}

func (q *inflight) done() {
	q.mu.Lock()
	defer q.mu.Unlock()
	q.n--
	if q.n == 0 && q.idle != nil {
		close(q.idle)
		q.idle = nil
	}
}

// count returns the requests in flight.
func (q *inflight) count() int {
	q.mu.Lock()
	defer q.mu.Unlock()
	return q.n
}

// wait waits until no request is in flight, or ctx ends.
func (q *inflight) wait(ctx context.Context) error {
	q.mu.Lock()
	if q.n == 0 {
		q.mu.Unlock()
		return nil
	}
	if q.idle == nil {
		q.idle = make(chan struct{})
	}
	idle := q.idle
	q.mu.Unlock()
	select {
	case <-idle:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}

// drainer is serve's graceful shutdown (ADR 0026): what it stops, in
// order.
type drainer struct {
	log      *slog.Logger
	delay    time.Duration
	spread   time.Duration
	timeout  time.Duration
	draining atomic.Bool // /readyz answers 503
	requests inflight

	servers   []*http.Server
	listeners []chan struct{} // closed when the servers' listeners are (watch)
	sio       *socketio.Server
	raw       *rawws.Service
	rel       *relay.Relay
	// shared says another process can relay the event log (PostgreSQL):
	// the relay hands the lead on at once instead of publishing to the
	// end.
	shared bool
}

// run drains the process, within d.timeout of its call:
//
//  1. /readyz answers 503 and answers close their connections; with a
//     shared store the relay lets go of the lead, for another node's relay
//     to take it at once; then --drain-delay passes, the node still
//     serving;
//  2. the listeners close: no new connection;
//  3. the REST requests in flight finish;
//  4. the relay publishes what is committed and stops (SQLite);
//  5. the Socket.IO connections are closed as a transport close, spread
//     over --drain-spread (their clients reconnect elsewhere, and are
//     recovered there), and the plain WebSocket clients with 1001;
//  6. what is left when the timeout passes is closed.
//
// It logs a line per phase and a summary.
func (d *drainer) run() {
	begin := time.Now()
	ctx, cancel := context.WithTimeout(context.Background(), d.timeout)
	defer cancel()

	d.draining.Store(true)
	for _, srv := range d.servers {
		// Connection: close on every answer from now on, and idle
		// keep-alive connections closed: clients and proxies that pool
		// connections open new ones, which a load balancer sends
		// elsewhere once it has seen /readyz.
		srv.SetKeepAlivesEnabled(false)
	}
	d.log.Info("drain: not ready (/readyz answers 503)", "drain_delay", d.delay, "shutdown_timeout", d.timeout)
	if d.shared {
		d.stopRelay(ctx, false)
	}
	if d.delay > 0 {
		t := time.NewTimer(d.delay)
		select {
		case <-t.C:
		case <-ctx.Done():
			t.Stop()
		}
	}

	// Shutdown closes the listeners at once, then waits for every
	// connection to be idle: the requests below, and the long-polls,
	// which the sessions' close ends.
	var servers sync.WaitGroup
	for _, srv := range d.servers {
		servers.Go(func() { _ = srv.Shutdown(ctx) }) // an error: the timeout passed (Close below)
	}
	d.sio.StopAccepting() // handshakes on connections still open, too
	for _, closed := range d.listeners {
		select {
		case <-closed:
		case <-ctx.Done():
		}
	}
	d.log.Info("drain: not accepting (listeners closed)", "requests_in_flight", d.requests.count())

	if err := d.requests.wait(ctx); err == nil {
		d.log.Info("drain: in-flight requests finished", "took", since(begin))
	}

	if !d.shared {
		d.stopRelay(ctx, true)
	}

	var sockets, rawClients int
	var socketErr, rawErr error
	var closing sync.WaitGroup
	closing.Go(func() { sockets, socketErr = d.sio.Drain(ctx, d.spread) })
	closing.Go(func() {
		rawClients = d.raw.Count()
		rawErr = d.raw.Shutdown(ctx)
	})
	closing.Wait()
	if socketErr == nil && rawErr == nil {
		d.log.Info("drain: sockets closed", "socketio", sockets, "websocket", rawClients, "spread", d.spread, "took", since(begin))
	}
	servers.Wait()
	// What is left when the timeout has passed: counted, then cut.
	forced := ctx.Err() != nil
	left := []any{"requests_cut", d.requests.count(), "socketio_left", d.sio.Engine().Count(), "websocket_left", d.raw.Count()}
	if forced {
		for _, srv := range d.servers {
			_ = srv.Close()
		}
	}

	// What the Socket.IO server still holds (its broker subscriptions,
	// the engine's poller; and the sessions left, when forced).
	if err := d.sio.Shutdown(ctx); err != nil && !errors.Is(err, context.DeadlineExceeded) {
		d.log.Warn("socket.io shutdown", "err", err)
	}
	summary := []any{"socketio_closed", sockets, "websocket_closed", rawClients, "took", since(begin)}
	if forced {
		d.log.Warn("drain: shutdown timeout passed; what was left is closed",
			append(append(summary, "shutdown_timeout", d.timeout), left...)...)
		return
	}
	d.log.Info("drain: done", summary...)
}

// watch returns ln, telling the drain when it is closed.
func (d *drainer) watch(ln net.Listener) net.Listener {
	w := &watchedListener{Listener: ln, closed: make(chan struct{})}
	d.listeners = append(d.listeners, w.closed)
	return w
}

// watchedListener closes closed when it is closed.
type watchedListener struct {
	net.Listener
	once   sync.Once
	closed chan struct{}
}

func (l *watchedListener) Close() error {
	err := l.Listener.Close()
	l.once.Do(func() { close(l.closed) })
	return err
}

// stopRelay stops the relay: final publishes what is committed first
// (relay.Drain).
func (d *drainer) stopRelay(ctx context.Context, final bool) {
	begin := time.Now()
	var err error
	if final {
		err = d.rel.Drain(ctx)
	} else {
		err = d.rel.Shutdown(ctx)
	}
	switch {
	case err != nil:
		d.log.Warn("drain: relay stop", "err", err)
	case final:
		d.log.Info("drain: relay published what is committed and stopped", "took", since(begin))
	default:
		d.log.Info("drain: relay stopped; another node's relay takes the lead", "took", since(begin))
	}
}

// since is the time since t, rounded for a log line.
func since(t time.Time) time.Duration { return time.Since(t).Round(time.Millisecond) }
