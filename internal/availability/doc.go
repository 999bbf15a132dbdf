// Package availability is Eventide's domain: providers' availability slots,
// the rules they obey, and the Change each committed write makes.
//
// It imports nothing of Eventide's but internal/apperr. It defines the
// Store interface it needs from the outside world — persistence, one
// transaction per change that also raises the provider's sequence number
// and records the Change in the store's event log — and Service, which
// applies the rules. Service publishes nothing: internal/relay reads the
// committed Changes from the event log and hands them to the realtime side
// in seq order (ADR 0014), and Service.Events serves a client's catch-up.
package availability
