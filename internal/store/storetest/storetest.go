// Package storetest is the one behavioural test suite every store must
// pass (SQLite and PostgreSQL): the slots (availability.Store), the event
// log written with them, and the relay's side of it (relay.EventLog), so
// the stores cannot drift apart.
package storetest

import (
	"context"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
)

// Store is what a store implements: the slots and their event log.
type Store interface {
	availability.Store
	relay.EventLog
}

var base = time.Date(2026, 3, 2, 9, 0, 0, 0, time.UTC)

func at(h, m int) time.Time {
	return base.Add(time.Duration(h)*time.Hour + time.Duration(m)*time.Minute)
}

func slot(provider string, from, to time.Time) availability.Slot {
	now := base.Add(-time.Hour)
	return availability.Slot{ProviderID: provider, Start: from, End: to, Status: availability.StatusAvailable, CreatedAt: now, UpdatedAt: now}
}

func wantCode(t *testing.T, err error, code string) {
	t.Helper()
	if apperr.CodeOf(err) != code {
		t.Fatalf("error = %v (code %q), want code %q", err, apperr.CodeOf(err), code)
	}
}

// when is the time writes are said to be made at, unless a test says.
var when = base.Add(-30 * time.Minute)

func mustCreate(t *testing.T, st availability.Store, s availability.Slot) (availability.Slot, int64) {
	t.Helper()
	c, err := st.CreateSlot(context.Background(), s, when)
	if err != nil {
		t.Fatalf("CreateSlot: %v", err)
	}
	return c.Slot, c.Seq
}

func update(st availability.Store, s availability.Slot, expectedVersion int64) (availability.Slot, int64, error) {
	c, err := st.UpdateSlot(context.Background(), s, expectedVersion, when)
	return c.Slot, c.Seq, err
}

func remove(st availability.Store, providerID string, id, expectedVersion int64) (availability.Slot, int64, error) {
	c, err := st.DeleteSlot(context.Background(), providerID, id, expectedVersion, when)
	return c.Slot, c.Seq, err
}

func list(t *testing.T, st availability.Store, provider string, w availability.Window) []availability.Slot {
	t.Helper()
	out, err := st.ListSlots(context.Background(), provider, w)
	if err != nil {
		t.Fatalf("ListSlots: %v", err)
	}
	return out
}

