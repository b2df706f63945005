-- Retention of closed tickets' texts (`[retention] closed_tickets`, off by default): the
-- housekeeper erases the subject, messages and rating comment of tickets closed longer
-- ago than the period, oldest first, and marks them here so each is erased once.
ALTER TABLE tickets ADD COLUMN erased_at BIGINT;
CREATE INDEX tickets_erasable ON tickets (closed_at) WHERE state = 'closed' AND erased_at IS NULL;
