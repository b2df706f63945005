//! frontdesk — a support front door for chat platforms.
//!
//! How a message flows (see ARCHITECTURE in the README):
//!
//! ```text
//! adapter (console, telegram) ──Inbound / DeskInbound──▶ service ──one Tx──▶ store
//!                                                           │ uses the pure core:
//!                                                           │ faq, triage, domain, sla, desk
//!                                                           ▼
//!                           outbox worker ──ChatTransport──▶ adapter ──▶ platform
//! ```
//!
//! Customers' messages enter through [`service::Service::handle`], agents' messages through
//! [`service::Service::handle_desk`]; both record everything, replies included (as outbox
//! rows), in one store transaction and never call a platform themselves.
//!
//! * Pure core, no I/O: [`domain`], [`faq`] (the matcher), [`triage`] (category, priority,
//!   signals), [`decision`] (the one decision that hears both: answer, "did you mean", or a
//!   person at once), [`sla`], [`replies`], [`desk`] (agents' commands), [`supervisors`]
//!   (who hears about complaints, P1 and breaches).
//! * Ports (traits the core owns): [`store::Store`], [`ports::ChatTransport`], [`ports::Clock`].
//! * Application: [`service`] (one transaction per inbound message or fired timer),
//!   [`outbox`] (delivery worker), [`sla_worker`] (persistent SLA timers, each fired once),
//!   [`housekeeping`] (deletes dedup keys, delivered messages and web chats past retention).
//! * Adapters and edges: [`adapters`], [`http`], [`web`] (web chat and console), [`config`], [`app`] (wiring for `frontdesk run`),
//!   [`redact`] (masks personal data in every log line).
//! * Replicas: [`leader`] runs single-holder work (long polling, a gateway) on one
//!   replica at a time; the PostgreSQL store shares outbox and timers between them;
//!   [`replicas`] splits the bots' overall send limits between the live replicas.

pub mod adapters;
pub mod app;
pub mod config;
pub mod decision;
pub mod desk;
pub mod doctor;
pub mod domain;
pub mod faq;
pub mod housekeeping;
pub mod http;
pub mod leader;
pub mod metrics;
pub mod metrics_worker;
pub mod outbox;
pub mod ports;
pub mod redact;
pub mod replicas;
pub mod replies;
pub mod seed;
pub mod service;
pub mod sla;
pub mod sla_worker;
pub mod store;
pub mod supervisors;
pub mod telemetry;
pub mod triage;
pub mod web;
