package availability

import (
	"context"
	"errors"
	"time"

	"github.com/eventide/realtime/internal/apperr"
)

// updateRetries is how often Update re-reads and re-applies a patch when
// the slot changed underneath it and the caller did not ask for a version
// (another instance sharing the database may write between read and write).
const updateRetries = 3

// Service applies the availability rules. Each change it makes is recorded
// by the Store in the event log, in the same transaction; it publishes
// nothing itself (internal/relay does, from the log). It is safe for
// concurrent use.
type Service struct {
	store Store
	now   func() time.Time
}

// NewService returns a Service over store. now nil means time.Now.
func NewService(store Store, now func() time.Time) *Service {
	if now == nil {
		now = time.Now
	}
	return &Service{store: store, now: now}
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

// Seq returns providerID's current sequence number (0 before its first
// change). Read it BEFORE listing the slots: the slots are then at least as
// new as the seq, so a client that applies the changes after it (by slot
// id and version) misses none.
func (s *Service) Seq(ctx context.Context, providerID string) (int64, error) {
	if err := checkProvider(providerID); err != nil {
		return 0, err
	}
	return s.store.Seq(ctx, providerID)
}

// Events returns providerID's changes after the seq after, in seq order, at
// most limit of them, and the provider's current seq. A CodeGone error says
// the changes right after after are no longer kept: the caller must refetch
// the slots.
func (s *Service) Events(ctx context.Context, providerID string, after int64, limit int) ([]Change, int64, error) {
	if err := checkProvider(providerID); err != nil {
		return nil, 0, err
	}
	if after < 0 {
		return nil, 0, apperr.Invalid("after", "must be a seq, 0 or more")
	}
	if limit <= 0 {
		return nil, 0, apperr.Invalid("limit", "must be 1 or more")
	}
	return s.store.Events(ctx, providerID, after, limit)
}

// Get returns one slot of providerID.
func (s *Service) Get(ctx context.Context, providerID string, id int64) (Slot, error) {
	if err := checkProvider(providerID); err != nil {
		return Slot{}, err
	}
	return s.store.GetSlot(ctx, providerID, id)
}

// Create validates and stores a new slot (an ActionCreated change).
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
	c, err := s.store.CreateSlot(ctx, slot, now)
	if err != nil {
		return Slot{}, err
	}
	return c.Slot, nil
}

// errUnchanged is what Update's apply returns for a patch that would leave
// the slot as it is, so the store writes nothing.
var errUnchanged = errors.New("availability: the patch changes nothing")

// Update applies p to a slot (an ActionUpdated change). expectedVersion 0
// means any version; otherwise a different stored version is a
// precondition_failed error and nothing changes.
//
// A patch that changes nothing (an empty one, or only the values the slot
// already has) returns the slot as read and writes nothing: no new version,
// no seq, no event. That is exact, not a shortcut: a change that changes
// nothing takes effect at the moment of the read, whatever comes after it.
// It is decided on the slot read in the write transaction, so a PATCH
// reads the slot once, with the writer, and never waits behind reads.
func (s *Service) Update(ctx context.Context, providerID string, id int64, p Patch, expectedVersion int64) (Slot, error) {
	if err := checkProvider(providerID); err != nil {
		return Slot{}, err
	}
	now := normalize(s.now())
	var unchanged Slot
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
		if merged.Start.Equal(cur.Start) && merged.End.Equal(cur.End) && merged.Status == cur.Status && merged.Note == cur.Note {
			unchanged = cur
			return Slot{}, errUnchanged
		}
		if err := merged.Validate(); err != nil {
			return Slot{}, err
		}
		merged.UpdatedAt = now
		return merged, nil
	}
	if ps, ok := s.store.(SlotPatcher); ok {
		// Read, merge and write in one transaction: one read of the slot
		// and no window for another writer, so no retries either.
		c, err := ps.PatchSlot(ctx, providerID, id, now, apply)
		if errors.Is(err, errUnchanged) {
			return unchanged, nil
		}
		if err != nil {
			return Slot{}, err
		}
		return c.Slot, nil
	}
	for attempt := 0; ; attempt++ {
		cur, err := s.store.GetSlot(ctx, providerID, id)
		if err != nil {
			return Slot{}, err
		}
		merged, err := apply(cur)
		if errors.Is(err, errUnchanged) {
			return unchanged, nil
		}
		if err != nil {
			return Slot{}, err
		}
		// Write against the version just read, so a concurrent writer
		// elsewhere is detected instead of silently overwritten.
		c, err := s.store.UpdateSlot(ctx, merged, cur.Version, now)
		if apperr.Is(err, apperr.CodePreconditionFailed) && expectedVersion == 0 && attempt < updateRetries {
			continue
		}
		if err != nil {
			return Slot{}, err
		}
		return c.Slot, nil
	}
}

// Delete removes a slot (an ActionDeleted change, carrying the slot as it
// was). expectedVersion works as in Update.
func (s *Service) Delete(ctx context.Context, providerID string, id int64, expectedVersion int64) error {
	if err := checkProvider(providerID); err != nil {
		return err
	}
	_, err := s.store.DeleteSlot(ctx, providerID, id, expectedVersion, normalize(s.now()))
	return err
}

func staleVersion(have, want int64) error {
	return apperr.Errorf(apperr.CodePreconditionFailed, "slot is at version %d, not %d", have, want)
}
