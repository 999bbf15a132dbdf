// Package availability is Eventide's domain: providers' availability slots,
// the rules they obey, and the change feed that realtime clients receive.
//
// It imports nothing of Eventide's but internal/apperr. It defines the two
// interfaces it needs from the outside world — Store (persistence, one
// transaction per change, with a per-provider sequence number) and Publisher
// (the Socket.IO room emitter) — and Service, which applies the rules and
// publishes an "availabilityUpdated" Change to the room "provider-<id>"
// after each committed change, in sequence order.
package availability
