package httpapi_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/store/sqlite"
)

var secret = []byte("test-secret-test-secret-test-secret")

// recorder records emits: the dev Emitter and the attendance broadcaster.
type recorder struct {
	mu    sync.Mutex
	calls []call
}

type call struct {
	room, event string
	data        any
}

func (r *recorder) EmitToRoom(room, event string, data any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.calls = append(r.calls, call{room, event, data})
	return nil
}

func (r *recorder) EmitToAll(event string, data any) error { return r.EmitToRoom("", event, data) }

// Broadcast records a plain WebSocket broadcast as an emit with no room
// and no event.
func (r *recorder) Broadcast(data any) error { return r.EmitToRoom("", "", data) }

func (r *recorder) all() []call {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]call(nil), r.calls...)
}

type env struct {
	t      *testing.T
	srv    *httptest.Server
	emit   *recorder
	minter *auth.Minter
	db     *sqlite.DB
}

type option func(*httpapi.Config, *httpapi.Deps)

func newEnv(t *testing.T, opts ...option) *env {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "eventide.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := &env{t: t, emit: &recorder{}, db: db}
	verifier, err := auth.NewVerifier(secret)
	if err != nil {
		t.Fatal(err)
	}
	if e.minter, err = auth.NewMinter(secret); err != nil {
		t.Fatal(err)
	}
	spec, err := os.ReadFile("../../api/openapi.yaml")
	if err != nil {
		t.Fatal(err)
	}
	cfg := httpapi.Config{Env: "dev"}
	deps := httpapi.Deps{
		Slots:      availability.NewService(db, nil),
		Verifier:   verifier,
		Minter:     e.minter,
		Ready:      db.Ping,
		Emitter:    e.emit,
		OpenAPI:    spec,
		Attendance: e.emit,
	}
	for _, o := range opts {
		o(&cfg, &deps)
	}
	e.srv = httptest.NewServer(httpapi.NewServer(cfg, deps))
	t.Cleanup(e.srv.Close)
	return e
}

func (e *env) token(c auth.Claims) string {
	e.t.Helper()
	tok, _, err := e.minter.Mint(c, time.Hour)
	if err != nil {
		e.t.Fatal(err)
	}
	return tok
}

var (
	admin    = auth.Claims{Subject: "a", Role: auth.RoleAdmin}
	provider = auth.Claims{Subject: "p", Role: auth.RoleProvider, ProviderID: "42"}
	client   = auth.Claims{Subject: "c", Role: auth.RoleClient, Providers: []string{"42"}}
)

type response struct {
	status int
	header http.Header
	body   []byte
}

func (r response) json(t *testing.T) map[string]any {
	t.Helper()
	var m map[string]any
	if err := json.Unmarshal(r.body, &m); err != nil {
		t.Fatalf("body %q: %v", r.body, err)
	}
	return m
}

type req struct {
	method, path, token string
	body                any // string = raw, otherwise marshalled
	header              map[string]string
	offSpec             bool // a deliberately undocumented route: skip the contract check
}

// do sends r to the real server and checks the exchange against the contract.
func (e *env) do(r req) response {
	e.t.Helper()
	var body []byte
	switch b := r.body.(type) {
	case nil:
	case string:
		body = []byte(b)
	case []byte:
		body = b
	default:
		var err error
		if body, err = json.Marshal(b); err != nil {
			e.t.Fatal(err)
		}
	}
	hr, err := http.NewRequestWithContext(e.t.Context(), r.method, e.srv.URL+r.path, bytes.NewReader(body))
	if err != nil {
		e.t.Fatal(err)
	}
	if body != nil {
		hr.Header.Set("Content-Type", "application/json")
	}
	if r.token != "" {
		hr.Header.Set("Authorization", "Bearer "+r.token)
	}
	for k, v := range r.header {
		hr.Header.Set(k, v)
	}
	resp, err := e.srv.Client().Do(hr)
	if err != nil {
		e.t.Fatal(err)
	}
	defer resp.Body.Close()
	rb, err := io.ReadAll(resp.Body)
	if err != nil {
		e.t.Fatal(err)
	}
	if !r.offSpec {
		checkContract(e.t, hr, body, resp, rb)
	}
	return response{status: resp.StatusCode, header: resp.Header, body: rb}
}

