package main

import (
	"bytes"
	"context"
	"errors"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/ws"
)

// lockedBuffer collects the output of a run in another goroutine.
type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

func env(vars map[string]string) func(string) (string, bool) {
	return func(k string) (string, bool) { v, ok := vars[k]; return v, ok }
}

const testSecret = "0123456789abcdef0123456789abcdef"

// guard bounds every wait of these tests for something that must happen
// (the server listening, stopping, a log line). It is only a failure
// guard: no outcome depends on it.
const guard = 30 * time.Second

// listenRE finds the main listener's address in the text (dev) or JSON
// (production) log.
var listenRE = regexp.MustCompile(`listener=http addr=(\S+)|"listener":"http","addr":"([^"]+)"`)

// startServe runs `serve` on a free port and returns its base URL once
// /healthz answers.
func startServe(t *testing.T, args ...string) (string, *lockedBuffer, *lockedBuffer, func() error) {
	t.Helper()
	return startServeEnv(t, map[string]string{}, args...)
}

// startServeEnv is startServe with environment variables.
func startServeEnv(t *testing.T, vars map[string]string, args ...string) (string, *lockedBuffer, *lockedBuffer, func() error) {
	t.Helper()
	dir := t.TempDir()
	ctx, cancel := context.WithCancel(context.Background())
	stdout, stderr := &lockedBuffer{}, &lockedBuffer{}
	errc := make(chan error, 1)
	all := append([]string{"serve", "--addr", "127.0.0.1:0", "--raw-addr", "", "--data-dir", dir}, args...)
	go func() { errc <- run(ctx, all, env(vars), stdout, stderr) }()
	var base string
	deadline := time.Now().Add(guard)
	for base == "" {
		if m := listenRE.FindStringSubmatch(stderr.String()); m != nil {
			base = "http://" + m[1] + m[2]
		}
		select {
		case err := <-errc:
			cancel()
			t.Fatalf("serve ended early: %v\n%s", err, stderr)
		default:
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("serve did not listen:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
	for {
		resp, err := http.Get(base + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				break
			}
		}
		if time.Now().After(deadline) {
			cancel()
			t.Fatalf("/healthz never answered 200: %v", err)
		}
		time.Sleep(10 * time.Millisecond)
	}
	stop := func() error {
		cancel()
		select {
		case err := <-errc:
			return err
		case <-time.After(guard):
			t.Fatalf("serve did not stop within %v of the signal", guard)
			return nil
		}
	}
	t.Cleanup(func() { cancel() })
	return base, stdout, stderr, stop
}

func TestServeDevStartsReadyAndStopsGracefully(t *testing.T) {
	base, stdout, stderr, stop := startServe(t)
	for _, path := range []string{"/healthz", "/readyz", "/api/openapi.yaml"} {
		resp, err := http.Get(base + path)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			t.Errorf("GET %s = %d", path, resp.StatusCode)
		}
	}
	if !strings.Contains(stdout.String(), "dev token (admin") {
		t.Errorf("dev mode prints no dev token:\n%s", stdout)
	}
	if !strings.Contains(stderr.String(), "dev mode: CORS allows any origin") {
		t.Errorf("dev mode does not say so in the log:\n%s", stderr)
	}
	if !regexp.MustCompile(`msg="websocket batch sends" path=(io_uring|send reason=)`).MatchString(stderr.String()) {
		t.Errorf("the log does not say how small broadcasts are sent:\n%s", stderr)
	}
	// The printed token is accepted by the server it came from.
	lines := strings.Split(strings.TrimSpace(stdout.String()), "\n")
	req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/providers/42/slots", nil)
	req.Header.Set("Authorization", "Bearer "+lines[len(lines)-1])
	resp, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK {
		t.Errorf("dev token: GET slots = %d", resp.StatusCode)
	}
	if err := stop(); err != nil {
		t.Fatalf("serve returned %v", err)
	}
	if !strings.Contains(stderr.String(), "stopped") {
		t.Errorf("no shutdown log:\n%s", stderr)
	}
}

func TestProductionRefusesToStartWithoutSecretOrOrigins(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--cors-origins", "https://app.example"}, "jwt-secret"},
		{[]string{"--jwt-secret", testSecret}, "cors-origins"},
		{[]string{"--jwt-secret", testSecret, "--cors-origins", "*"}, "origin *"},
	} {
		args := append([]string{"serve", "--env", "production", "--addr", "127.0.0.1:0", "--data-dir", dir}, tc.args...)
		err := run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
}

func TestEventLogFlagsAreChecked(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		env  map[string]string
		want string
	}{
		{[]string{"--event-retention", "0"}, nil, "--event-retention"},
		{nil, map[string]string{"EVENTIDE_EVENT_RETENTION_COUNT": "0"}, "--event-retention-count"},
		{[]string{"--relay-poll-interval", "0s"}, nil, "--relay-poll-interval"},
		{[]string{"--events-page-max", "0"}, nil, "--events-page-max"},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--jwt-secret", testSecret}, tc.args...)
		err := run(context.Background(), args, env(tc.env), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v %v: err = %v, want it to mention %q", tc.args, tc.env, err, tc.want)
		}
	}
}

