package metrics_test

import (
	"net/http/httptest"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/metrics"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// plainStore is a Store without the SlotPatcher capability.
type plainStore struct{ availability.Store }

// TestStoreIsTimedAndKeepsPatching: the timed store counts each operation
// by name and patches in one transaction when the store under it can.
func TestStoreIsTimedAndKeepsPatching(t *testing.T) {
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "eventide.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	m := metrics.New(metrics.Config{})
	timed := m.Store(db)
	if _, ok := timed.(availability.SlotPatcher); !ok {
		t.Fatal("the timed SQLite store lost SlotPatcher")
	}
	if _, ok := m.Store(plainStore{db}).(availability.SlotPatcher); ok {
		t.Fatal("a store without SlotPatcher gained it")
	}
	svc := availability.NewService(timed, nil)
	start := time.Date(2031, 1, 1, 9, 0, 0, 0, time.UTC)
	created, err := svc.Create(t.Context(), "42", availability.NewSlot{Start: start, End: start.Add(30 * time.Minute)})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Get(t.Context(), "42", created.ID); err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(m.Handler())
	defer srv.Close()
	s, err := metrics.Get(t.Context(), srv.URL)
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range []string{"create_slot", "get_slot"} {
		if got, _ := s.Value("eventide_store_operation_duration_seconds", "op", op); got != 1 {
			t.Errorf("%s timed %v times, want 1", op, got)
		}
	}
}
