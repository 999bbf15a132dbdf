// Command harness serves Eventide's Socket.IO stack (internal/socketio with
// the internal/realtime gateway) with the dev emit route and net/http/pprof,
// and nothing else: a profiling target for eventide-bench's fan-out and
// rooms scenarios that needs neither the REST API nor a database.
//
//	go build -o bin/bench-harness ./cmd/eventide-bench/harness
//	bin/bench-harness --addr 127.0.0.1:39300 --pprof-addr 127.0.0.1:39301 --jwt-secret S
//	go tool pprof -seconds 10 http://127.0.0.1:39301/debug/pprof/profile
//
// It prints an admin token on its first line.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/pprof"
	"os"
	"os/signal"
	"syscall"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/ratelimit"
	"github.com/eventide/realtime/internal/realtime"
	"github.com/eventide/realtime/internal/socketio"
)

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args[1:], os.Stdout, os.Stderr); err != nil {
		fmt.Fprintln(os.Stderr, "harness:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string, stdout, stderr io.Writer) error {
	fs := flag.NewFlagSet("harness", flag.ContinueOnError)
	fs.SetOutput(stderr)
	addr := fs.String("addr", "127.0.0.1:39300", "listen address (127.0.0.0/8)")
	pprofAddr := fs.String("pprof-addr", "127.0.0.1:39301", "pprof listen address; empty disables it")
	secret := fs.String("jwt-secret", "bench-harness-secret-0123456789", "HS256 secret")
	if err := fs.Parse(args); err != nil {
		return err
	}
	logger := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: slog.LevelWarn}))
	verifier, err := auth.NewVerifier([]byte(*secret))
	if err != nil {
		return err
	}
	minter, err := auth.NewMinter([]byte(*secret))
	if err != nil {
		return err
	}
	token, _, err := minter.Mint(auth.Claims{Subject: "bench", Role: auth.RoleAdmin}, 2*time.Hour)
	if err != nil {
		return err
	}
	fmt.Fprintln(stdout, token)

	sio := socketio.NewServer(socketio.Config{Logger: logger})
	// Every bench client shares the one token printed above: no limit per
	// token subject (as run.sh runs eventide).
	svc := realtime.NewGateway(sio, realtime.Config{
		Verifier:      verifier,
		Logger:        logger,
		SubjectEvents: ratelimit.Limit{Rate: -1},
	}).Service()

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio)
	mux.HandleFunc("GET /healthz", func(w http.ResponseWriter, r *http.Request) { _, _ = w.Write([]byte("ok")) })
	mux.HandleFunc("POST /api/v1/dev/emit", func(w http.ResponseWriter, r *http.Request) {
		if _, err := verifier.Verify(auth.TokenFromRequest(r)); err != nil {
			http.Error(w, "unauthorized", http.StatusUnauthorized)
			return
		}
		var req struct {
			Room  string          `json:"room"`
			Event string          `json:"event"`
			Data  json.RawMessage `json:"data"`
			Count int             `json:"count"`
		}
		if err := json.NewDecoder(http.MaxBytesReader(w, r.Body, 1<<20)).Decode(&req); err != nil || req.Event == "" {
			http.Error(w, "bad request", http.StatusBadRequest)
			return
		}
		// Decode data as the real dev route does (any), so encoding costs the same.
		var data any
		if len(req.Data) > 0 {
			if err := json.Unmarshal(req.Data, &data); err != nil {
				http.Error(w, "bad data", http.StatusBadRequest)
				return
			}
		}
		for range max(req.Count, 1) {
			if req.Room == "" {
				err = svc.EmitToAll(req.Event, data)
			} else {
				err = svc.EmitToRoom(req.Room, req.Event, data)
			}
			if err != nil {
				http.Error(w, err.Error(), http.StatusInternalServerError)
				return
			}
		}
		w.WriteHeader(http.StatusAccepted)
	})

	srv := &http.Server{Addr: *addr, Handler: mux, ReadHeaderTimeout: 10 * time.Second}
	errc := make(chan error, 2)
	go func() { errc <- srv.ListenAndServe() }()
	var psrv *http.Server
	if *pprofAddr != "" {
		pm := http.NewServeMux()
		pm.HandleFunc("/debug/pprof/", pprof.Index)
		pm.HandleFunc("/debug/pprof/profile", pprof.Profile)
		pm.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
		pm.HandleFunc("/debug/pprof/trace", pprof.Trace)
		psrv = &http.Server{Addr: *pprofAddr, Handler: pm, ReadHeaderTimeout: 10 * time.Second}
		go func() { errc <- psrv.ListenAndServe() }()
	}
	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = sio.Shutdown(sctx)
	if psrv != nil {
		_ = psrv.Shutdown(sctx)
	}
	return srv.Shutdown(sctx)
}
