package sqlite_test

import (
	"context"
	"errors"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
)

var base = time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)

func create(t testing.TB, db interface {
	CreateSlot(context.Context, availability.Slot, time.Time) (availability.Change, error)
}, s availability.Slot) availability.Slot {
	t.Helper()
	c, err := db.CreateSlot(context.Background(), s, base)
	if err != nil {
		t.Fatal(err)
	}
	return c.Slot
}

func mkSlot(provider string, fromH, toH int) availability.Slot {
	return availability.Slot{
		ProviderID: provider, Start: base.Add(time.Duration(fromH) * time.Hour), End: base.Add(time.Duration(toH) * time.Hour),
		Status: availability.StatusAvailable, CreatedAt: base, UpdatedAt: base,
	}
}

func TestPatchSlot(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "eventide.db"))
	a := create(t, db, mkSlot("7", 0, 1))
	b := create(t, db, mkSlot("7", 2, 3))

	// apply sees the stored slot; the result is written with version+1 and
	// returned as stored, with the next seq.
	c, err := db.PatchSlot(ctx, "7", a.ID, base, func(cur availability.Slot) (availability.Slot, error) {
		if cur.ID != a.ID || cur.Version != 1 || !cur.End.Equal(a.End) {
			t.Errorf("apply got %+v", cur)
		}
		cur.Note = "moved"
		cur.End = base.Add(90 * time.Minute)
		cur.UpdatedAt = base.Add(time.Minute)
		cur.ID, cur.ProviderID = 999, "other" // ignored: the row's identity is fixed
		return cur, nil
	})
	got, seq := c.Slot, c.Seq
	if err != nil || seq != 3 || got.ID != a.ID || got.ProviderID != "7" || got.Version != 2 || got.Note != "moved" ||
		!got.End.Equal(base.Add(90*time.Minute)) || !got.UpdatedAt.Equal(base.Add(time.Minute)) || !got.CreatedAt.Equal(base) {
		t.Fatalf("PatchSlot = %+v, %d, %v", got, seq, err)
	}
	if stored, _ := db.GetSlot(ctx, "7", a.ID); stored != got {
		t.Fatalf("stored %+v, returned %+v", stored, got)
	}

	// apply's error, an overlap and a missing slot change nothing and use no seq.
	boom := errors.New("boom")
	if _, err := db.PatchSlot(ctx, "7", a.ID, base, func(availability.Slot) (availability.Slot, error) {
		return availability.Slot{}, boom
	}); !errors.Is(err, boom) {
		t.Fatalf("apply error: %v", err)
	}
	_, err = db.PatchSlot(ctx, "7", a.ID, base, func(cur availability.Slot) (availability.Slot, error) {
		cur.End = b.Start.Add(time.Minute)
		return cur, nil
	})
	if apperr.CodeOf(err) != apperr.CodeConflict {
		t.Fatalf("overlap: %v", err)
	}
	_, err = db.PatchSlot(ctx, "8", a.ID, base, func(cur availability.Slot) (availability.Slot, error) { return cur, nil })
	if apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("other provider's slot: %v", err)
	}
	if stored, _ := db.GetSlot(ctx, "7", a.ID); stored != got {
		t.Fatalf("failed patches changed the slot: %+v", stored)
	}
	if c, _ := db.CreateSlot(ctx, mkSlot("7", 5, 6), base); c.Seq != 4 {
		t.Fatalf("seq after failed patches = %d, want 4", c.Seq)
	}
}

