package metrics

import (
	"context"
	"time"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/eventide/realtime/internal/availability"
)

// storeOps are the store operations, the values of the op label.
func storeOps() []string {
	return []string{"list_slots", "get_slot", "create_slot", "update_slot", "patch_slot", "delete_slot", "seq", "events"}
}

type storeObserver struct {
	ops map[string]prometheus.Observer
}

func newStoreObserver(reg prometheus.Registerer) *storeObserver {
	h := prometheus.NewHistogramVec(prometheus.HistogramOpts{
		Name:    "eventide_store_operation_duration_seconds",
		Help:    "Time a store operation (SQLite or PostgreSQL) takes, errors included, by operation.",
		Buckets: ioBuckets(),
	}, []string{"op"})
	o := &storeObserver{ops: map[string]prometheus.Observer{}}
	for _, op := range storeOps() {
		o.ops[op] = h.WithLabelValues(op)
	}
	reg.MustRegister(h)
	return o
}

func (o *storeObserver) since(op string, start time.Time) {
	o.ops[op].Observe(time.Since(start).Seconds())
}

// Store returns s timed: each operation's duration goes to
// eventide_store_operation_duration_seconds. The result implements
// availability.SlotPatcher when s does.
func (m *Metrics) Store(s availability.Store) availability.Store {
	t := &timedStore{s: s, o: m.storeOb}
	if p, ok := s.(availability.SlotPatcher); ok {
		return &timedPatcher{timedStore: t, p: p}
	}
	return t
}

type timedStore struct {
	s availability.Store
	o *storeObserver
}

var _ availability.Store = (*timedStore)(nil)

func (t *timedStore) ListSlots(ctx context.Context, providerID string, w availability.Window) ([]availability.Slot, error) {
	defer t.o.since("list_slots", time.Now())
	return t.s.ListSlots(ctx, providerID, w)
}

func (t *timedStore) GetSlot(ctx context.Context, providerID string, id int64) (availability.Slot, error) {
	defer t.o.since("get_slot", time.Now())
	return t.s.GetSlot(ctx, providerID, id)
}

func (t *timedStore) CreateSlot(ctx context.Context, s availability.Slot, at time.Time) (availability.Change, error) {
	defer t.o.since("create_slot", time.Now())
	return t.s.CreateSlot(ctx, s, at)
}

func (t *timedStore) UpdateSlot(ctx context.Context, s availability.Slot, expectedVersion int64, at time.Time) (availability.Change, error) {
	defer t.o.since("update_slot", time.Now())
	return t.s.UpdateSlot(ctx, s, expectedVersion, at)
}

func (t *timedStore) DeleteSlot(ctx context.Context, providerID string, id int64, expectedVersion int64, at time.Time) (availability.Change, error) {
	defer t.o.since("delete_slot", time.Now())
	return t.s.DeleteSlot(ctx, providerID, id, expectedVersion, at)
}

func (t *timedStore) Seq(ctx context.Context, providerID string) (int64, error) {
	defer t.o.since("seq", time.Now())
	return t.s.Seq(ctx, providerID)
}

func (t *timedStore) Events(ctx context.Context, providerID string, after int64, limit int) ([]availability.Change, int64, error) {
	defer t.o.since("events", time.Now())
	return t.s.Events(ctx, providerID, after, limit)
}

// timedPatcher is a timedStore of a store that patches in one transaction.
type timedPatcher struct {
	*timedStore
	p availability.SlotPatcher
}

var _ availability.SlotPatcher = (*timedPatcher)(nil)

func (t *timedPatcher) PatchSlot(ctx context.Context, providerID string, id int64, at time.Time, apply func(cur availability.Slot) (availability.Slot, error)) (availability.Change, error) {
	defer t.o.since("patch_slot", time.Now())
	return t.p.PatchSlot(ctx, providerID, id, at, apply)
}
