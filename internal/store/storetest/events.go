package storetest

import (
	"context"
	"errors"
	"fmt"
	"sort"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
)

// waitGuard bounds the suite's waits for the store's own goroutines (a
// notification, a lost lead): a guard against a hang, never a timing.
const waitGuard = 30 * time.Second

func minute(n int) time.Time { return base.Add(time.Duration(n) * time.Minute) }

func sameChange(a, b availability.Change) bool {
	return a.Action == b.Action && a.ProviderID == b.ProviderID && a.Seq == b.Seq && a.At.Equal(b.At) && sameSlot(a.Slot, b.Slot)
}

func keys(cs []availability.Change) string {
	var b strings.Builder
	for i, c := range cs {
		if i > 0 {
			b.WriteByte(' ')
		}
		fmt.Fprintf(&b, "%s:%d", c.ProviderID, c.Seq)
	}
	return b.String()
}

func events(t *testing.T, st Store, provider string, after int64, limit int) ([]availability.Change, int64) {
	t.Helper()
	cs, seq, err := st.Events(context.Background(), provider, after, limit)
	if err != nil {
		t.Fatalf("Events(%s, after %d): %v", provider, after, err)
	}
	return cs, seq
}

func unpublished(t *testing.T, st Store, limit int) []availability.Change {
	t.Helper()
	cs, err := st.Unpublished(context.Background(), limit)
	if err != nil {
		t.Fatalf("Unpublished: %v", err)
	}
	return cs
}

// sortedKeys orders changes by provider then seq, so tests do not depend on
// how a store orders providers (collations differ).
func sortedKeys(cs []availability.Change) string {
	cs = append([]availability.Change(nil), cs...)
	sort.SliceStable(cs, func(i, j int) bool {
		if cs[i].ProviderID != cs[j].ProviderID {
			return cs[i].ProviderID < cs[j].ProviderID
		}
		return cs[i].Seq < cs[j].Seq
	})
	return keys(cs)
}

// checkRelayOrder checks the relay's contract on a batch: each provider's
// events are in seq order, without a gap.
func checkRelayOrder(t *testing.T, cs []availability.Change) {
	t.Helper()
	last := map[string]int64{}
	for _, c := range cs {
		if prev, ok := last[c.ProviderID]; ok && c.Seq != prev+1 {
			t.Fatalf("Unpublished: %s:%d follows %s:%d (want each provider's events in seq order, no gap): %s",
				c.ProviderID, c.Seq, c.ProviderID, prev, keys(cs))
		}
		last[c.ProviderID] = c.Seq
	}
}

func mark(t *testing.T, st Store, pos ...relay.Position) {
	t.Helper()
	if err := st.MarkPublished(context.Background(), pos); err != nil {
		t.Fatalf("MarkPublished(%v): %v", pos, err)
	}
}

