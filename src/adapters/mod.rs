//! Adapters: translate platform events into [`crate::service::Inbound`] and outbox items
//! into platform calls. They own escaping, splitting and platform limits; they decide
//! nothing about tickets.

pub mod console;
pub mod discord;
pub mod telegram;
