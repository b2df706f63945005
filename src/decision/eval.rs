//! Scoring the whole front door (matcher + triage + decision) on labelled customer
//! messages: `frontdesk triage eval FILE.jsonl`.
//!
//! Owns the row format `{"text","category","priority","expect"}` (`expect` = the entry id
//! that answers the message, or `ticket` when it needs a person) and the figures. Pure:
//! the caller reads the file and builds the matcher and rules.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::{decide, Verdict};
use crate::domain::{Category, Priority};
use crate::faq::Matcher;
use crate::triage::TriageRules;

/// `expect` of a message that needs a person.
pub const TICKET: &str = "ticket";

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct LabelledMessage {
    pub text: String,
    pub category: Category,
    pub priority: Priority,
    pub expect: String,
}

impl LabelledMessage {
    pub fn needs_person(&self) -> bool {
        self.expect == TICKET
    }
}

#[derive(Debug, thiserror::Error)]
pub enum FrontDoorEvalError {
    #[error("{source_name}:{line}: {message}")]
    Row {
        source_name: String,
        line: usize,
        message: String,
    },
    #[error("{0}: no rows")]
    Empty(String),
}

/// A row as written: names in any case (`p1`, `P1`).
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRow {
    text: String,
    category: String,
    priority: String,
    expect: String,
}

/// Parse JSON Lines; blank lines are skipped, any other bad line is an error naming it.
pub fn parse_jsonl(
    text: &str,
    source_name: &str,
) -> Result<Vec<LabelledMessage>, FrontDoorEvalError> {
    let mut rows = Vec::new();
    for (i, line) in text.lines().enumerate() {
        let line = line.trim();
        if line.is_empty() {
            continue;
        }
        let bad = |message: String| FrontDoorEvalError::Row {
            source_name: source_name.to_string(),
            line: i + 1,
            message,
        };
        let raw: RawRow = serde_json::from_str(line).map_err(|e| {
            bad(format!(
                "expected {{\"text\",\"category\",\"priority\",\"expect\"}}: {e}"
            ))
        })?;
        rows.push(LabelledMessage {
            category: raw.category.parse().map_err(|e| bad(format!("{e}")))?,
            priority: raw.priority.parse().map_err(|e| bad(format!("{e}")))?,
            text: raw.text,
            expect: raw.expect,
        });
    }
    if rows.is_empty() {
        return Err(FrontDoorEvalError::Empty(source_name.to_string()));
    }
    Ok(rows)
}

/// What the front door did with one row, as the confusion table counts it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    AnsweredRight,
    AnsweredWrong,
    Suggested,
    Escalated,
    SmallTalk,
}

/// One scored row.
#[derive(Debug, Clone, Serialize)]
pub struct Scored {
    pub text: String,
    pub expect: String,
    pub category: Category,
    pub priority: Priority,
    pub outcome: Outcome,
    /// The answered entry, the suggestions, or the "meanwhile" entry.
    pub entries: Vec<String>,
    pub got_category: Category,
    pub got_priority: Priority,
    pub reason: String,
}

/// The figures of `frontdesk triage eval`.
#[derive(Debug, Clone, Serialize)]
pub struct FrontDoorReport {
    pub n: usize,
    pub routine: usize,
    pub tickets: usize,
    /// Triage's category equals the label (all rows).
    pub category_accuracy: f64,
    /// Triage's priority equals the label (all rows).
    pub priority_accuracy: f64,
    /// Share of P1 rows that reach a person at once.
    pub p1_recall: f64,
    /// P1 rows that do not reach a person at once (the target: at most one).
    pub p1_missed: usize,
    /// Share of P1 rows that triage calls P1.
    pub p1_triaged: f64,
    /// Share of `ticket` rows escalated at once (no answer, no "did you mean").
    pub escalated: f64,
    /// Share of routine rows answered (right or wrong).
    pub routine_answered: f64,
    /// Share of all answers (routine and ticket rows) that are the labelled entry.
    pub answer_precision: Option<f64>,
    /// Share of rows shown "did you mean" whose buttons hold the labelled entry.
    pub suggestions_hit: Option<f64>,
    pub suggested: usize,
    /// Rows by label (`answer` for routine, `ticket`) and outcome.
    pub confusion: BTreeMap<String, BTreeMap<Outcome, usize>>,
    /// Rows by labelled category and triaged category.
    pub category_confusion: BTreeMap<Category, BTreeMap<Category, usize>>,
    /// The worst rows first: urgent rows not escalated, wrong answers, tickets held up.
    pub worst: Vec<Scored>,
}

/// Score every row through the same decision the service takes.
pub fn evaluate(
    matcher: &Matcher,
    rules: &TriageRules,
    rows: &[LabelledMessage],
) -> FrontDoorReport {
    let mut scored = Vec::with_capacity(rows.len());
    for row in rows {
        let outcome = matcher.match_text(&row.text);
        let triage = rules.classify(&row.text, false);
        let door = decide(&outcome, &triage, matcher.kb());
        let (kind, entries) = match &door.verdict {
            Verdict::Answer { entry, .. } if *entry == row.expect => {
                (Outcome::AnsweredRight, vec![entry.clone()])
            }
            Verdict::Answer { entry, .. } => (Outcome::AnsweredWrong, vec![entry.clone()]),
            Verdict::Suggest { entries } => (
                Outcome::Suggested,
                entries.iter().map(|c| c.entry_id.clone()).collect(),
            ),
            Verdict::Escalate { meanwhile } => {
                (Outcome::Escalated, meanwhile.iter().cloned().collect())
            }
            Verdict::SmallTalk { .. } => (Outcome::SmallTalk, Vec::new()),
        };
        scored.push(Scored {
            text: row.text.clone(),
            expect: row.expect.clone(),
            category: row.category,
            priority: row.priority,
            outcome: kind,
            entries,
            got_category: triage.category,
            got_priority: triage.priority,
            reason: door.reason,
        });
    }
    report(scored)
}

