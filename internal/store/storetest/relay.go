package storetest

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/apperr"
	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/relay/relaytest"
)

const pollInterval = time.Second

// startRelay runs a relay over st on a manual clock; it is shut down when
// the test ends.
func startRelay(t *testing.T, st Store, clock *relaytest.Clock, pub relay.Publisher, cfg relay.Config) *relay.Relay {
	t.Helper()
	cfg.Log, cfg.Publisher, cfg.Clock, cfg.PollInterval = st, pub, clock, pollInterval
	r := relay.New(cfg)
	r.Start()
	t.Cleanup(func() { shutdown(t, r) })
	return r
}

func shutdown(t *testing.T, r *relay.Relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), waitGuard)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("relay Shutdown: %v", err)
	}
}

// drive lets the relay's poll timer fire, one round at a time, until cond
// holds: for what a wake does not trigger (a retry, a prune).
func drive(t *testing.T, clock *relaytest.Clock, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(waitGuard)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("%s: not after %v", what, waitGuard)
		}
		clock.WaitForTimers(t, 1) // the relay is waiting: its round is over
		clock.Advance(pollInterval)
	}
}

// inSeqOrder reports whether cs holds, for each provider, exactly seqs
// 1..n[provider] in order, each once.
func inSeqOrder(cs []availability.Change, n map[string]int64) error {
	next := map[string]int64{}
	for _, c := range cs {
		if c.Seq != next[c.ProviderID]+1 {
			return fmt.Errorf("%s:%d after %s:%d", c.ProviderID, c.Seq, c.ProviderID, next[c.ProviderID])
		}
		next[c.ProviderID] = c.Seq
	}
	for p, want := range n {
		if next[p] != want {
			return fmt.Errorf("provider %s: up to seq %d, want %d", p, next[p], want)
		}
	}
	return nil
}

func runRelay(t *testing.T, newStore func(t *testing.T) Store) {
	ctx := context.Background()

	t.Run("relay: every change once, in seq order", func(t *testing.T) {
		st := newStore(t)
		clock := relaytest.NewClock(base)
		rec := relaytest.NewRecorder()
		r := startRelay(t, st, clock, rec, relay.Config{BatchSize: 7})
		const each = 20
		providers := []string{"42", "7", "9"}
		var wg sync.WaitGroup
		for _, p := range providers {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := range each {
					if _, err := st.CreateSlot(ctx, slot(p, at(i, 0), at(i, 30)), when); err != nil {
						t.Error(err)
					}
				}
			}()
		}
		wg.Wait()
		// Woken by the commits (no clock moves): all arrive.
		rec.WaitLen(t, len(providers)*each)
		got := rec.Changes()
		if err := inSeqOrder(got, map[string]int64{"42": each, "7": each, "9": each}); err != nil {
			t.Fatalf("published %v: %v", rec.Keys(), err)
		}
		stored, _ := events(t, st, "9", 0, 100)
		for _, c := range got {
			if c.ProviderID == "9" && !sameChange(c, stored[c.Seq-1]) {
				t.Fatalf("published %+v, stored %+v", c, stored[c.Seq-1])
			}
		}
		// Marked, at once or (a store with a tail) in a batch soon after.
		drive(t, clock, "all marked published", func() bool { return len(unpublished(t, st, 100)) == 0 })
		if lag, err := r.Lag(ctx); err != nil || lag != 0 {
			t.Fatalf("Lag = %v, %v; want 0", lag, err)
		}
	})

	t.Run("relay: a new relay publishes what was left, and only that", func(t *testing.T) {
		st := newStore(t)
		for i := range 3 {
			mustCreate(t, st, slot("42", at(i, 0), at(i, 30)))
		}
		clock := relaytest.NewClock(base)
		first := relaytest.NewRecorder()
		r1 := startRelay(t, st, clock, first, relay.Config{})
		first.WaitLen(t, 3) // committed before the relay started: it looks at once
		shutdown(t, r1)
		mustCreate(t, st, slot("42", at(5, 0), at(5, 30)))
		mustCreate(t, st, slot("42", at(6, 0), at(6, 30)))
		second := relaytest.NewRecorder()
		startRelay(t, st, clock, second, relay.Config{})
		second.WaitFor(t, "42:5 published", func(cs []availability.Change) bool {
			return len(cs) > 0 && cs[len(cs)-1].Seq == 5
		})
		if got := fmt.Sprint(first.Keys(), second.Keys()); got != "[42:1 42:2 42:3] [42:4 42:5]" {
			t.Fatalf("published by the first and second relay: %s", got)
		}
	})

	t.Run("relay: a failing publish holds back its provider only", func(t *testing.T) {
		st := newStore(t)
		clock := relaytest.NewClock(base)
		rec := relaytest.NewRecorder()
		r := startRelay(t, st, clock, rec, relay.Config{})
		rec.Fail("42", errors.New("adapter down"))
		mustCreate(t, st, slot("42", at(0, 0), at(0, 30)))
		mustCreate(t, st, slot("42", at(1, 0), at(1, 30)))
		mustCreate(t, st, slot("7", at(0, 0), at(0, 30)))
		rec.WaitLen(t, 1)
		if got := rec.Keys(); fmt.Sprint(got) != "[7:1]" {
			t.Fatalf("published %v, want only 7:1", got)
		}
		clock.WaitForTimers(t, 1)
		clock.Advance(10 * time.Minute) // the changes were made at `when`, long before
		if lag, err := r.Lag(ctx); err != nil || lag < 10*time.Minute {
			t.Fatalf("Lag = %v, %v; want the age of 42:1", lag, err)
		}
		rec.Fail("42", nil)
		drive(t, clock, "42 published after the adapter came back", func() bool { return len(rec.Changes()) == 3 })
		clock.WaitForTimers(t, 1)
		if err := inSeqOrder(rec.Changes(), map[string]int64{"42": 2, "7": 1}); err != nil {
			t.Fatalf("published %v: %v", rec.Keys(), err)
		}
		if lag, err := r.Lag(ctx); err != nil || lag != 0 {
			t.Fatalf("Lag = %v, %v; want 0", lag, err)
		}
	})

	t.Run("relay: prunes past retention while it leads", func(t *testing.T) {
		st := newStore(t)
		clock := relaytest.NewClock(base)
		rec := relaytest.NewRecorder()
		startRelay(t, st, clock, rec, relay.Config{Retention: time.Hour, RetentionCount: 3, PruneInterval: pollInterval})
		for i := range 5 {
			if _, err := st.CreateSlot(ctx, slot("42", at(i, 0), at(i, 30)), base); err != nil {
				t.Fatal(err)
			}
		}
		rec.WaitLen(t, 5)
		// The count limit applies at the next prune: 3 are kept.
		gone := func(after int64) bool {
			_, _, err := st.Events(ctx, "42", after, 10)
			return apperr.Is(err, apperr.CodeGone)
		}
		drive(t, clock, "42:1 and 42:2 pruned", func() bool { return gone(1) })
		if got, _ := events(t, st, "42", 2, 10); keys(got) != "42:3 42:4 42:5" {
			t.Fatalf("kept %s", keys(got))
		}
		// An hour later all are past retention.
		clock.Advance(time.Hour)
		drive(t, clock, "all pruned", func() bool { return gone(2) })
		if got, seq := events(t, st, "42", 5, 10); len(got) != 0 || seq != 5 {
			t.Fatalf("Events(after 5) = %s (seq %d)", keys(got), seq)
		}
	})
}
