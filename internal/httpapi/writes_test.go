package httpapi_test

import (
	"bytes"
	"log/slog"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/fakeclock"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/ratelimit"
)

// TestWriteRatePerSubject: a token subject gets its burst of writes, then
// Rate a second; the write over it is answered 429 problem+json with
// Retry-After, reads nothing and stores nothing. Reads, and other
// subjects, are not held back. The clock is a fake one: time passes only
// when the test says.
func TestWriteRatePerSubject(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC))
	var logs bytes.Buffer
	rep := limits.New(limits.Config{Logger: slog.New(slog.NewTextHandler(&logs, nil)), Now: clock.Now})
	e := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) {
		c.WriteRate = ratelimit.Limit{Rate: 0.5, Burst: 2}
		d.Now = clock.Now
		d.Limits = rep
	})
	tok := e.token(provider)
	e.create("2030-01-01T09:00:00Z", "2030-01-01T10:00:00Z")
	e.create("2030-01-01T10:00:00Z", "2030-01-01T11:00:00Z")

	// over sends a write that must be refused, with Retry-After secs.
	over := func(method, path string, body any, secs string) {
		t.Helper()
		r := e.do(req{method: method, path: path, token: tok, body: body})
		wantProblem(t, r, http.StatusTooManyRequests, "")
		if got := r.header.Get("Retry-After"); got != secs {
			t.Fatalf("Retry-After %q, want %s", got, secs)
		}
		want := "too many writes: one token subject may make 0.5 writes a second, 2 at once; retry after " + secs + " s"
		if d := r.json(t)["detail"]; d != want {
			t.Fatalf("detail %q, want %q", d, want)
		}
	}
	// One token comes every 2 s.
	over("POST", slotsPath, slotBody("2030-01-01T11:00:00Z", "2030-01-01T12:00:00Z"), "2")
	over("PATCH", slotPath(1), map[string]any{"note": "x"}, "2")
	over("DELETE", slotPath(1), nil, "2")
	// Refused before the body is read: a bad one is not even looked at.
	over("POST", slotsPath, "{not json", "2")
	if n := e.count(); n != 2 {
		t.Fatalf("%d slots after the refused writes, want 2", n)
	}
	if n := rep.Count(httpapi.LimitWriteRate); n != 4 {
		t.Fatalf("%s counted %d times, want 4", httpapi.LimitWriteRate, n)
	}
	if !strings.Contains(logs.String(), "limit="+httpapi.LimitWriteRate) || !strings.Contains(logs.String(), "sub=p") {
		t.Fatalf("no WARN line for the limit:\n%s", logs.String())
	}

	// Reads are not writes; another subject has its own budget.
	wantStatus(t, e.do(req{method: "GET", path: slotPath(1), token: tok}), http.StatusOK)
	other := auth.Claims{Subject: "p2", Role: auth.RoleProvider, ProviderID: "42"}
	wantStatus(t, e.do(req{method: "PATCH", path: slotPath(1), token: e.token(other), body: map[string]any{"note": "y"}}), http.StatusOK)

	// Retry-After seconds later, one more write; not a moment before
	// (and Retry-After rounds up).
	clock.Advance(2*time.Second - time.Nanosecond)
	over("PATCH", slotPath(1), map[string]any{"note": "z"}, "1")
	clock.Advance(time.Nanosecond)
	wantStatus(t, e.do(req{method: "PATCH", path: slotPath(1), token: tok, body: map[string]any{"note": "z"}}), http.StatusOK)
}

// TestWriteRateOff: a negative rate lifts the limit.
func TestWriteRateOff(t *testing.T) {
	clock := fakeclock.New(time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC))
	e := newEnv(t, func(c *httpapi.Config, d *httpapi.Deps) {
		c.WriteRate = ratelimit.Limit{Rate: -1}
		d.Now = clock.Now
	})
	day := time.Date(2030, 1, 1, 9, 0, 0, 0, time.UTC)
	for i := range httpapi.DefaultWriteBurst + 1 {
		s := day.Add(time.Duration(i) * time.Hour)
		e.create(s.Format(time.RFC3339), s.Add(time.Hour).Format(time.RFC3339))
	}
}
