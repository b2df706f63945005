//! The front door's one decision for a customer message: answer it, offer "did you mean",
//! or hand it to a person — hearing the matcher and triage together (SPEC §1.2).
//!
//! Owns the order in which their findings count; it must not match text or triage it
//! (that is [`crate::faq`] and [`crate::triage`], whose rules are data: `faq/`,
//! `rules/triage.toml` and its `[escalate]` table) and it does no I/O. The rule of the
//! product: a wrong answer, or a canned reply to an urgent customer, is worse than a ticket.
//!
//! | in this order | decision | reason shown |
//! |---|---|---|
//! | greeting, thanks, goodbye | small talk (menu) | `small talk` |
//! | triage says a person must see it (`[escalate]`: P1, complaint, security, privacy, safety, legal, press, a request for a person, repeat contact, broken promise, a problem report, anger, urgency, supervisors notified) | ticket, with the best entry as "meanwhile, this may help" when the matcher is sure and the message is no complaint, anger, repeat contact, broken promise, request for a person or legal matter | triage's condition, e.g. `P1 (rule login_failure)` |
//! | the matcher is sure of an entry that opens a ticket (complaint, talk to a person) | ticket | `entry contact.complaint opens a ticket` |
//! | the matcher is sure | answer | `matcher sure of …` |
//! | the right entry is likely among up to 3 | did you mean (buttons + talk to a person) | `matcher unsure: …` |
//! | otherwise | ticket | `no entry likely` |

pub mod eval;

use serde::Serialize;

use crate::faq::{Candidate, Decision, KnowledgeBase, MatchOutcome, SmallTalk};
use crate::triage::Triage;

/// What happens to one customer message.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum Verdict {
    SmallTalk {
        kind: SmallTalk,
    },
    Answer {
        entry: String,
        confidence: f32,
    },
    Suggest {
        entries: Vec<Candidate>,
    },
    /// A ticket; `meanwhile` is an entry whose answer goes along with the acknowledgement.
    Escalate {
        meanwhile: Option<String>,
    },
}

/// The decision and why it was taken (shown by `faq match --json` and in the ticket's
/// history; quotes rule names and entry ids, never the customer's words).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FrontDoor {
    pub verdict: Verdict,
    pub reason: String,
    /// The decision needs a person because nothing in the knowledge base fits (as
    /// opposed to triage or an entry sending it there): worth keeping as an unanswered
    /// question to improve the knowledge base.
    pub unanswered: bool,
}

impl FrontDoor {
    /// The matcher's vocabulary for the decision (`answer`, `suggest`, `escalate`), as in
    /// `faq match --json`; small talk counts as answered.
    pub fn decision(&self) -> Decision {
        match self.verdict {
            Verdict::SmallTalk { .. } | Verdict::Answer { .. } => Decision::Answer,
            Verdict::Suggest { .. } => Decision::Suggest,
            Verdict::Escalate { .. } => Decision::Escalate,
        }
    }
}

