package postgres_test

import (
	"context"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/store/postgres"
	"github.com/eventide/realtime/internal/store/postgres/pgtest"
)

// failAfter bounds a wait that should end on a condition; it is a guard
// against a hang, never a measure.
const failAfter = 30 * time.Second

type leadResult struct {
	ctx context.Context
	err error
}

func leadAsync(ctx context.Context, db *postgres.DB) <-chan leadResult {
	ch := make(chan leadResult, 1)
	go func() {
		lead, err := db.Lead(ctx)
		ch <- leadResult{lead, err}
	}()
	return ch
}

// waitLock waits until the relay lock has a holder and n waiters, and
// returns the holder's pid.
func waitLock(t *testing.T, db *postgres.DB, waiters int) int32 {
	t.Helper()
	deadline := time.Now().Add(failAfter)
	for {
		h, w, err := db.RelayLock(context.Background())
		if err != nil {
			t.Fatal(err)
		}
		if len(h) == 1 && len(w) == waiters {
			return h[0]
		}
		if time.Now().After(deadline) {
			t.Fatalf("relay lock: holders %v, waiters %v; want 1 and %d", h, w, waiters)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

func recvLead(t *testing.T, ch <-chan leadResult) context.Context {
	t.Helper()
	select {
	case r := <-ch:
		if r.err != nil {
			t.Fatalf("Lead: %v", r.err)
		}
		return r.ctx
	case <-time.After(failAfter):
		t.Fatal("Lead did not return")
		return nil
	}
}

func waitDone(t *testing.T, ctx context.Context, what string) {
	t.Helper()
	select {
	case <-ctx.Done():
	case <-time.After(failAfter):
		t.Fatalf("%s: the lead did not end", what)
	}
}

func waitWake(t *testing.T, db *postgres.DB) {
	t.Helper()
	select {
	case <-db.Wake():
	case <-time.After(failAfter):
		t.Fatal("no wake")
	}
}

// Two processes on one database: one leads, the other waits in the lock
// queue and takes over the moment the leader's connection dies; the new
// leader is woken by NOTIFY from any process.
func TestLeadPassesWhenTheLeaderDies(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	a, b := open(t, dbURL, 2), open(t, dbURL, 2)
	ctx := context.Background()
	if err := a.Migrate(ctx); err != nil {
		t.Fatal(err)
	}

	leadA := recvLead(t, leadAsync(ctx, a))
	chB := leadAsync(ctx, b)
	holder := waitLock(t, a, 1)
	select {
	case r := <-chB:
		t.Fatalf("second process leads (%v) while the first holds the lock", r.err)
	default:
	}
	if leadA.Err() != nil {
		t.Fatal("leader's context ended while it held the lock")
	}

	// The leader's connection dies (as with a SIGKILL of its process).
	if err := b.Terminate(ctx, holder); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leadA, "terminated leader")
	leadB := recvLead(t, chB)
	if leadB.Err() != nil {
		t.Fatal("new leader's context already ended")
	}
	if h := waitLock(t, a, 0); h == holder {
		t.Fatalf("lock still held by the dead connection %d", h)
	}

	// Taking the lead wakes the relay once (to catch up); then a change
	// committed by another process wakes it.
	waitWake(t, b)
	if _, err := a.CreateSlot(ctx, slotAt("42", 0, 30), t0); err != nil {
		t.Fatal(err)
	}
	waitWake(t, b)
}

// A leader that lets go (its context ends) or closes its DB hands the lead
// to the next process at once.
func TestLeadPassesOnCancelAndClose(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	a, b := open(t, dbURL, 2), open(t, dbURL, 2)
	ctx := context.Background()

	ctxA, cancelA := context.WithCancel(ctx)
	recvLead(t, leadAsync(ctxA, a))
	chB := leadAsync(ctx, b)
	waitLock(t, a, 1)
	cancelA()
	leadB := recvLead(t, chB)

	chA := leadAsync(ctx, a)
	waitLock(t, a, 1)
	if err := b.Close(); err != nil {
		t.Fatal(err)
	}
	waitDone(t, leadB, "closed leader")
	recvLead(t, chA)

	// A process waiting to lead stops waiting when its context ends.
	c := open(t, dbURL, 1)
	ctxC, cancelC := context.WithCancel(ctx)
	chC := leadAsync(ctxC, c)
	waitLock(t, a, 1)
	cancelC()
	select {
	case r := <-chC:
		if r.err == nil {
			t.Fatal("Lead returned a lead after its context ended")
		}
	case <-time.After(failAfter):
		t.Fatal("Lead kept waiting after its context ended")
	}
}

// A process waiting to lead whose connection is cut (a database restart,
// a network blip) connects again and goes on waiting.
func TestLeadWaiterReconnects(t *testing.T) {
	dbURL := pgtest.NewDatabase(t)
	a, b := open(t, dbURL, 2), open(t, dbURL, 2)
	ctx := context.Background()
	ctxA, cancelA := context.WithCancel(ctx)
	recvLead(t, leadAsync(ctxA, a))
	chB := leadAsync(ctx, b)
	waitLock(t, a, 1)
	_, waiters, err := a.RelayLock(ctx)
	if err != nil || len(waiters) != 1 {
		t.Fatalf("waiters %v, %v", waiters, err)
	}
	if err := a.Terminate(ctx, waiters[0]); err != nil {
		t.Fatal(err)
	}
	// It queues again on a new connection...
	deadline := time.Now().Add(failAfter)
	for {
		_, w, err := a.RelayLock(ctx)
		if err != nil {
			t.Fatal(err)
		}
		if len(w) == 1 && w[0] != waiters[0] {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("the waiter did not queue again: waiters %v", w)
		}
		time.Sleep(20 * time.Millisecond)
	}
	select {
	case r := <-chB:
		t.Fatalf("Lead returned (%v) while another process leads", r.err)
	default:
	}
	// ...and leads when the leader lets go.
	cancelA()
	recvLead(t, chB)
}
