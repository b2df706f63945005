-- Replicas of one deployment say they are alive every few seconds (`frontdesk run`), so
-- each can take its share of the bot's overall send limits. Rows of replicas gone for
-- an hour are removed by the next heartbeat.
CREATE TABLE replicas (
    id      TEXT PRIMARY KEY,
    seen_at BIGINT NOT NULL
);
