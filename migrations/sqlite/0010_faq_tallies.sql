-- FAQ figures of a period without reading each interaction (a year of a large desk is
-- millions): per hour, entry, platform and kind, how many interactions and how many of
-- the answers were followed by a ticket of the same customer within 24 h (the answers
-- that did not deflect). Kept in the unit of work that records the interaction or creates
-- the ticket; a report reads the whole hours of its period here and the interactions of
-- its first, partial hour from faq_events.

-- An answer followed by a ticket of the same customer within 24 h (0 for other kinds).
ALTER TABLE faq_events ADD COLUMN followed INTEGER NOT NULL DEFAULT 0;
-- A new ticket marks its customer's answers of the last 24 h.
CREATE INDEX faq_events_customer_at ON faq_events (customer, at);

CREATE TABLE faq_tallies (
    hour     INTEGER NOT NULL,  -- start of the hour, unix milliseconds
    entry_id TEXT    NOT NULL,
    platform TEXT    NOT NULL,  -- the customer's
    kind     TEXT    NOT NULL CHECK (kind IN ('shown', 'helped', 'escalated')),
    count    INTEGER NOT NULL,
    followed INTEGER NOT NULL,
    PRIMARY KEY (hour, entry_id, platform, kind)
) WITHOUT ROWID;

-- Interactions from before this migration.
UPDATE faq_events SET followed = 1
WHERE kind = 'shown' AND EXISTS (
    SELECT 1 FROM tickets t
    WHERE t.customer = faq_events.customer
      AND t.created_at >= faq_events.at AND t.created_at <= faq_events.at + 86400000);
INSERT INTO faq_tallies (hour, entry_id, platform, kind, count, followed)
SELECT e.at - e.at % 3600000, e.entry_id, c.platform, e.kind, COUNT(*), SUM(e.followed)
FROM faq_events e JOIN customers c ON c.id = e.customer
GROUP BY 1, 2, 3, 4;