// Run runs the suite; newStore returns a fresh, empty, migrated store
// (closed by the caller's t.Cleanup).
func Run(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("CRUD", func(t *testing.T) {
		st := newStore(t)
		in := slot("42", at(0, 0), at(1, 0))
		in.Note = "first — ünïcode"
		in.Status = availability.StatusBooked
		created, _ := mustCreate(t, st, in)
		if created.ID == 0 || created.Version != 1 {
			t.Fatalf("created = %+v, want an id and version 1", created)
		}
		got, err := st.GetSlot(ctx, "42", created.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSlot(got, created) {
			t.Fatalf("GetSlot = %+v, want %+v", got, created)
		}

		upd := got
		upd.Start, upd.End, upd.Status, upd.Note = at(2, 0), at(3, 30), availability.StatusBlocked, "moved"
		upd.UpdatedAt = base
		updated, _, err := update(st, upd, 1)
		if err != nil {
			t.Fatal(err)
		}
		if updated.Version != 2 || !updated.Start.Equal(at(2, 0)) || !updated.End.Equal(at(3, 30)) ||
			updated.Status != availability.StatusBlocked || updated.Note != "moved" ||
			!updated.UpdatedAt.Equal(base) || !updated.CreatedAt.Equal(created.CreatedAt) {
			t.Fatalf("UpdateSlot = %+v", updated)
		}
		if got, _ := st.GetSlot(ctx, "42", created.ID); !sameSlot(got, updated) {
			t.Fatalf("after update GetSlot = %+v, want %+v", got, updated)
		}

		deleted, _, err := remove(st, "42", created.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		if !sameSlot(deleted, updated) {
			t.Fatalf("DeleteSlot returned %+v, want %+v", deleted, updated)
		}
		_, err = st.GetSlot(ctx, "42", created.ID)
		wantCode(t, err, apperr.CodeNotFound)
		if n := len(list(t, st, "42", availability.Window{})); n != 0 {
			t.Fatalf("%d slots left after delete", n)
		}
	})

	t.Run("ids are not reused", func(t *testing.T) {
		st := newStore(t)
		a, _ := mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		if _, _, err := remove(st, "42", a.ID, 0); err != nil {
			t.Fatal(err)
		}
		b, _ := mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		if b.ID == a.ID {
			t.Fatalf("id %d reused", a.ID)
		}
	})

	t.Run("overlap is a conflict and stores nothing", func(t *testing.T) {
		st := newStore(t)
		a, seqA := mustCreate(t, st, slot("42", at(1, 0), at(2, 0)))
		for _, c := range []struct {
			name     string
			from, to time.Time
		}{
			{"same", at(1, 0), at(2, 0)},
			{"inside", at(1, 15), at(1, 45)},
			{"around", at(0, 0), at(3, 0)},
			{"start inside", at(1, 30), at(2, 30)},
			{"end inside", at(0, 30), at(1, 30)},
		} {
			_, err := st.CreateSlot(ctx, slot("42", c.from, c.to), when)
			if apperr.CodeOf(err) != apperr.CodeConflict {
				t.Errorf("%s: error = %v, want conflict", c.name, err)
			}
		}
		if got := list(t, st, "42", availability.Window{}); len(got) != 1 || got[0].ID != a.ID {
			t.Fatalf("after conflicts: %+v", got)
		}
		// Touching intervals do not overlap; nor do other providers' slots.
		_, seqB := mustCreate(t, st, slot("42", at(2, 0), at(3, 0)))
		mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		mustCreate(t, st, slot("7", at(1, 0), at(2, 0)))
		if seqB != seqA+1 {
			t.Fatalf("seq after rejected writes = %d, want %d (a conflict must not bump seq)", seqB, seqA+1)
		}
		// An update into another slot conflicts and changes nothing.
		moved := a
		moved.Start, moved.End = at(2, 30), at(3, 30)
		_, _, err := update(st, moved, 0)
		wantCode(t, err, apperr.CodeConflict)
		if got, _ := st.GetSlot(ctx, "42", a.ID); !sameSlot(got, a) {
			t.Fatalf("slot changed by a conflicting update: %+v", got)
		}
		// An update of a slot over its own old time is fine.
		moved.Start, moved.End = at(1, 0), at(1, 30)
		if _, _, err := update(st, moved, 0); err != nil {
			t.Fatalf("shrinking a slot: %v", err)
		}
	})

	t.Run("concurrent overlapping creates: exactly one wins", func(t *testing.T) {
		st := newStore(t)
		const n = 8
		var wg sync.WaitGroup
		errs := make([]error, n)
		for i := range n {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, errs[i] = st.CreateSlot(ctx, slot("42", at(0, i), at(1, i)), when)
			}()
		}
		wg.Wait()
		ok := 0
		for _, err := range errs {
			switch apperr.CodeOf(err) {
			case "":
				ok++
			case apperr.CodeConflict:
			default:
				t.Errorf("unexpected error: %v", err)
			}
		}
		if ok != 1 {
			t.Fatalf("%d creates succeeded, want 1", ok)
		}
		if got := list(t, st, "42", availability.Window{}); len(got) != 1 {
			t.Fatalf("%d slots stored, want 1", len(got))
		}
	})

	t.Run("stale version is a precondition failure and changes nothing", func(t *testing.T) {
		st := newStore(t)
		a, _ := mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		upd := a
		upd.Note = "v2"
		v2, _, err := update(st, upd, 1)
		if err != nil {
			t.Fatal(err)
		}
		upd.Note = "stale"
		_, _, err = update(st, upd, 1)
		wantCode(t, err, apperr.CodePreconditionFailed)
		_, _, err = remove(st, "42", a.ID, 1)
		wantCode(t, err, apperr.CodePreconditionFailed)
		if got, _ := st.GetSlot(ctx, "42", a.ID); !sameSlot(got, v2) {
			t.Fatalf("after stale writes: %+v, want %+v", got, v2)
		}
		if _, _, err := remove(st, "42", a.ID, 2); err != nil {
			t.Fatalf("delete at the right version: %v", err)
		}
	})

	t.Run("seq rises by one per provider, independently", func(t *testing.T) {
		st := newStore(t)
		var seqs42, seqs7 []int64
		a, s := mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		seqs42 = append(seqs42, s)
		_, s = mustCreate(t, st, slot("7", at(0, 0), at(1, 0)))
		seqs7 = append(seqs7, s)
		upd := a
		upd.Note = "x"
		_, s, err := update(st, upd, 0)
		if err != nil {
			t.Fatal(err)
		}
		seqs42 = append(seqs42, s)
		_, s, err = remove(st, "42", a.ID, 0)
		if err != nil {
			t.Fatal(err)
		}
		seqs42 = append(seqs42, s)
		_, s = mustCreate(t, st, slot("7", at(2, 0), at(3, 0)))
		seqs7 = append(seqs7, s)
		if !equal(seqs42, []int64{1, 2, 3}) || !equal(seqs7, []int64{1, 2}) {
			t.Fatalf("seqs 42 = %v, 7 = %v; want [1 2 3] and [1 2]", seqs42, seqs7)
		}
	})

	t.Run("list window and order", func(t *testing.T) {
		st := newStore(t)
		c, _ := mustCreate(t, st, slot("42", at(4, 0), at(5, 0)))
		a, _ := mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		b, _ := mustCreate(t, st, slot("42", at(2, 0), at(3, 0)))
		mustCreate(t, st, slot("7", at(2, 0), at(3, 0)))
		for _, tc := range []struct {
			name string
			w    availability.Window
			want []int64
		}{
			{"all", availability.Window{}, []int64{a.ID, b.ID, c.ID}},
			{"from", availability.Window{From: at(1, 0)}, []int64{b.ID, c.ID}}, // a ends at 1:00: excluded
			{"to", availability.Window{To: at(2, 0)}, []int64{a.ID}},           // b starts at 2:00: excluded
			{"overlap both ends", availability.Window{From: at(0, 30), To: at(4, 30)}, []int64{a.ID, b.ID, c.ID}},
			{"gap", availability.Window{From: at(3, 0), To: at(4, 0)}, nil},
		} {
			got := list(t, st, "42", tc.w)
			var ids []int64
			for _, s := range got {
				ids = append(ids, s.ID)
				if s.ProviderID != "42" {
					t.Errorf("%s: slot of provider %q listed", tc.name, s.ProviderID)
				}
			}
			if !equal(ids, tc.want) {
				t.Errorf("%s: ids %v, want %v", tc.name, ids, tc.want)
			}
		}
		if got := list(t, st, "nobody", availability.Window{}); got == nil || len(got) != 0 {
			t.Fatalf("unknown provider: %#v, want an empty non-nil list", got)
		}
	})

	runEvents(t, newStore)
	runRelay(t, newStore)

	t.Run("not found", func(t *testing.T) {
		st := newStore(t)
		a, _ := mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		_, err := st.GetSlot(ctx, "42", a.ID+100)
		wantCode(t, err, apperr.CodeNotFound)
		// Another provider's slot is not found, not forbidden.
		_, err = st.GetSlot(ctx, "7", a.ID)
		wantCode(t, err, apperr.CodeNotFound)
		other := a
		other.ProviderID = "7"
		_, _, err = update(st, other, 0)
		wantCode(t, err, apperr.CodeNotFound)
		_, _, err = remove(st, "7", a.ID, 0)
		wantCode(t, err, apperr.CodeNotFound)
		if got, _ := st.GetSlot(ctx, "42", a.ID); !sameSlot(got, a) {
			t.Fatalf("slot changed: %+v", got)
		}
	})

	t.Run("times keep millisecond precision in UTC", func(t *testing.T) {
		st := newStore(t)
		loc := time.FixedZone("X", 5*3600+1800)
		in := slot("42", time.Date(2026, 3, 2, 10, 0, 0, 123_000_000, loc), time.Date(2026, 3, 2, 11, 0, 0, 0, loc))
		a, _ := mustCreate(t, st, in)
		got, err := st.GetSlot(ctx, "42", a.ID)
		if err != nil {
			t.Fatal(err)
		}
		if !got.Start.Equal(in.Start) || got.Start.Location() != time.UTC || !sameSlot(got, a) {
			t.Fatalf("got start %v, want %v in UTC (and equal to the create result %+v)", got.Start, in.Start, a)
		}
	})
}

func sameSlot(a, b availability.Slot) bool {
	return a.ID == b.ID && a.ProviderID == b.ProviderID && a.Start.Equal(b.Start) && a.End.Equal(b.End) &&
		a.Status == b.Status && a.Note == b.Note && a.Version == b.Version &&
		a.CreatedAt.Equal(b.CreatedAt) && a.UpdatedAt.Equal(b.UpdatedAt)
}

func equal(a, b []int64) bool {
	if len(a) != len(b) {
		return false
	}
	for i := range a {
		if a[i] != b[i] {
			return false
		}
	}
	return true
}
