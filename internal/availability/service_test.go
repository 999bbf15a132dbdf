package availability_test

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// recorder is a Publisher that records what it was asked to emit.
type recorder struct {
	mu     sync.Mutex
	events []emitted
	fail   error
}

type emitted struct {
	room, event string
	change      availability.Change
}

func (r *recorder) EmitToRoom(room, event string, data any) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.events = append(r.events, emitted{room, event, data.(availability.Change)})
	return r.fail
}

func (r *recorder) all() []emitted {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]emitted(nil), r.events...)
}

var t0 = time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)

func newService(t *testing.T, pub availability.Publisher, logger *slog.Logger) *availability.Service {
	t.Helper()
	return availability.NewService(openDB(t), pub, func() time.Time { return t0 }, logger)
}

// plainStore hides the SQLite store's PatchSlot, so Service.Update takes
// its GetSlot + UpdateSlot path (stores without availability.SlotPatcher).
type plainStore struct{ availability.Store }

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "e.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

func hours(from, to int) availability.NewSlot {
	return availability.NewSlot{Start: t0.Add(time.Duration(from) * time.Hour), End: t0.Add(time.Duration(to) * time.Hour)}
}

func ptr[T any](v T) *T { return &v }

func TestCreateValidation(t *testing.T) {
	rec := &recorder{}
	svc := newService(t, rec, nil)
	ctx := t.Context()
	for _, tc := range []struct {
		name, provider, field string
		in                    availability.NewSlot
	}{
		{"start after end", "42", "end", hours(2, 1)},
		{"start equals end", "42", "end", hours(1, 1)},
		{"no start", "42", "start", availability.NewSlot{End: t0}},
		{"no end", "42", "end", availability.NewSlot{Start: t0}},
		{"bad status", "42", "status", func() availability.NewSlot { s := hours(0, 1); s.Status = "free"; return s }()},
		{"long note", "42", "note", func() availability.NewSlot { s := hours(0, 1); s.Note = strings.Repeat("é", 501); return s }()},
		{"bad provider", "4/2", "providerId", hours(0, 1)},
	} {
		_, err := svc.Create(ctx, tc.provider, tc.in)
		if apperr.CodeOf(err) != apperr.CodeInvalid || apperr.FieldOf(err) != tc.field {
			t.Errorf("%s: error = %v (field %q), want invalid %q", tc.name, err, apperr.FieldOf(err), tc.field)
		}
	}
	if got, _ := svc.List(ctx, "42", availability.Window{}); len(got) != 0 {
		t.Fatalf("invalid input stored: %+v", got)
	}
	if n := len(rec.all()); n != 0 {
		t.Fatalf("%d events published for rejected input", n)
	}
	// 500 multi-byte characters are fine: the limit counts characters.
	in := hours(0, 1)
	in.Note = strings.Repeat("é", 500)
	s, err := svc.Create(ctx, "42", in)
	if err != nil {
		t.Fatal(err)
	}
	if s.Status != availability.StatusAvailable {
		t.Fatalf("default status = %q", s.Status)
	}
}

func TestChangesArePublishedInSeqOrder(t *testing.T) {
	rec := &recorder{}
	svc := newService(t, rec, nil)
	ctx := t.Context()
	a, err := svc.Create(ctx, "42", hours(0, 1))
	if err != nil {
		t.Fatal(err)
	}
	if _, err := svc.Create(ctx, "7", hours(0, 1)); err != nil {
		t.Fatal(err)
	}
	u, err := svc.Update(ctx, "42", a.ID, availability.Patch{Status: ptr(availability.StatusBooked), Note: ptr("Ann")}, a.Version)
	if err != nil {
		t.Fatal(err)
	}
	if u.Status != availability.StatusBooked || u.Note != "Ann" || !u.Start.Equal(a.Start) || u.Version != 2 {
		t.Fatalf("updated = %+v", u)
	}
	if err := svc.Delete(ctx, "42", a.ID, 0); err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, e := range rec.all() {
		if e.event != availability.EventAvailabilityUpdated || e.room != "provider-"+e.change.ProviderID || e.change.Slot.ProviderID != e.change.ProviderID {
			t.Fatalf("bad emit %+v", e)
		}
		got = append(got, e.room+":"+e.change.Action+":"+itoa(e.change.Seq))
	}
	want := []string{"provider-42:created:1", "provider-7:created:1", "provider-42:updated:2", "provider-42:deleted:3"}
	if strings.Join(got, " ") != strings.Join(want, " ") {
		t.Fatalf("published %v, want %v", got, want)
	}
	// The payload's wire shape.
	b, _ := json.Marshal(rec.all()[2].change)
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	slot, _ := m["slot"].(map[string]any)
	if m["action"] != "updated" || m["providerId"] != "42" || m["seq"] != 2.0 || m["at"] != "2026-05-04T08:00:00Z" ||
		slot["note"] != "Ann" || slot["start"] != "2026-05-04T08:00:00Z" || slot["version"] != 2.0 {
		t.Fatalf("payload = %s", b)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestConcurrentChangesPublishInSeqOrder(t *testing.T) {
	rec := &recorder{}
	svc := newService(t, rec, nil)
	const n = 12
	var wg sync.WaitGroup
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			if _, err := svc.Create(context.Background(), "42", hours(i, i+1)); err != nil {
				t.Error(err)
			}
		}()
	}
	wg.Wait()
	ev := rec.all()
	if len(ev) != n {
		t.Fatalf("%d events, want %d", len(ev), n)
	}
	for i, e := range ev {
		if e.change.Seq != int64(i+1) {
			t.Fatalf("event %d has seq %d: publish order differs from seq order", i, e.change.Seq)
		}
	}
}

