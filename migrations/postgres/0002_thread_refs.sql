-- The platform's id of each ticket's desk thread (a Telegram forum topic), recorded by the
-- transport once the thread exists. Outbox items address the thread symbolically
-- (`ticket:N`) until then; inbound desk messages find their ticket through it.
CREATE TABLE thread_refs (
    ticket    BIGINT  NOT NULL REFERENCES tickets (number),
    platform  TEXT    NOT NULL,
    chat_id   TEXT    NOT NULL,
    thread_id TEXT    NOT NULL,
    PRIMARY KEY (ticket, platform, chat_id)
);
CREATE UNIQUE INDEX thread_refs_thread ON thread_refs (platform, chat_id, thread_id);
