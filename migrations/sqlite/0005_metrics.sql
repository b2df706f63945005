-- Metrics and reports (SPEC §6).

-- Counters kept by the ticket state machine: reopen rate and first-contact resolution
-- need them for every ticket of a period, without reading each ticket's history.
ALTER TABLE tickets ADD COLUMN reopens INTEGER NOT NULL DEFAULT 0;
ALTER TABLE tickets ADD COLUMN agent_replies INTEGER NOT NULL DEFAULT 0;
-- Tickets from before this migration: counted from their history (a reply, question or
-- quoted FAQ answer is an outbound agent message that is not the solution).
UPDATE tickets SET
    reopens = (SELECT COUNT(*) FROM ticket_events e
               WHERE e.ticket = tickets.number AND e.kind = 'reopened'),
    agent_replies = MAX(0,
        (SELECT COUNT(*) FROM ticket_messages m
         WHERE m.ticket = tickets.number AND m.direction = 'outbound'
           AND m.author NOT IN ('bot', 'system'))
        - (SELECT COUNT(*) FROM ticket_events e
           WHERE e.ticket = tickets.number AND e.kind = 'resolved'));

-- Each FAQ interaction with who and when (faq_stats keeps only the running totals):
-- per-period helped rates and bot deflection (an answer not followed by a ticket of the
-- same customer within 24 h).
CREATE TABLE faq_events (
    id       INTEGER PRIMARY KEY,
    customer INTEGER NOT NULL REFERENCES customers (id),
    entry_id TEXT    NOT NULL,
    kind     TEXT    NOT NULL CHECK (kind IN ('shown', 'helped', 'escalated')),
    at       INTEGER NOT NULL
);
CREATE INDEX faq_events_at ON faq_events (at);

-- Threshold alerts (one row per condition): an alert is sent when a condition starts to
-- hold and when it clears, not on every evaluation.
CREATE TABLE alert_states (
    key        TEXT    PRIMARY KEY,
    firing     INTEGER NOT NULL,
    value      REAL,
    changed_at INTEGER NOT NULL
) WITHOUT ROWID;

-- Deflection: a customer's first ticket at or after an FAQ answer.
CREATE INDEX tickets_customer_created ON tickets (customer, created_at);
-- Ratings of a period.
CREATE INDEX ratings_at ON ratings (at);
-- /queue over a large store: the active tickets in urgency order straight from an index
-- (the expression and the WHERE are the ones of the queue query).
CREATE INDEX tickets_queue ON tickets (
    (CASE WHEN first_response_at IS NULL THEN first_response_due ELSE resolution_due END),
    number
) WHERE state IN ('new', 'open', 'waiting_on_customer');