/// Decide what to do with a message from the matcher's outcome and triage of the same text.
pub fn decide(outcome: &MatchOutcome, triage: &Triage, kb: &KnowledgeBase) -> FrontDoor {
    let opens_ticket = |id: &str| kb.entries.iter().any(|e| e.id == id && e.opens_ticket);
    let escalate = |meanwhile: Option<String>, reason: String, unanswered: bool| FrontDoor {
        verdict: Verdict::Escalate { meanwhile },
        reason,
        unanswered,
    };
    if let Some(kind) = outcome.small_talk {
        return FrontDoor {
            verdict: Verdict::SmallTalk { kind },
            reason: "small talk".into(),
            unanswered: false,
        };
    }
    if let Some(why) = &triage.escalate {
        // Only an answer the matcher is sure of goes along, and not where a canned
        // text would read as being brushed off (complaints, anger, a request for a person).
        let meanwhile = outcome
            .best
            .as_ref()
            .filter(|b| {
                outcome.decision == Decision::Answer
                    && triage.meanwhile_allowed
                    && !opens_ticket(&b.entry_id)
            })
            .map(|b| b.entry_id.clone());
        return escalate(meanwhile, why.clone(), false);
    }
    match (outcome.decision, &outcome.best) {
        (Decision::Answer, Some(best)) if opens_ticket(&best.entry_id) => escalate(
            None,
            format!("entry {} opens a ticket", best.entry_id),
            false,
        ),
        (Decision::Answer, Some(best)) => FrontDoor {
            verdict: Verdict::Answer {
                entry: best.entry_id.clone(),
                confidence: best.confidence,
            },
            reason: format!("matcher sure of {} ({:.2})", best.entry_id, best.confidence),
            unanswered: false,
        },
        (Decision::Suggest, Some(best)) if opens_ticket(&best.entry_id) => escalate(
            None,
            format!("entry {} (likeliest) opens a ticket", best.entry_id),
            false,
        ),
        (Decision::Suggest, _) if !outcome.suggestions.is_empty() => FrontDoor {
            verdict: Verdict::Suggest {
                entries: outcome.suggestions.clone(),
            },
            reason: format!(
                "matcher unsure: the right entry is likely among {}",
                outcome
                    .suggestions
                    .iter()
                    .map(|c| c.entry_id.as_str())
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            unanswered: true,
        },
        (_, best) => escalate(
            None,
            match best {
                Some(b) => format!("no entry likely (best {} {:.2})", b.entry_id, b.confidence),
                None => "no entry likely".into(),
            },
            true,
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::Language;
    use crate::faq::{Answer, Entry};
    use crate::triage::TriageRules;

    fn kb() -> KnowledgeBase {
        let entry = |id: &str, opens_ticket: bool| Entry {
            id: id.into(),
            topic: "t".into(),
            questions: Vec::new(),
            keywords: Vec::new(),
            patterns: Vec::new(),
            answer: Answer::default(),
            opens_ticket,
        };
        KnowledgeBase {
            topics: Vec::new(),
            entries: vec![entry("orders.track", false), entry("contact.person", true)],
            synonyms: Vec::new(),
        }
    }

    fn sure_of(id: &str, confidence: f32) -> MatchOutcome {
        MatchOutcome {
            decision: Decision::Answer,
            language: Language::En,
            best: Some(Candidate {
                entry_id: id.into(),
                confidence,
            }),
            suggestions: Vec::new(),
            small_talk: None,
        }
    }

    #[test]
    fn a_sure_match_of_a_question_is_answered() {
        let triage = TriageRules::builtin().classify("where is my order?", false);
        let door = decide(&sure_of("orders.track", 0.99), &triage, &kb());
        assert!(matches!(door.verdict, Verdict::Answer { .. }), "{door:?}");
    }

    #[test]
    fn triage_beats_a_sure_match_and_the_answer_goes_along() {
        let triage = TriageRules::builtin().classify(
            "my account was hacked and someone changed my password",
            false,
        );
        let door = decide(&sure_of("orders.track", 0.99), &triage, &kb());
        assert_eq!(
            door.verdict,
            Verdict::Escalate {
                meanwhile: Some("orders.track".into())
            }
        );
        assert!(door.reason.starts_with("P1"), "{}", door.reason);
        assert!(!door.unanswered);
    }

    #[test]
    fn an_entry_that_opens_a_ticket_escalates() {
        let triage = TriageRules::builtin().classify("hello can i ask something", false);
        let door = decide(&sure_of("contact.person", 1.0), &triage, &kb());
        assert_eq!(door.verdict, Verdict::Escalate { meanwhile: None });
        assert_eq!(door.reason, "entry contact.person opens a ticket");
    }

    #[test]
    fn nothing_likely_escalates_as_unanswered() {
        let triage = TriageRules::builtin().classify("qwerty", false);
        let outcome = MatchOutcome {
            decision: Decision::Escalate,
            ..sure_of("orders.track", 0.05)
        };
        let door = decide(&outcome, &triage, &kb());
        assert_eq!(door.verdict, Verdict::Escalate { meanwhile: None });
        assert!(door.unanswered);
    }
}