func wantStatus(t *testing.T, r response, status int) {
	t.Helper()
	if r.status != status {
		t.Fatalf("status %d, want %d; body %s", r.status, status, r.body)
	}
}

// wantProblem checks a problem+json answer, and the field it names.
func wantProblem(t *testing.T, r response, status int, field string) {
	t.Helper()
	wantStatus(t, r, status)
	if ct := r.header.Get("Content-Type"); ct != "application/problem+json" {
		t.Fatalf("Content-Type %q", ct)
	}
	p := r.json(t)
	if p["status"] != float64(status) || p["title"] != http.StatusText(status) || p["type"] != "about:blank" {
		t.Fatalf("problem %s", r.body)
	}
	if got, _ := p["field"].(string); got != field {
		t.Fatalf("problem field %q, want %q: %s", got, field, r.body)
	}
	if field != "" {
		errs, _ := p["errors"].([]any)
		if len(errs) != 1 || errs[0].(map[string]any)["field"] != field {
			t.Fatalf("problem errors %s", r.body)
		}
	}
}

const (
	slotsPath  = "/api/v1/providers/42/slots"
	eventsPath = "/api/v1/providers/42/events"
)

func slotBody(start, end string) map[string]any {
	return map[string]any{"start": start, "end": end}
}

// count returns how many slots provider 42 has, through the API.
func (e *env) count() int {
	e.t.Helper()
	r := e.do(req{method: "GET", path: slotsPath, token: e.token(admin)})
	wantStatus(e.t, r, http.StatusOK)
	slots, _ := r.json(e.t)["slots"].([]any)
	return len(slots)
}

func (e *env) create(start, end string) map[string]any {
	e.t.Helper()
	r := e.do(req{method: "POST", path: slotsPath, token: e.token(provider), body: slotBody(start, end)})
	wantStatus(e.t, r, http.StatusCreated)
	return r.json(e.t)
}

// changes returns provider 42's recorded changes as "action:seq", through
// the catch-up endpoint.
func (e *env) changes() []string {
	e.t.Helper()
	r := e.do(req{method: "GET", path: eventsPath + "?after=0", token: e.token(admin)})
	wantStatus(e.t, r, http.StatusOK)
	var page struct {
		Events []availability.Change `json:"events"`
	}
	if err := json.Unmarshal(r.body, &page); err != nil {
		e.t.Fatal(err)
	}
	var out []string
	for _, c := range page.Events {
		out = append(out, fmt.Sprintf("%s:%d", c.Action, c.Seq))
	}
	return out
}

func slotPath(id any) string { return fmt.Sprintf("%s/%v", slotsPath, id) }

func TestSlotLifecycle(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)

	r := e.do(req{method: "POST", path: slotsPath, token: ptok, body: map[string]any{
		"start": "2026-06-01T09:00:00+02:00", "end": "2026-06-01T10:00:00+02:00", "status": "available", "note": "first"}})
	wantStatus(t, r, http.StatusCreated)
	s := r.json(t)
	id := int64(s["id"].(float64))
	if s["start"] != "2026-06-01T07:00:00Z" || s["providerId"] != "42" || s["version"] != 1.0 || s["note"] != "first" {
		t.Fatalf("created %s", r.body)
	}
	if r.header.Get("ETag") != `"1"` || r.header.Get("Location") != slotPath(id) {
		t.Fatalf("headers %v", r.header)
	}

	r = e.do(req{method: "GET", path: slotPath(id), token: e.token(client)})
	wantStatus(t, r, http.StatusOK)
	if r.header.Get("ETag") != `"1"` || r.json(t)["note"] != "first" {
		t.Fatalf("get %s", r.body)
	}

	r = e.do(req{method: "PATCH", path: slotPath(id), token: ptok, body: map[string]any{"status": "booked"}, header: map[string]string{"If-Match": `"1"`}})
	wantStatus(t, r, http.StatusOK)
	if got := r.json(t); got["status"] != "booked" || got["version"] != 2.0 || got["note"] != "first" || r.header.Get("ETag") != `"2"` {
		t.Fatalf("patched %s", r.body)
	}
	// A bare number works as If-Match too.
	r = e.do(req{method: "PATCH", path: slotPath(id), token: ptok, body: map[string]any{"note": "second"}, header: map[string]string{"If-Match": "2"}})
	wantStatus(t, r, http.StatusOK)

	r = e.do(req{method: "GET", path: slotsPath + "?from=2026-06-01T07:30:00Z&to=2026-06-02T00:00:00Z", token: ptok})
	wantStatus(t, r, http.StatusOK)
	if slots := r.json(t)["slots"].([]any); len(slots) != 1 {
		t.Fatalf("window list %s", r.body)
	}
	r = e.do(req{method: "GET", path: slotsPath + "?from=2026-06-01T08:00:00Z", token: ptok})
	if slots := r.json(t)["slots"].([]any); len(slots) != 0 {
		t.Fatalf("slot ending at 'from' listed: %s", r.body)
	}

	r = e.do(req{method: "DELETE", path: slotPath(id), token: ptok})
	wantStatus(t, r, http.StatusNoContent)
	wantProblem(t, e.do(req{method: "GET", path: slotPath(id), token: ptok}), http.StatusNotFound, "")

	// Every change was recorded for provider 42 with seq 1, 2, 3, 4.
	if got := strings.Join(e.changes(), " "); got != "created:1 updated:2 updated:3 deleted:4" {
		t.Fatalf("changes %s", got)
	}
}

