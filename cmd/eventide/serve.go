package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"runtime/debug"
	"strings"
	"sync"
	"time"

	"github.com/eventide/realtime/api"
	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/metrics"
	"github.com/eventide/realtime/internal/netlimit"
	"github.com/eventide/realtime/internal/rawws"
	"github.com/eventide/realtime/internal/realtime"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/socketio"
	"github.com/eventide/realtime/internal/store/postgres"
	"github.com/eventide/realtime/internal/webui"
	"github.com/eventide/realtime/internal/ws"
)

// shutdownGrace bounds the clean-up when serve cannot start (a listener
// fails) and the close of the admin listener; the drain after a signal has
// --shutdown-timeout (drain.go).
const shutdownGrace = 10 * time.Second

func runServe(ctx context.Context, args []string, lookupEnv func(string) (string, bool), stdout, stderr io.Writer) error {
	fs, cfg, origins := newServeFlags(lookupEnv)
	if help, err := serveCommand(fs).parse(args, stdout); help || err != nil {
		return err
	}
	if err := cfg.finish(fs, lookupEnv, *origins); err != nil {
		return err
	}
	log := newLogger(cfg, stderr)
	setGCPercent(lookupEnv, log)

	// The metrics are fed only when the admin listener serves them: a
	// server without it has nil observers, which cost nothing (ADR 0024).
	mtr := metrics.New(metrics.Config{
		Events:         realtime.EventNames(),
		RefusalReasons: realtime.RefusalReasons(),
		Logger:         log.With("component", "metrics"),
	})
	adm, err := startAdmin(cfg, log, mtr)
	if err != nil {
		return err
	}
	defer stopAdmin(adm, log) // last: it outlives the public listeners
	obs := observersFor(mtr, adm != nil)

	logDevMode(log, cfg)

	db, err := openDatabase(ctx, cfg, log.With("component", "store"))
	if err != nil {
		return err
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		return err
	}

	verifier, minter, err := newAuth(cfg)
	if err != nil {
		return err
	}

	apiCfg := httpapi.Config{
		Env:          cfg.Env,
		CORSOrigins:  cfg.CORSOrigins,
		MaxBodyBytes: cfg.HTTPMaxBodyBytes,
		PageSize:     cfg.PageSize,
		MaxPageSize:  cfg.MaxPageSize,
		ReadTimeout:  cfg.HTTPReadTimeout,
		WriteTimeout: cfg.HTTPWriteTimeout,

		WriteRate:     rateLimit(cfg.RESTWriteRate, cfg.RESTWriteBurst),
		WriteSubjects: cfg.RateLimitSubjects,

		EventsPageMax: cfg.EventsPageMax,
	}
	allowOrigin := httpapi.AllowRequestOrigin(apiCfg)

	// One reporter for the limits clients hit: one rate-limited WARN line
	// per limit, and a count per limit.
	reporter := limits.New(limits.Config{Logger: log.With("component", "limits")})

	// The broker between nodes (--adapter); closed after the Socket.IO
	// server's Shutdown, which the deferred Close follows.
	broker, err := newBroker(cfg, log.With("component", "redis"))
	if err != nil {
		return err
	}
	var sioBroker socketio.Broker
	if broker != nil {
		defer broker.Close()
		sioBroker = broker
		log.Info("socket.io adapter", "adapter", cfg.Adapter, "key", cfg.RedisKey)
	}

	sio := socketio.NewServer(socketio.Config{
		Engine: engineio.Config{
			PingInterval:       cfg.PingInterval,
			PingTimeout:        cfg.PingTimeout,
			MaxPayload:         cfg.MaxPayload,
			MaxPendingPayload:  cfg.MaxPendingPayload,
			PollBodyTimeout:    cfg.PollBodyTimeout,
			MaxPendingSessions: int(cfg.MaxPendingSessions),
			MaxHandshakeBytes:  int(cfg.MaxHandshakeBytes),
			AllowEIO3:          true,
			AllowRequest:       originCheck(allowOrigin),
			// The router answers a GET poll as a function of its path and
			// Origin (CORS, originCheck); its request log is at debug level,
			// where every poll goes through it (ADR 0031).
			ReadNextPolls: !cfg.PollOnGoroutines && !log.Enabled(ctx, slog.LevelDebug),
			Limits:        reporter,
			Observer:      obs.engine,
			Logger:        log.With("component", "engineio"),
		},
		Observer:          obs.socketio,
		ConnectTimeout:    cfg.ConnectTimeout,
		MaxConnectBytes:   int(cfg.MaxConnectBytes),
		MaxBufferedBytes:  int(cfg.MaxBufferedBytes),
		AttachmentTimeout: cfg.AttachmentTimeout,
		Recovery: socketio.Recovery{
			Window:      cfg.RecoveryWindow,
			MaxPackets:  int(cfg.RecoveryMaxPackets),
			MaxBytes:    int(cfg.RecoveryMaxBytes),
			MaxSessions: int(cfg.RecoveryMaxSessions),
		},
		Broker: sioBroker,
		Limits: reporter,
		Logger: log.With("component", "socketio"),
	})
	logBatchPath(log, sio.Engine())
	gateway := realtime.NewGateway(sio, realtime.Config{
		Verifier: verifier,
		MaxRooms: int(cfg.MaxRoomsPerSocket),
		Limits:   reporter,
		Logger:   log.With("component", "realtime"),
		// What a broker lost is filled from the event log (ADR 0027).
		Changes: db,

		SocketEvents:  rateLimit(cfg.SocketEventRate, cfg.SocketEventBurst),
		SubjectEvents: rateLimit(cfg.SubjectEventRate, cfg.SubjectEventBurst),
		Subjects:      cfg.RateLimitSubjects,
		AbuseRefusals: offIfZero(cfg.EventAbuseRefusals),
		AbuseWindow:   cfg.EventAbuseWindow,
	})
	events := gateway.Service()
	// After the gateway, so the UI sees "/" as the application made it.
	adminUI, err := startAdminUI(cfg, sio, log.With("component", "adminui"))
	if err != nil {
		return err
	}
	defer stopAdminUI(adminUI)

	slots := availability.NewService(obs.store(db), time.Now)
	// The relay is the only path from a committed change to the sockets
	// (ADR 0014).
	rel := relay.New(relay.Config{
		Log:            db,
		Publisher:      events,
		Observer:       obs.relay,
		Logger:         log.With("component", "relay"),
		PollInterval:   cfg.RelayPollInterval,
		Retention:      cfg.EventRetention,
		RetentionCount: cfg.EventRetentionCount,
	})
	rel.Start()
	defer shutdownRelay(log, rel)
	rawCfg := rawws.Config{
		RequireToken: cfg.production(),
		Authenticate: func(r *http.Request) error {
			_, err := verifier.Verify(auth.TokenFromRequest(r))
			return err
		},
		MaxConns:       offIfZero(cfg.RawMaxConns),
		MaxMessage:     cfg.RawMaxMessage,
		PingInterval:   offIfZero(cfg.RawPingInterval),
		PingTimeout:    cfg.RawPingTimeout,
		MessageTimeout: offIfZero(cfg.RawMessageTimeout),
		IdleTimeout:    cfg.RawIdleTimeout,
		Limits:         reporter,
		Logger:         log.With("component", "rawws"),
	}
	if cfg.production() {
		// Dev keeps the NestJS gateway's any-origin rule.
		rawCfg.CheckOrigin = allowOrigin
	}
	raw := rawws.New(rawCfg)
	if obs.on {
		mtr.Watch(metrics.Sources{
			Conns:      sio.Engine().ConnCounts,
			Namespaces: sio.NamespaceCounts,
			RawConns:   raw.Count,
			Limits:     reporter.Counts,
			RelayLag:   rel.Lag,
		})
	}

	drain := &drainer{
		log:     log.With("component", "drain"),
		delay:   cfg.DrainDelay,
		spread:  cfg.DrainSpread,
		timeout: cfg.ShutdownTimeout,
		sio:     sio,
		raw:     raw,
		rel:     rel,
		shared:  postgres.IsURL(cfg.DatabaseURL),
	}

	var devMinter *auth.Minter
	if !cfg.production() {
		devMinter = minter
	}
	handler := httpapi.NewServer(apiCfg, httpapi.Deps{
		Logger:     log.With("component", "http"),
		Limits:     reporter,
		Observer:   obs.http,
		Slots:      slots,
		Verifier:   verifier,
		Minter:     devMinter,
		Ready:      readiness(db.Ping, broker),
		Draining:   drain.draining.Load,
		Emitter:    events,
		Attendance: raw,
		SocketIO:   sio,
		RawWS:      raw,
		Web:        webui.Handler(cfg.WebDir, log.With("component", "web")),
		OpenAPI:    api.OpenAPI,
	})

	// One cap for both listeners: they share the process's descriptors.
	conns := netlimit.New(netlimit.Config{MaxConns: cfg.MaxConns, Limits: reporter})
	log.Info("connection cap", "max_conns", conns.Max(), "db_max_conns", cfg.DBMaxConns)
	servers := []*http.Server{}
	// serving counts the Serve loops: runServe returns only after they
	// have, so none logs once it has returned.
	var serving sync.WaitGroup
	listen := func(name, addr string, h http.Handler, also ...net.Listener) error {
		ln, err := net.Listen("tcp", addr)
		if err != nil {
			return listenError(name, addr, err)
		}
		srv := &http.Server{
			Handler: h,
			// No ReadTimeout or WriteTimeout: long-polls and WebSockets
			// outlive any such bound. Ordinary requests get theirs from
			// httpapi.Deadlines.
			ReadHeaderTimeout: cfg.HTTPHeaderTimeout,
			IdleTimeout:       cfg.HTTPIdleTimeout,
			MaxHeaderBytes:    cfg.HTTPMaxHeaderBytes,
			ConnState:         conns.ConnState,
			// The engine takes WebSockets' sockets over from net/http's
			// connections: the cap keeps counting them (ADR 0032).
			ConnContext: func(ctx context.Context, _ net.Conn) context.Context { return ws.WithAdopter(ctx, conns) },
			ErrorLog:    slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		}
		servers = append(servers, srv)
		log.Info("listening", "listener", name, "addr", ln.Addr().String())
		served := conns.Listen(drain.watch(ln))
		for _, l := range append([]net.Listener{served}, also...) {
			serving.Go(func() {
				// A listener closed under it (the engine closes its
				// hand-back listener at shutdown, maybe before Shutdown
				// tells Serve) is a stop we asked for too.
				if err := srv.Serve(l); err != nil && !errors.Is(err, http.ErrServerClosed) && !errors.Is(err, net.ErrClosed) {
					log.Error("server stopped", "listener", name, "err", err)
				}
			})
		}
		return nil
	}
	// Answered long-polls come back to the server they were hijacked from
	// (ADR 0031): the same handler, limits and connection states.
	var handBack []net.Listener
	if !cfg.PollOnGoroutines {
		handBack = append(handBack, sio.Engine().HandBackListener())
	}
	if err := listen("http", cfg.Addr, drain.requests.wrap(handler), handBack...); err != nil {
		return err
	}
	if cfg.RawAddr != "" {
		// Its WebSocket upgrades keep their own deadlines; anything else
		// sent to it is an ordinary request.
		if err := listen("rawws", cfg.RawAddr, drain.requests.wrap(httpapi.Deadlines(apiCfg, httpapi.IsWebSocketUpgrade)(raw))); err != nil {
			shutdownAll(log, servers, sio, raw)
			serving.Wait()
			return err
		}
	}

	if devMinter != nil {
		tok, exp, err := devMinter.Mint(auth.Claims{Subject: "dev", Role: auth.RoleAdmin}, 24*time.Hour)
		if err == nil {
			fmt.Fprintf(stdout, "dev token (admin, expires %s):\n%s\n", exp.Format(time.RFC3339), tok)
		}
	}

	<-ctx.Done()
	log.Info("shutting down: draining", "signal", context.Cause(ctx))
	drain.servers = servers
	drain.run()
	serving.Wait()
	log.Info("stopped")
	return nil
}

