package main

import (
	"context"
	"errors"
	"log/slog"
	"syscall"

	"github.com/eventide/realtime/internal/admin"
)

// startAdmin starts the admin listener (pprof; /metrics later) unless
// --admin-addr is empty. The default address is best effort: when
// 127.0.0.1:9090 is already taken (another server or a test on this
// machine), the server says so and runs without it. An address the operator
// chose must bind, and must be loopback.
func startAdmin(cfg *config, log *slog.Logger) (*admin.Server, error) {
	if cfg.AdminAddr == "" {
		return nil, nil
	}
	srv, err := admin.Listen(cfg.AdminAddr, log.With("component", "admin"))
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
