package relay_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
	"github.com/eventide/realtime/internal/relay/relaytest"
	"github.com/eventide/realtime/internal/store/sqlite"
)

// The relay against a real SQLite event log, on a manual clock: no test
// waits for wall-clock time; each waits for the relay to be idle (a timer
// pending) or for a publish, with a generous guard against a hang.

var t0 = time.Date(2026, 5, 4, 8, 0, 0, 0, time.UTC)

const poll = time.Second

func openDB(t *testing.T) *sqlite.DB {
	t.Helper()
	db, err := sqlite.Open(t.Context(), filepath.Join(t.TempDir(), "e.db"), nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { db.Close() })
	if err := db.Migrate(t.Context()); err != nil {
		t.Fatal(err)
	}
	return db
}

// write records a change of provider at the time at.
func write(t *testing.T, db *sqlite.DB, provider string, hour int, at time.Time) {
	t.Helper()
	start := t0.Add(time.Duration(hour) * time.Hour)
	s := availability.Slot{ProviderID: provider, Start: start, End: start.Add(30 * time.Minute), Status: availability.StatusAvailable,
		CreatedAt: at, UpdatedAt: at}
	if _, err := db.CreateSlot(context.Background(), s, at); err != nil {
		t.Fatal(err)
	}
}

// eventLog wraps the SQLite log to take away its wakes, fail its marks, or
// hand out the lead under the test's control. It has no tail (the
// relay.Tailer hand-over), so the relay reads every change from the log.
type eventLog struct {
	relay.EventLog
	noWake bool

	mu       sync.Mutex
	markErrs int // how many MarkPublished calls fail next

	// With leads set, Lead takes its answer from there: a context to lead
	// with (cancel it to take the lead away) or an error.
	leads  chan lead
	asking chan struct{} // a value each time Lead is called
}

type lead struct {
	ctx context.Context
	err error
}

func (l *eventLog) Wake() <-chan struct{} {
	if l.noWake {
		return nil
	}
	return l.EventLog.Wake()
}

func (l *eventLog) MarkPublished(ctx context.Context, upTo []relay.Position) error {
	l.mu.Lock()
	fail := l.markErrs > 0
	if fail {
		l.markErrs--
	}
	l.mu.Unlock()
	if fail {
		return errors.New("disk I/O error")
	}
	return l.EventLog.MarkPublished(ctx, upTo)
}

func (l *eventLog) Lead(ctx context.Context) (context.Context, error) {
	if l.leads == nil {
		return l.EventLog.Lead(ctx)
	}
	l.asking <- struct{}{}
	select {
	case <-ctx.Done():
		return nil, ctx.Err()
	case ld := <-l.leads:
		return ld.ctx, ld.err
	}
}

// syncBuffer is a log destination safe for the relay goroutine and the test.
type syncBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (s *syncBuffer) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.Write(p)
}

func (s *syncBuffer) lines(substr string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return strings.Count(s.b.String(), substr)
}

func (s *syncBuffer) String() string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.b.String()
}

func start(t *testing.T, log relay.EventLog, pub relay.Publisher, clock *relaytest.Clock, logs *syncBuffer) *relay.Relay {
	t.Helper()
	cfg := relay.Config{Log: log, Publisher: pub, Clock: clock, PollInterval: poll}
	if logs != nil {
		cfg.Logger = slog.New(slog.NewTextHandler(logs, &slog.HandlerOptions{Level: slog.LevelInfo}))
	}
	r := relay.New(cfg)
	r.Start()
	t.Cleanup(func() { stop(t, r) })
	return r
}

func stop(t *testing.T, r *relay.Relay) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Shutdown(ctx); err != nil {
		t.Errorf("Shutdown: %v", err)
	}
}

// round lets the relay's poll timer fire once and waits until the round it
// starts is over (the relay waits on a new timer).
func round(t *testing.T, clock *relaytest.Clock) {
	t.Helper()
	clock.WaitForTimers(t, 1)
	clock.Advance(poll)
	clock.WaitForTimers(t, 1)
}

// countingLog is the SQLite log, tail included, counting its reads.
type countingLog struct {
	*sqlite.DB
	mu    sync.Mutex
	reads int
}