// shutdownAll stops accepting, tells every socket, and lets in-flight
// requests finish, all within shutdownGrace.
func shutdownAll(log *slog.Logger, servers []*http.Server, sio *socketio.Server, raw *rawws.Service) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	var wg sync.WaitGroup
	for _, srv := range servers {
		wg.Go(func() {
			// Shutdown closes the listeners at once, then waits for
			// in-flight requests; hijacked WebSockets are ended below.
			if err := srv.Shutdown(ctx); err != nil {
				log.Warn("http shutdown", "err", err)
			}
		})
	}
	wg.Go(func() {
		if err := sio.Shutdown(ctx); err != nil {
			log.Warn("socket.io shutdown", "err", err)
		}
	})
	wg.Go(func() {
		if err := raw.Shutdown(ctx); err != nil {
			log.Warn("plain websocket shutdown", "err", err)
		}
	})
	wg.Wait()
}

// offIfZero maps a flag's 0 ("off") to a negative value, which a Config
// reads as off (its 0 means the default).
func offIfZero[T int | time.Duration](v T) T {
	if v == 0 {
		return -1
	}
	return v
}

// shutdownRelay stops the relay, letting a round in progress finish within
// shutdownGrace. Safe to call twice.
func shutdownRelay(log *slog.Logger, rel *relay.Relay) {
	ctx, cancel := context.WithTimeout(context.Background(), shutdownGrace)
	defer cancel()
	if err := rel.Shutdown(ctx); err != nil {
		log.Warn("relay shutdown", "err", err)
	}
}

