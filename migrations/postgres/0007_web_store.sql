-- Web chat and console state kept in the store, so a restart or another replica sees it.

-- What the outbox delivered to web chats (`chat` = the visitor's chat id) and to the web
-- console's desk (`desk:N`): the web transport's delivery is this insert. Browsers replay
-- a chat from here after their last event id.
CREATE TABLE web_messages (
    id      BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    chat    TEXT   NOT NULL,
    text    TEXT   NOT NULL,
    -- Rows of buttons as JSON ([[{"label":…,"data":…}]]).
    buttons TEXT   NOT NULL DEFAULT '[]',
    at      BIGINT NOT NULL
);
CREATE INDEX web_messages_chat ON web_messages (chat, id);

-- Console logins. The cookie holds a random session id; only its SHA-256 is kept here,
-- so reading this table does not let anyone in.
CREATE TABLE console_sessions (
    id_hash    TEXT   PRIMARY KEY,
    operator   TEXT   NOT NULL,
    csrf       TEXT   NOT NULL,
    created_at BIGINT NOT NULL,
    expires_at BIGINT NOT NULL
);
CREATE INDEX console_sessions_expires ON console_sessions (expires_at);

-- The console's ticket list filters in the query, newest first.
CREATE INDEX tickets_priority ON tickets (priority, number);
CREATE INDEX tickets_category ON tickets (category, number);
CREATE INDEX tickets_department ON tickets (lower(department), number);
CREATE INDEX tickets_assignee_name ON tickets (lower(assignee), number) WHERE assignee IS NOT NULL;
CREATE INDEX customers_platform ON customers (platform, id);