fn share(part: usize, whole: usize) -> f64 {
    if whole == 0 {
        0.0
    } else {
        part as f64 / whole as f64
    }
}

fn report(scored: Vec<Scored>) -> FrontDoorReport {
    let n = scored.len();
    let is_ticket = |s: &Scored| s.expect == TICKET;
    let tickets = scored.iter().filter(|s| is_ticket(s)).count();
    let routine = n - tickets;
    let count = |f: &dyn Fn(&Scored) -> bool| scored.iter().filter(|s| f(s)).count();
    let p1 = count(&|s| s.priority == Priority::P1);
    let p1_escalated = count(&|s| s.priority == Priority::P1 && s.outcome == Outcome::Escalated);
    let answers = count(&|s| matches!(s.outcome, Outcome::AnsweredRight | Outcome::AnsweredWrong));
    let right = count(&|s| s.outcome == Outcome::AnsweredRight);
    let suggested = count(&|s| s.outcome == Outcome::Suggested);
    let suggestion_hits =
        count(&|s| s.outcome == Outcome::Suggested && s.entries.contains(&s.expect));
    let mut confusion: BTreeMap<String, BTreeMap<Outcome, usize>> = BTreeMap::new();
    let mut category_confusion: BTreeMap<Category, BTreeMap<Category, usize>> = BTreeMap::new();
    for s in &scored {
        let label = if is_ticket(s) { TICKET } else { "answer" };
        *confusion
            .entry(label.to_string())
            .or_default()
            .entry(s.outcome)
            .or_default() += 1;
        *category_confusion
            .entry(s.category)
            .or_default()
            .entry(s.got_category)
            .or_default() += 1;
    }
    // Worst first: an urgent customer held up, then a wrong answer, then any other person
    // kept from a ticket, then routine questions not answered, then triage errors.
    let badness = |s: &Scored| -> u8 {
        let urgent = s.priority == Priority::P1 || s.category == Category::Complaint;
        match s.outcome {
            Outcome::AnsweredWrong if urgent => 0,
            Outcome::Suggested | Outcome::SmallTalk if urgent => 1,
            Outcome::AnsweredWrong => 2,
            Outcome::Suggested | Outcome::SmallTalk if is_ticket(s) => 3,
            Outcome::Escalated | Outcome::Suggested if !is_ticket(s) => 4,
            _ if s.got_category != s.category || s.got_priority != s.priority => 5,
            _ => 9,
        }
    };
    let mut worst: Vec<Scored> = scored.iter().filter(|s| badness(s) < 9).cloned().collect();
    worst.sort_by_key(|s| badness(s));
    worst.truncate(25);
    FrontDoorReport {
        n,
        routine,
        tickets,
        category_accuracy: share(count(&|s| s.got_category == s.category), n),
        priority_accuracy: share(count(&|s| s.got_priority == s.priority), n),
        p1_recall: share(p1_escalated, p1),
        p1_missed: p1 - p1_escalated,
        p1_triaged: share(
            count(&|s| s.priority == Priority::P1 && s.got_priority == Priority::P1),
            p1,
        ),
        escalated: share(
            count(&|s| is_ticket(s) && s.outcome == Outcome::Escalated),
            tickets,
        ),
        routine_answered: share(
            count(&|s| {
                !is_ticket(s)
                    && matches!(s.outcome, Outcome::AnsweredRight | Outcome::AnsweredWrong)
            }),
            routine,
        ),
        answer_precision: (answers > 0).then(|| share(right, answers)),
        suggestions_hit: (suggested > 0).then(|| share(suggestion_hits, suggested)),
        suggested,
        confusion,
        category_confusion,
        worst,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_parse_and_bad_ones_name_their_line() {
        let ok = parse_jsonl(
            "{\"text\":\"hi\",\"category\":\"inquiry\",\"priority\":\"p3\",\"expect\":\"ticket\"}\n\n",
            "t.jsonl",
        )
        .unwrap();
        assert!(ok[0].needs_person());
        let err = parse_jsonl("\n{\"text\":\"hi\"}", "t.jsonl").unwrap_err();
        assert!(err.to_string().starts_with("t.jsonl:2:"), "{err}");
    }

    #[test]
    fn figures_count_what_they_say() {
        let row = |expect: &str, priority, outcome, entries: &[&str]| Scored {
            text: String::new(),
            expect: expect.into(),
            category: Category::Inquiry,
            priority,
            outcome,
            entries: entries.iter().map(|e| e.to_string()).collect(),
            got_category: Category::Inquiry,
            got_priority: priority,
            reason: String::new(),
        };
        let r = report(vec![
            row("a", Priority::P3, Outcome::AnsweredRight, &["a"]),
            row("b", Priority::P3, Outcome::Suggested, &["c", "b"]),
            row(TICKET, Priority::P1, Outcome::AnsweredWrong, &["a"]),
            row(TICKET, Priority::P1, Outcome::Escalated, &[]),
        ]);
        assert_eq!((r.routine, r.tickets), (2, 2));
        assert_eq!(r.p1_missed, 1);
        assert_eq!(r.p1_recall, 0.5);
        assert_eq!(r.answer_precision, Some(0.5));
        assert_eq!(r.routine_answered, 0.5);
        assert_eq!(r.suggestions_hit, Some(1.0));
        assert_eq!(r.escalated, 0.5);
        assert_eq!(r.worst[0].outcome, Outcome::AnsweredWrong);
    }
}
