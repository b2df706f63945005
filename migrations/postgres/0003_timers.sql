-- Persistent SLA timers (SPEC §4). A timer fires exactly once: a worker leases due rows,
-- then marks one `fired` in the same transaction as its effects; a crashed worker's lease
-- expires and another worker takes the row. At most one pending timer per (ticket, kind):
-- scheduling again replaces it.
CREATE TABLE timers (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket      BIGINT  NOT NULL REFERENCES tickets (number),
    kind        TEXT    NOT NULL,
    due_at      BIGINT  NOT NULL,
    state       TEXT    NOT NULL DEFAULT 'pending'
                        CHECK (state IN ('pending', 'fired', 'cancelled')),
    lease_owner TEXT,
    lease_until BIGINT,
    created_at  BIGINT  NOT NULL,
    fired_at    BIGINT
);
CREATE UNIQUE INDEX timers_pending_kind ON timers (ticket, kind) WHERE state = 'pending';
CREATE INDEX timers_pending_due ON timers (due_at) WHERE state = 'pending';
