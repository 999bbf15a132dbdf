package availability

import "time"

// Change actions.
const (
	ActionCreated = "created"
	ActionUpdated = "updated"
	ActionDeleted = "deleted"
)

// Change is one committed change of a provider's slots: what happened to
// which slot, and the provider's sequence number after it. Seq rises by one
// per change of that provider, from 1, with no gaps, and is committed with
// the change, so a client can spot a gap and catch up.
//
// Stores record a Change in the same transaction as the write (the event
// log); internal/relay hands committed Changes on, and internal/realtime
// sends each as the "availabilityUpdated" event of the room of its
// provider. Its JSON is that event's payload.
type Change struct {
	Action     string    `json:"action"`
	ProviderID string    `json:"providerId"`
	Slot       Slot      `json:"slot"`
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
}
