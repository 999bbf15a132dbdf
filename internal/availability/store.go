package availability

import (
	"context"
	"time"
)

// Store persists slots and the event log. Each write runs in ONE
// transaction that writes the slot, raises the provider's sequence number
// by one (starting at 1) and records the Change (with that seq and at) in
// the event log; it returns that Change. The change, its seq and its event
// commit together or not at all.
//
// Errors are apperr errors: CodeNotFound for a slot that does not exist (or
// belongs to another provider), CodeConflict when a write would overlap
// another slot of the same provider (nothing is stored), and
// CodePreconditionFailed when expectedVersion is not 0 and differs from the
// stored version. Anything else is an infrastructure error.
type Store interface {
	// ListSlots returns providerID's slots overlapping w, ordered by start then id.
	ListSlots(ctx context.Context, providerID string, w Window) ([]Slot, error)
	// GetSlot returns one slot of providerID.
	GetSlot(ctx context.Context, providerID string, id int64) (Slot, error)
	// CreateSlot stores s (ID and Version are assigned: Version 1) and
	// returns the ActionCreated Change made at at.
	CreateSlot(ctx context.Context, s Slot, at time.Time) (Change, error)
	// UpdateSlot replaces the slot s.ID of s.ProviderID (Start, End, Status,
	// Note, UpdatedAt), raises Version by one and returns the
	// ActionUpdated Change made at at.
	UpdateSlot(ctx context.Context, s Slot, expectedVersion int64, at time.Time) (Change, error)
	// DeleteSlot removes a slot and returns the ActionDeleted Change made
	// at at, whose Slot is the slot as it was.
	DeleteSlot(ctx context.Context, providerID string, id int64, expectedVersion int64, at time.Time) (Change, error)

	// Seq returns providerID's current sequence number: the seq of its
	// latest committed change, 0 when it has none.
	Seq(ctx context.Context, providerID string) (int64, error)
	// Events returns providerID's recorded changes with seq > after, in
	// seq order, at most limit (> 0) of them, whether or not they were
	// published yet, and the provider's current seq (at least the last
	// returned seq). When the change with seq after+1 is no longer kept
	// (pruned), or after is beyond the current seq, it fails with
	// CodeGone: the caller cannot catch up from after.
	Events(ctx context.Context, providerID string, after int64, limit int) ([]Change, int64, error)
}

// SlotPatcher is an optional Store capability: read a slot, compute its
// new state with apply, check overlaps, write it (raising Version by one),
// raise the seq and record the Change — all in ONE transaction, so the slot
// is read once and no other writer comes in between. apply's error is
// returned unchanged and nothing is stored. Service.Update uses it when the
// Store has it and falls back to GetSlot + UpdateSlot otherwise.
type SlotPatcher interface {
	PatchSlot(ctx context.Context, providerID string, id int64, at time.Time, apply func(cur Slot) (Slot, error)) (Change, error)
}
