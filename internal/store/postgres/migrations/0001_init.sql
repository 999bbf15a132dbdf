-- Providers exist implicitly: the first change of a provider inserts its row.
-- seq is raised by one in the same transaction as every change, and that
-- UPDATE's row lock is what serialises a provider's writes across processes
-- (ADR 0015).
CREATE TABLE providers (
    id  text   PRIMARY KEY,
    seq bigint NOT NULL DEFAULT 0
);

-- An identity column draws from a sequence, which never hands out a value
-- twice (not even after a rollback), so a deleted slot's id is never reused.
-- Times are timestamptz at millisecond precision (the domain's TimePrecision).
CREATE TABLE slots (
    id          bigint      GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    provider_id text        NOT NULL REFERENCES providers (id),
    start_at    timestamptz NOT NULL,
    end_at      timestamptz NOT NULL,
    status      text        NOT NULL CHECK (status IN ('available', 'booked', 'blocked')),
    note        text        NOT NULL DEFAULT '',
    version     bigint      NOT NULL,
    created_at  timestamptz NOT NULL,
    updated_at  timestamptz NOT NULL,
    CHECK (start_at < end_at)
);

CREATE INDEX slots_provider_start ON slots (provider_id, start_at);
