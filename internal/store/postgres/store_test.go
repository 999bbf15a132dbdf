package postgres_test

import (
	"context"
	"fmt"
	"slices"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/store/postgres"
	"github.com/eventide/realtime/internal/store/postgres/pgtest"
)

var t0 = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func slotAt(provider string, from, to int) availability.Slot {
	return availability.Slot{
		ProviderID: provider,
		Start:      t0.Add(time.Duration(from) * time.Minute), End: t0.Add(time.Duration(to) * time.Minute),
		Status: availability.StatusAvailable, CreatedAt: t0, UpdatedAt: t0,
	}
}

// open returns a store on dbURL, as a separate process would have it: a
// pool of its own.
func open(t *testing.T, dbURL string, maxConns int) *postgres.DB {
	t.Helper()
	db, err := postgres.Open(context.Background(), dbURL, postgres.Config{MaxConns: maxConns})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	return db
}

// Two processes starting together on an empty database both migrate it;
// each migration is applied once and both end up with the whole schema.
func TestMigrateFromTwoProcessesAtOnce(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	a, b := open(t, dbURL, 2), open(t, dbURL, 2)
	var wg sync.WaitGroup
	errs := make([]error, 2)
	for i, db := range []*postgres.DB{a, b} {
		wg.Go(func() { errs[i] = db.Migrate(context.Background()) })
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("Migrate: %v", err)
		}
	}
	if err := a.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate again: %v", err)
	}
	got, err := b.Migrations(context.Background())
	if err != nil || len(got) == 0 || got[0] != "0001_init" || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Fatalf("Migrations = %v, %v", got, err)
	}
	if _, err := b.CreateSlot(context.Background(), slotAt("42", 0, 60), t0); err != nil {
		t.Fatalf("store unusable after concurrent migrations: %v", err)
	}
}

// Writers of one provider in two processes (two pools on one database)
// share its seq: every change gets its own seq, 1..n without a gap, and of
// overlapping creates racing from both sides exactly one is stored.
func TestWritersInTwoProcesses(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	a, b := open(t, dbURL, 3), open(t, dbURL, 3)
	if err := a.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	stores := []*postgres.DB{a, b}
	ctx := context.Background()

	const n = 24
	var wg sync.WaitGroup
	seqs := make([]int64, n)
	errs := make([]error, n)
	for i := range n {
		wg.Go(func() {
			// Disjoint slots of a provider that does not exist yet: the
			// first writers race to create its row too.
			var c availability.Change
			c, errs[i] = stores[i%2].CreateSlot(ctx, slotAt("new", i*60, i*60+30), t0)
			seqs[i] = c.Seq
		})
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			t.Fatalf("CreateSlot: %v", err)
		}
	}
	slices.Sort(seqs)
	for i, s := range seqs {
		if s != int64(i+1) {
			t.Fatalf("seqs = %v, want 1..%d each once", seqs, n)
		}
	}

	// Overlapping creates and moves, half from each process.
	won := make([]bool, n)
	for i := range n {
		wg.Go(func() {
			_, err := stores[i%2].CreateSlot(ctx, slotAt("42", i, 100+i), t0)
			switch apperr.CodeOf(err) {
			case "":
				won[i] = true
			case apperr.CodeConflict:
			default:
				t.Errorf("CreateSlot: %v", err)
			}
		})
	}
	wg.Wait()
	if c := count(won); c != 1 {
		t.Fatalf("%d overlapping creates stored, want 1", c)
	}
	// Two free slots, then both processes race to move each onto the gap
	// between them: only one move can land.
	left, err := a.CreateSlot(ctx, slotAt("42", 1000, 1010), t0)
	if err != nil {
		t.Fatal(err)
	}
	right, err := b.CreateSlot(ctx, slotAt("42", 1100, 1110), t0)
	if err != nil {
		t.Fatal(err)
	}
	moved := make([]bool, 2)
	for i, s := range []availability.Slot{left.Slot, right.Slot} {
		wg.Go(func() {
			s.Start, s.End = t0.Add(1040*time.Minute), t0.Add(1070*time.Minute)
			_, err := stores[i].UpdateSlot(ctx, s, 0, t0)
			moved[i] = err == nil
			if err != nil && apperr.CodeOf(err) != apperr.CodeConflict {
				t.Errorf("UpdateSlot: %v", err)
			}
		})
	}
	wg.Wait()
	if c := count(moved); c != 1 {
		t.Fatalf("%d of two overlapping moves landed, want 1", c)
	}
}

func count(bs []bool) int {
	n := 0
	for _, b := range bs {
		if b {
			n++
		}
	}
	return n
}

// The pool never opens more connections than MaxConns, however many
// requests wait for one.
func TestPoolIsBounded(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	db := open(t, dbURL, 2)
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatal(err)
	}
	var wg sync.WaitGroup
	for i := range 16 {
		wg.Go(func() {
			if _, err := db.CreateSlot(context.Background(), slotAt(fmt.Sprint("p", i), 0, 30), t0); err != nil {
				t.Error(err)
			}
		})
	}
	wg.Wait()
	// The pool keeps its connections open when idle: count them from
	// another connection.
	probe := open(t, dbURL, 1)
	n, err := probe.Backends(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if n-1 > 2 || n-1 < 1 {
		t.Fatalf("%d connections from the store's pool, want 1 or 2", n-1)
	}
}

func TestNoteWithNULIsInvalid(t *testing.T) {
	db := pgtest.Open(t, postgres.Config{})
	s := slotAt("42", 0, 30)
	s.Note = "a\x00b"
	_, err := db.CreateSlot(context.Background(), s, t0)
	if apperr.CodeOf(err) != apperr.CodeInvalid || apperr.FieldOf(err) != "note" {
		t.Fatalf("NUL in note: %v, want invalid note", err)
	}

	// An update finds out in its last round trip, beside the event and
	// COMMIT: it is refused the same way and leaves nothing behind.
	s.Note = "fine"
	c, err := db.CreateSlot(context.Background(), s, t0)
	if err != nil {
		t.Fatal(err)
	}
	nul := "a\x00b"
	_, err = db.PatchSlot(context.Background(), "42", c.Slot.ID, t0.Add(time.Minute), func(cur availability.Slot) (availability.Slot, error) {
		cur.Note = nul
		return cur, nil
	})
	if apperr.CodeOf(err) != apperr.CodeInvalid || apperr.FieldOf(err) != "note" {
		t.Fatalf("NUL in an updated note: %v, want invalid note", err)
	}
	got, err := db.GetSlot(context.Background(), "42", c.Slot.ID)
	if err != nil || got != c.Slot {
		t.Fatalf("after the refused update: %+v, %v; want %+v", got, err, c.Slot)
	}
	if seq, err := db.Seq(context.Background(), "42"); err != nil || seq != c.Seq {
		t.Fatalf("seq after the refused update: %d, %v; want %d", seq, err, c.Seq)
	}
}
