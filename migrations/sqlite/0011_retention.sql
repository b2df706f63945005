-- Retention (src/housekeeping.rs): the housekeeper deletes records the service no longer
-- needs in small batches; each batch finds its rows through one of these indexes
-- (inbound_keys_at and console_sessions_expires exist already).
CREATE INDEX outbox_sent_at ON outbox (sent_at) WHERE state = 'sent';
CREATE INDEX timers_settled_due ON timers (due_at) WHERE state <> 'pending';
CREATE INDEX web_messages_at ON web_messages (at);
