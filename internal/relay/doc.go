// Package relay moves committed changes from a store's event log to the
// realtime side: the only path an "availabilityUpdated" event takes
// (ADR 0014).
//
// A store records each change in its event log in the same transaction as
// the change (the transactional outbox). The Relay, while it leads
// (EventLog.Lead: at once on SQLite, one process at a time on PostgreSQL),
// reads the committed events not yet published, in (provider, seq) order,
// hands each to its Publisher and marks them published per provider. It is
// woken by the store after a commit (EventLog.Wake) and polls as a
// fallback. Delivery is at-least-once; the Publisher drops duplicates by
// (provider, seq). The relay also prunes published events past retention
// and reports its lag (the age of the oldest unpublished event).
//
// Time comes from a Clock, so tests drive it (see relaytest).
package relay
