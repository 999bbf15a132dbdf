-- The event log (ADR 0014): one row per committed change, written in the
-- same transaction as the change and its providers.seq bump. The relay
-- publishes the rows with published = 0 in (provider_id, seq) order and
-- marks them; catch-up reads a provider's rows after a seq. Published rows
-- are pruned by age and count, unpublished ones never.
CREATE TABLE events (
    provider_id TEXT    NOT NULL,
    seq         INTEGER NOT NULL,
    action      TEXT    NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    at_ms       INTEGER NOT NULL,
    -- The slot as written (as it was, for 'deleted').
    slot_id     INTEGER NOT NULL,
    start_ms    INTEGER NOT NULL,
    end_ms      INTEGER NOT NULL,
    status      TEXT    NOT NULL,
    note        TEXT    NOT NULL,
    version     INTEGER NOT NULL,
    created_ms  INTEGER NOT NULL,
    updated_ms  INTEGER NOT NULL,
    published   INTEGER NOT NULL DEFAULT 0 CHECK (published IN (0, 1)),
    PRIMARY KEY (provider_id, seq)
) STRICT, WITHOUT ROWID;

-- What the relay reads: small, since rows leave it once published.
CREATE INDEX events_unpublished ON events (provider_id, seq) WHERE published = 0;
-- Pruning by age.
CREATE INDEX events_at ON events (at_ms);
