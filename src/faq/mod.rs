//! The knowledge base and the FAQ matcher.
//!
//! `kb` loads and validates `faq/*.toml`; `normalize` turns text into comparable
//! tokens; `matcher` decides answer / suggest / escalate with a calibrated confidence;
//! `eval` measures it on labelled data. Pure and synchronous: no I/O except `kb`
//! reading files it is asked to read, no clock, no platform types.

pub mod calibrate;
pub mod eval;
pub mod features;
pub mod insights;
pub mod kb;
pub mod matcher;
pub mod model;
pub mod normalize;

pub use kb::{Answer, Entry, KnowledgeBase, Phrasing, Problem, SynonymGroup, Topic};
pub use matcher::{Candidate, Decision, MatchOutcome, Matcher, MatcherOptions, SmallTalk};