func TestUpdateRules(t *testing.T) {
	t.Run("patcher", func(t *testing.T) {
		rec := &recorder{}
		testUpdateRules(t, newService(t, rec, nil), rec)
	})
	t.Run("get+update", func(t *testing.T) {
		rec := &recorder{}
		svc := availability.NewService(plainStore{openDB(t)}, rec, func() time.Time { return t0 }, nil)
		testUpdateRules(t, svc, rec)
	})
}

func testUpdateRules(t *testing.T, svc *availability.Service, rec *recorder) {
	ctx := t.Context()
	a, _ := svc.Create(ctx, "42", hours(0, 1))
	b, _ := svc.Create(ctx, "42", hours(2, 3))

	// The merged slot is validated: moving only the start past the end fails.
	_, err := svc.Update(ctx, "42", a.ID, availability.Patch{Start: ptr(t0.Add(90 * time.Minute))}, 0)
	if apperr.CodeOf(err) != apperr.CodeInvalid || apperr.FieldOf(err) != "end" {
		t.Fatalf("start after end: %v", err)
	}
	_, err = svc.Update(ctx, "42", a.ID, availability.Patch{Status: ptr("gone")}, 0)
	if apperr.FieldOf(err) != "status" {
		t.Fatalf("bad status: %v", err)
	}
	_, err = svc.Update(ctx, "42", a.ID, availability.Patch{End: ptr(t0.Add(150 * time.Minute))}, 0)
	if apperr.CodeOf(err) != apperr.CodeConflict {
		t.Fatalf("overlap: %v", err)
	}
	_, err = svc.Update(ctx, "42", a.ID, availability.Patch{Note: ptr("x")}, 5)
	if apperr.CodeOf(err) != apperr.CodePreconditionFailed {
		t.Fatalf("stale: %v", err)
	}
	_, err = svc.Update(ctx, "42", 999, availability.Patch{Note: ptr("x")}, 0)
	if apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("missing: %v", err)
	}
	if err := svc.Delete(ctx, "42", b.ID, 7); apperr.CodeOf(err) != apperr.CodePreconditionFailed {
		t.Fatalf("stale delete: %v", err)
	}
	if got, _ := svc.Get(ctx, "42", a.ID); got.Version != 1 || !got.End.Equal(a.End) || got.Note != "" {
		t.Fatalf("slot changed by failed updates: %+v", got)
	}
	if n := len(rec.all()); n != 2 {
		t.Fatalf("%d events, want 2 (failed writes publish nothing)", n)
	}

	u, err := svc.Update(ctx, "42", a.ID, availability.Patch{Note: ptr("ok")}, 1)
	if err != nil || u.ID != a.ID || u.Version != 2 || u.Note != "ok" || !u.Start.Equal(a.Start) || !u.End.Equal(a.End) {
		t.Fatalf("update = %+v, %v", u, err)
	}
	if got, _ := svc.Get(ctx, "42", a.ID); got.Version != 2 || got.Note != "ok" {
		t.Fatalf("stored after update: %+v", got)
	}
	ev := rec.all()
	if len(ev) != 3 {
		t.Fatalf("%d events, want 3", len(ev))
	}
	if c := ev[2].change; c.Action != availability.ActionUpdated || c.Seq != 3 || c.Slot.Version != 2 || c.Slot.Note != "ok" {
		t.Fatalf("update event = %+v", c)
	}
}

func TestPublishFailureIsLoggedNotReturned(t *testing.T) {
	var logs bytes.Buffer
	rec := &recorder{fail: errors.New("adapter down")}
	svc := newService(t, rec, slog.New(slog.NewTextHandler(&logs, nil)))
	s, err := svc.Create(t.Context(), "42", hours(0, 1))
	if err != nil {
		t.Fatalf("publish failure returned: %v", err)
	}
	if _, err := svc.Get(t.Context(), "42", s.ID); err != nil {
		t.Fatalf("change not committed: %v", err)
	}
	if !strings.Contains(logs.String(), "adapter down") || !strings.Contains(logs.String(), "room=provider-42") {
		t.Fatalf("log = %q", logs.String())
	}
}

func TestListWindowAndTimes(t *testing.T) {
	svc := newService(t, nil, nil)
	ctx := t.Context()
	a, _ := svc.Create(ctx, "42", hours(0, 1))
	svc.Create(ctx, "42", hours(3, 4))
	got, err := svc.List(ctx, "42", availability.Window{From: t0.Add(-time.Hour), To: t0.Add(2 * time.Hour)})
	if err != nil || len(got) != 1 || got[0].ID != a.ID {
		t.Fatalf("window list = %+v, %v", got, err)
	}
	if _, err := svc.List(ctx, "42", availability.Window{From: t0, To: t0}); apperr.FieldOf(err) != "to" {
		t.Fatalf("empty window: %v", err)
	}
	if _, err := availability.ParseTime("start", "tomorrow"); apperr.FieldOf(err) != "start" {
		t.Fatalf("ParseTime: %v", err)
	}
	tm, err := availability.ParseTime("start", "2026-05-04T10:00:00.123456+02:00")
	if err != nil || !tm.Equal(time.Date(2026, 5, 4, 8, 0, 0, 123_000_000, time.UTC)) || tm.Location() != time.UTC {
		t.Fatalf("ParseTime = %v, %v", tm, err)
	}
}
