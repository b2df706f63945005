//! The single integration-test binary: one module per area.

mod browser;
mod cli;
mod desk;
mod discord;
mod faq_check;
mod faq_eval;
mod faq_matcher;
mod housekeeping;
mod judgement;
mod metrics;
mod outbox;
mod pg;
mod replicas;
mod service;
mod sla;
mod state_machine;
mod store_suite;
mod support;
mod telegram;
mod transfer;
mod triage;
mod web;
