package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"github.com/eventide/realtime/internal/engineio"
	"github.com/eventide/realtime/internal/socketio"
)

// conformanceEngine is the Engine.IO configuration both official protocol
// test suites (socketio/engine.io-protocol and socketio/socket.io-protocol,
// test-suite/) expect of the server under test.
var conformanceEngine = engineio.Config{
	PingInterval: 300 * time.Millisecond,
	PingTimeout:  200 * time.Millisecond,
	MaxPayload:   1_000_000,
	AllowEIO3:    true, // as in production; a missing or other EIO still gets 400
}

// runConformance serves what the suites' reference servers do: Socket.IO at
// /socket.io/ and a bare Engine.IO echo at /engine.io/, on one port.
func runConformance(ctx context.Context, args []string, _ func(string) (string, bool), stdout, stderr io.Writer) error {
	fs := newFlagSet("conformance")
	addr := fs.String("addr", "127.0.0.1:3000", "listen address")
	verbose := fs.Bool("v", false, "log protocol events")
	cmd := &command{
		name:     "conformance",
		synopsis: "conformance [--addr 127.0.0.1:3000] [-v]",
		about: `Serves what the official protocol test suites (socketio/engine.io-protocol and
socketio/socket.io-protocol) expect of the server under test: Socket.IO at /socket.io/
and an Engine.IO echo at /engine.io/, with their short heartbeat. Not for clients.`,
		fs: fs,
	}
	if help, err := cmd.parse(args, stdout); help || err != nil {
		return err
	}
	level := slog.LevelWarn
	if *verbose {
		level = slog.LevelDebug
	}
	log := slog.New(slog.NewTextHandler(stderr, &slog.HandlerOptions{Level: level}))

	engineCfg := conformanceEngine
	engineCfg.Logger = log.With("component", "engineio")
	sio := socketio.NewServer(socketio.Config{
		Engine:         engineCfg,
		ConnectTimeout: 1000 * time.Millisecond,
		Logger:         log.With("component", "socketio"),
	})
	for _, name := range []string{"/", "/custom"} {
		conformanceNamespace(sio.Of(name))
	}
	echo := engineio.NewServer(engineCfg, func(c *engineio.Conn) engineio.Receiver { return echoReceiver{c} })

	mux := http.NewServeMux()
	mux.Handle("/socket.io/", sio)
	mux.Handle("/engine.io/", echo)
	ln, err := net.Listen("tcp", *addr)
	if err != nil {
		return err
	}
	srv := &http.Server{Handler: allowAnyOrigin(mux), ReadHeaderTimeout: 10 * time.Second}
	fmt.Fprintf(stdout, "conformance server on http://%s (Socket.IO at /socket.io/, Engine.IO echo at /engine.io/)\n", ln.Addr())
	errc := make(chan error, 1)
	go func() { errc <- srv.Serve(ln) }()

	select {
	case <-ctx.Done():
	case err := <-errc:
		if !errors.Is(err, http.ErrServerClosed) {
			return err
		}
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	_ = srv.Shutdown(sctx)
	_ = sio.Shutdown(sctx)
	return echo.Shutdown(sctx)
}

// conformanceNamespace installs the handlers of the Socket.IO suite's
// reference server, plus two that our end-to-end tests use to exercise rooms
// ("join" and "broadcast"; the suite never sends them).
func conformanceNamespace(nsp *socketio.Namespace) {
	nsp.OnConnection(func(s *socketio.Socket) {
		_ = s.Emit("auth", s.Handshake().Auth)
		s.On("message", func(e *socketio.Event) { _ = s.Emit("message-back", e.Args...) })
		s.On("message-with-ack", func(e *socketio.Event) {
			if e.Ack != nil {
				_ = e.Ack(e.Args...)
			}
		})
		s.On("join", func(e *socketio.Event) {
			for _, a := range e.Args {
				if room, ok := a.(string); ok {
					s.Join(room)
				}
			}
			if e.Ack != nil {
				_ = e.Ack(s.Rooms())
			}
		})
		s.On("broadcast", func(e *socketio.Event) {
			// broadcast(room, event, ...args) emits to everyone in room.
			if len(e.Args) >= 2 {
				room, _ := e.Args[0].(string)
				event, _ := e.Args[1].(string)
				if room != "" && event != "" {
					_ = nsp.To(room).Emit(event, e.Args[2:]...)
				}
			}
			if e.Ack != nil {
				_ = e.Ack(true)
			}
		})
	})
}

// echoReceiver sends every Engine.IO message straight back, as the Engine.IO
// suite's reference server does.
type echoReceiver struct{ c *engineio.Conn }

func (r echoReceiver) OnMessage(data []byte, binary bool) {
	if binary {
		_ = r.c.Send(engineio.BinaryMessage(data))
		return
	}
	_ = r.c.Send(engineio.TextMessage(data))
}

func (echoReceiver) OnClose(string) {}

// allowAnyOrigin is the suites' `cors: { origin: "*" }`.
func allowAnyOrigin(next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		h := w.Header()
		h.Set("Access-Control-Allow-Origin", "*")
		if r.Method == http.MethodOptions {
			h.Set("Access-Control-Allow-Methods", "GET,HEAD,PUT,PATCH,POST,DELETE")
			if req := r.Header.Get("Access-Control-Request-Headers"); req != "" {
				h.Set("Access-Control-Allow-Headers", req)
			}
			w.WriteHeader(http.StatusNoContent)
			return
		}
		next.ServeHTTP(w, r)
	})
}
