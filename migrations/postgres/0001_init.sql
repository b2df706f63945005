-- frontdesk schema, PostgreSQL dialect (mirror of migrations/sqlite; not yet exercised by tests).
-- Timestamps are BIGINT unix milliseconds (UTC). Enumerations are stored by their
-- stable lower-case names (domain `as_str`). JSON columns hold serde_json text.

CREATE TABLE customers (
    id           BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    platform     TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    chat_id      TEXT    NOT NULL,
    display_name TEXT    NOT NULL,
    language     TEXT    NOT NULL DEFAULT 'en',
    vip          BOOLEAN NOT NULL DEFAULT FALSE,
    unreachable  BOOLEAN NOT NULL DEFAULT FALSE,
    created_at   BIGINT NOT NULL,
    updated_at   BIGINT NOT NULL,
    -- The customer's latest question, so "talk to a person" can carry it into the ticket.
    last_question    TEXT,
    last_question_at BIGINT,
    UNIQUE (platform, user_id)
);
-- mark_unreachable finds customers by the chat a delivery failed in.
CREATE INDEX customers_chat ON customers (platform, chat_id);

-- `number` is the human ticket number (#N). Not a sequence: sequences leave gaps on
-- rollback. Allocate MAX+1 inside the creating unit while holding the row lock of
-- ticket_counter (SELECT ... FOR UPDATE), so numbers are unique and gap-free.
CREATE TABLE tickets (
    number             BIGINT PRIMARY KEY,
    customer           BIGINT NOT NULL REFERENCES customers (id),
    state              TEXT    NOT NULL CHECK (state IN
                           ('new', 'open', 'waiting_on_customer', 'resolved', 'closed')),
    category           TEXT    NOT NULL,
    priority           TEXT    NOT NULL,
    department         TEXT    NOT NULL,
    assignee           TEXT,
    subject            TEXT    NOT NULL,
    created_at         BIGINT NOT NULL,
    updated_at         BIGINT NOT NULL,
    first_response_due BIGINT NOT NULL,
    resolution_due     BIGINT NOT NULL,
    first_response_at  BIGINT,
    resolved_at        BIGINT,
    closed_at          BIGINT
);
CREATE TABLE ticket_counter (
    id   BOOLEAN PRIMARY KEY DEFAULT TRUE CHECK (id),
    last BIGINT  NOT NULL DEFAULT 0
);
INSERT INTO ticket_counter (id, last) VALUES (TRUE, 0);

CREATE INDEX tickets_customer ON tickets (customer, number);
CREATE INDEX tickets_state ON tickets (state, number);

CREATE TABLE ticket_messages (
    id          BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket      BIGINT NOT NULL REFERENCES tickets (number),
    direction   TEXT    NOT NULL CHECK (direction IN ('inbound', 'outbound', 'internal')),
    author      TEXT    NOT NULL,
    text        TEXT    NOT NULL,
    attachments TEXT    NOT NULL DEFAULT '[]',
    at          BIGINT NOT NULL
);
CREATE INDEX ticket_messages_ticket ON ticket_messages (ticket, id);

CREATE TABLE ticket_events (
    id     BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    ticket BIGINT NOT NULL REFERENCES tickets (number),
    kind   TEXT    NOT NULL,
    actor  TEXT    NOT NULL,
    detail TEXT    NOT NULL,
    at     BIGINT NOT NULL
);
CREATE INDEX ticket_events_ticket ON ticket_events (ticket, id);

-- Inbound dedup keys (`telegram:update:123`): a key present here was processed.
CREATE TABLE inbound_keys (
    key TEXT    PRIMARY KEY,
    at  BIGINT NOT NULL
);
CREATE INDEX inbound_keys_at ON inbound_keys (at);

-- Transactional outbox. One ordered lane per chat (ChatAddress::lane); a lane delivers
-- its oldest pending row first. `platform`/`chat_id` duplicate the payload's address
-- so that a chat can be dead-lettered without parsing JSON.
CREATE TABLE outbox (
    id                  BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    lane                TEXT    NOT NULL,
    platform            TEXT    NOT NULL,
    chat_id             TEXT    NOT NULL,
    payload             TEXT    NOT NULL,
    ticket              BIGINT,
    state               TEXT    NOT NULL DEFAULT 'pending'
                            CHECK (state IN ('pending', 'sent', 'dead')),
    attempts            BIGINT NOT NULL DEFAULT 0,
    next_attempt_at     BIGINT NOT NULL,
    lease_owner         TEXT,
    lease_until         BIGINT,
    last_error          TEXT,
    platform_message_id TEXT,
    created_at          BIGINT NOT NULL,
    sent_at             BIGINT,
    dead_at             BIGINT
);
-- Lane heads: MIN(id) per lane among pending rows.
CREATE INDEX outbox_pending_lane ON outbox (lane, id) WHERE state = 'pending';
CREATE INDEX outbox_pending_chat ON outbox (platform, chat_id) WHERE state = 'pending';
CREATE INDEX outbox_state ON outbox (state);
CREATE INDEX outbox_ticket ON outbox (ticket) WHERE ticket IS NOT NULL;

-- FAQ interaction counters per knowledge-base entry (SPEC §5).
CREATE TABLE faq_stats (
    entry_id   TEXT    PRIMARY KEY,
    shown      BIGINT NOT NULL DEFAULT 0,
    helped     BIGINT NOT NULL DEFAULT 0,
    escalated  BIGINT NOT NULL DEFAULT 0,
    updated_at BIGINT NOT NULL
);

-- Questions the FAQ could not answer, for improving the knowledge base.
CREATE TABLE unanswered (
    id       BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    text     TEXT    NOT NULL,
    language TEXT    NOT NULL,
    at       BIGINT NOT NULL
);
CREATE INDEX unanswered_at ON unanswered (at);

-- Satisfaction ratings (SPEC §1.6): at most one per ticket; a second one is ignored.
CREATE TABLE ratings (
    ticket   BIGINT PRIMARY KEY REFERENCES tickets (number),
    customer BIGINT NOT NULL REFERENCES customers (id),
    score    SMALLINT NOT NULL CHECK (score BETWEEN 1 AND 5),
    comment  TEXT,
    at       BIGINT NOT NULL
);

-- Where the desk talks about a ticket (its thread/topic, as a ChatAddress in JSON), so
-- customer-side events (e.g. "Not solved") can be told to the agents.
CREATE TABLE desk_threads (
    ticket  BIGINT PRIMARY KEY REFERENCES tickets (number),
    address TEXT   NOT NULL
);
-- The desk's /mine.
CREATE INDEX tickets_assignee ON tickets (assignee, state) WHERE assignee IS NOT NULL;
