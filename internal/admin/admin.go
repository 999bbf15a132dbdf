package admin

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/pprof"
	"sync"
	"time"
)

// DefaultAddr is where the admin listener binds unless configured.
const DefaultAddr = "127.0.0.1:9090"

// Handler returns the admin routes:
//
//	/debug/pprof/                       the index of profiles
//	/debug/pprof/goroutine?debug=1      goroutines ("goroutine profile: total N" first)
//	/debug/pprof/heap, allocs, block, mutex, threadcreate
//	/debug/pprof/profile?seconds=N      CPU profile
//	/debug/pprof/trace?seconds=N        execution trace
//	/debug/pprof/cmdline, symbol
//	/metrics                            Prometheus metrics, when metrics is not nil
func Handler(metrics http.Handler) http.Handler {
	mux := http.NewServeMux()
	if metrics != nil {
		mux.Handle("/metrics", metrics)
	}
	// pprof.Index serves every named runtime profile under /debug/pprof/.
	mux.HandleFunc("/debug/pprof/", pprof.Index)
	mux.HandleFunc("/debug/pprof/cmdline", pprof.Cmdline)
	mux.HandleFunc("/debug/pprof/profile", pprof.Profile)
	mux.HandleFunc("/debug/pprof/symbol", pprof.Symbol)
	mux.HandleFunc("/debug/pprof/trace", pprof.Trace)
	return mux
}

// CheckAddr accepts a listen address only when its host is a loopback IP
// literal or "localhost": the admin surface has no authentication.
func CheckAddr(addr string) error {
	host, _, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("admin address %q: %w", addr, err)
	}
	if host == "localhost" {
		return nil
	}
	if ip := net.ParseIP(host); ip != nil && ip.IsLoopback() {
		return nil
	}
	return fmt.Errorf("admin address %q is not loopback: the admin listener serves pprof without authentication, so it binds only to 127.0.0.1, ::1 or localhost (e.g. %s)", addr, DefaultAddr)
}

// Server is a running admin listener.
type Server struct {
	srv  *http.Server
	ln   net.Listener
	done chan struct{}
	once sync.Once
	err  error
}

// Listen binds addr (loopback only, see CheckAddr) and serves
// Handler(metrics) on it until Shutdown. Errors after the bind are logged
// to log.
func Listen(addr string, log *slog.Logger, metrics http.Handler) (*Server, error) {
	if err := CheckAddr(addr); err != nil {
		return nil, err
	}
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("listen admin on %s: %w", addr, err)
	}
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &Server{
		ln: ln,
		srv: &http.Server{
			Handler: Handler(metrics),
			// No WriteTimeout: a CPU profile or a trace streams for as many
			// seconds as asked. Requests are tiny GETs otherwise.
			ReadHeaderTimeout: 10 * time.Second,
			ReadTimeout:       10 * time.Second,
			IdleTimeout:       60 * time.Second,
			MaxHeaderBytes:    16 << 10,
			ErrorLog:          slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		},
		done: make(chan struct{}),
	}
	go func() {
		defer close(s.done)
		if err := s.srv.Serve(ln); err != nil && !errors.Is(err, http.ErrServerClosed) {
			log.Error("admin listener stopped", "err", err)
		}
	}()
	return s, nil
}

// Addr is the address the listener is bound to (the port is known even when
// addr asked for :0).
func (s *Server) Addr() string {
	if s == nil {
		return ""
	}
	return s.ln.Addr().String()
}

// Shutdown stops accepting and waits for in-flight requests until ctx ends,
// then closes what is left (a profile still streaming). It is safe to call
// twice and on a nil *Server (the listener is disabled).
func (s *Server) Shutdown(ctx context.Context) error {
	if s == nil {
		return nil
	}
	s.once.Do(func() {
		if err := s.srv.Shutdown(ctx); err != nil {
			s.err = err
			_ = s.srv.Close()
		}
		<-s.done
	})
	return s.err
}