func TestBadInputStoresNothing(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)
	for _, tc := range []struct {
		name   string
		body   any
		status int
		field  string
	}{
		{"bad start time", slotBody("yesterday", "2026-06-01T10:00:00Z"), 400, "start"},
		{"bad end time", slotBody("2026-06-01T10:00:00Z", "2026-06-01 11:00"), 400, "end"},
		{"start after end", slotBody("2026-06-01T10:00:00Z", "2026-06-01T09:00:00Z"), 400, "end"},
		{"start equals end", slotBody("2026-06-01T10:00:00Z", "2026-06-01T10:00:00Z"), 400, "end"},
		{"missing start", map[string]any{"end": "2026-06-01T10:00:00Z"}, 400, "start"},
		{"bad status", map[string]any{"start": "2026-06-01T09:00:00Z", "end": "2026-06-01T10:00:00Z", "status": "free"}, 400, "status"},
		{"note too long", map[string]any{"start": "2026-06-01T09:00:00Z", "end": "2026-06-01T10:00:00Z", "note": strings.Repeat("ü", 501)}, 400, "note"},
		{"unknown field", map[string]any{"start": "2026-06-01T09:00:00Z", "end": "2026-06-01T10:00:00Z", "colour": "red"}, 400, "colour"},
		{"wrong type", map[string]any{"start": 12, "end": "2026-06-01T10:00:00Z"}, 400, "start"},
		{"malformed JSON", `{"start": "2026-06-01T09:00:00Z",`, 400, "body"},
		{"not an object", `[1,2]`, 400, "body"},
		{"trailing data", `{"start":"2026-06-01T09:00:00Z","end":"2026-06-01T10:00:00Z"} {}`, 400, "body"},
		{"empty body", ``, 400, "body"},
		{"oversized body", map[string]any{"start": "2026-06-01T09:00:00Z", "end": "2026-06-01T10:00:00Z", "note": strings.Repeat("x", 70<<10)}, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := e.do(req{method: "POST", path: slotsPath, token: ptok, body: tc.body})
			wantProblem(t, r, tc.status, tc.field)
			if n := e.count(); n != 0 {
				t.Fatalf("%d slots stored after a rejected request", n)
			}
		})
	}
	r := e.do(req{method: "POST", path: slotsPath, token: ptok, body: slotBody("2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z"),
		header: map[string]string{"Content-Type": "text/plain"}})
	wantProblem(t, r, 400, "Content-Type")
	wantProblem(t, e.do(req{method: "GET", path: slotsPath + "?from=soon", token: ptok}), 400, "from")
	wantProblem(t, e.do(req{method: "GET", path: slotsPath + "?from=2026-06-02T00:00:00Z&to=2026-06-01T00:00:00Z", token: ptok}), 400, "to")
	wantProblem(t, e.do(req{method: "GET", path: slotsPath + "/abc", token: ptok}), 400, "slotId")
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/providers/bad.id/slots", token: e.token(admin)}), 400, "providerId")
	if got := e.changes(); len(got) != 0 {
		t.Fatalf("changes %v recorded for rejected requests", got)
	}
}