// originCheck refuses a Socket.IO request (the handshake and every later
// poll, post and upgrade of the session) from a browser origin that CORS
// would refuse, so WebSocket upgrades (which CORS does not cover) obey the
// same list (httpapi.AllowOrigin: the configured origins, never the Host
// header). Requests without an Origin header (non-browser clients) pass.
func originCheck(allow func(*http.Request) bool) func(*http.Request) error {
	return func(r *http.Request) error {
		if !allow(r) {
			return fmt.Errorf("origin %q not allowed", r.Header.Get("Origin"))
		}
		return nil
	}
}

func newAuth(cfg *config) (*auth.Verifier, *auth.Minter, error) {
	var (
		verifier *auth.Verifier
		minter   *auth.Minter
		err      error
	)
	if cfg.JWTSecret != "" {
		if minter, err = auth.NewMinter([]byte(cfg.JWTSecret)); err != nil {
			return nil, nil, err
		}
	}
	// One leeway for every check of a token's time: REST, the Socket.IO
	// handshake and the expiry of live sockets all ask this Verifier.
	leeway := auth.WithLeeway(cfg.JWTLeeway)
	if cfg.JWTPublicKey != "" {
		verifier, err = auth.LoadPublicKeyVerifier(cfg.JWTPublicKey, leeway)
	} else {
		verifier, err = auth.NewVerifier([]byte(cfg.JWTSecret), leeway)
	}
	return verifier, minter, err
}

