package main

import (
	"flag"
	"io"
	"net/http"
	"strings"
	"testing"
	"time"
)

// TestEngineLimitFlags: the Engine.IO limits have documented defaults, an
// EVENTIDE_* variable each, and a flag that wins over it.
func TestEngineLimitFlags(t *testing.T) {
	parse := func(vars map[string]string, args ...string) *config {
		t.Helper()
		fs := flag.NewFlagSet("serve", flag.ContinueOnError)
		fs.SetOutput(io.Discard)
		c, _ := bindConfig(fs, env(vars))
		if err := fs.Parse(args); err != nil {
			t.Fatal(err)
		}
		return c
	}
	c := parse(nil)
	if c.PollBodyTimeout != 10*time.Second || c.MaxPendingSessions != 10_000 || c.MaxPendingPayload != 32768 || c.MaxHandshakeBytes != 8192 {
		t.Errorf("defaults: %v %d %d %d", c.PollBodyTimeout, c.MaxPendingSessions, c.MaxPendingPayload, c.MaxHandshakeBytes)
	}
	c = parse(map[string]string{
		"EVENTIDE_POLL_BODY_TIMEOUT":    "3s",
		"EVENTIDE_MAX_PENDING_SESSIONS": "7",
		"EVENTIDE_MAX_PENDING_PAYLOAD":  "1000",
		"EVENTIDE_MAX_HANDSHAKE_BYTES":  "2000",
	}, "--max-pending-sessions", "9")
	if c.PollBodyTimeout != 3*time.Second || c.MaxPendingSessions != 9 || c.MaxPendingPayload != 1000 || c.MaxHandshakeBytes != 2000 {
		t.Errorf("from the environment: %v %d %d %d", c.PollBodyTimeout, c.MaxPendingSessions, c.MaxPendingPayload, c.MaxHandshakeBytes)
	}
}

// TestPendingSessionsLimitServed: `serve --max-pending-sessions 1` refuses
// a second handshake while the first has joined no namespace, with a clear
// Engine.IO error, and logs the limit once.
func TestPendingSessionsLimitServed(t *testing.T) {
	base, _, stderr, _ := startServe(t, "--max-pending-sessions", "1")
	get := func() (int, string) {
		t.Helper()
		resp, err := http.Get(base + "/socket.io/?EIO=4&transport=polling")
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		b, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, string(b)
	}
	if st, body := get(); st != http.StatusOK {
		t.Fatalf("first handshake: %d %s", st, body)
	}
	st, body := get()
	if st != http.StatusServiceUnavailable || body != `{"code":4,"message":"Too many pending sessions"}` {
		t.Fatalf("second handshake: %d %s", st, body)
	}
	if !strings.Contains(stderr.String(), "limit=engineio.pending_sessions") {
		t.Errorf("no limit line in the log:\n%s", stderr)
	}
}