func TestPatchErrorsChangeNothing(t *testing.T) {
	e := newEnv(t)
	ptok := e.token(provider)
	a := e.create("2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z")
	e.create("2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z")
	path := slotPath(a["id"])
	for _, tc := range []struct {
		name   string
		body   any
		header map[string]string
		status int
		field  string
	}{
		{"stale If-Match", map[string]any{"note": "x"}, map[string]string{"If-Match": `"7"`}, 412, ""},
		{"bad If-Match", map[string]any{"note": "x"}, map[string]string{"If-Match": `"seven"`}, 400, "If-Match"},
		{"overlap", map[string]any{"end": "2026-06-01T11:30:00Z"}, nil, 409, ""},
		{"merged start after end", map[string]any{"start": "2026-06-01T10:30:00Z"}, nil, 400, "end"},
		{"bad time", map[string]any{"start": "9am"}, nil, 400, "start"},
		{"unknown field", map[string]any{"id": 5}, nil, 400, "id"},
		{"note too long", map[string]any{"note": strings.Repeat("n", 501)}, nil, 400, "note"},
		{"oversized", map[string]any{"note": strings.Repeat("n", 65<<10)}, nil, 413, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			wantProblem(t, e.do(req{method: "PATCH", path: path, token: ptok, body: tc.body, header: tc.header}), tc.status, tc.field)
			r := e.do(req{method: "GET", path: path, token: ptok})
			if got := r.json(t); got["version"] != 1.0 || got["end"] != "2026-06-01T10:00:00Z" || got["note"] != "" {
				t.Fatalf("slot changed: %s", r.body)
			}
		})
	}
	wantProblem(t, e.do(req{method: "PATCH", path: slotPath(999), token: ptok, body: map[string]any{"note": "x"}}), 404, "")
	wantProblem(t, e.do(req{method: "DELETE", path: slotPath(999), token: ptok}), 404, "")
	wantProblem(t, e.do(req{method: "DELETE", path: path, token: ptok, header: map[string]string{"If-Match": `"3"`}}), 412, "")
	wantStatus(t, e.do(req{method: "DELETE", path: path, token: ptok, header: map[string]string{"If-Match": `"1"`}}), 204)
	if got := strings.Join(e.changes(), " "); got != "created:1 created:2 deleted:3" {
		t.Fatalf("changes %s, want two creates and a delete", got)
	}
}

func TestOverlapConflict(t *testing.T) {
	e := newEnv(t)
	e.create("2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z")
	r := e.do(req{method: "POST", path: slotsPath, token: e.token(provider), body: slotBody("2026-06-01T09:30:00Z", "2026-06-01T10:30:00Z")})
	wantProblem(t, r, 409, "")
	if n := e.count(); n != 1 {
		t.Fatalf("%d slots after a conflict, want 1", n)
	}
	// Back to back is fine.
	e.create("2026-06-01T10:00:00Z", "2026-06-01T11:00:00Z")
}

