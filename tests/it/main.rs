//! The single integration-test binary: one module per area.

mod cli;
mod service;
mod support;
