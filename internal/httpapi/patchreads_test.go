package httpapi_test

import (
	"context"
	"errors"
	"path/filepath"
	"testing"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// noReads is a store whose reads outside a write fail, as if every pooled
// connection were held by other readers (eventide-bench abuse, slot-reads):
// what a write needs must come from the write itself.
type noReads struct{ *sqlite.DB }

var errNoReads = errors.New("no connection for a read")

func (noReads) GetSlot(context.Context, string, int64) (availability.Slot, error) {
	return availability.Slot{}, errNoReads
}

// TestPatchDoesNotWaitForReads: a PATCH reads its slot in its own write
// transaction (on the writer's connection), never through the readers'
// pool, so readers that take every connection cannot hold REST writes up.
// That holds for a PATCH that changes nothing too.
func TestPatchDoesNotWaitForReads(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "reads.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(_ *httpapi.Config, d *httpapi.Deps) { d.Slots = availability.NewService(noReads{db}, nil) })
	ptok := e.token(provider)
	s := e.do(req{method: "POST", path: slotsPath, token: ptok, body: map[string]any{
		"start": "2030-01-01T09:00:00Z", "end": "2030-01-01T10:00:00Z", "status": "available"}})
	wantStatus(t, s, 201)
	path := slotPath(s.json(t)["id"])
	for i, body := range []any{map[string]any{"status": "booked"}, `{}`, map[string]any{"status": "booked"}} {
		r := e.do(req{method: "PATCH", path: path, token: ptok, body: body})
		wantStatus(t, r, 200)
		if r.json(t)["version"] != 2.0 || r.json(t)["status"] != "booked" {
			t.Fatalf("PATCH %d %v: %s", i, body, r.body)
		}
	}
}
