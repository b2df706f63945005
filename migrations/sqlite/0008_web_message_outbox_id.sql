-- The outbox item a web message delivered: a repeated delivery of the same item (a crash
-- between delivering and recording it, SPEC §9) finds its message instead of adding one.
ALTER TABLE web_messages ADD COLUMN outbox_id BIGINT;
CREATE UNIQUE INDEX web_messages_outbox_id ON web_messages (outbox_id);
