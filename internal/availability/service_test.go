package availability_test

import (
	"context"
	"encoding/json"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/store/sqlite"
)

var t0 = time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)

func newService(t *testing.T) *availability.Service {
	t.Helper()
	return availability.NewService(openDB(t), func() time.Time { return t0 })
}

// changes returns provider's recorded changes as "action:seq" strings.
func changes(t *testing.T, svc *availability.Service, provider string) []string {
	t.Helper()
	cs, _, err := svc.Events(t.Context(), provider, 0, 1000)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, c := range cs {
		out = append(out, c.Action+":"+itoa(c.Seq))
	}
	return out
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
	svc := newService(t)
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
	if got := changes(t, svc, "42"); len(got) != 0 {
		t.Fatalf("changes %v recorded for rejected input", got)
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

func TestChangesAreRecordedInSeqOrder(t *testing.T) {
	svc := newService(t)
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
	if got := strings.Join(changes(t, svc, "42"), " "); got != "created:1 updated:2 deleted:3" {
		t.Fatalf("provider 42: %s", got)
	}
	if got := strings.Join(changes(t, svc, "7"), " "); got != "created:1" {
		t.Fatalf("provider 7: %s", got)
	}
	if seq, err := svc.Seq(ctx, "42"); err != nil || seq != 3 {
		t.Fatalf("Seq = %d, %v", seq, err)
	}
	// The change's wire shape: the availabilityUpdated payload.
	cs, seq, err := svc.Events(ctx, "42", 1, 1)
	if err != nil || len(cs) != 1 || seq != 3 {
		t.Fatalf("Events(after 1, limit 1) = %+v, %d, %v", cs, seq, err)
	}
	b, _ := json.Marshal(cs[0])
	var m map[string]any
	_ = json.Unmarshal(b, &m)
	slot, _ := m["slot"].(map[string]any)
	if len(m) != 5 || m["action"] != "updated" || m["providerId"] != "42" || m["seq"] != 2.0 || m["at"] != "2026-05-04T08:00:00Z" ||
		slot["note"] != "Ann" || slot["start"] != "2026-05-04T08:00:00Z" || slot["version"] != 2.0 {
		t.Fatalf("payload = %s", b)
	}
	// The deleted change carries the slot as it was.
	cs, _, _ = svc.Events(ctx, "42", 2, 10)
	if len(cs) != 1 || cs[0].Action != availability.ActionDeleted || cs[0].Slot.Note != "Ann" || cs[0].Slot.Version != 2 {
		t.Fatalf("deleted change = %+v", cs)
	}
}

func itoa(n int64) string { b, _ := json.Marshal(n); return string(b) }

func TestConcurrentChangesGetGapFreeSeqs(t *testing.T) {
	svc := newService(t)
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
	cs, seq, err := svc.Events(t.Context(), "42", 0, 100)
	if err != nil || len(cs) != n || seq != n {
		t.Fatalf("%d changes, seq %d, %v; want %d", len(cs), seq, err, n)
	}
	slots := map[int64]bool{}
	for i, c := range cs {
		if c.Seq != int64(i+1) || slots[c.Slot.ID] {
			t.Fatalf("change %d: seq %d, slot %d", i, c.Seq, c.Slot.ID)
		}
		slots[c.Slot.ID] = true
	}
}

func TestEventsInput(t *testing.T) {
	svc := newService(t)
	ctx := t.Context()
	if _, _, err := svc.Events(ctx, "4/2", 0, 10); apperr.FieldOf(err) != "providerId" {
		t.Fatalf("bad provider: %v", err)
	}
	if _, _, err := svc.Events(ctx, "42", -1, 10); apperr.FieldOf(err) != "after" {
		t.Fatalf("negative after: %v", err)
	}
	if _, _, err := svc.Events(ctx, "42", 0, 0); apperr.FieldOf(err) != "limit" {
		t.Fatalf("zero limit: %v", err)
	}
	if _, err := svc.Seq(ctx, "4/2"); apperr.FieldOf(err) != "providerId" {
		t.Fatalf("Seq of a bad provider: %v", err)
	}
	if _, _, err := svc.Events(ctx, "42", 1, 10); !apperr.Is(err, apperr.CodeGone) {
		t.Fatalf("after a seq never reached: %v", err)
	}
}

func TestUpdateRules(t *testing.T) {
	t.Run("patcher", func(t *testing.T) {
		svc := newService(t)
		testUpdateRules(t, svc)
	})
	t.Run("get+update", func(t *testing.T) {
		svc := availability.NewService(plainStore{openDB(t)}, func() time.Time { return t0 })
		testUpdateRules(t, svc)
	})
}

func testUpdateRules(t *testing.T, svc *availability.Service) {
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
	// Patches that change nothing return the slot as it is and write
	// nothing; one with a stale version still fails.
	for _, p := range []availability.Patch{{}, {Start: ptr(a.Start.In(time.FixedZone("x", 3600))), Status: ptr(a.Status), Note: ptr("")}} {
		if got, err := svc.Update(ctx, "42", a.ID, p, 0); err != nil || got.Version != 1 || !got.Start.Equal(a.Start) {
			t.Fatalf("patch changing nothing: %+v, %v", got, err)
		}
	}
	if _, err := svc.Update(ctx, "42", a.ID, availability.Patch{}, 2); apperr.CodeOf(err) != apperr.CodePreconditionFailed {
		t.Fatalf("stale patch changing nothing: %v", err)
	}
	if got := strings.Join(changes(t, svc, "42"), " "); got != "created:1 created:2" {
		t.Fatalf("changes %s (failed writes and patches changing nothing record nothing)", got)
	}

	u, err := svc.Update(ctx, "42", a.ID, availability.Patch{Note: ptr("ok")}, 1)
	if err != nil || u.ID != a.ID || u.Version != 2 || u.Note != "ok" || !u.Start.Equal(a.Start) || !u.End.Equal(a.End) {
		t.Fatalf("update = %+v, %v", u, err)
	}
	if got, _ := svc.Get(ctx, "42", a.ID); got.Version != 2 || got.Note != "ok" {
		t.Fatalf("stored after update: %+v", got)
	}
	cs, _, err := svc.Events(ctx, "42", 2, 10)
	if err != nil || len(cs) != 1 {
		t.Fatalf("Events = %+v, %v", cs, err)
	}
	if c := cs[0]; c.Action != availability.ActionUpdated || c.Seq != 3 || c.Slot.Version != 2 || c.Slot.Note != "ok" {
		t.Fatalf("update change = %+v", c)
	}
}

func TestListWindowAndTimes(t *testing.T) {
	svc := newService(t)
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
