// Package postgres is the PostgreSQL implementation of availability.Store,
// on github.com/jackc/pgx/v5 and its pool (pgxpool). It is the only package
// that imports pgx.
//
// Several eventide processes may share one database. Every write is one
// READ COMMITTED transaction whose first statement raises the provider's
// sequence number; that row lock serialises the provider's writers across
// processes, so seq values are gap-free and the overlap check that follows
// sees every slot committed before it. Times are timestamptz kept at the
// domain's millisecond precision; slot ids come from an identity column and
// are never reused. Migrations are embedded SQL files applied under an
// advisory lock (ADR 0015).
//
// NewScratchDatabase and the pgtest sub-package give tests a database of
// their own.
package postgres
