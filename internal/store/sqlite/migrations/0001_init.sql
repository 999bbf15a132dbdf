-- Providers exist implicitly: the first change of a provider inserts its row.
-- seq is raised by one in the same transaction as every change.
CREATE TABLE providers (
    id  TEXT    PRIMARY KEY,
    seq INTEGER NOT NULL DEFAULT 0
) STRICT;

-- AUTOINCREMENT: ids of deleted slots are never reused, so a client holding
-- an old id can never address a different slot.
CREATE TABLE slots (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    provider_id TEXT    NOT NULL REFERENCES providers(id),
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    status      TEXT    NOT NULL CHECK (status IN ('available', 'booked', 'blocked')),
    note        TEXT    NOT NULL DEFAULT '',
    version     INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    CHECK (start_ms < end_ms)
) STRICT;

CREATE INDEX slots_provider_start ON slots (provider_id, start_ms);
