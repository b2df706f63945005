mod outbox;
mod store_suite;
