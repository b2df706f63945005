//! Outbox delivery worker: claims due items per chat in order, sends them through a
//! [`crate::ports::ChatTransport`], retries with backoff, honours retry-after, and
//! dead-letters after N failures (visible, never silently dropped).