func runEvents(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("each write records its change", func(t *testing.T) {
		st := newStore(t)
		if seq, err := st.Seq(ctx, "42"); err != nil || seq != 0 {
			t.Fatalf("Seq of a new provider = %d, %v; want 0", seq, err)
		}
		in := slot("42", at(0, 0), at(1, 0))
		in.Note = "n"
		c1, err := st.CreateSlot(ctx, in, minute(1))
		if err != nil {
			t.Fatal(err)
		}
		if c1.Action != availability.ActionCreated || c1.ProviderID != "42" || c1.Seq != 1 || !c1.At.Equal(minute(1)) ||
			c1.Slot.ID == 0 || c1.Slot.Version != 1 || c1.Slot.Note != "n" {
			t.Fatalf("CreateSlot change = %+v", c1)
		}
		upd := c1.Slot
		upd.Status, upd.UpdatedAt = availability.StatusBooked, minute(2)
		c2, err := st.UpdateSlot(ctx, upd, 1, minute(2))
		if err != nil {
			t.Fatal(err)
		}
		if c2.Action != availability.ActionUpdated || c2.Seq != 2 || !c2.At.Equal(minute(2)) || c2.Slot.Version != 2 ||
			c2.Slot.Status != availability.StatusBooked {
			t.Fatalf("UpdateSlot change = %+v", c2)
		}
		want := []availability.Change{c1, c2}
		if ps, ok := st.(availability.SlotPatcher); ok {
			c, err := ps.PatchSlot(ctx, "42", c1.Slot.ID, minute(3), func(cur availability.Slot) (availability.Slot, error) {
				cur.Note, cur.UpdatedAt = "patched", minute(3)
				return cur, nil
			})
			if err != nil {
				t.Fatal(err)
			}
			if c.Action != availability.ActionUpdated || c.Seq != 3 || !c.At.Equal(minute(3)) || c.Slot.Version != 3 || c.Slot.Note != "patched" {
				t.Fatalf("PatchSlot change = %+v", c)
			}
			want = append(want, c)
		}
		last := want[len(want)-1]
		c3, err := st.DeleteSlot(ctx, "42", c1.Slot.ID, 0, minute(4))
		if err != nil {
			t.Fatal(err)
		}
		if c3.Action != availability.ActionDeleted || c3.Seq != last.Seq+1 || !c3.At.Equal(minute(4)) || !sameSlot(c3.Slot, last.Slot) {
			t.Fatalf("DeleteSlot change = %+v, want the slot as it was (%+v)", c3, last.Slot)
		}
		want = append(want, c3)
		other, err := st.CreateSlot(ctx, slot("7", at(0, 0), at(1, 0)), minute(5))
		if err != nil || other.Seq != 1 {
			t.Fatalf("other provider: %+v, %v", other, err)
		}

		got, seq := events(t, st, "42", 0, 100)
		if seq != c3.Seq || len(got) != len(want) {
			t.Fatalf("Events = %s (seq %d), want %s (seq %d)", keys(got), seq, keys(want), c3.Seq)
		}
		for i := range want {
			if !sameChange(got[i], want[i]) {
				t.Fatalf("event %d = %+v, want %+v (as the write returned it)", i, got[i], want[i])
			}
		}
		if s, _ := st.Seq(ctx, "42"); s != c3.Seq {
			t.Fatalf("Seq = %d, want %d", s, c3.Seq)
		}
		if s, _ := st.Seq(ctx, "7"); s != 1 {
			t.Fatalf("Seq(7) = %d, want 1", s)
		}
		// Every change is in the log, unpublished.
		un := unpublished(t, st, 100)
		checkRelayOrder(t, un)
		if sortedKeys(un) != sortedKeys(append(want, other)) {
			t.Fatalf("Unpublished = %s, want %s", sortedKeys(un), sortedKeys(append(want, other)))
		}
	})

	t.Run("failed writes record no change", func(t *testing.T) {
		st := newStore(t)
		a, _ := mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		b, _ := mustCreate(t, st, slot("42", at(2, 0), at(3, 0)))
		_, err := st.CreateSlot(ctx, slot("42", at(0, 30), at(0, 45)), when)
		wantCode(t, err, apperr.CodeConflict)
		moved := a
		moved.End = at(2, 30)
		_, err = st.UpdateSlot(ctx, moved, 0, when)
		wantCode(t, err, apperr.CodeConflict)
		_, err = st.UpdateSlot(ctx, a, 5, when)
		wantCode(t, err, apperr.CodePreconditionFailed)
		_, err = st.DeleteSlot(ctx, "42", b.ID, 5, when)
		wantCode(t, err, apperr.CodePreconditionFailed)
		_, err = st.DeleteSlot(ctx, "42", b.ID+100, 0, when)
		wantCode(t, err, apperr.CodeNotFound)
		_, err = st.DeleteSlot(ctx, "7", b.ID, 0, when)
		wantCode(t, err, apperr.CodeNotFound)
		if ps, ok := st.(availability.SlotPatcher); ok {
			boom := errors.New("boom")
			if _, err := ps.PatchSlot(ctx, "42", a.ID, when, func(availability.Slot) (availability.Slot, error) { return availability.Slot{}, boom }); !errors.Is(err, boom) {
				t.Fatalf("PatchSlot apply error: %v", err)
			}
		}
		if got, seq := events(t, st, "42", 0, 100); keys(got) != "42:1 42:2" || seq != 2 {
			t.Fatalf("after failed writes: Events = %s (seq %d), want 42:1 42:2 (seq 2)", keys(got), seq)
		}
		if got, seq := events(t, st, "7", 0, 100); len(got) != 0 || seq != 0 {
			t.Fatalf("provider 7 has events %s (seq %d)", keys(got), seq)
		}
		if un := unpublished(t, st, 100); sortedKeys(un) != "42:1 42:2" {
			t.Fatalf("Unpublished = %s", keys(un))
		}
	})

	t.Run("catch-up pages and says when it cannot", func(t *testing.T) {
		st := newStore(t)
		for i := range 5 {
			mustCreate(t, st, slot("42", at(i, 0), at(i, 30)))
		}
		for _, c := range []struct {
			after int64
			limit int
			want  string
		}{
			{0, 2, "42:1 42:2"}, {2, 2, "42:3 42:4"}, {4, 2, "42:5"}, {0, 100, "42:1 42:2 42:3 42:4 42:5"}, {5, 10, ""},
		} {
			got, seq := events(t, st, "42", c.after, c.limit)
			if keys(got) != c.want || seq != 5 {
				t.Errorf("Events(after %d, limit %d) = %s (seq %d), want %s (seq 5)", c.after, c.limit, keys(got), seq, c.want)
			}
		}
		if got, _ := events(t, st, "42", 5, 10); got == nil {
			t.Error("Events at the current seq: nil, want an empty list")
		}
		_, _, err := st.Events(ctx, "42", 6, 10)
		wantCode(t, err, apperr.CodeGone)
		if got, seq := events(t, st, "nobody", 0, 10); len(got) != 0 || seq != 0 {
			t.Fatalf("unknown provider: %s (seq %d)", keys(got), seq)
		}
		_, _, err = st.Events(ctx, "nobody", 1, 10)
		wantCode(t, err, apperr.CodeGone)
	})

	t.Run("unpublished events and marks", func(t *testing.T) {
		st := newStore(t)
		if _, ok, err := st.OldestUnpublished(ctx); ok || err != nil {
			t.Fatalf("OldestUnpublished of an empty log: ok %v, %v", ok, err)
		}
		mk := func(p string, h int, made time.Time) {
			t.Helper()
			if _, err := st.CreateSlot(ctx, slot(p, at(h, 0), at(h, 30)), made); err != nil {
				t.Fatal(err)
			}
		}
		mk("42", 0, minute(1))
		mk("7", 0, minute(2))
		mk("42", 1, minute(3))
		mk("a_b-C", 0, minute(0))
		mk("42", 2, minute(4))

		all := unpublished(t, st, 100)
		checkRelayOrder(t, all)
		if sortedKeys(all) != "42:1 42:2 42:3 7:1 a_b-C:1" {
			t.Fatalf("Unpublished = %s", keys(all))
		}
		for n := 1; n <= 5; n++ {
			got := unpublished(t, st, n)
			if len(got) != n {
				t.Fatalf("Unpublished(limit %d) = %s", n, keys(got))
			}
			checkRelayOrder(t, got)
			// With a limit, each provider's events are still its first ones.
			first := map[string]int64{}
			for _, c := range got {
				if _, seen := first[c.ProviderID]; !seen {
					first[c.ProviderID] = c.Seq
					if c.Seq != 1 {
						t.Fatalf("Unpublished(limit %d) starts provider %s at seq %d: %s", n, c.ProviderID, c.Seq, keys(got))
					}
				}
			}
		}
		oldest, ok, err := st.OldestUnpublished(ctx)
		if err != nil || !ok || !oldest.Equal(minute(0)) {
			t.Fatalf("OldestUnpublished = %v, %v, %v; want %v", oldest, ok, err, minute(0))
		}

		mark(t, st, relay.Position{ProviderID: "42", Seq: 1}, relay.Position{ProviderID: "a_b-C", Seq: 1})
		if got := unpublished(t, st, 100); sortedKeys(got) != "42:2 42:3 7:1" {
			t.Fatalf("after marks: Unpublished = %s", keys(got))
		}
		if oldest, _, _ := st.OldestUnpublished(ctx); !oldest.Equal(minute(2)) {
			t.Fatalf("OldestUnpublished = %v, want %v", oldest, minute(2))
		}
		// A mark beyond the provider's seq marks what there is; marking
		// again, or nothing, is fine.
		mark(t, st, relay.Position{ProviderID: "42", Seq: 99})
		mark(t, st, relay.Position{ProviderID: "42", Seq: 2})
		mark(t, st)
		if got := unpublished(t, st, 100); keys(got) != "7:1" {
			t.Fatalf("after marking 42: Unpublished = %s", keys(got))
		}
		mark(t, st, relay.Position{ProviderID: "7", Seq: 1})
		if got := unpublished(t, st, 100); len(got) != 0 {
			t.Fatalf("all marked: Unpublished = %s", keys(got))
		}
		if _, ok, err := st.OldestUnpublished(ctx); ok || err != nil {
			t.Fatalf("OldestUnpublished with all published: ok %v, %v", ok, err)
		}
		// Published events are still there for catch-up; new ones are
		// unpublished.
		if got, _ := events(t, st, "42", 0, 100); keys(got) != "42:1 42:2 42:3" {
			t.Fatalf("Events after publishing = %s", keys(got))
		}
		mk("42", 3, minute(5))
		if got := unpublished(t, st, 100); keys(got) != "42:4" {
			t.Fatalf("a new change: Unpublished = %s", keys(got))
		}
	})

	t.Run("prune by age and count, never unpublished", func(t *testing.T) {
		st := newStore(t)
		for i := range 6 {
			if _, err := st.CreateSlot(ctx, slot("42", at(i, 0), at(i, 30)), minute(i)); err != nil {
				t.Fatal(err)
			}
		}
		for i := range 2 {
			if _, err := st.CreateSlot(ctx, slot("7", at(i, 0), at(i, 30)), minute(i)); err != nil {
				t.Fatal(err)
			}
		}
		mark(t, st, relay.Position{ProviderID: "42", Seq: 4}, relay.Position{ProviderID: "7", Seq: 2})

		prune := func(before time.Time, keep int64, want int64) {
			t.Helper()
			n, err := st.Prune(ctx, before, keep)
			if err != nil || n != want {
				t.Fatalf("Prune(%v, %d) = %d, %v; want %d", before, keep, n, err, want)
			}
		}
		prune(time.Time{}, 0, 0) // no limits: nothing goes
		prune(minute(2), 0, 4)   // made before minute 2: 42:1 42:2 7:1 7:2
		_, _, err := st.Events(ctx, "42", 0, 10)
		wantCode(t, err, apperr.CodeGone)
		_, _, err = st.Events(ctx, "42", 1, 10)
		wantCode(t, err, apperr.CodeGone)
		if got, seq := events(t, st, "42", 2, 10); keys(got) != "42:3 42:4 42:5 42:6" || seq != 6 {
			t.Fatalf("Events(42, after 2) = %s (seq %d)", keys(got), seq)
		}
		// A client at the current seq needs nothing, pruned or not.
		if got, seq := events(t, st, "7", 2, 10); len(got) != 0 || seq != 2 {
			t.Fatalf("Events(7, after 2) = %s (seq %d), want nothing at seq 2", keys(got), seq)
		}
		_, _, err = st.Events(ctx, "7", 1, 10)
		wantCode(t, err, apperr.CodeGone)

		prune(time.Time{}, 1, 2) // keep 42's latest one: 42:3 and 42:4 go; 42:5 is unpublished and stays
		if got, _ := events(t, st, "42", 4, 10); keys(got) != "42:5 42:6" {
			t.Fatalf("Events(42, after 4) = %s", keys(got))
		}
		_, _, err = st.Events(ctx, "42", 3, 10)
		wantCode(t, err, apperr.CodeGone)
		prune(minute(100), 1, 0) // everything left is unpublished
		if got := unpublished(t, st, 10); keys(got) != "42:5 42:6" {
			t.Fatalf("Unpublished after prunes = %s", keys(got))
		}
		if s, _ := st.Seq(ctx, "42"); s != 6 {
			t.Fatalf("Seq after prunes = %d, want 6", s)
		}
		mark(t, st, relay.Position{ProviderID: "42", Seq: 6})
		prune(minute(100), 0, 2)
		if got, seq := events(t, st, "42", 6, 10); len(got) != 0 || seq != 6 {
			t.Fatalf("after pruning all: Events(42, after 6) = %s (seq %d)", keys(got), seq)
		}
		// The next change continues the seq.
		if c, err := st.CreateSlot(ctx, slot("42", at(9, 0), at(9, 30)), minute(9)); err != nil || c.Seq != 7 {
			t.Fatalf("after pruning all: CreateSlot seq %d, %v; want 7", c.Seq, err)
		}
	})

	t.Run("concurrent writers: one gap-free seq per provider", func(t *testing.T) {
		st := newStore(t)
		const writers, each = 4, 8
		var wg sync.WaitGroup
		for w := range writers {
			for _, p := range []string{"42", "7"} {
				wg.Add(1)
				go func() {
					defer wg.Done()
					for i := range each {
						h := w*each + i
						if _, err := st.CreateSlot(ctx, slot(p, at(h, 0), at(h, 30)), when); err != nil {
							t.Error(err)
						}
					}
				}()
			}
		}
		wg.Wait()
		for _, p := range []string{"42", "7"} {
			got, seq := events(t, st, p, 0, 1000)
			if len(got) != writers*each || seq != writers*each {
				t.Fatalf("provider %s: %d events, seq %d; want %d", p, len(got), seq, writers*each)
			}
			ids := map[int64]bool{}
			for i, c := range got {
				if c.Seq != int64(i+1) || c.ProviderID != p || ids[c.Slot.ID] {
					t.Fatalf("provider %s event %d = %s:%d slot %d", p, i, c.ProviderID, c.Seq, c.Slot.ID)
				}
				ids[c.Slot.ID] = true
			}
		}
		un := unpublished(t, st, 1000)
		checkRelayOrder(t, un)
		if len(un) != 2*writers*each {
			t.Fatalf("%d unpublished, want %d", len(un), 2*writers*each)
		}
	})

	t.Run("lead, and a wake after a commit", func(t *testing.T) {
		st := newStore(t)
		pctx, cancel := context.WithCancel(ctx)
		defer cancel()
		lctx, err := st.Lead(pctx)
		if err != nil {
			t.Fatalf("Lead: %v", err)
		}
		if lctx.Err() != nil {
			t.Fatalf("Lead returned an ended context: %v", lctx.Err())
		}
		wake := st.Wake()
		select { // drop a wake left by earlier writes
		case <-wake:
		default:
		}
		mustCreate(t, st, slot("42", at(0, 0), at(1, 0)))
		guard := time.NewTimer(waitGuard)
		defer guard.Stop()
		select {
		case <-wake:
		case <-guard.C:
			t.Fatalf("no wake within %v of a commit", waitGuard)
		}
		cancel()
		select {
		case <-lctx.Done():
		case <-guard.C:
			t.Fatalf("the lead outlived its parent context by %v", waitGuard)
		}
	})
}