func TestTokenCommandMintsVerifiableTokens(t *testing.T) {
	var out bytes.Buffer
	args := []string{"token", "--sub", "c1", "--role", "client", "--providers", "42,43", "--ttl", "2h"}
	if err := run(context.Background(), args, env(map[string]string{"EVENTIDE_JWT_SECRET": testSecret}), &out, &bytes.Buffer{}); err != nil {
		t.Fatal(err)
	}
	v, err := auth.NewVerifier([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	c, err := v.Verify(strings.TrimSpace(out.String()))
	if err != nil {
		t.Fatalf("minted token does not verify: %v", err)
	}
	if c.Subject != "c1" || c.Role != "client" || strings.Join(c.Providers, ",") != "42,43" {
		t.Errorf("claims = %+v", c)
	}
	if d := time.Until(c.ExpiresAt); d < time.Hour || d > 2*time.Hour+time.Minute {
		t.Errorf("expires in %v, want about 2h", d)
	}

	// A bad role is refused with a clear error, and nothing is printed.
	out.Reset()
	err = run(context.Background(), []string{"token", "--sub", "x", "--role", "root"}, env(map[string]string{"EVENTIDE_JWT_SECRET": testSecret}), &out, &bytes.Buffer{})
	if err == nil || out.Len() != 0 {
		t.Errorf("role root: err = %v, printed %q", err, out.String())
	}
}

func TestDevSecretIsGeneratedOnceAndKept(t *testing.T) {
	dir := t.TempDir()
	_, _, stderr, stop := startServe(t, "--data-dir", dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "jwt-secret")
	if !strings.Contains(stderr.String(), "generated a JWT secret") || !strings.Contains(stderr.String(), "file="+file) {
		t.Errorf("the first start does not say where it kept the secret:\n%s", stderr)
	}
	secret, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no dev secret kept: %v", err)
	}
	_, _, stderr, stop = startServe(t, "--data-dir", dir)
	if err := stop(); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(stderr.String(), "generated") || !strings.Contains(stderr.String(), `msg="dev mode: JWT secret kept" file=`+file) {
		t.Errorf("the second start does not say it uses the kept secret:\n%s", stderr)
	}
	again, err := os.ReadFile(file)
	if err != nil || string(again) != string(secret) {
		t.Errorf("the secret changed on restart (%v)", err)
	}
}

func TestMigrateCreatesTheSchema(t *testing.T) {
	dir := t.TempDir()
	var out bytes.Buffer
	db := filepath.Join(dir, "e.db")
	for range 2 { // idempotent
		out.Reset()
		if err := run(context.Background(), []string{"migrate", "--database-url", db}, env(nil), &out, &bytes.Buffer{}); err != nil {
			t.Fatal(err)
		}
	}
	if !strings.Contains(out.String(), "schema up to date") {
		t.Errorf("migrate printed %q", out.String())
	}
	if _, err := os.Stat(db); err != nil {
		t.Errorf("no database file: %v", err)
	}
}

func TestUnknownCommand(t *testing.T) {
	var stdout, stderr bytes.Buffer
	err := run(context.Background(), []string{"frobnicate"}, env(nil), &stdout, &stderr)
	if exitCode(err) != 2 || !strings.Contains(err.Error(), `unknown command "frobnicate"`) || !strings.Contains(err.Error(), "serve, token, migrate") {
		t.Fatalf("unknown command: exit %d, %v", exitCode(err), err)
	}
	if stdout.Len()+stderr.Len() != 0 {
		t.Errorf("printed more than the error: %q %q", stdout.String(), stderr.String())
	}
	stderr.Reset()
	if err := run(context.Background(), nil, env(nil), &stdout, &stderr); exitCode(err) != 2 || !strings.Contains(stderr.String(), "Commands:") {
		t.Errorf("no command: exit %d, %v, usage %q", exitCode(err), err, stderr.String())
	}
}

// TestProductionPlainWebSocket checks the wiring of the plain WebSocket's
// limits in production: a foreign Origin is refused even with a valid token,
// the configured origin is served, and a message over --raw-max-message is
// closed with 1009 and reported as a limit.
func TestProductionPlainWebSocket(t *testing.T) {
	base, _, stderr, _ := startServe(t, "--env", "production", "--jwt-secret", testSecret,
		"--cors-origins", "https://app.example", "--raw-max-message", "100")
	minter, err := auth.NewMinter([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := minter.Mint(auth.Claims{Subject: "kiosk", Role: auth.RoleAdmin}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	url := "ws" + strings.TrimPrefix(base, "http") + "/ws?token=" + tok
	ctx, cancel := context.WithTimeout(context.Background(), guard)
	defer cancel()

	if _, err := ws.Dial(ctx, url, ws.DialOptions{Header: http.Header{"Origin": {"https://evil.example"}}}); err == nil || !strings.Contains(err.Error(), "403") {
		t.Fatalf("foreign origin: %v, want 403", err)
	}
	c, err := ws.Dial(ctx, url, ws.DialOptions{Header: http.Header{"Origin": {"https://app.example"}}})
	if err != nil {
		t.Fatalf("configured origin: %v", err)
	}
	defer c.Abort()
	if err := c.WriteMessage(ws.OpText, []byte(`{"event":"big","payload":"`+strings.Repeat("x", 100)+`"}`)); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(guard))
	var ce *ws.CloseError
	if _, _, err := c.ReadMessage(0); !errors.As(err, &ce) || ce.Code != ws.CloseMessageTooBig {
		t.Fatalf("message over --raw-max-message: %v, want close 1009", err)
	}
	deadline := time.Now().Add(guard)
	for !strings.Contains(stderr.String(), `"limit":"rawws.message_bytes"`) {
		if time.Now().After(deadline) {
			t.Fatalf("no limit line in the log:\n%s", stderr)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// TestJWTLeewayFlag: --jwt-leeway is the leeway REST applies (and, through
// the same Verifier, the Socket.IO handshake and live sockets).
func TestJWTLeewayFlag(t *testing.T) {
	minter, err := auth.NewMinter([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		args []string
		want int
	}{
		{nil, http.StatusOK}, // the default, 30 s
		{[]string{"--jwt-leeway", "0s"}, http.StatusUnauthorized},
	} {
		base, _, _, stop := startServe(t, append([]string{"--jwt-secret", testSecret}, tc.args...)...)
		// Expired a second ago: within the default leeway for 29 s more,
		// which no loaded machine takes to send one request.
		tok, _, err := minter.Mint(auth.Claims{Subject: "late", Role: auth.RoleAdmin, ExpiresAt: time.Now().Add(-time.Second)}, 0)
		if err != nil {
			t.Fatal(err)
		}
		req, _ := http.NewRequest(http.MethodGet, base+"/api/v1/providers/42/slots", nil)
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		if resp.StatusCode != tc.want {
			t.Errorf("%v: a token expired a second ago gets %d, want %d", tc.args, resp.StatusCode, tc.want)
		}
		if err := stop(); err != nil {
			t.Fatal(err)
		}
	}
}