// TestMemoryDatabase: :memory: has one connection, shared by reads and the
// writer, so a write must give it back.
func TestMemoryDatabase(t *testing.T) {
	ctx := context.Background()
	db := open(t, ":memory:")
	a := create(t, db, mkSlot("7", 0, 1))
	if _, err := db.GetSlot(ctx, "7", a.ID); err != nil {
		t.Fatal(err)
	}
	if _, err := db.UpdateSlot(ctx, mkSlot("7", 0, 2), 0, base); apperr.CodeOf(err) != apperr.CodeNotFound {
		t.Fatalf("update of slot 0: %v", err)
	}
	b := a
	b.Note = "x"
	if c, err := db.UpdateSlot(ctx, b, 1, base); err != nil || c.Slot.Version != 2 || c.Seq != 2 {
		t.Fatalf("UpdateSlot = %+v, %v", c, err)
	}
	// Reads and the relay's reads share the one connection too.
	if un, err := db.Unpublished(ctx, 10); err != nil || len(un) != 2 {
		t.Fatalf("Unpublished = %+v, %v", un, err)
	}
	if got, _ := db.GetSlot(ctx, "7", a.ID); got.Note != "x" {
		t.Fatalf("after update: %+v", got)
	}
}

// TestWriteAfterCancel: a write whose context is already done fails
// without writing, and the writer stays usable.
func TestWriteAfterCancel(t *testing.T) {
	db := open(t, filepath.Join(t.TempDir(), "eventide.db"))
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := db.CreateSlot(ctx, mkSlot("7", 0, 1), base); !errors.Is(err, context.Canceled) {
		t.Fatalf("CreateSlot with a done context: %v", err)
	}
	c, err := db.CreateSlot(context.Background(), mkSlot("7", 0, 1), base)
	if err != nil || c.Seq != 1 {
		t.Fatalf("CreateSlot after: seq %d, %v", c.Seq, err)
	}
}

// BenchmarkUpdateSlot is the store's share of a REST PATCH: one
// read-merge-write transaction with the overlap check and the seq bump.
func BenchmarkUpdateSlot(b *testing.B) {
	// Cancellable, like a request's context.
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	db := open(b, filepath.Join(b.TempDir(), "eventide.db"))
	s := create(b, db, mkSlot("7", 0, 1))
	b.ReportAllocs()
	n := 0
	for b.Loop() {
		n++
		_, err := db.PatchSlot(ctx, "7", s.ID, base, func(cur availability.Slot) (availability.Slot, error) {
			cur.Note = strconv.Itoa(n)
			cur.UpdatedAt = base.Add(time.Duration(n) * time.Millisecond)
			return cur, nil
		})
		if err != nil {
			b.Fatal(err)
		}
	}
}

// BenchmarkGetSlot is one prepared point read.
func BenchmarkGetSlot(b *testing.B) {
	ctx := context.Background()
	db := open(b, filepath.Join(b.TempDir(), "eventide.db"))
	s := create(b, db, mkSlot("7", 0, 1))
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.GetSlot(ctx, "7", s.ID); err != nil {
			b.Fatal(err)
		}
	}
}

// TestPatchSlotSameTimes covers the path for a change that keeps the slot's
// times (status, note): it is stored with version+1 and the next seq, its
// times and the (provider, start) index are untouched, so a range query
// still finds it, and no overlap check can refuse it.
func TestPatchSlotSameTimes(t *testing.T) {
	ctx := context.Background()
	db := open(t, filepath.Join(t.TempDir(), "eventide.db"))
	a := create(t, db, mkSlot("7", 0, 1))
	create(t, db, mkSlot("7", 1, 2)) // touching, not overlapping
	c, err := db.PatchSlot(ctx, "7", a.ID, base, func(cur availability.Slot) (availability.Slot, error) {
		cur.Status, cur.Note = availability.StatusBooked, "taken"
		cur.UpdatedAt = base.Add(time.Minute)
		return cur, nil
	})
	got, seq := c.Slot, c.Seq
	if err != nil || seq != 3 || got.Version != 2 || got.Status != availability.StatusBooked || got.Note != "taken" ||
		!got.Start.Equal(a.Start) || !got.End.Equal(a.End) || !got.UpdatedAt.Equal(base.Add(time.Minute)) {
		t.Fatalf("PatchSlot = %+v, %d, %v", got, seq, err)
	}
	list, err := db.ListSlots(ctx, "7", availability.Window{From: base, To: base.Add(30 * time.Minute)})
	if err != nil || len(list) != 1 || list[0] != got {
		t.Fatalf("ListSlots = %+v, %v; want [%+v]", list, err, got)
	}
}
