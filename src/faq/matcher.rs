//! The matcher: answer, suggest or escalate, with a calibrated confidence.

use std::sync::Arc;

use serde::Serialize;

use super::KnowledgeBase;
use crate::domain::Language;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Decision {
    Answer,
    Suggest,
    Escalate,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum SmallTalk {
    Greeting,
    Thanks,
    Goodbye,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Candidate {
    pub entry_id: String,
    /// Calibrated probability that this entry is the right answer.
    pub confidence: f32,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct MatchOutcome {
    pub decision: Decision,
    pub language: Language,
    /// Top candidate (also present when escalating, for statistics).
    pub best: Option<Candidate>,
    /// Up to 3 candidates for "did you mean" when `decision == Suggest`.
    pub suggestions: Vec<Candidate>,
    /// Set for greetings and small talk: the caller shows the menu, never a ticket.
    pub small_talk: Option<SmallTalk>,
}

pub struct Matcher {
    kb: Arc<KnowledgeBase>,
}

impl Matcher {
    pub fn new(kb: Arc<KnowledgeBase>) -> Matcher {
        Matcher { kb }
    }

    pub fn kb(&self) -> &KnowledgeBase {
        &self.kb
    }

    pub fn match_text(&self, _text: &str) -> MatchOutcome {
        todo!("matcher")
    }
}
