package main

import (
	"context"
	"errors"
	"log/slog"
	"syscall"

	"github.com/eventide/realtime/internal/admin"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/metrics"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/socketio"
)

// startAdmin starts the admin listener (pprof, and /metrics from m) unless
// --admin-addr is empty. The default address is best effort: when
// 127.0.0.1:9090 is already taken (another server or a test on this
// machine), the server says so and runs without it. An address the operator
// chose must bind, and must be loopback.
func startAdmin(cfg *config, log *slog.Logger, m *metrics.Metrics) (*admin.Server, error) {
	if cfg.AdminAddr == "" {
		return nil, nil
	}
	srv, err := admin.Listen(cfg.AdminAddr, log.With("component", "admin"), m.Handler())
	if err != nil {
		if cfg.AdminAddr == admin.DefaultAddr && errors.Is(err, syscall.EADDRINUSE) {
			log.Warn("admin listener not started: its default address is in use; set --admin-addr (EVENTIDE_ADMIN_ADDR) to a free loopback address, or to empty to disable it",
				"addr", cfg.AdminAddr, "err", err)
			return nil, nil
		}
		return nil, listenError("admin", cfg.AdminAddr, err)
	}
	log.Info("listening", "listener", "admin", "addr", srv.Addr())
	return srv, nil
}

// stopAdmin ends the admin listener (a nil one is disabled).
func stopAdmin(srv *admin.Server, log *slog.Logger) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := srv.Shutdown(ctx); err != nil {
		log.Warn("admin shutdown", "err", err)
	}
}

// observers are what the server's parts report to: the metrics' when the
// admin listener serves them (on), else nil, which costs nothing.
type observers struct {
	on       bool
	engine   engineio.Observer
	socketio socketio.Observer
	http     httpapi.Observer
	relay    relay.Observer
	m        *metrics.Metrics
}

func observersFor(m *metrics.Metrics, on bool) observers {
	if !on {
		return observers{}
	}
	return observers{on: true, engine: m.Engine(), socketio: m.SocketIO(), http: m.HTTP(), relay: m.Relay(), m: m}
}

// store returns s timed by the metrics when they are on.
func (o observers) store(s availability.Store) availability.Store {
	if !o.on {
		return s
	}
	return o.m.Store(s)
}