func TestAuth(t *testing.T) {
	e := newEnv(t)
	other, _ := auth.NewMinter([]byte("some-other-secret-some-other-secret"))
	forged, _, _ := other.Mint(admin, time.Hour)
	pastMinter, _ := auth.NewMinter(secret, auth.WithClock(func() time.Time { return time.Now().Add(-2 * time.Hour) }))
	expired, _, _ := pastMinter.Mint(admin, time.Hour)
	body := slotBody("2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z")

	for _, tc := range []struct{ name, token string }{{"no token", ""}, {"forged", forged}, {"expired", expired}, {"garbage", "abc"}} {
		t.Run(tc.name, func(t *testing.T) {
			for _, m := range []string{"GET", "POST"} {
				var b any
				if m == "POST" {
					b = body
				}
				r := e.do(req{method: m, path: slotsPath, token: tc.token, body: b})
				wantProblem(t, r, 401, "")
				if !strings.HasPrefix(r.header.Get("WWW-Authenticate"), "Bearer") {
					t.Fatalf("WWW-Authenticate %q", r.header.Get("WWW-Authenticate"))
				}
			}
		})
	}
	// The token may also come as ?token= (browsers' WebSocket upgrades).
	wantStatus(t, e.do(req{method: "GET", path: slotsPath + "?token=" + e.token(client)}), 200)

	stranger := auth.Claims{Subject: "s", Role: auth.RoleClient, Providers: []string{"7"}}
	otherProvider := auth.Claims{Subject: "p7", Role: auth.RoleProvider, ProviderID: "7"}
	for _, tc := range []struct {
		name   string
		c      auth.Claims
		method string
	}{
		{"client not listed reads", stranger, "GET"},
		{"client writes", client, "POST"},
		{"other provider reads", otherProvider, "GET"},
		{"other provider writes", otherProvider, "POST"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var b any
			if tc.method == "POST" {
				b = body
			}
			wantProblem(t, e.do(req{method: tc.method, path: slotsPath, token: e.token(tc.c), body: b}), 403, "")
		})
	}
	a := e.create("2026-06-02T09:00:00Z", "2026-06-02T10:00:00Z")
	wantProblem(t, e.do(req{method: "PATCH", path: slotPath(a["id"]), token: e.token(client), body: map[string]any{"note": "x"}}), 403, "")
	wantProblem(t, e.do(req{method: "DELETE", path: slotPath(a["id"]), token: e.token(client)}), 403, "")
	wantProblem(t, e.do(req{method: "GET", path: slotPath(a["id"]), token: e.token(stranger)}), 403, "")
	// A star client and an admin read everything; an admin writes anything.
	wantStatus(t, e.do(req{method: "GET", path: slotsPath, token: e.token(auth.Claims{Role: auth.RoleClient, Providers: []string{"*"}})}), 200)
	wantStatus(t, e.do(req{method: "POST", path: slotsPath, token: e.token(admin), body: slotBody("2026-06-03T09:00:00Z", "2026-06-03T10:00:00Z")}), 201)
	if n := e.count(); n != 2 {
		t.Fatalf("%d slots, want 2 (forbidden writes stored something)", n)
	}
}

func TestHealthReadyOpenAPI(t *testing.T) {
	e := newEnv(t)
	wantStatus(t, e.do(req{method: "GET", path: "/healthz"}), 200)
	wantStatus(t, e.do(req{method: "GET", path: "/readyz"}), 200)
	r := e.do(req{method: "GET", path: "/api/openapi.yaml"})
	wantStatus(t, r, 200)
	if !bytes.HasPrefix(r.body, []byte("openapi: 3.1")) {
		t.Fatalf("openapi body %.40q", r.body)
	}
	e.db.Close()
	wantProblem(t, e.do(req{method: "GET", path: "/readyz"}), 503, "")
	wantProblem(t, e.do(req{method: "GET", path: "/api/v1/nothing", token: e.token(admin), offSpec: true}), 404, "")
}

// TestReadyLogsItsChangesNotEveryProbe: an outage seen by many probes is one
// warning (another when its reason changes), and its end one line.
func TestReadyLogsItsChangesNotEveryProbe(t *testing.T) {
	var (
		mu   sync.Mutex
		fail error
		logs bytes.Buffer
	)
	setFail := func(err error) { mu.Lock(); fail = err; mu.Unlock() }
	e := newEnv(t, func(_ *httpapi.Config, d *httpapi.Deps) {
		d.Logger = slog.New(slog.NewTextHandler(&lockedWriter{w: &logs, mu: &mu}, nil))
		d.Ready = func(context.Context) error { mu.Lock(); defer mu.Unlock(); return fail }
	})
	probe := func(want int) {
		t.Helper()
		if want == 200 {
			wantStatus(t, e.do(req{method: "GET", path: "/readyz"}), 200)
		} else {
			wantProblem(t, e.do(req{method: "GET", path: "/readyz"}), 503, "")
		}
	}
	probe(200)
	setFail(errors.New("redis: connection refused"))
	for range 5 {
		probe(503)
	}
	setFail(errors.New("redis: i/o timeout"))
	for range 3 {
		probe(503)
	}
	setFail(nil)
	probe(200)
	probe(200)
	mu.Lock()
	out := logs.String()
	mu.Unlock()
	if n := strings.Count(out, "not ready"); n != 2 {
		t.Errorf("%d \"not ready\" lines for two reasons over 8 probes, want 2:\n%s", n, out)
	}
	if !strings.Contains(out, "connection refused") || !strings.Contains(out, "i/o timeout") {
		t.Errorf("the reasons are not in the log:\n%s", out)
	}
	if n := strings.Count(out, "ready again"); n != 1 {
		t.Errorf("%d \"ready again\" lines, want 1:\n%s", n, out)
	}
}

