mod outbox;
mod state_machine;
mod store_suite;