// newLogger logs JSON in production and text in dev.
func newLogger(cfg *config, w io.Writer) *slog.Logger {
	var level slog.Level
	if err := level.UnmarshalText([]byte(strings.ToUpper(cfg.LogLevel))); err != nil {
		level = slog.LevelInfo
	}
	opts := &slog.HandlerOptions{Level: level}
	if cfg.production() {
		return slog.New(slog.NewJSONHandler(w, opts))
	}
	return slog.New(slog.NewTextHandler(w, opts))
}

// logBatchPath says once how small broadcasts reach their sockets: one
// io_uring submission, or one send(2) per connection where the kernel lacks
// what that needs (the engine sets its rings up and probes it here, at
// start).
func logBatchPath(log *slog.Logger, eng *engineio.Server) {
	if path, why := eng.BatchPath(); why != "" {
		log.Info("websocket batch sends", "path", path, "reason", why)
	} else {
		log.Info("websocket batch sends", "path", path)
	}
}

// defaultGCPercent is the server's garbage collection target when GOGC is not
// set: collect when the heap has grown by half since the last collection,
// not by all of it. A realtime server's heap is mostly long-lived connection
// state with little garbage between handshakes, so this holds about a
// quarter less memory per idle connection for little CPU (ADR 0010).
const defaultGCPercent = 50

func setGCPercent(lookupEnv func(string) (string, bool), log *slog.Logger) {
	if v, ok := lookupEnv("GOGC"); ok && v != "" {
		log.Debug("GOGC set in the environment; keeping it", "GOGC", v)
		return
	}
	debug.SetGCPercent(defaultGCPercent)
}
