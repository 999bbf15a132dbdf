package availability

import (
	"context"
	"hash/maphash"
	"io"
	"log/slog"
	"sync"
	"time"

	"github.com/eventide/realtime/internal/apperr"
)

// lockStripes bounds the per-provider locks: providers hash onto a fixed
// set of mutexes, so memory does not grow with the number of providers and
// two changes of one provider always take the same mutex.
const lockStripes = 256

// updateRetries is how often Update re-reads and re-applies a patch when
// the slot changed underneath it and the caller did not ask for a version
// (another instance sharing the database may write between read and write).
const updateRetries = 3

// Service applies the availability rules and publishes each committed
// change. It is safe for concurrent use.
type Service struct {
	store  Store
	pub    Publisher
	now    func() time.Time
	logger *slog.Logger

	seed  maphash.Seed
	locks [lockStripes]sync.Mutex
}

// NewService returns a Service over store that publishes changes with pub.
// pub may be nil (nothing is published), now nil (time.Now), logger nil
// (discarded).
func NewService(store Store, pub Publisher, now func() time.Time, logger *slog.Logger) *Service {
	if now == nil {
		now = time.Now
	}
	if logger == nil {
		logger = slog.New(slog.NewTextHandler(io.Discard, nil))
	}
	return &Service{store: store, pub: pub, now: now, logger: logger, seed: maphash.MakeSeed()}
}

// RoomForProvider is the room changes of providerID are published to. It is
// the same rule as auth.RoomForProvider; the domain does not import auth.
func RoomForProvider(providerID string) string { return "provider-" + providerID }

// lock serialises the changes of one provider in this process, so that
// publish order equals seq order.
func (s *Service) lock(providerID string) func() {
	m := &s.locks[maphash.String(s.seed, providerID)%lockStripes]
	m.Lock()
	return m.Unlock
}

func checkProvider(providerID string) error {
	if !ValidProviderID(providerID) {
		return apperr.Invalid("providerId", "must be 1-64 characters of A-Z a-z 0-9 _ -")
	}
	return nil
}

// List returns providerID's slots overlapping w, ordered by start.
func (s *Service) List(ctx context.Context, providerID string, w Window) ([]Slot, error) {
	if err := checkProvider(providerID); err != nil {
		return nil, err
	}
	if err := w.Validate(); err != nil {
		return nil, err
	}
	if !w.From.IsZero() {
		w.From = normalize(w.From)
	}
	if !w.To.IsZero() {
		w.To = normalize(w.To)
	}
	return s.store.ListSlots(ctx, providerID, w)
}

// Get returns one slot of providerID.
func (s *Service) Get(ctx context.Context, providerID string, id int64) (Slot, error) {
	if err := checkProvider(providerID); err != nil {
		return Slot{}, err
	}
	return s.store.GetSlot(ctx, providerID, id)
}

// Create validates and stores a new slot, then publishes ActionCreated.
func (s *Service) Create(ctx context.Context, providerID string, in NewSlot) (Slot, error) {
	now := normalize(s.now())
	slot := Slot{
		ProviderID: providerID,
		Start:      normalize(in.Start),
		End:        normalize(in.End),
		Status:     in.Status,
		Note:       in.Note,
		CreatedAt:  now,
		UpdatedAt:  now,
	}
	if slot.Status == "" {
		slot.Status = StatusAvailable
	}
	if err := slot.Validate(); err != nil {
		return Slot{}, err
	}
	defer s.lock(providerID)()
	created, seq, err := s.store.CreateSlot(ctx, slot)
	if err != nil {
		return Slot{}, err
	}
	s.publish(ActionCreated, created, seq)
	return created, nil
}

// Update applies p to a slot and publishes ActionUpdated. expectedVersion
// 0 means any version; otherwise a different stored version is a
// precondition_failed error and nothing changes.
func (s *Service) Update(ctx context.Context, providerID string, id int64, p Patch, expectedVersion int64) (Slot, error) {
	if err := checkProvider(providerID); err != nil {
		return Slot{}, err
	}
	defer s.lock(providerID)()
	apply := func(cur Slot) (Slot, error) {
		if expectedVersion != 0 && cur.Version != expectedVersion {
			return Slot{}, staleVersion(cur.Version, expectedVersion)
		}
		merged := cur
		if p.Start != nil {
			merged.Start = normalize(*p.Start)
		}
		if p.End != nil {
			merged.End = normalize(*p.End)
		}
		if p.Status != nil {
			merged.Status = *p.Status
		}
		if p.Note != nil {
			merged.Note = *p.Note
		}
		if err := merged.Validate(); err != nil {
			return Slot{}, err
		}
		merged.UpdatedAt = normalize(s.now())
		return merged, nil
	}
	if ps, ok := s.store.(SlotPatcher); ok {
		// Read, merge and write in one transaction: one read of the slot
		// and no window for another writer, so no retries either.
		updated, seq, err := ps.PatchSlot(ctx, providerID, id, apply)
		if err != nil {
			return Slot{}, err
		}
		s.publish(ActionUpdated, updated, seq)
		return updated, nil
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.store.GetSlot(ctx, providerID, id)
		if err != nil {
			return Slot{}, err
		}
		merged, err := apply(cur)
		if err != nil {
			return Slot{}, err
		}
		// Write against the version just read, so a concurrent writer
		// elsewhere is detected instead of silently overwritten.
		updated, seq, err := s.store.UpdateSlot(ctx, merged, cur.Version)
		if apperr.Is(err, apperr.CodePreconditionFailed) && expectedVersion == 0 && attempt < updateRetries {
			continue
		}
		if err != nil {
			return Slot{}, err
		}
		s.publish(ActionUpdated, updated, seq)
		return updated, nil
	}
}

// Delete removes a slot and publishes ActionDeleted (with the slot as it
// was). expectedVersion works as in Update.
func (s *Service) Delete(ctx context.Context, providerID string, id int64, expectedVersion int64) error {
	if err := checkProvider(providerID); err != nil {
		return err
	}
	defer s.lock(providerID)()
	deleted, seq, err := s.store.DeleteSlot(ctx, providerID, id, expectedVersion)
	if err != nil {
		return err
	}
	s.publish(ActionDeleted, deleted, seq)
	return nil
}

func staleVersion(have, want int64) error {
	return apperr.Errorf(apperr.CodePreconditionFailed, "slot is at version %d, not %d", have, want)
}

// publish emits the change; it is already committed, so a failure is logged
// and not returned (clients that miss it see a seq gap and refetch).
func (s *Service) publish(action string, slot Slot, seq int64) {
	if s.pub == nil {
		return
	}
	c := Change{Action: action, ProviderID: slot.ProviderID, Slot: slot, Seq: seq, At: normalize(s.now())}
	room := RoomForProvider(slot.ProviderID)
	if err := s.pub.EmitToRoom(room, EventAvailabilityUpdated, c); err != nil {
		s.logger.Error("publish availability change", "room", room, "provider_id", slot.ProviderID, "seq", seq, "err", err)
	}
}
