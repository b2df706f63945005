-- frontdesk schema, SQLite dialect.
-- Timestamps are INTEGER unix milliseconds (UTC). Enumerations are stored by their
-- stable lower-case names (domain `as_str`). JSON columns hold serde_json text.

CREATE TABLE customers (
    id           INTEGER PRIMARY KEY,
    platform     TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    chat_id      TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    language     TEXT    NOT NULL DEFAULT 'en',
    vip          INTEGER NOT NULL DEFAULT 0,
    unreachable  INTEGER NOT NULL DEFAULT 0,
    created_at   INTEGER NOT NULL,
    updated_at   INTEGER NOT NULL,
    -- The customer's latest question, so "talk to a person" can carry it into the ticket.
    last_question    TEXT,
    last_question_at INTEGER,
    UNIQUE (platform, user_id)
);
-- mark_unreachable finds customers by the chat a delivery failed in.
CREATE INDEX customers_chat ON customers (platform, chat_id);

-- `number` is the human ticket number (#N): allocated as MAX+1 inside the unit that
-- creates the ticket, under the write lock, so numbers are unique and gap-free.
CREATE TABLE tickets (
    number             INTEGER PRIMARY KEY,
    customer           INTEGER NOT NULL REFERENCES customers (id),
    state              TEXT    NOT NULL CHECK (state IN
                           ('new', 'open', 'waiting_on_customer', 'resolved', 'closed')),
    category           TEXT    NOT NULL,
    priority           TEXT    NOT NULL,
    department         TEXT    NOT NULL,
    assignee           TEXT,
    subject            TEXT    NOT NULL,
    created_at         INTEGER NOT NULL,
    updated_at         INTEGER NOT NULL,
    first_response_due INTEGER NOT NULL,
    resolution_due     INTEGER NOT NULL,
    first_response_at  INTEGER,
    resolved_at        INTEGER,
    closed_at          INTEGER
);
CREATE INDEX tickets_customer ON tickets (customer, number);
CREATE INDEX tickets_state ON tickets (state, number);

CREATE TABLE ticket_messages (
    id          INTEGER PRIMARY KEY,
    ticket      INTEGER NOT NULL REFERENCES tickets (number),
    direction   TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    author      TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    attachments TEXT    NOT NULL DEFAULT '[]',
    at          INTEGER NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket, id);

CREATE TABLE ticket_events (
    id     INTEGER PRIMARY KEY,
    ticket INTEGER NOT NULL REFERENCES tickets (number),
    kind   TEXT    NOT NULL,
    actor  TEXT    NOT NULL,
    detail TEXT    NOT NULL,
    at     INTEGER NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket, id);

-- Inbound dedup keys (`telegram:update:123`): a key present here was processed.
CREATE TABLE inbound_keys (
    key TEXT    PRIMARY KEY,
    at  INTEGER NOT NULL
) WITHOUT ROWID;
CREATE INDEX inbound_keys_at ON inbound_keys (at);

-- Transactional outbox. One ordered lane per chat (ChatAddress::lane); a lane delivers
-- its oldest pending row first. `platform`/`chat_id` duplicate the payload's address
-- so that a chat can be dead-lettered without parsing JSON.
CREATE TABLE outbox (
    id                  INTEGER PRIMARY KEY,
    lane                TEXT    NOT NULL,
    platform            TEXT    NOT NULL,
    chat_id             TEXT    NOT NULL,
    payload             TEXT    NOT NULL,
    ticket              INTEGER,
    state               TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'sent', 'dead')),
    attempts            INTEGER NOT NULL DEFAULT 0,
    next_attempt_at     INTEGER NOT NULL,
    lease_owner         TEXT,
    lease_until         INTEGER,
    last_error          TEXT,
    platform_message_id TEXT,
    created_at          INTEGER NOT NULL,
    sent_at             INTEGER,
    dead_at             INTEGER
);
-- Lane heads: MIN(id) per lane among pending rows.
CREATE INDEX outbox_pending_lane ON outbox (lane, id) WHERE state = 'pending';
CREATE INDEX outbox_pending_chat ON outbox (platform, chat_id) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox (state);
CREATE INDEX outbox_ticket ON outbox (ticket) WHERE ticket IS NOT NULL;

-- FAQ interaction counters per knowledge-base entry (SPEC §5).
CREATE TABLE faq_stats (
    entry_id   TEXT    PRIMARY KEY,
    shown      INTEGER NOT NULL DEFAULT 0,
    helped     INTEGER NOT NULL DEFAULT 0,
    escalated  INTEGER NOT NULL DEFAULT 0,
    updated_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Questions the FAQ could not answer, for improving the knowledge base.
CREATE TABLE unanswered (
    id       INTEGER PRIMARY KEY,
    text     TEXT    NOT NULL,
    language TEXT    NOT NULL,
    at       INTEGER NOT NULL
);
CREATE INDEX unanswered_at ON unanswered (at);

-- Satisfaction ratings (SPEC §1.6): at most one per ticket; a second one is ignored.
CREATE TABLE ratings (
    ticket   INTEGER PRIMARY KEY REFERENCES tickets (number),
    customer INTEGER NOT NULL REFERENCES customers (id),
    score    INTEGER NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment  TEXT,
    at       INTEGER NOT NULL
);

-- Where the desk talks about a ticket (its thread/topic, as a ChatAddress in JSON), so
-- customer-side events (e.g. "Not solved") can be told to the agents.
CREATE TABLE desk_threads (
    ticket  INTEGER PRIMARY KEY REFERENCES tickets (number),
    address TEXT    NOT NULL
);
-- The desk's /mine.
CREATE INDEX tickets_assignee ON tickets (assignee, state) WHERE assignee IS NOT NULL;
