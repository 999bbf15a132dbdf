package availability

import "time"

// EventAvailabilityUpdated is the Socket.IO event a Change is emitted as.
const EventAvailabilityUpdated = "availabilityUpdated"

// Change actions.
const (
	ActionCreated = "created"
	ActionUpdated = "updated"
	ActionDeleted = "deleted"
)

// Change is the payload of "availabilityUpdated": what happened to which
// slot, and the provider's sequence number after it. Seq rises by one per
// change of that provider, from 1, so a client can spot a gap and refetch.
type Change struct {
	Action     string    `json:"action"`
	ProviderID string    `json:"providerId"`
	Slot       Slot      `json:"slot"`
	Seq        int64     `json:"seq"`
	At         time.Time `json:"at"`
}
