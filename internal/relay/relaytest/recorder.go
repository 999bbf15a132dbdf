package relaytest

import (
	"context"
	"fmt"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/availability"
	"github.com/eventide/realtime/internal/relay"
)

// Recorder is a relay.Publisher that records every change it is given, in
// order, duplicates included, and can be told to fail for a provider.
type Recorder struct {
	mu      sync.Mutex
	got     []availability.Change
	fail    map[string]error
	changed chan struct{} // closed and replaced on every Publish
}

var _ relay.Publisher = (*Recorder)(nil)

// NewRecorder returns an empty Recorder.
func NewRecorder() *Recorder { return &Recorder{changed: make(chan struct{})} }

// Publish records c, or returns the error set with Fail for its provider.
func (r *Recorder) Publish(_ context.Context, c availability.Change) error {
	r.mu.Lock()
	defer r.mu.Unlock()
	defer func() {
		close(r.changed)
		r.changed = make(chan struct{})
	}()
	if err := r.fail[c.ProviderID]; err != nil {
		return err
	}
	r.got = append(r.got, c)
	return nil
}

// Fail makes Publish fail with err for providerID; a nil err heals it.
func (r *Recorder) Fail(providerID string, err error) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.fail == nil {
		r.fail = map[string]error{}
	}
	if err == nil {
		delete(r.fail, providerID)
	} else {
		r.fail[providerID] = err
	}
}

// Changes returns what was published so far.
func (r *Recorder) Changes() []availability.Change {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]availability.Change(nil), r.got...)
}

// Keys returns what was published as "provider:seq" strings.
func (r *Recorder) Keys() []string {
	var out []string
	for _, c := range r.Changes() {
		out = append(out, Key(c))
	}
	return out
}

// Key is "provider:seq".
func Key(c availability.Change) string { return fmt.Sprintf("%s:%d", c.ProviderID, c.Seq) }

// WaitFor blocks until cond holds for the published changes, or fails the
// test after a generous deadline.
func (r *Recorder) WaitFor(t TB, what string, cond func([]availability.Change) bool) {
	t.Helper()
	deadline := time.NewTimer(waitGuard)
	defer deadline.Stop()
	for {
		r.mu.Lock()
		ok, changed := cond(r.got), r.changed
		r.mu.Unlock()
		if ok {
			return
		}
		select {
		case <-changed:
		case <-deadline.C:
			t.Fatalf("relaytest: %s: not after %v; published %v", what, waitGuard, r.Keys())
		}
	}
}

// WaitLen blocks until at least n changes were published.
func (r *Recorder) WaitLen(t TB, n int) {
	t.Helper()
	r.WaitFor(t, fmt.Sprintf("%d changes published", n), func(c []availability.Change) bool { return len(c) >= n })
}
