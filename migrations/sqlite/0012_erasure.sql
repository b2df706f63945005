-- Erasing a customer's data on request (`frontdesk customer purge`, SPEC §7) and
-- closed tickets' texts after their retention period must find everything that quotes
-- them: who asked an unanswered question, and which ticket a web message (the web chat
-- log, the web console's desk notices) is about. Rows kept before this migration have
-- neither; erasure still finds desk notices by their `desk:N` chat and outbox item.
ALTER TABLE unanswered ADD COLUMN customer BIGINT;
CREATE INDEX unanswered_customer ON unanswered (customer) WHERE customer IS NOT NULL;
ALTER TABLE web_messages ADD COLUMN ticket BIGINT;
CREATE INDEX web_messages_ticket ON web_messages (ticket) WHERE ticket IS NOT NULL;
