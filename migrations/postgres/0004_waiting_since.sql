-- When the ticket started waiting on the customer (SPEC §4: deadlines are paused
-- meanwhile); NULL when it is not waiting. Milliseconds since the epoch, like every time.
ALTER TABLE tickets ADD COLUMN waiting_since BIGINT;
