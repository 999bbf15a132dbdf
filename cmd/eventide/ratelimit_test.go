package main

import (
	"bytes"
	"context"
	"flag"
	"io"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
)

// TestRateLimitFlags: the rate limits have documented defaults, an
// EVENTIDE_* variable each, a flag that wins over it, and limits that
// cannot work are refused at start with the flag's name.
func TestRateLimitFlags(t *testing.T) {
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
	if c.SocketEventRate != 10 || c.SocketEventBurst != 200 || c.SubjectEventRate != 50 || c.SubjectEventBurst != 1000 ||
		c.EventAbuseRefusals != 100 || c.EventAbuseWindow != time.Minute || c.RESTWriteRate != 20 || c.RESTWriteBurst != 200 ||
		c.RateLimitSubjects != 50_000 {
		t.Errorf("defaults: %+v", c)
	}
	c = parse(map[string]string{
		"EVENTIDE_SOCKET_EVENT_RATE":    "0.5",
		"EVENTIDE_SOCKET_EVENT_BURST":   "7",
		"EVENTIDE_SUBJECT_EVENT_RATE":   "0",
		"EVENTIDE_SUBJECT_EVENT_BURST":  "8",
		"EVENTIDE_EVENT_ABUSE_REFUSALS": "9",
		"EVENTIDE_EVENT_ABUSE_WINDOW":   "2m",
		"EVENTIDE_REST_WRITE_RATE":      "3",
		"EVENTIDE_REST_WRITE_BURST":     "4",
		"EVENTIDE_RATE_LIMIT_SUBJECTS":  "5",
	}, "--rest-write-burst", "6")
	if c.SocketEventRate != 0.5 || c.SocketEventBurst != 7 || c.SubjectEventRate != 0 || c.SubjectEventBurst != 8 ||
		c.EventAbuseRefusals != 9 || c.EventAbuseWindow != 2*time.Minute || c.RESTWriteRate != 3 || c.RESTWriteBurst != 6 ||
		c.RateLimitSubjects != 5 {
		t.Errorf("from the environment and a flag: %+v", c)
	}

	dir := t.TempDir()
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--socket-event-rate", "-1"}, "--socket-event-rate"},
		{[]string{"--subject-event-rate", "NaN"}, "--subject-event-rate"},
		{[]string{"--rest-write-burst", "0"}, "--rest-write-burst"},
		{[]string{"--socket-event-burst", "0"}, "--socket-event-burst"},
		{[]string{"--event-abuse-refusals", "-1"}, "--event-abuse-refusals"},
		{[]string{"--event-abuse-window", "0s"}, "--event-abuse-window"},
		{[]string{"--rate-limit-subjects", "0"}, "--rate-limit-subjects"},
	} {
		args := append([]string{"serve", "--addr", "127.0.0.1:0", "--data-dir", dir, "--jwt-secret", testSecret}, tc.args...)
		err := run(context.Background(), args, env(nil), &bytes.Buffer{}, &bytes.Buffer{})
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%v: err = %v, want it to mention %q", tc.args, err, tc.want)
		}
	}
	// A burst does not matter when its rate is 0 (no limit).
	_, _, _, stop := startServe(t, "--jwt-secret", testSecret, "--rest-write-rate", "0", "--rest-write-burst", "0")
	if err := stop(); err != nil {
		t.Fatal(err)
	}
}

// TestRESTWriteRateServed: `serve` applies --rest-write-rate and
// --rest-write-burst: the write over the burst is answered 429 with
// Retry-After, and the limit is logged.
func TestRESTWriteRateServed(t *testing.T) {
	base, _, stderr, _ := startServe(t, "--jwt-secret", testSecret, "--rest-write-rate", "0.001", "--rest-write-burst", "1")
	minter, err := auth.NewMinter([]byte(testSecret))
	if err != nil {
		t.Fatal(err)
	}
	tok, _, err := minter.Mint(auth.Claims{Subject: "writer", Role: auth.RoleProvider, ProviderID: "42"}, time.Hour)
	if err != nil {
		t.Fatal(err)
	}
	post := func(start string) *http.Response {
		t.Helper()
		body := `{"start":"` + start + `:00:00Z","end":"` + start + `:30:00Z"}`
		req, _ := http.NewRequest(http.MethodPost, base+"/api/v1/providers/42/slots", strings.NewReader(body))
		req.Header.Set("Authorization", "Bearer "+tok)
		req.Header.Set("Content-Type", "application/json")
		resp, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	if resp := post("2030-01-01T09"); resp.StatusCode != http.StatusCreated {
		t.Fatalf("first write: %d", resp.StatusCode)
	}
	// One token every 1,000 s: the second write is refused whatever the
	// machine's speed.
	resp := post("2030-01-01T10")
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("second write: %d %s", resp.StatusCode, resp.Header.Get("Content-Type"))
	}
	// The wait for the next token, rounded up: 1,000 s less the time
	// since the first write (the exact figures: internal/httpapi's tests,
	// on a fake clock).
	if ra, err := strconv.Atoi(resp.Header.Get("Retry-After")); err != nil || ra < 1 || ra > 1000 {
		t.Fatalf("Retry-After %q, want whole seconds up to 1000", resp.Header.Get("Retry-After"))
	}
	if !strings.Contains(stderr.String(), "limit=http.write_rate") {
		t.Errorf("no limit line in the log:\n%s", stderr)
	}
}