func (l *countingLog) Unpublished(ctx context.Context, limit int) ([]availability.Change, error) {
	l.mu.Lock()
	l.reads++
	l.mu.Unlock()
	return l.DB.Unpublished(ctx, limit)
}

func (l *countingLog) readCount() int {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.reads
}

// TestHandsOverWithoutReadingTheLog: with the store's tail the relay
// publishes each commit as it is handed over, marks them, and does not read
// them back from the log.
func TestHandsOverWithoutReadingTheLog(t *testing.T) {
	db := openDB(t)
	log := &countingLog{DB: db}
	clock := relaytest.NewClock(t0)
	rec := relaytest.NewRecorder()
	start(t, log, rec, clock, nil)
	clock.WaitForTimers(t, 1) // idle after the first round, the one read
	for i := range 3 {
		write(t, db, "42", i, t0)
		write(t, db, "7", i, t0)
	}
	rec.WaitLen(t, 6)
	if err := inOrder(rec.Changes()); err != nil {
		t.Fatalf("published %v: %v", rec.Keys(), err)
	}
	// Marked in a batch once no change has come for a moment.
	round(t, clock)
	if n := log.readCount(); n != 1 {
		t.Fatalf("the log was read %d times, want once (at the start)", n)
	}
	if un, err := db.Unpublished(context.Background(), 10); err != nil || len(un) != 0 {
		t.Fatalf("not marked: %v, %v", un, err)
	}
	// The poll still reads the log, and finds nothing new.
	round(t, clock)
	if got := len(rec.Changes()); got != 6 {
		t.Fatalf("%d published after a poll, want 6", got)
	}
}

// inOrder checks each provider's seqs run 1, 2, 3, ... once each.
func inOrder(cs []availability.Change) error {
	next := map[string]int64{}
	for _, c := range cs {
		if c.Seq != next[c.ProviderID]+1 {
			return fmt.Errorf("%s:%d after %s:%d", c.ProviderID, c.Seq, c.ProviderID, next[c.ProviderID])
		}
		next[c.ProviderID] = c.Seq
	}
	return nil
}

func TestPollsWhenNoWakeComes(t *testing.T) {
	db := openDB(t)
	clock := relaytest.NewClock(t0)
	rec := relaytest.NewRecorder()
	start(t, &eventLog{EventLog: db, noWake: true}, rec, clock, nil)
	clock.WaitForTimers(t, 1) // idle after its first round
	write(t, db, "42", 0, t0)
	// Nothing can wake it: it waits on its timer, and has published nothing.
	if got := rec.Keys(); len(got) != 0 {
		t.Fatalf("published %v without a wake or a poll", got)
	}
	clock.Advance(poll)
	rec.WaitLen(t, 1)
	if got := rec.Keys(); got[0] != "42:1" {
		t.Fatalf("published %v", got)
	}
}

func TestMarksAreRetriedAndUnmarkedChangesPublishedAgain(t *testing.T) {
	db := openDB(t)
	clock := relaytest.NewClock(t0)
	rec := relaytest.NewRecorder()
	start(t, &eventLog{EventLog: db, noWake: true, markErrs: 1}, rec, clock, nil)
	clock.WaitForTimers(t, 1) // idle after its first round
	write(t, db, "42", 0, t0)
	write(t, db, "42", 1, t0)
	round(t, clock) // publishes both; the mark fails
	if got := strings.Join(rec.Keys(), " "); got != "42:1 42:2" {
		t.Fatalf("first round published %s", got)
	}
	if un, _ := db.Unpublished(context.Background(), 10); len(un) != 2 {
		t.Fatalf("unpublished after the failed mark: %v", un)
	}
	round(t, clock) // the mark is retried; nothing is published twice
	if un, err := db.Unpublished(context.Background(), 10); err != nil || len(un) != 0 {
		t.Fatalf("Unpublished = %v, %v", un, err)
	}
	if got := strings.Join(rec.Keys(), " "); got != "42:1 42:2" {
		t.Fatalf("published %s", got)
	}

	// A relay that ends with its marks failing leaves its changes
	// unpublished in the log: the next relay publishes them again (at
	// least once; the realtime side drops the duplicates).
	db2 := openDB(t)
	clock2 := relaytest.NewClock(t0) // the first relay's timers stay on its own clock
	second := relaytest.NewRecorder()
	r := relay.New(relay.Config{Log: &eventLog{EventLog: db2, noWake: true, markErrs: 1000}, Publisher: second, Clock: clock2, PollInterval: poll})
	r.Start()
	clock2.WaitForTimers(t, 1)
	write(t, db2, "42", 0, t0)
	round(t, clock2)
	stop(t, r)
	if got := strings.Join(second.Keys(), " "); got != "42:1" {
		t.Fatalf("published %s", got)
	}
	third := relaytest.NewRecorder()
	start(t, db2, third, clock2, nil)
	third.WaitLen(t, 1)
	if got := strings.Join(third.Keys(), " "); got != "42:1" {
		t.Fatalf("the next relay published %s, want 42:1 again", got)
	}
}

