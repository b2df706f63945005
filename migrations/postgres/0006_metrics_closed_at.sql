-- The metric facts of a period: tickets closed in it (with the active ones and the rated
-- ones, that is every ticket a period can count; see the store's ticket facts query).
CREATE INDEX tickets_closed_at ON tickets (closed_at) WHERE closed_at IS NOT NULL;
