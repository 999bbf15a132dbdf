// Package sqlite is the embedded SQLite implementation of availability.Store,
// on the pure-Go driver modernc.org/sqlite (no cgo, one static binary). It is
// the only package that imports that driver.
//
// The database runs in WAL mode with a busy timeout and foreign keys on.
// Every write is one BEGIN IMMEDIATE transaction that takes the write lock
// first, then checks for overlapping slots, writes, bumps the provider's
// sequence number and records the change in the event log (events.go) — so
// two concurrent creates can never both pass the overlap check, and a
// change, its seq and its event commit together. The DB is also the
// relay's relay.EventLog: one process uses the file, so it always leads,
// and a commit that recorded a change wakes the relay (ADR 0014). Times are stored as INTEGER Unix milliseconds (the domain's
// TimePrecision), which keeps range comparisons exact and index-friendly.
//
// Writes run on one connection the DB holds (writer.go), with their
// statements prepared once and no goroutine per statement; reads use the
// pool with prepared statements. PatchSlot (availability.SlotPatcher) reads,
// merges and writes a slot in one transaction, so a REST PATCH reads the
// slot once.
package sqlite
