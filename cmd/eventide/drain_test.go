package main

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/store/sqlite"
	"github.com/eventide/realtime/internal/ws"
)

// The graceful shutdown through run() (ADR 0026): what a REST client, a
// Socket.IO client and a load balancer see. No test waits for a wall-clock
// window: each waits for a condition, with the guard against a hang.

// slotBody is a slot a provider creates.
const slotBody = `{"start":"2030-01-01T09:00:00Z","end":"2030-01-01T09:30:00Z"}`

// heldRequest sends a slot POST with "Expect: 100-continue" and returns once
// the server's handler has asked for the body (the 100 Continue): the
// request is in flight until send writes the body.
func heldRequest(t *testing.T, base string) (conn net.Conn, r *bufio.Reader, send func() *http.Response) {
	t.Helper()
	minter, err := auth.NewMinter([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := minter.Mint(auth.Claims{Subject: "p42", Role: auth.RoleProvider, ProviderID: "42"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	u, _ := url.Parse(base)
	conn, err = net.DialTimeout("tcp", u.Host, guard)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	_ = conn.SetDeadline(time.Now().Add(2 * guard))
	fmt.Fprintf(conn, "POST /api/v1/providers/42/slots HTTP/1.1\r\nHost: %s\r\nAuthorization: Bearer %s\r\n"+
		"Content-Type: application/json\r\nContent-Length: %d\r\nExpect: 100-continue\r\n\r\n", u.Host, tok, len(slotBody))
	r = bufio.NewReader(conn)
	resp, err := http.ReadResponse(r, nil)
	if err != nil || resp.StatusCode != http.StatusContinue {
		t.Fatalf("want 100 Continue: %v %v", resp, err)
	}
	return conn, r, func() *http.Response {
		t.Helper()
		if _, err := io.WriteString(conn, slotBody); err != nil {
			t.Fatalf("send the body: %v", err)
		}
		resp, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("the in-flight request got no answer: %v", err)
		}
		resp.Body.Close()
		return resp
	}
}

// refused reports whether a new connection to base is refused.
func refused(base string) bool {
	u, _ := url.Parse(base)
	c, err := net.DialTimeout("tcp", u.Host, guard)
	if err != nil {
		return errors.Is(err, syscall.ECONNREFUSED)
	}
	c.Close()
	return false
}

// TestDrainFinishesInFlightRequests: after the signal, new connections are
// refused while a REST request in flight is still served to the end (its
// slot is created), a Socket.IO WebSocket is closed with 1001 (going away,
// a transport close its client reconnects from), and run returns nil with
// a log line per phase, the request's change published.
func TestDrainFinishesInFlightRequests(t *testing.T) {
	dbPath := filepath.Join(t.TempDir(), "eventide.db")
	base, _, stderr, stop := startServe(t, "--jwt-secret", testSecret, "--shutdown-timeout", "10m", "--drain-spread", "0",
		"--database-url", dbPath)
	_, _, send := heldRequest(t, base)

	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()
	sio, err := ws.Dial(ctx, "ws"+strings.TrimPrefix(base, "http")+"/socket.io/?EIO=4&transport=websocket", ws.DialOptions{})
	if err != nil {
		t.Fatal(err)
	}
	defer sio.Abort()
	_ = sio.SetReadDeadline(time.Now().Add(2 * guard))
	if _, open, err := sio.ReadMessage(1 << 16); err != nil || !bytes.HasPrefix(open, []byte("0{")) {
		t.Fatalf("engine.io open: %q %v", open, err)
	}

	stopped := make(chan error, 1)
	go func() { stopped <- stop() }()
	waitFor(t, "new connections to be refused", func() bool { return refused(base) })
	if !strings.Contains(stderr.String(), "drain: not accepting") {
		t.Fatalf("refusing connections, and no phase line:\n%s", stderr)
	}
	select {
	case err := <-stopped:
		t.Fatalf("run returned (%v) with a request in flight:\n%s", err, stderr)
	default:
	}

	if resp := send(); resp.StatusCode != http.StatusCreated {
		t.Fatalf("the in-flight request: %d, want 201", resp.StatusCode)
	}
	for {
		_, _, err := sio.ReadMessage(1 << 16) // a ping may come first
		var ce *ws.CloseError
		if errors.As(err, &ce) {
			if ce.Code != ws.CloseGoingAway {
				t.Fatalf("socket.io websocket closed with %d, want 1001", ce.Code)
			}
			break
		}
		if err != nil {
			t.Fatalf("socket.io websocket: %v, want close 1001", err)
		}
	}
	select {
	case err := <-stopped:
		if err != nil {
			t.Fatalf("run: %v", err)
		}
	case <-time.After(guard):
		t.Fatalf("run did not return:\n%s", stderr)
	}
	for _, line := range []string{
		"drain: not ready", "drain: not accepting", "drain: in-flight requests finished",
		"drain: relay published what is committed and stopped", "drain: sockets closed", "drain: done",
	} {
		if !strings.Contains(stderr.String(), line) {
			t.Errorf("no %q in the log:\n%s", line, stderr)
		}
	}
	if !strings.Contains(stderr.String(), "socketio=1") {
		t.Errorf("the summary does not count the socket.io connection:\n%s", stderr)
	}
	// The change the in-flight request committed was published before the
	// exit (SQLite: no other relay would until the next start).
	db, err := sqlite.Open(context.Background(), dbPath, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if un, err := db.Unpublished(context.Background(), 10); err != nil || len(un) != 0 {
		t.Errorf("unpublished after the drain: %v, %v", un, err)
	}
}

// TestDrainReadyzAtOnce: /readyz answers 503 (with Connection: close) as
// soon as the signal comes, while the node still serves for --drain-delay. On a machine too loaded
// to ask within the delay, the listener is already closed: it tries again
// with twice the delay (what it asserts is the same).
func TestDrainReadyzAtOnce(t *testing.T) {
	for delay := 2 * time.Second; ; delay *= 2 {
		base, _, stderr, stop := startServe(t, "--jwt-secret", testSecret, "--drain-delay", delay.String())
		resp, err := http.Get(base + "/readyz")
		if err != nil || resp.StatusCode != http.StatusOK {
			t.Fatalf("readyz before the signal: %v %v", resp, err)
		}
		resp.Body.Close()
		stopped := make(chan error, 1)
		go func() { stopped <- stop() }()
		waitFor(t, "the drain to start", func() bool { return strings.Contains(stderr.String(), "drain: not ready") })
		resp, err = http.Get(base + "/readyz")
		if err != nil {
			if delay >= time.Minute {
				t.Fatalf("readyz during the drain delay: %v", err)
			}
			<-stopped
			continue
		}
		body, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusServiceUnavailable || !bytes.Contains(body, []byte("draining")) {
			t.Fatalf("readyz during the drain: %d %s", resp.StatusCode, body)
		}
		if !resp.Close {
			t.Error("an answer during the drain keeps the connection alive; want Connection: close")
		}
		if err := <-stopped; err != nil {
			t.Fatal(err)
		}
		return
	}
}

// TestDrainTimeoutCutsAStuckClient: a request whose body never comes (the
// read timeout an hour away) does not hold the shutdown past
// --shutdown-timeout: run returns nil, the client's connection is closed,
// and the log says what was cut.
func TestDrainTimeoutCutsAStuckClient(t *testing.T) {
	base, _, stderr, stop := startServe(t, "--jwt-secret", testSecret, "--shutdown-timeout", "1s", "--drain-spread", "0",
		"--http-read-timeout", "1h")
	_, r, _ := heldRequest(t, base)
	if err := stop(); err != nil { // bounded by guard, far below the hour
		t.Fatalf("run: %v", err)
	}
	if _, err := r.ReadByte(); err == nil {
		t.Fatal("the stuck client's connection is still open after run returned")
	}
	if !strings.Contains(stderr.String(), "drain: shutdown timeout passed") || !strings.Contains(stderr.String(), "requests_cut=1") {
		t.Errorf("the log does not say the shutdown was forced:\n%s", stderr)
	}
}

// TestSecondSignalForces: the first signal ends run's context (with the
// signal as its cause), the second forces the exit.
func TestSecondSignalForces(t *testing.T) {
	ctx, stop := context.WithCancelCause(context.Background())
	sigs := make(chan os.Signal, 2)
	forced := make(chan os.Signal, 1)
	go onSignals(sigs, stop, func(s os.Signal) { forced <- s })
	sigs <- syscall.SIGTERM
	<-ctx.Done()
	if cause := context.Cause(ctx); cause == nil || !strings.Contains(cause.Error(), "terminated") {
		t.Fatalf("cause %v", cause)
	}
	select {
	case <-forced:
		t.Fatal("forced after one signal")
	default:
	}
	sigs <- os.Interrupt
	select {
	case s := <-forced:
		if s != os.Interrupt {
			t.Fatalf("forced by %v", s)
		}
	case <-time.After(guard):
		t.Fatal("a second signal did not force the exit")
	}
}

// TestDrainFlags: defaults, the environment, and settings that cannot work
// reported together.
func TestDrainFlags(t *testing.T) {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	c, _ := bindConfig(fs, env(map[string]string{"EVENTIDE_DRAIN_DELAY": "5s"}))
	if err := fs.Parse([]string{"--shutdown-timeout", "40s"}); err != nil {
		t.Fatal(err)
	}
	if c.DrainDelay != 5*time.Second || c.DrainSpread != defaultDrainSpread || c.ShutdownTimeout != 40*time.Second {
		t.Errorf("parsed %s %s %s", c.DrainDelay, c.DrainSpread, c.ShutdownTimeout)
	}
	args := []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--jwt-secret", testSecret,
		"--drain-delay", "-1s", "--drain-spread", "-1s", "--shutdown-timeout", "0s"}
	err := run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	for _, want := range []string{"--drain-delay", "--drain-spread", "--shutdown-timeout must be positive"} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("err = %v, want it to mention %q", err, want)
		}
	}
	args = []string{"serve", "--addr", "127.0.0.1:0", "--data-dir", t.TempDir(), "--jwt-secret", testSecret,
		"--drain-delay", "20s", "--drain-spread", "10s", "--shutdown-timeout", "30s"}
	err = run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
	if err == nil || !strings.Contains(err.Error(), "must be less than --shutdown-timeout") {
		t.Errorf("delay + spread over the timeout: %v", err)
	}
}
