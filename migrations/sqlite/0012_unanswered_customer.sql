-- Who asked an unanswered question, so that erasing a customer's data on request
-- (`frontdesk customer purge`, SPEC §7) deletes their questions too. Questions kept
-- before this migration have no customer and are not found by an erasure.
ALTER TABLE unanswered ADD COLUMN customer BIGINT;
CREATE INDEX unanswered_customer ON unanswered (customer) WHERE customer IS NOT NULL;
