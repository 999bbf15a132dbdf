package httpapi_test

import (
	"context"
	"encoding/json"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/auth"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/limits"
	"github.com/eventide/realtime/internal/relay"
)

type eventPage struct {
	ProviderID string           `json:"providerId"`
	Seq        int64            `json:"seq"`
	Events     []map[string]any `json:"events"`
}

func (e *env) events(query string, tok string) (response, eventPage) {
	e.t.Helper()
	r := e.do(req{method: "GET", path: eventsPath + query, token: tok})
	var p eventPage
	if r.status == http.StatusOK {
		if err := json.Unmarshal(r.body, &p); err != nil {
			e.t.Fatalf("events body %s: %v", r.body, err)
		}
	}
	return r, p
}

func seqs(p eventPage) string {
	var out []string
	for _, ev := range p.Events {
		b, _ := json.Marshal(ev["seq"])
		out = append(out, string(b))
	}
	return strings.Join(out, " ")
}

func TestSlotListStatesSeq(t *testing.T) {
	e := newEnv(t)
	list := func(path string) map[string]any {
		t.Helper()
		r := e.do(req{method: "GET", path: path, token: e.token(admin)})
		wantStatus(t, r, http.StatusOK)
		return r.json(t)
	}
	if got := list(slotsPath); got["seq"] != 0.0 {
		t.Fatalf("a provider with no change: %v", got)
	}
	a := e.create("2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z")
	e.create("2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z")
	wantStatus(t, e.do(req{method: "DELETE", path: slotPath(a["id"]), token: e.token(provider)}), http.StatusNoContent)
	if got := list(slotsPath); got["seq"] != 3.0 || len(got["slots"].([]any)) != 1 {
		t.Fatalf("after three changes: %v", got)
	}
	// The seq is the provider's, whatever the window.
	if got := list(slotsPath + "?from=2030-01-01T00:00:00Z"); got["seq"] != 3.0 || len(got["slots"].([]any)) != 0 {
		t.Fatalf("empty window: %v", got)
	}
	if got := list("/api/v1/providers/7/slots"); got["seq"] != 0.0 {
		t.Fatalf("another provider: %v", got)
	}
}

func TestEventsCatchUp(t *testing.T) {
	e := newEnv(t)
	ptok, ctok := e.token(provider), e.token(client)
	a := e.create("2026-06-01T09:00:00Z", "2026-06-01T10:00:00Z")
	wantStatus(t, e.do(req{method: "PATCH", path: slotPath(a["id"]), token: ptok, body: map[string]any{"note": "hi"}}), http.StatusOK)
	e.create("2026-06-01T11:00:00Z", "2026-06-01T12:00:00Z")

	// A client that may watch provider 42 catches up from 0: every change,
	// in order, with the availabilityUpdated payload.
	r, p := e.events("?after=0", ctok)
	wantStatus(t, r, http.StatusOK)
	if p.ProviderID != "42" || p.Seq != 3 || seqs(p) != "1 2 3" {
		t.Fatalf("events %s", r.body)
	}
	up := p.Events[1]
	slot, _ := up["slot"].(map[string]any)
	if up["action"] != "updated" || up["providerId"] != "42" || up["at"] == nil ||
		slot["id"] != a["id"] || slot["note"] != "hi" || slot["version"] != 2.0 || slot["start"] != "2026-06-01T09:00:00Z" {
		t.Fatalf("event 2 = %v", up)
	}

	// Pages.
	if r, p := e.events("?after=1&limit=1", ctok); r.status != 200 || seqs(p) != "2" || p.Seq != 3 {
		t.Fatalf("page after 1: %s", r.body)
	}
	if r, p := e.events("?after=3", ctok); r.status != 200 || len(p.Events) != 0 || p.Seq != 3 || !strings.Contains(string(r.body), `"events":[]`) {
		t.Fatalf("at the current seq: %s", r.body)
	}

	// A seq this database never had: refetch.
	r, _ = e.events("?after=4", ctok)
	wantProblem(t, r, http.StatusGone, "")
	if !strings.Contains(r.json(t)["detail"].(string), "refetch the slots") {
		t.Fatalf("410 detail: %s", r.body)
	}

	// Same auth as reading the slots.
	other := e.token(auth.Claims{Subject: "c43", Role: auth.RoleClient, Providers: []string{"43"}})
	r, _ = e.events("?after=0", other)
	wantProblem(t, r, http.StatusForbidden, "")
	r, _ = e.events("?after=0", "")
	wantProblem(t, r, http.StatusUnauthorized, "")
}

func TestEventsBadParameters(t *testing.T) {
	e := newEnv(t, func(c *httpapi.Config, _ *httpapi.Deps) { c.EventsPageMax = 5 })
	tok := e.token(admin)
	for _, c := range []struct{ query, field string }{
		{"", "after"}, {"?after=", "after"}, {"?after=x", "after"}, {"?after=-1", "after"}, {"?after=01", "after"},
		{"?after=+1", "after"}, {"?after=0&limit=0", "limit"}, {"?after=0&limit=ten", "limit"}, {"?after=0&limit=6", "limit"},
	} {
		r, _ := e.events(c.query, tok)
		wantProblem(t, r, http.StatusBadRequest, c.field)
	}
	if r, _ := e.events("?after=0&limit=5", tok); r.status != http.StatusOK {
		t.Fatalf("limit at the maximum: %s", r.body)
	}
	r := e.do(req{method: "GET", path: "/api/v1/providers/bad.id/events?after=0", token: tok})
	wantProblem(t, r, http.StatusBadRequest, "providerId")
}

// TestEventsPastRetention: once the relay has published the changes and
// they are pruned, catch-up from before them is a 410; from the current
// seq it still works, and the limit reporter counts what clients hit.
func TestEventsPastRetention(t *testing.T) {
	reporter := limits.New(limits.Config{})
	e := newEnv(t, func(_ *httpapi.Config, d *httpapi.Deps) { d.Limits = reporter })
	tok := e.token(client)
	for _, h := range []string{"09", "10", "11"} {
		e.create("2026-06-01T"+h+":00:00Z", "2026-06-01T"+h+":30:00Z")
	}
	ctx := context.Background()
	if err := e.db.MarkPublished(ctx, []relay.Position{{ProviderID: "42", Seq: 3}}); err != nil {
		t.Fatal(err)
	}
	if n, err := e.db.Prune(ctx, time.Time{}, 1); err != nil || n != 2 {
		t.Fatalf("Prune = %d, %v", n, err)
	}
	r, _ := e.events("?after=0", tok)
	wantProblem(t, r, http.StatusGone, "")
	if d := r.json(t)["detail"].(string); !strings.Contains(d, "no longer kept") || !strings.Contains(d, "refetch the slots") {
		t.Fatalf("410 detail %q", d)
	}
	if r, p := e.events("?after=2", tok); r.status != 200 || seqs(p) != "3" {
		t.Fatalf("after 2: %s", r.body)
	}
	r, _ = e.events("?after=0&limit=5000", tok)
	wantProblem(t, r, http.StatusBadRequest, "limit")
	if reporter.Count("httpapi.events_retention") != 1 || reporter.Count("httpapi.events_page") != 1 {
		t.Fatalf("limit counts %v", reporter.Counts())
	}
}