// lockedWriter serializes writes to w under mu.
type lockedWriter struct {
	w  io.Writer
	mu *sync.Mutex
}

func (l *lockedWriter) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.w.Write(p)
}

// TestReadyWhileDraining: /readyz answers 503 problem+json once the
// process drains, though the store answers; /healthz stays 200.
func TestReadyWhileDraining(t *testing.T) {
	var draining atomic.Bool
	e := newEnv(t, func(_ *httpapi.Config, d *httpapi.Deps) { d.Draining = draining.Load })
	wantStatus(t, e.do(req{method: "GET", path: "/readyz"}), 200)
	draining.Store(true)
	r := e.do(req{method: "GET", path: "/readyz"})
	wantProblem(t, r, 503, "")
	if !bytes.Contains(r.body, []byte("draining")) {
		t.Fatalf("readyz while draining: %s", r.body)
	}
	wantStatus(t, e.do(req{method: "GET", path: "/healthz"}), 200)
}

func TestDevToken(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: "/api/v1/dev/token"})
	wantStatus(t, r, 200)
	got := r.json(t)
	claims := got["claims"].(map[string]any)
	if claims["role"] != "admin" || claims["sub"] != "dev" {
		t.Fatalf("default token %s", r.body)
	}
	// The token works.
	wantStatus(t, e.do(req{method: "GET", path: slotsPath, token: got["token"].(string)}), 200)

	r = e.do(req{method: "POST", path: "/api/v1/dev/token", body: map[string]any{"sub": "ann", "role": "client", "providers": "*", "ttl": "5m"}})
	wantStatus(t, r, 200)
	got = r.json(t)
	if c := got["claims"].(map[string]any); c["role"] != "client" || fmt.Sprint(c["providers"]) != "[*]" {
		t.Fatalf("client token %s", r.body)
	}
	exp, _ := time.Parse(time.RFC3339, got["expiresAt"].(string))
	if d := time.Until(exp); d < 4*time.Minute || d > 6*time.Minute {
		t.Fatalf("expiresAt %v", exp)
	}
	r = e.do(req{method: "POST", path: "/api/v1/dev/token", body: map[string]any{"role": "provider", "providerId": "42", "providers": []string{"42", "7"}}})
	wantStatus(t, r, 200)

	for _, tc := range []struct {
		body  any
		field string
	}{
		{map[string]any{"role": "root"}, "role"},
		{map[string]any{"role": "provider"}, "providerId"},
		{map[string]any{"ttl": "forever"}, "ttl"},
		{map[string]any{"providers": "42"}, "providers"},
		{map[string]any{"scope": "all"}, "scope"},
	} {
		wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/token", body: tc.body}), 400, tc.field)
	}
}

func TestDevEmit(t *testing.T) {
	e := newEnv(t)
	r := e.do(req{method: "POST", path: "/api/v1/dev/emit", token: e.token(admin), body: map[string]any{"room": "provider-42", "event": "ping", "data": map[string]any{"n": 1}, "count": 3}})
	wantStatus(t, r, 202)
	calls := e.emit.all()
	if len(calls) != 3 || calls[0].room != "provider-42" || calls[0].event != "ping" || string(calls[0].data.(json.RawMessage)) != `{"n":1}` {
		t.Fatalf("calls %+v", calls)
	}
	wantStatus(t, e.do(req{method: "POST", path: "/api/v1/dev/emit", token: e.token(admin), body: map[string]any{"event": "hello"}}), 202)
	if calls = e.emit.all(); len(calls) != 4 || calls[3].room != "" || calls[3].data != nil {
		t.Fatalf("emit to all: %+v", calls[3])
	}
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/emit", token: e.token(provider), body: map[string]any{"event": "x"}}), 403, "")
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/emit", body: map[string]any{"event": "x"}}), 401, "")
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/emit", token: e.token(admin), body: map[string]any{"event": "disconnect"}}), 400, "event")
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/emit", token: e.token(admin), body: map[string]any{"event": "x", "count": 0}}), 400, "count")
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/emit", token: e.token(admin), body: map[string]any{}}), 400, "event")
	if n := len(e.emit.all()); n != 4 {
		t.Fatalf("%d emits after rejected requests, want 4", n)
	}
}

