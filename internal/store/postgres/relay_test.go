package postgres_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/relay/relaytest"
	"github.com/eventide/realtime/internal/store/postgres"
	"github.com/eventide/realtime/internal/store/postgres/pgtest"
)

func startRelay(t *testing.T, db *postgres.DB, clock *relaytest.Clock, pub relay.Publisher) {
	t.Helper()
	r := relay.New(relay.Config{Log: db, Publisher: pub, Clock: clock})
	r.Start()
	t.Cleanup(func() {
		ctx, cancel := context.WithTimeout(context.Background(), failAfter)
		defer cancel()
		if err := r.Shutdown(ctx); err != nil {
			t.Errorf("relay Shutdown: %v", err)
		}
	})
}

func seqs(cs []availability.Change) []int64 {
	out := make([]int64, len(cs))
	for i, c := range cs {
		out[i] = c.Seq
	}
	return out
}

// Two relays, in two processes (two pools) on one database: only the one
// holding the lock publishes, each change once and in seq order, woken by
// NOTIFY alone (the clock never moves, so no poll fires); when its
// connection dies the other relay takes over and publishes everything
// after, with no gap.
func TestTwoRelaysOnOneDatabase(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	a, b := open(t, dbURL, 3), open(t, dbURL, 3)
	ctx := context.Background()
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}
	clock := relaytest.NewClock(t0)
	recA, recB := relaytest.NewRecorder(), relaytest.NewRecorder()
	startRelay(t, a, clock, recA)
	first := waitLock(t, a, 0)
	startRelay(t, b, clock, recB)
	waitLock(t, a, 1)

	stores := []*postgres.DB{a, b}
	create := func(i int) {
		t.Helper()
		if _, err := stores[i%2].CreateSlot(ctx, slotAt("42", i*60, i*60+30), t0); err != nil {
			t.Fatal(err)
		}
	}
	for i := range 10 {
		create(i)
	}
	recA.WaitLen(t, 10)
	if got := fmt.Sprint(seqs(recA.Changes())); got != "[1 2 3 4 5 6 7 8 9 10]" {
		t.Fatalf("the leading relay published %s", got)
	}
	if n := len(recB.Changes()); n != 0 {
		t.Fatalf("the waiting relay published %d changes", n)
	}

	// The leader's lock connection dies: the other relay takes the lock
	// and the first one queues for it again.
	if err := a.Terminate(ctx, first); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(failAfter)
	for {
		h, w, err := a.RelayLock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 1 && h[0] != first && len(w) == 1 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay lock after the leader's connection died: holders %v, waiters %v", h, w)
		}
		time.Sleep(20 * time.Millisecond)
	}
	for i := 10; i < 15; i++ {
		create(i)
	}
	recB.WaitFor(t, "42:15 published", func(cs []availability.Change) bool {
		return len(cs) > 0 && cs[len(cs)-1].Seq == 15
	})
	got := seqs(recB.Changes())
	for i := 1; i < len(got); i++ {
		if got[i] != got[i-1]+1 {
			t.Fatalf("the new leader published %v: a gap or a duplicate", got)
		}
	}
	if got[0] > 11 {
		t.Fatalf("the new leader published %v: the changes after the takeover start at 11", got)
	}
	if n := len(recA.Changes()); n != 10 {
		t.Fatalf("the old leader published %d changes after it lost the lock", n-10)
	}
}
