//! The single integration-test binary: one module per area.

mod cli;
mod faq_check;
mod service;
mod support;