func TestDevAttendanceBroadcast(t *testing.T) {
	e := newEnv(t)
	path := "/api/v1/dev/attendance/broadcast"
	wantStatus(t, e.do(req{method: "POST", path: path, token: e.token(admin), body: map[string]any{"message": "Hello to all clients!", "type": "info"}}), 202)
	calls := e.emit.all()
	if len(calls) != 1 || string(calls[0].data.(json.RawMessage)) != `{"message":"Hello to all clients!","type":"info"}` {
		t.Fatalf("broadcasts %+v", calls)
	}
	wantProblem(t, e.do(req{method: "POST", path: path, token: e.token(provider), body: map[string]any{"x": 1}}), 403, "")
	wantProblem(t, e.do(req{method: "POST", path: path, body: map[string]any{"x": 1}}), 401, "")
	wantProblem(t, e.do(req{method: "POST", path: path, token: e.token(admin), body: "{oops"}), 400, "body")
	if n := len(e.emit.all()); n != 1 {
		t.Fatalf("%d broadcasts after rejected requests, want 1", n)
	}
}

func TestProductionHasNoDevRoutes(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config, _ *httpapi.Deps) {
		c.Env = "production"
		c.CORSOrigins = []string{"https://app.example"}
	})
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/token"}), 404, "")
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/emit", token: e.token(admin), body: map[string]any{"event": "x"}}), 404, "")
	wantProblem(t, e.do(req{method: "POST", path: "/api/v1/dev/attendance/broadcast", token: e.token(admin), body: map[string]any{"x": 1}}), 404, "")
}

func TestCORS(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config, _ *httpapi.Deps) {
		c.Env = "production"
		c.CORSOrigins = []string{"https://app.example"}
	})
	preflight := func(origin string) *http.Response {
		r, _ := http.NewRequest("OPTIONS", e.srv.URL+slotsPath, nil)
		r.Header.Set("Origin", origin)
		r.Header.Set("Access-Control-Request-Method", "PATCH")
		r.Header.Set("Access-Control-Request-Headers", "authorization,if-match,content-type")
		resp, err := e.srv.Client().Do(r)
		if err != nil {
			t.Fatal(err)
		}
		resp.Body.Close()
		return resp
	}
	resp := preflight("https://app.example")
	if resp.Header.Get("Access-Control-Allow-Origin") != "https://app.example" || resp.Header.Get("Access-Control-Allow-Credentials") != "true" ||
		!strings.Contains(resp.Header.Get("Access-Control-Allow-Methods"), "PATCH") {
		t.Fatalf("allowed preflight headers %v", resp.Header)
	}
	if resp := preflight("https://evil.example"); resp.Header.Get("Access-Control-Allow-Origin") != "" {
		t.Fatalf("disallowed origin got %q", resp.Header.Get("Access-Control-Allow-Origin"))
	}
	r := e.do(req{method: "GET", path: slotsPath, token: e.token(admin), header: map[string]string{"Origin": "https://app.example"}})
	if r.header.Get("Access-Control-Allow-Origin") != "https://app.example" || !strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "Etag") &&
		!strings.Contains(r.header.Get("Access-Control-Expose-Headers"), "ETag") {
		t.Fatalf("simple request headers %v", r.header)
	}

	for _, tc := range []struct {
		cfg    httpapi.Config
		origin string
		want   bool
	}{
		{httpapi.Config{Env: "dev"}, "http://anything:4200", true},
		{httpapi.Config{Env: "production"}, "http://anything:4200", false},
		{httpapi.Config{Env: "production"}, "", true},
		{httpapi.Config{Env: "production", CORSOrigins: []string{"https://App.example/"}}, "https://app.example", true},
		{httpapi.Config{Env: "production", CORSOrigins: []string{"https://app.example"}}, "https://app.example:8443", false},
		{httpapi.Config{Env: "production", CORSOrigins: []string{"*"}}, "https://x.example", true},
		{httpapi.Config{Env: "dev", CORSOrigins: []string{"https://app.example"}}, "http://other", false},
	} {
		if got := httpapi.AllowOrigin(tc.cfg)(tc.origin); got != tc.want {
			t.Errorf("AllowOrigin(%+v)(%q) = %v", tc.cfg, tc.origin, got)
		}
	}
}

