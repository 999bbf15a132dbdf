package sqlite

import (
	"context"
	"path/filepath"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
)

// TestTailHandsOverInCommitOrder: unarmed, a commit wakes the relay; armed,
// commits go on the tail in order and do not wake; when the tail is full
// the hand-over stops and wakes; re-arming drops what was queued.
func TestTailHandsOverInCommitOrder(t *testing.T) {
	ctx := context.Background()
	d, err := Open(ctx, filepath.Join(t.TempDir(), "e.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	d.tail = make(chan availability.Change, 3) // small, to fill it
	base := time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)
	n := 0
	create := func() {
		t.Helper()
		start := base.Add(time.Duration(n) * time.Hour)
		n++
		s := availability.Slot{ProviderID: "42", Start: start, End: start.Add(time.Minute), Status: availability.StatusAvailable}
		if _, err := d.CreateSlot(ctx, s, base); err != nil {
			t.Fatal(err)
		}
	}
	woken := func() bool {
		select {
		case <-d.Wake():
			return true
		default:
			return false
		}
	}
	seqs := func(ch <-chan availability.Change) []int64 {
		var out []int64
		for len(ch) > 0 {
			out = append(out, (<-ch).Seq)
		}
		return out
	}

	create()
	if !woken() || len(d.tail) != 0 {
		t.Fatal("unarmed: a commit must wake, not use the tail")
	}
	tail := d.Tail()
	create()
	create()
	if woken() {
		t.Fatal("armed: a commit on the tail woke too")
	}
	create()
	create() // the tail (3) is full: the hand-over stops and wakes
	if !woken() {
		t.Fatal("a full tail did not wake")
	}
	create()
	if !woken() {
		t.Fatal("after the tail filled, a commit did not wake")
	}
	if got := seqs(tail); len(got) != 3 || got[0] != 2 || got[1] != 3 || got[2] != 4 {
		t.Fatalf("tail = %v, want [2 3 4]", got)
	}
	create()
	if len(tail) != 0 || !woken() {
		t.Fatal("unarmed after the overflow: a commit must wake")
	}
	d.Tail()
	create()
	if got := seqs(tail); len(got) != 1 || got[0] != 8 || woken() {
		t.Fatalf("re-armed: tail = %v, want [8] and no wake", got)
	}
	create()
	create()
	d.Tail() // drops what is queued: the relay reads it from the log
	if len(tail) != 0 {
		t.Fatalf("re-arming kept %d queued changes", len(tail))
	}
}
