package postgres_test

import (
	"context"
	"fmt"
	"net/url"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
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

// openWithSlot opens and migrates the database at dbURL with maxConns
// connections (closed when b ends) and creates one slot of provider 42.
func openWithSlot(b *testing.B, dbURL string, maxConns int) (*postgres.DB, availability.Change) {
	b.Helper()
	ctx := context.Background()
	db, err := postgres.Open(ctx, dbURL, postgres.Config{MaxConns: maxConns})
	if err != nil {
		b.Fatal(err)
	}
	b.Cleanup(func() { db.Close() })
	if err := db.Migrate(ctx); err != nil {
		b.Fatal(err)
	}
	c, err := db.CreateSlot(ctx, slotAt("42", 0, 30), t0)
	if err != nil {
		b.Fatal(err)
	}
	return db, c
}

// note is a PATCH of the note alone.
func note(cur availability.Slot) (availability.Slot, error) { cur.Note = "x"; return cur, nil }

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
	db, c := openWithSlot(b, dbURL, 1)
	cpu0 := backendCPU(b, db)
	b.ReportAllocs()
	for b.Loop() {
		if _, err := db.PatchSlot(ctx, "42", c.Slot.ID, t0, note); err != nil {
			b.Fatal(err)
		}
	}
	b.ReportMetric((backendCPU(b, db)-cpu0)/float64(b.N)*1e6, "backend-µs/op")
}

// selfCPU returns this process's CPU seconds (user + system).
func selfCPU(b *testing.B) float64 {
	b.Helper()
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		b.Fatal(err)
	}
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano()).Seconds()
}

// BenchmarkRelayRound is the leading relay's database work for one change,
// as in a burst of PATCHes: after a change is committed (not timed), the
// round marks the previous change published and reads the new one, either
// as two calls (MarkPublished, then Unpublished: before ADR 0030) or in one
// round trip (MarkAndReadUnpublished). It reports this process's and the
// database backends' CPU per round (the backends' in clock ticks of 10 ms,
// summed over the rounds).
func BenchmarkRelayRound(b *testing.B) {
	for _, mode := range []string{"mark-then-read", "mark-and-read"} {
		b.Run(mode, func(b *testing.B) {
			ctx := context.Background()
			db, c := openWithSlot(b, pgtest.NewDatabase(b), 2)
			last := c.Seq
			var self, backend float64
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				if _, err := db.PatchSlot(ctx, "42", c.Slot.ID, t0, note); err != nil {
					b.Fatal(err)
				}
				backend0 := backendCPU(b, db)
				self0 := selfCPU(b)
				b.StartTimer()
				upTo := []relay.Position{{ProviderID: "42", Seq: last}}
				var got []availability.Change
				var err error
				if mode == "mark-then-read" {
					if err = db.MarkPublished(ctx, upTo); err == nil {
						got, err = db.Unpublished(ctx, 256)
					}
				} else {
					got, err = db.MarkAndReadUnpublished(ctx, upTo, 256)
				}
				b.StopTimer()
				self += selfCPU(b) - self0
				backend += backendCPU(b, db) - backend0
				b.StartTimer()
				if err != nil || len(got) != 1 || got[0].Seq != last+1 {
					b.Fatalf("read %v, %v after marking seq %d", got, err, last)
				}
				last = got[0].Seq
			}
			b.ReportMetric(self/float64(b.N)*1e6, "cpu-µs/op")
			b.ReportMetric(backend/float64(b.N)*1e6, "backend-µs/op")
		})
	}
}