func TestLagIsLoggedWhenItGrows(t *testing.T) {
	db := openDB(t)
	clock := relaytest.NewClock(t0)
	rec := relaytest.NewRecorder()
	logs := &syncBuffer{}
	r := start(t, &eventLog{EventLog: db, noWake: true}, rec, clock, logs)
	clock.WaitForTimers(t, 1)
	rec.Fail("42", errors.New("adapter down"))
	write(t, db, "42", 0, t0)
	write(t, db, "7", 0, t0)
	for range 12 { // lag 1 s, 2 s, ... 12 s: one round each
		round(t, clock)
	}
	if got := strings.Join(rec.Keys(), " "); got != "7:1" {
		t.Fatalf("published %s, want only the provider that works", got)
	}
	if lag, err := r.Lag(context.Background()); err != nil || lag != 12*time.Second {
		t.Fatalf("Lag = %v, %v; want 12s", lag, err)
	}
	// One line for the failure, and one each time the lag passed 5 s and
	// doubled (5 s, 10 s), not one per round.
	if n := logs.lines("event relay: publish a change"); n != 1 {
		t.Fatalf("%d publish failure lines:\n%s", n, logs)
	}
	if n := logs.lines("event relay is behind"); n != 2 || !strings.Contains(logs.String(), "lag=5s") || !strings.Contains(logs.String(), "lag=10s") {
		t.Fatalf("%d lag lines, want lag=5s and lag=10s:\n%s", n, logs)
	}
	rec.Fail("42", nil)
	round(t, clock)
	if got := strings.Join(rec.Keys(), " "); got != "7:1 42:1" {
		t.Fatalf("published %s after the adapter came back", got)
	}
	if !strings.Contains(logs.String(), "event relay recovered") || !strings.Contains(logs.String(), "event relay caught up") {
		t.Fatalf("no recovery lines:\n%s", logs)
	}
	if lag, err := r.Lag(context.Background()); err != nil || lag != 0 {
		t.Fatalf("Lag = %v, %v; want 0", lag, err)
	}
}

func TestRelaysOnlyWhileLeading(t *testing.T) {
	db := openDB(t)
	log := &eventLog{EventLog: db, leads: make(chan lead), asking: make(chan struct{}, 10)}
	clock := relaytest.NewClock(t0)
	rec := relaytest.NewRecorder()
	logs := &syncBuffer{}
	start(t, log, rec, clock, logs)
	<-log.asking
	// Another process leads: changes wait in the log.
	write(t, db, "42", 0, t0)
	if got := rec.Keys(); len(got) != 0 {
		t.Fatalf("published %v without leading", got)
	}
	// Asking to lead can fail; the relay asks again after the poll interval.
	log.leads <- lead{err: errors.New("connection refused")}
	clock.WaitForTimers(t, 1)
	clock.Advance(poll)
	<-log.asking
	ctx, lose := context.WithCancel(context.Background())
	log.leads <- lead{ctx: ctx}
	rec.WaitLen(t, 1)         // leading: it looks at once
	clock.WaitForTimers(t, 1) // and has marked it
	// Losing the lead: it stops and asks again.
	lose()
	<-log.asking
	write(t, db, "42", 1, t0)
	if got := strings.Join(rec.Keys(), " "); got != "42:1" {
		t.Fatalf("published %s", got)
	}
	ctx2, lose2 := context.WithCancel(context.Background())
	defer lose2()
	log.leads <- lead{ctx: ctx2}
	rec.WaitLen(t, 2)
	if got := strings.Join(rec.Keys(), " "); got != "42:1 42:2" {
		t.Fatalf("published %s", got)
	}
	for _, want := range []string{"connection refused", "no longer relaying events", "relaying events"} {
		if !strings.Contains(logs.String(), want) {
			t.Fatalf("no %q in the log:\n%s", want, logs)
		}
	}
}