// TestOriginIgnoresHost: whether an origin may call is decided by the list
// alone; a Host header that agrees with Origin (which the sender, or a
// rebound DNS name, controls) lets nothing more through.
func TestOriginIgnoresHost(t *testing.T) {
	prod := httpapi.Config{Env: "production", CORSOrigins: []string{"https://app.example"}}
	for _, tc := range []struct {
		cfg          httpapi.Config
		host, origin string
		want         bool
	}{
		{prod, "evil.example", "https://evil.example", false},
		{prod, "eventide.example", "https://eventide.example", false},
		{prod, "eventide.example", "https://app.example", true},
		{prod, "app.example", "null", false},
		{prod, "eventide.example", "", true},
		{httpapi.Config{Env: "dev"}, "localhost:8080", "http://anything.example", true},
		{httpapi.Config{Env: "dev", CORSOrigins: []string{"https://app.example"}}, "localhost:8080", "http://localhost:8080", false},
	} {
		r := httptest.NewRequest("GET", "http://"+tc.host+"/socket.io/", nil)
		if tc.origin != "" {
			r.Header.Set("Origin", tc.origin)
		}
		if got := httpapi.AllowRequestOrigin(tc.cfg)(r); got != tc.want {
			t.Errorf("%s with Host %s and Origin %q: allowed=%v, want %v", tc.cfg.Env, tc.host, tc.origin, got, tc.want)
		}
	}
	// Through CORS: a production server does not reflect an unlisted
	// origin that matches its Host.
	e := newEnv(t, func(c *httpapi.Config, _ *httpapi.Deps) { *c = prod })
	r := e.do(req{method: "GET", path: slotsPath, token: e.token(admin), header: map[string]string{"Origin": e.srv.URL}})
	if got := r.header.Get("Access-Control-Allow-Origin"); got != "" {
		t.Fatalf("an unlisted same-host origin got Access-Control-Allow-Origin %q", got)
	}
}

func TestMounts(t *testing.T) {
	mark := func(name string) http.Handler {
		return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { fmt.Fprint(w, name+" "+r.URL.Path) })
	}
	e := newEnv(t, func(_ *httpapi.Config, d *httpapi.Deps) {
		d.SocketIO, d.RawWS, d.Web = mark("sio"), mark("ws"), mark("web")
	})
	for path, want := range map[string]string{
		"/socket.io/?EIO=4&transport=polling": "sio /socket.io/",
		"/ws":                                 "ws /ws",
		"/":                                   "web /",
		"/slots/42":                           "web /slots/42",
	} {
		resp, err := e.srv.Client().Get(e.srv.URL + path)
		if err != nil {
			t.Fatal(err)
		}
		b, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		if string(b) != want {
			t.Errorf("GET %s -> %q, want %q", path, b, want)
		}
	}
	// /api/ never falls through to the dashboard.
	wantProblem(t, e.do(req{method: "GET", path: "/api/v2/x", offSpec: true}), 404, "")
}

func TestPanicIsA500Problem(t *testing.T) {
	e := newEnv(t, func(_ *httpapi.Config, d *httpapi.Deps) {
		d.Web = http.HandlerFunc(func(http.ResponseWriter, *http.Request) { panic(errors.New("boom")) })
	})
	resp, err := e.srv.Client().Get(e.srv.URL + "/x")
	if err != nil {
		t.Fatal(err)
	}
	b, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != 500 || strings.Contains(string(b), "boom") {
		t.Fatalf("%d %s", resp.StatusCode, b)
	}
}
