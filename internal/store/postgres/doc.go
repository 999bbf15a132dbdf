// Package postgres is the PostgreSQL implementation of availability.Store
// and of the event log the relay reads (relay.EventLog), on
// github.com/jackc/pgx/v5 and its pool (pgxpool). It is the only package
// that imports pgx.
//
// Several eventide processes may share one database. Every write is one
// READ COMMITTED transaction whose first statement raises the provider's
// sequence number; that row lock serialises the provider's writers across
// processes, so seq values are gap-free, the overlap check that follows
// sees every slot committed before it, and a provider's events commit in
// seq order. The same transaction records the change in the events table
// and queues a NOTIFY. Exactly one process relays the log at a time: the
// one holding a session advisory lock on a connection of its own (Lead),
// which LISTENs there and is woken by every commit (Wake); when it dies its
// connection closes, and the next process waiting for the lock takes over.
// Times are timestamptz kept at the domain's millisecond precision; slot
// ids come from an identity column and are never reused. Migrations are
// embedded SQL files applied under an advisory lock (ADR 0015).
//
// NewScratchDatabase and the pgtest sub-package give tests a database of
// their own.
package postgres