// blocker is a Publisher that waits for the test before each publish.
type blocker struct {
	*relaytest.Recorder
	entered chan struct{}
	release chan struct{}
}

func (b *blocker) Publish(ctx context.Context, c availability.Change) error {
	b.entered <- struct{}{}
	<-b.release
	return b.Recorder.Publish(ctx, c)
}

func TestShutdown(t *testing.T) {
	t.Run("before start, and twice", func(t *testing.T) {
		r := relay.New(relay.Config{Log: openDB(t), Publisher: relaytest.NewRecorder()})
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatal(err)
		}
		r.Start() // after Shutdown: does nothing
	})
	t.Run("lets the round finish", func(t *testing.T) {
		db := openDB(t)
		pub := &blocker{Recorder: relaytest.NewRecorder(), entered: make(chan struct{}), release: make(chan struct{})}
		r := start(t, db, pub, relaytest.NewClock(t0), nil)
		write(t, db, "42", 0, t0)
		<-pub.entered // mid-round
		done := make(chan error, 1)
		go func() { done <- r.Shutdown(context.Background()) }()
		close(pub.release)
		if err := <-done; err != nil {
			t.Fatalf("Shutdown: %v", err)
		}
		if got := pub.Keys(); len(got) != 1 {
			t.Fatalf("published %v", got)
		}
		if un, _ := db.Unpublished(context.Background(), 10); len(un) != 0 {
			t.Fatalf("the round was cut short: %v unpublished", un)
		}
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatalf("second Shutdown: %v", err)
		}
	})
	t.Run("gives up when its context ends", func(t *testing.T) {
		db := openDB(t)
		pub := &blocker{Recorder: relaytest.NewRecorder(), entered: make(chan struct{}), release: make(chan struct{})}
		r := relay.New(relay.Config{Log: db, Publisher: pub, Clock: relaytest.NewClock(t0)})
		r.Start()
		write(t, db, "42", 0, t0)
		<-pub.entered
		ctx, cancel := context.WithCancel(context.Background())
		cancel()
		if err := r.Shutdown(ctx); !errors.Is(err, context.Canceled) {
			t.Fatalf("Shutdown with an ended context: %v", err)
		}
		close(pub.release) // the abandoned round ends; its change stays for the next relay
		if err := r.Shutdown(context.Background()); err != nil {
			t.Fatalf("Shutdown after the round: %v", err)
		}
		if un, _ := db.Unpublished(context.Background(), 10); len(un) != 1 {
			t.Fatalf("unpublished after an abandoned round: %v, want the change", un)
		}
	})
}

// TestDrainPublishesWhatIsCommitted: Drain publishes and marks a change
// that no wake, poll or hand-over has brought to the relay yet, then stops;
// safe twice.
func TestDrainPublishesWhatIsCommitted(t *testing.T) {
	db := openDB(t)
	clock := relaytest.NewClock(t0)
	rec := relaytest.NewRecorder()
	r := start(t, &eventLog{EventLog: db, noWake: true}, rec, clock, nil)
	clock.WaitForTimers(t, 1) // idle after its first round
	write(t, db, "42", 0, t0)
	write(t, db, "42", 1, t0)
	if got := rec.Keys(); len(got) != 0 {
		t.Fatalf("published %v without a wake or a poll", got)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if err := r.Drain(ctx); err != nil {
		t.Fatalf("Drain: %v", err)
	}
	if got := rec.Keys(); len(got) != 2 || got[0] != "42:1" || got[1] != "42:2" {
		t.Fatalf("published %v, want 42:1 and 42:2", got)
	}
	if un, err := db.Unpublished(context.Background(), 10); err != nil || len(un) != 0 {
		t.Fatalf("not marked: %v, %v", un, err)
	}
	if err := r.Drain(ctx); err != nil {
		t.Fatalf("second Drain: %v", err)
	}
}
