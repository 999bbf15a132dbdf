-- The event log (ADR 0014): one row per committed change, written in the
-- change's transaction, with the seq it got. The relay publishes the rows
-- whose published_at is NULL in (provider_id, seq) order, then marks them;
-- GET .../events?after= reads them by the primary key.
CREATE TABLE events (
    provider_id  text        NOT NULL,
    seq          bigint      NOT NULL,
    action       text        NOT NULL CHECK (action IN ('created', 'updated', 'deleted')),
    at           timestamptz NOT NULL,
    slot_id      bigint      NOT NULL,
    start_at     timestamptz NOT NULL,
    end_at       timestamptz NOT NULL,
    status       text        NOT NULL,
    note         text        NOT NULL,
    version      bigint      NOT NULL,
    created_at   timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL,
    published_at timestamptz,
    PRIMARY KEY (provider_id, seq)
);

-- Only the unpublished rows: the relay's work list stays small however
-- long the log is kept.
CREATE INDEX events_unpublished ON events (provider_id, seq) INCLUDE (at) WHERE published_at IS NULL;

-- Pruning by age.
CREATE INDEX events_at ON events (at) WHERE published_at IS NOT NULL;
