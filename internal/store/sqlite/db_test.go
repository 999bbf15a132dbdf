package sqlite_test

import (
	"context"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/store/sqlite"
	"github.com/eventide/realtime/internal/store/storetest"
)

func open(t testing.TB, url string) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(context.Background(), url, nil)
	if err != nil {
		t.Fatalf("Open(%q): %v", url, err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(context.Background()); err != nil {
		t.Fatalf("Migrate: %v", err)
	}
	return db
}

func TestStore(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return open(t, filepath.Join(t.TempDir(), "eventide.db"))
	})
}

// TestStoreWithoutExtras runs the suite on the store seen through the
// interfaces alone: no SlotPatcher (Service.Update's read-then-write path)
// and no relay.Tailer (the relay reads every change from the log), as a
// store without those would be used.
func TestStoreWithoutExtras(t *testing.T) {
	storetest.Run(t, func(t *testing.T) storetest.Store {
		return plain{open(t, filepath.Join(t.TempDir(), "eventide.db"))}
	})
}

type plain struct{ storetest.Store }

func TestOpenURLForms(t *testing.T) {
	dir := t.TempDir()
	for _, sub := range []string{"a", "b", "c"} {
		if err := os.Mkdir(filepath.Join(dir, sub), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for _, tc := range []struct{ url, file string }{
		{filepath.Join(dir, "a", "plain.db"), filepath.Join(dir, "a", "plain.db")},
		{"sqlite://" + filepath.Join(dir, "b", "url.db"), filepath.Join(dir, "b", "url.db")},
		{"file:" + filepath.Join(dir, "c", "uri.db") + "?cache=private", filepath.Join(dir, "c", "uri.db")},
	} {
		db := open(t, tc.url)
		if err := db.Ping(context.Background()); err != nil {
			t.Fatalf("%s: Ping: %v", tc.url, err)
		}
		if _, err := os.Stat(tc.file); err != nil {
			t.Fatalf("%s: database file not created: %v", tc.url, err)
		}
	}
	if _, err := sqlite.Open(context.Background(), "postgres://localhost/x", nil); err == nil {
		t.Fatal("postgres URL accepted")
	}
	if _, err := sqlite.Open(context.Background(), "", nil); err == nil {
		t.Fatal("empty URL accepted")
	}
}

// TestOpenBadPaths: a path Open cannot use is refused with an error that
// names it, and leaves nothing behind (no directory is ever created).
func TestOpenBadPaths(t *testing.T) {
	dir := t.TempDir()
	notDB := filepath.Join(dir, "notes.txt")
	if err := os.WriteFile(notDB, []byte(strings.Repeat("not a database\n", 100)), 0o600); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ url, want string }{
		{filepath.Join(dir, "missing", "deeper", "e.db"), "the directory " + filepath.Join(dir, "missing", "deeper") + " does not exist"},
		{"sqlite://" + filepath.Join(dir, "gone", "e.db"), "the directory " + filepath.Join(dir, "gone") + " does not exist"},
		{dir, dir + " is a directory"},
		{filepath.Join(notDB, "e.db"), notDB + " is not a directory"},
		{notDB, "open " + notDB + ": file is not a database"},
	} {
		db, err := sqlite.Open(context.Background(), tc.url, nil)
		if err == nil {
			db.Close()
			t.Errorf("Open(%q) succeeded", tc.url)
			continue
		}
		if !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Open(%q) = %v, want it to say %q", tc.url, err, tc.want)
		}
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("Open left %v behind, want only notes.txt", names)
	}
}

func TestMigrateTwiceAndReopen(t *testing.T) {
	path := filepath.Join(t.TempDir(), "eventide.db")
	ctx := context.Background()
	db := open(t, path)
	if err := db.Migrate(ctx); err != nil {
		t.Fatalf("second Migrate: %v", err)
	}
	got, err := db.Migrations(ctx)
	if err != nil || strings.Join(got, " ") != "0001_init 0002_events" {
		t.Fatalf("Migrations = %v, %v", got, err)
	}
	svc := availability.NewService(db, nil)
	s, err := svc.Create(ctx, "42", availability.NewSlot{Start: mustTime(t, "2026-01-01T10:00:00Z"), End: mustTime(t, "2026-01-01T11:00:00Z")})
	if err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatal(err)
	}
	if err := db.Close(); err != nil {
		t.Fatalf("second Close: %v", err)
	}
	db2 := open(t, path)
	if _, err := db2.GetSlot(ctx, "42", s.ID); err != nil {
		t.Fatalf("slot lost across reopen: %v", err)
	}
}

func mustTime(t *testing.T, s string) time.Time {
	t.Helper()
	tm, err := time.Parse(time.RFC3339, s)
	if err != nil {
		t.Fatal(err)
	}
	return tm
}
