package httpapi_test

import (
	"bytes"
	"context"
	"fmt"
	"log/slog"
	"net/http"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/httpapi"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// logBuffer is a log destination read while the server writes to it.
type logBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *logBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *logBuffer) String() string {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.String()
}

// waitFor polls cond until it holds; the deadline only guards against a hang.
func waitFor(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("timed out waiting for %s", what)
		}
		time.Sleep(5 * time.Millisecond)
	}
}

// stalledStore is the real SQLite store whose list waits until the
// request's context ends, as a slow query would.
type stalledStore struct {
	*sqlite.DB
	entered chan struct{}
}

func (s stalledStore) ListSlots(ctx context.Context, providerID string, w availability.Window) ([]availability.Slot, error) {
	s.entered <- struct{}{}
	<-ctx.Done()
	return nil, fmt.Errorf("sqlite: list slots: %w", ctx.Err())
}

// TestClientCancelIsNotAServerError: a request whose client goes away
// while it is served is neither answered 500 nor logged at ERROR; the
// request log records 499.
func TestClientCancelIsNotAServerError(t *testing.T) {
	logs := &logBuffer{}
	stalled := make(chan struct{}, 1)
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "stalled.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	e := newEnv(t, func(_ *httpapi.Config, d *httpapi.Deps) {
		d.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelDebug}))
		d.Slots = availability.NewService(stalledStore{DB: db, entered: stalled}, nil)
	})
	ctx, cancel := context.WithCancel(t.Context())
	r, _ := http.NewRequestWithContext(ctx, "GET", e.srv.URL+slotsPath, nil)
	r.Header.Set("Authorization", "Bearer "+e.token(admin))
	done := make(chan error, 1)
	go func() {
		resp, err := e.srv.Client().Do(r)
		if err == nil {
			resp.Body.Close()
		}
		done <- err
	}()
	<-stalled
	cancel()
	if err := <-done; err == nil {
		t.Fatal("the cancelled request got an answer")
	}
	waitFor(t, "the request log line", func() bool { return strings.Contains(logs.String(), `msg="http request"`) })
	out := logs.String()
	if !strings.Contains(out, "status=499") || strings.Contains(out, "level=ERROR") || strings.Contains(out, "status=500") {
		t.Fatalf("log:\n%s", out)
	}
}
