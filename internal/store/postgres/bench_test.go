package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"testing"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/store/postgres"
	"github.com/eventide/realtime/internal/store/postgres/pgtest"
)

// backendCPU sums the CPU seconds of the server processes serving db's
// database (readable when the server runs on this machine as a user we
// may read /proc of).
func backendCPU(b *testing.B, db *postgres.DB) float64 {
	b.Helper()
	pids, err := db.BackendPIDs(context.Background())
	if err != nil {
		b.Fatal(err)
	}
	var sum float64
	for _, pid := range pids {
		st, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
		if err != nil {
			continue
		}
		f := strings.Fields(string(st[strings.LastIndexByte(string(st), ')')+1:]))
		var user, sys float64
		fmt.Sscan(f[11], &user)
		fmt.Sscan(f[12], &sys)
		sum += (user + sys) / 100 // clock ticks
	}
	return sum
}

// BenchmarkPatchSlot is a PATCH's store work alone: one connection, no
// relay. It reports the database backends' CPU per PATCH beside ours.
// EVENTIDE_BENCH_PG_OPTIONS adds server settings to the connection, e.g.
// "synchronous_commit=off" to see what the WAL flush at COMMIT costs.
func BenchmarkPatchSlot(b *testing.B) {
	dbURL := pgtest.NewDatabase(b)
	if o := os.Getenv("EVENTIDE_BENCH_PG_OPTIONS"); o != "" {
		// pgx reads a "+" in the query as a "+", not a space.
		sep := "?"
		if strings.Contains(dbURL, "?") {
			sep = "&"
		}
		dbURL += sep + "options=" + strings.ReplaceAll(url.QueryEscape("-c "+o), "+", "%20")
	}
	ctx := context.Background()
	db, err := postgres.Open(ctx, dbURL, postgres.Config{MaxConns: 1})
	if err != nil {
		b.Fatal(err)
	}
	defer db.Close()
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	c, err := db.CreateSlot(ctx, slotAt("42", 0, 30), t0)
	if err != nil {
		b.Fatal(err)
	}
	note := func(cur availability.Slot) (availability.Slot, error) { cur.Note = "x"; return cur, nil }
	cpu0 := backendCPU(b, db)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.PatchSlot(ctx, "42", c.Slot.ID, t0, note); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((backendCPU(b, db)-cpu0)/float64(b.N)*1e6, "backend-µs/op")
}
