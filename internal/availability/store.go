package availability

import "context"

// Store persists slots. Each write runs in ONE transaction that also raises
// the provider's sequence number by one (starting at 1) and returns it, so
// the change and its seq commit together or not at all.
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
	// returns it with the provider's new seq.
	CreateSlot(ctx context.Context, s Slot) (Slot, int64, error)
	// UpdateSlot replaces the slot s.ID of s.ProviderID (Start, End, Status,
	// Note, UpdatedAt), raises Version by one and returns it with the new seq.
	UpdateSlot(ctx context.Context, s Slot, expectedVersion int64) (Slot, int64, error)
	// DeleteSlot removes a slot and returns it as it was, with the new seq.
	DeleteSlot(ctx context.Context, providerID string, id int64, expectedVersion int64) (Slot, int64, error)
}

// SlotPatcher is an optional Store capability: read a slot, compute its
// new state with apply, check overlaps, write it (raising Version by one)
// and raise the seq — all in ONE transaction, so the slot is read once and
// no other writer comes in between. apply's error is returned unchanged and
// nothing is stored. Service.Update uses it when the Store has it and falls
// back to GetSlot + UpdateSlot otherwise.
type SlotPatcher interface {
	PatchSlot(ctx context.Context, providerID string, id int64, apply func(cur Slot) (Slot, error)) (Slot, int64, error)
}

// Publisher sends an event to a realtime room. internal/realtime implements it.
type Publisher interface {
	EmitToRoom(room, event string, data any) error
}
