package sqlite

import (
	"context"
	"database/sql"
	"errors"
	"os"
	"path/filepath"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
)

// openFiles counts this process's descriptors open on path.
func openFiles(t *testing.T, path string) int {
	t.Helper()
	ents, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Skip("no /proc/self/fd on this system")
	}
	n := 0
	for _, e := range ents {
		if target, err := os.Readlink(filepath.Join("/proc/self/fd", e.Name())); err == nil && target == path {
			n++
		}
	}
	return n
}

// TestPoolIsBounded: however many reads run at once, the database holds at
// most WithMaxConns connections (files); reads beyond them wait.
func TestPoolIsBounded(t *testing.T) {
	const maxConns = 3
	path := filepath.Join(t.TempDir(), "pool.db")
	d, err := Open(t.Context(), path, nil, WithMaxConns(maxConns))
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	if err := d.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	// Hold every connection the pool gives with an open result set.
	var held []*sql.Rows
	for range maxConns {
		rows, err := d.db.QueryContext(t.Context(), "SELECT 1")
		if err != nil {
			t.Fatal(err)
		}
		held = append(held, rows)
	}
	if n := openFiles(t, path); n < 1 || n > maxConns {
		t.Fatalf("%d open files of the database, cap %d", n, maxConns)
	}
	// One more read waits for a connection rather than opening one.
	ctx, cancel := context.WithCancel(t.Context())
	waited := make(chan error, 1)
	go func() {
		_, err := d.ListSlots(ctx, "42", availability.Window{})
		waited <- err
	}()
	for deadline := time.Now().Add(30 * time.Second); d.db.Stats().WaitCount == 0; time.Sleep(5 * time.Millisecond) {
		if time.Now().After(deadline) {
			t.Fatal("the extra read neither waited nor failed")
		}
	}
	if n := openFiles(t, path); n > maxConns {
		t.Fatalf("%d open files of the database while a read waits, cap %d", n, maxConns)
	}
	cancel()
	if err := <-waited; !errors.Is(err, context.Canceled) {
		t.Fatalf("the waiting read ended with %v", err)
	}
	for _, r := range held {
		r.Close()
	}

	// Many reads and writes at once with the smallest pool all succeed.
	small, err := Open(t.Context(), filepath.Join(t.TempDir(), "small.db"), nil, WithMaxConns(1))
	if err != nil {
		t.Fatal(err)
	}
	defer small.Close()
	if err := small.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	if got := small.db.Stats().MaxOpenConnections; got != minFileConns {
		t.Fatalf("WithMaxConns(1) gave a pool of %d, want %d", got, minFileConns)
	}
	var wg sync.WaitGroup
	errs := make(chan error, 100)
	for i := range 50 {
		wg.Go(func() {
			start := time.Date(2030, 1, 1, 0, 0, 0, 0, time.UTC).Add(time.Duration(i) * time.Hour)
			s := availability.Slot{ProviderID: "42", Start: start, End: start.Add(time.Hour), Status: "available", CreatedAt: start, UpdatedAt: start}
			if _, err := small.CreateSlot(t.Context(), s, start); err != nil {
				errs <- err
			}
			if _, err := small.ListSlots(t.Context(), "42", availability.Window{}); err != nil {
				errs <- err
			}
		})
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		t.Fatal(err)
	}
	if got := small.db.Stats().OpenConnections; got > minFileConns {
		t.Fatalf("%d connections open, cap %d", got, minFileConns)
	}
}
