//! Measuring the matcher on labelled data (SPEC §8 metric definitions).
//!
//! Owns parsing JSONL rows `{"text","label"}`, building a knowledge base from training
//! rows (one entry per label, `oos` never an entry), and computing an [`EvalReport`].
//! Thresholds come from the training rows (cross-validation) or a validation file —
//! never from the test rows, which are only scored. Reading files is the caller's job.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::matcher::{Decision, Matcher, MatcherOptions};
use super::{Answer, Entry, KnowledgeBase, Phrasing};
use crate::domain::Language;

/// The label of messages no entry answers.
pub const OOS: &str = "oos";

/// Precision the key figure `coverage_at_97` must keep.
pub const COVERAGE_PRECISION: f64 = 0.97;

/// One labelled message.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Row {
    pub text: String,
    pub label: String,
}

impl Row {
    pub fn in_scope(&self) -> bool {
        self.label != OOS
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EvalError {
    #[error("{source_name}:{line}: not valid UTF-8")]
    Utf8 { source_name: String, line: usize },
    #[error("{source_name}:{line}: expected {{\"text\": ..., \"label\": ...}}: {message}")]
    Json {
        source_name: String,
        line: usize,
        message: String,
    },
    #[error("{0}: no rows")]
    Empty(String),
    #[error("{0}: no in-scope rows to build a knowledge base from")]
    NoEntries(String),
}

/// Parse JSON Lines; blank lines are skipped, any other bad line is an error naming it.
pub fn parse_jsonl(bytes: &[u8], source_name: &str) -> Result<Vec<Row>, EvalError> {
    let mut rows = Vec::new();
    for (i, line) in bytes.split(|b| *b == b'\n').enumerate() {
        let line_no = i + 1;
        let text = std::str::from_utf8(line).map_err(|_| EvalError::Utf8 {
            source_name: source_name.to_string(),
            line: line_no,
        })?;
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let row: Row = serde_json::from_str(text).map_err(|e| EvalError::Json {
            source_name: source_name.to_string(),
            line: line_no,
            message: e.to_string(),
        })?;
        rows.push(row);
    }
    if rows.is_empty() {
        return Err(EvalError::Empty(source_name.to_string()));
    }
    Ok(rows)
}

/// How the knowledge base is built from training rows.
#[derive(Debug, Clone)]
pub struct EvalOptions {
    /// Keep only the first N phrasings per label (few-phrasing experiments).
    pub max_phrasings: Option<usize>,
    /// Use the synonym lexicon (off to measure what it brings).
    pub use_lexicon: bool,
}

impl Default for EvalOptions {
    fn default() -> Self {
        EvalOptions {
            max_phrasings: None,
            use_lexicon: true,
        }
    }
}

/// One entry per label in first-seen order, its rows as phrasings, answer = label.
/// Returns the knowledge base and the `oos` texts (kept apart for calibration).
pub fn kb_from_rows(rows: &[Row], max_phrasings: Option<usize>) -> (KnowledgeBase, Vec<String>) {
    let mut kb = KnowledgeBase::default();
    let mut index: BTreeMap<&str, usize> = BTreeMap::new();
    let mut oos = Vec::new();
    for row in rows {
        if !row.in_scope() {
            oos.push(row.text.clone());
            continue;
        }
        let i = *index.entry(row.label.as_str()).or_insert_with(|| {
            kb.entries.push(Entry {
                id: row.label.clone(),
                topic: "eval".to_string(),
                questions: Vec::new(),
                keywords: Vec::new(),
                patterns: Vec::new(),
                answer: Answer {
                    en: row.label.clone(),
                    zh: row.label.clone(),
                },
                opens_ticket: false,
            });
            kb.entries.len() - 1
        });
        let entry = &mut kb.entries[i];
        if max_phrasings.is_some_and(|m| entry.questions.len() >= m) {
            continue;
        }
        entry.questions.push(Phrasing {
            language: Language::detect(&row.text).unwrap_or(Language::En),
            text: row.text.clone(),
        });
    }
    (kb, oos)
}

/// Splits a knowledge base for a self-test: each entry keeps its first `keep` phrasings
/// per language, the others become test rows labelled with the entry id. Measures how
/// well a KB with few phrasings copes with the other words customers use (e.g. what
/// the synonym lexicon brings).
pub fn holdout_split(kb: &KnowledgeBase, keep: usize) -> (KnowledgeBase, Vec<Row>) {
    let mut kept = kb.clone();
    let mut test = Vec::new();
    for entry in &mut kept.entries {
        let mut seen: BTreeMap<Language, usize> = BTreeMap::new();
        entry.questions.retain(|q| {
            let n = seen.entry(q.language).or_default();
            *n += 1;
            if *n <= keep {
                return true;
            }
            test.push(Row {
                text: q.text.clone(),
                label: entry.id.clone(),
            });
            false
        });
    }
    (kept, test)
}

/// A few-shot draw: `shots` random phrasings of each label (seeded, so a seed names a
/// draw), in their original order. `oos` rows are all kept: they are not phrasings of
/// an entry but the refusal examples, and a few-shot knowledge base still has them.
pub fn few_shot(rows: &[Row], shots: usize, seed: u64) -> Vec<Row> {
    let mut by_label: BTreeMap<&str, Vec<usize>> = BTreeMap::new();
    for (i, row) in rows.iter().enumerate() {
        if row.in_scope() {
            by_label.entry(row.label.as_str()).or_default().push(i);
        }
    }
    let mut rng = fastrand::Rng::with_seed(seed);
    let mut keep = vec![false; rows.len()];
    for idx in by_label.values_mut() {
        rng.shuffle(idx);
        for &i in idx.iter().take(shots) {
            keep[i] = true;
        }
    }
    rows.iter()
        .zip(&keep)
        .filter(|(row, kept)| **kept || !row.in_scope())
        .map(|(row, _)| row.clone())
        .collect()
}

/// Splits test rows into those containing one of their own entry's keywords or patterns
/// (which the matcher rewards with a fixed bonus) and the others, which look more like
/// what customers write.
pub fn split_by_own_cue(matcher: &Matcher, rows: &[Row]) -> (Vec<Row>, Vec<Row>) {
    rows.iter()
        .cloned()
        .partition(|row| matcher.cue_entries(&row.text).contains(&row.label.as_str()))
}

/// Build the matcher from training rows; with `val`, recalibrate on it.
pub fn build_matcher(
    train: &[Row],
    val: Option<&[Row]>,
    opts: &EvalOptions,
) -> Result<Matcher, EvalError> {
    let (kb, oos) = kb_from_rows(train, opts.max_phrasings);
    if kb.entries.is_empty() {
        return Err(EvalError::NoEntries("training rows".to_string()));
    }
    let mut matcher = Matcher::with_options(
        Arc::new(kb),
        MatcherOptions {
            use_lexicon: opts.use_lexicon,
            refusal_examples: oos,
            ..MatcherOptions::default()
        },
    );
    if let Some(val) = val {
        let rows: Vec<(String, Option<String>)> = val
            .iter()
            .map(|r| (r.text.clone(), r.in_scope().then(|| r.label.clone())))
            .collect();
        matcher.calibrate_on(&rows);
    }
    Ok(matcher)
}

/// Figures for one label.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct LabelReport {
    pub n: usize,
    /// Top-1 correct share (null for `oos`).
    pub accuracy: Option<f64>,
    /// Share of this label's rows answered at the operating threshold.
    pub answered: f64,
    /// Share of this label's rows answered with the right entry (0 for `oos`).
    pub answered_correct: f64,
}

/// SPEC §8 evaluation report.
///
/// * `accuracy`: top-1 correct among in-scope rows, ignoring thresholds.
/// * `answered`: share of in-scope rows answered (`decision == answer`, not small talk).
/// * `precision`: share of answers (in-scope and `oos` rows alike) that are correct;
///   null when nothing was answered.
/// * `oos_recall`: share of `oos` rows not answered (escalated, or only offered
///   suggestions — a suggestion is not an answer); null when the test file has none.
/// * `coverage_at_97`: the largest share of in-scope rows answerable, sweeping the
///   threshold on the top confidence, while precision stays ≥ 97 %.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct EvalReport {
    pub n: usize,
    pub accuracy: f64,
    pub answered: f64,
    pub precision: Option<f64>,
    pub oos_recall: Option<f64>,
    pub coverage_at_97: f64,
    pub per_label: BTreeMap<String, LabelReport>,
    /// Diagnostic for people, not part of the JSON: the best `oos_recall` reachable at
    /// each `answered` level (0.80, 0.85, 0.90, 0.95), sweeping the threshold on the
    /// test rows. Says how separable out-of-scope messages are, independent of where
    /// the shipped threshold landed.
    #[serde(skip)]
    pub curve: Vec<(f64, f64)>,
}

impl EvalReport {
    /// In-scope labels with the lowest accuracy first.
    pub fn worst_labels(&self, n: usize) -> Vec<(&str, &LabelReport)> {
        let mut v: Vec<(&str, &LabelReport)> = self
            .per_label
            .iter()
            .filter(|(_, r)| r.accuracy.is_some())
            .map(|(l, r)| (l.as_str(), r))
            .collect();
        v.sort_by(|a, b| {
            a.1.accuracy
                .unwrap_or(0.0)
                .total_cmp(&b.1.accuracy.unwrap_or(0.0))
                .then(a.0.cmp(b.0))
        });
        v.truncate(n);
        v
    }
}

/// Standard deviations of the headline figures over several few-shot draws.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Spread {
    pub accuracy: f64,
    pub answered: f64,
    pub precision: Option<f64>,
    pub oos_recall: Option<f64>,
    pub coverage_at_97: f64,
}

/// `faq eval --json` output: the SPEC §8 report, plus what few-shot draws and
/// `--holdout` add (absent otherwise, so the SPEC fields stay as they were).
#[derive(Debug, Clone, Serialize)]
pub struct EvalOutput {
    #[serde(flatten)]
    pub report: EvalReport,
    /// Number of few-shot draws the figures are means over.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seeds: Option<usize>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub spread: Option<Spread>,
    /// `--holdout`: test rows that contain their own entry's keyword or pattern.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub with_keywords: Option<EvalReport>,
    /// `--holdout`: test rows that contain none of them.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub without_keywords: Option<EvalReport>,
}

fn mean_std(values: &[f64]) -> (f64, f64) {
    if values.is_empty() {
        return (0.0, 0.0);
    }
    let n = values.len() as f64;
    let mean = values.iter().sum::<f64>() / n;
    let var = values.iter().map(|v| (v - mean) * (v - mean)).sum::<f64>() / n;
    (mean, var.sqrt())
}

/// Mean and spread of optional figures: over the draws that have one, `None` if none do.
fn mean_std_opt(values: impl Iterator<Item = Option<f64>>) -> (Option<f64>, Option<f64>) {
    let present: Vec<f64> = values.flatten().collect();
    if present.is_empty() {
        return (None, None);
    }
    let (m, s) = mean_std(&present);
    (Some(m), Some(s))
}

/// Means of several reports (same test rows, different few-shot draws) and the
/// standard deviations of their headline figures. `None` for no reports.
pub fn mean_report(reports: &[EvalReport]) -> Option<(EvalReport, Spread)> {
    let first = reports.first()?;
    let col = |f: fn(&EvalReport) -> f64| -> Vec<f64> { reports.iter().map(f).collect() };
    let (accuracy, s_accuracy) = mean_std(&col(|r| r.accuracy));
    let (answered, s_answered) = mean_std(&col(|r| r.answered));
    let (coverage, s_coverage) = mean_std(&col(|r| r.coverage_at_97));
    let (precision, s_precision) = mean_std_opt(reports.iter().map(|r| r.precision));
    let (oos_recall, s_oos) = mean_std_opt(reports.iter().map(|r| r.oos_recall));
    let per_label = first
        .per_label
        .iter()
        .map(|(label, lr)| {
            let of = |f: fn(&LabelReport) -> f64| -> f64 {
                let v: Vec<f64> = reports
                    .iter()
                    .filter_map(|r| r.per_label.get(label))
                    .map(f)
                    .collect();
                mean_std(&v).0
            };
            let accuracy = mean_std_opt(
                reports
                    .iter()
                    .map(|r| r.per_label.get(label).and_then(|l| l.accuracy)),
            )
            .0;
            (
                label.clone(),
                LabelReport {
                    n: lr.n,
                    accuracy,
                    answered: of(|l| l.answered),
                    answered_correct: of(|l| l.answered_correct),
                },
            )
        })
        .collect();
    let report = EvalReport {
        n: first.n,
        accuracy,
        answered,
        precision,
        oos_recall,
        coverage_at_97: coverage,
        per_label,
        curve: first.curve.clone(),
    };
    let spread = Spread {
        accuracy: s_accuracy,
        answered: s_answered,
        precision: s_precision,
        oos_recall: s_oos,
        coverage_at_97: s_coverage,
    };
    Some((report, spread))
}

#[derive(Default)]
struct Tally {
    n: usize,
    top1: usize,
    answered: usize,
    answered_correct: usize,
}

/// Score every test row; `progress` is called after each row with the count done.
pub fn evaluate(matcher: &Matcher, test: &[Row], mut progress: impl FnMut(usize)) -> EvalReport {
    let mut tallies: BTreeMap<&str, Tally> = BTreeMap::new();
    // (confidence of the top entry, top-1 correct, in scope) for the coverage sweep.
    let mut sweep: Vec<(f32, bool, bool)> = Vec::with_capacity(test.len());
    let (mut n_in, mut n_oos, mut top1_right) = (0usize, 0usize, 0usize);
    let (mut answered_in, mut answers, mut answers_right, mut oos_refused) = (0, 0, 0, 0);
    for (i, row) in test.iter().enumerate() {
        let outcome = matcher.match_text(&row.text);
        let top = match &outcome.best {
            Some(b) => Some(b.clone()),
            // Small talk carries no candidate; accuracy ignores the decision, so rank.
            None => matcher.rank(&row.text).into_iter().next(),
        };
        let in_scope = row.in_scope();
        let correct = in_scope && top.as_ref().is_some_and(|t| t.entry_id == row.label);
        let answered = outcome.decision == Decision::Answer
            && outcome.small_talk.is_none()
            && outcome.best.is_some();
        let t = tallies.entry(row.label.as_str()).or_default();
        t.n += 1;
        t.top1 += usize::from(correct);
        t.answered += usize::from(answered);
        t.answered_correct += usize::from(answered && correct);
        if in_scope {
            n_in += 1;
            top1_right += usize::from(correct);
            answered_in += usize::from(answered);
        } else {
            n_oos += 1;
            oos_refused += usize::from(!answered);
        }
        answers += usize::from(answered);
        answers_right += usize::from(answered && correct);
        sweep.push((top.map_or(0.0, |t| t.confidence), correct, in_scope));
        progress(i + 1);
    }
    let share = |a: usize, b: usize| if b == 0 { 0.0 } else { a as f64 / b as f64 };
    let per_label = tallies
        .into_iter()
        .map(|(label, t)| {
            let oos = label == OOS;
            (
                label.to_string(),
                LabelReport {
                    n: t.n,
                    accuracy: (!oos).then(|| share(t.top1, t.n)),
                    answered: share(t.answered, t.n),
                    answered_correct: share(t.answered_correct, t.n),
                },
            )
        })
        .collect();
    let curve = oos_curve(&sweep, n_in, n_oos);
    EvalReport {
        curve,
        n: test.len(),
        accuracy: share(top1_right, n_in),
        answered: share(answered_in, n_in),
        precision: (answers > 0).then(|| share(answers_right, answers)),
        oos_recall: (n_oos > 0).then(|| share(oos_refused, n_oos)),
        coverage_at_97: coverage_at(&mut sweep, n_in, COVERAGE_PRECISION),
        per_label,
    }
}

fn oos_curve(rows: &[(f32, bool, bool)], n_in: usize, n_oos: usize) -> Vec<(f64, f64)> {
    if n_in == 0 || n_oos == 0 {
        return Vec::new();
    }
    let mut sorted = rows.to_vec();
    sorted.sort_by(|a, b| b.0.total_cmp(&a.0));
    [0.80, 0.85, 0.90, 0.95]
        .iter()
        .map(|&level| {
            let (mut answered_in, mut answered_oos) = (0usize, 0usize);
            for r in &sorted {
                if answered_in as f64 / n_in as f64 >= level {
                    break;
                }
                if r.2 {
                    answered_in += 1;
                } else {
                    answered_oos += 1;
                }
            }
            (level, 1.0 - answered_oos as f64 / n_oos as f64)
        })
        .collect()
}

/// Largest share of in-scope rows answerable with precision ≥ `target`, cutting the
/// confidence-sorted rows only between distinct confidences.
fn coverage_at(rows: &mut [(f32, bool, bool)], n_in: usize, target: f64) -> f64 {
    if n_in == 0 {
        return 0.0;
    }
    rows.sort_by(|a, b| b.0.total_cmp(&a.0));
    let (mut answered, mut right, mut answered_in) = (0usize, 0usize, 0usize);
    let mut best = 0.0f64;
    for i in 0..rows.len() {
        let (_, correct, in_scope) = rows[i];
        answered += 1;
        right += usize::from(correct);
        answered_in += usize::from(in_scope);
        if rows.get(i + 1).is_some_and(|n| n.0 == rows[i].0) {
            continue;
        }
        if right as f64 / answered as f64 >= target {
            best = best.max(answered_in as f64 / n_in as f64);
        }
    }
    best
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bad_lines_are_named() {
        let err = parse_jsonl(b"{\"text\":\"a\",\"label\":\"b\"}\n\nnot json\n", "t.jsonl")
            .err()
            .map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.starts_with("t.jsonl:3:")));
        let err = parse_jsonl(b"{\"text\":\"a\",\"label\":\"b\"}\n\xff\xfe\n", "u.jsonl")
            .err()
            .map(|e| e.to_string());
        assert_eq!(err.as_deref(), Some("u.jsonl:2: not valid UTF-8"));
        assert!(matches!(parse_jsonl(b"\n", "e"), Err(EvalError::Empty(_))));
    }

    #[test]
    fn oos_is_never_an_entry() {
        let rows = vec![
            Row {
                text: "a".into(),
                label: "x".into(),
            },
            Row {
                text: "b".into(),
                label: OOS.into(),
            },
            Row {
                text: "c".into(),
                label: "x".into(),
            },
            Row {
                text: "d".into(),
                label: "x".into(),
            },
        ];
        let (kb, oos) = kb_from_rows(&rows, Some(2));
        assert_eq!(kb.entries.len(), 1);
        assert_eq!(kb.entries[0].questions.len(), 2);
        assert_eq!(oos, vec!["b".to_string()]);
    }

    #[test]
    fn few_shot_draws_k_per_label() {
        let mut rows = Vec::new();
        for label in ["a", "b", "oos"] {
            for i in 0..10 {
                rows.push(Row {
                    text: format!("{label} {i}"),
                    label: label.into(),
                });
            }
        }
        let draw = few_shot(&rows, 3, 7);
        assert_eq!(draw.iter().filter(|r| r.label == "a").count(), 3);
        assert_eq!(draw.iter().filter(|r| r.label == "b").count(), 3);
        assert_eq!(draw.iter().filter(|r| r.label == OOS).count(), 10);
        assert_eq!(few_shot(&rows, 3, 7), draw, "a seed names one draw");
        assert_ne!(few_shot(&rows, 3, 8), draw);
    }

    #[test]
    fn means_and_spread() {
        let report = |accuracy: f64, precision: Option<f64>| EvalReport {
            n: 10,
            accuracy,
            answered: 0.5,
            precision,
            oos_recall: None,
            coverage_at_97: accuracy / 2.0,
            per_label: BTreeMap::new(),
            curve: Vec::new(),
        };
        let (mean, spread) =
            mean_report(&[report(0.6, Some(1.0)), report(0.8, None)]).expect("reports");
        assert!((mean.accuracy - 0.7).abs() < 1e-12);
        assert!((spread.accuracy - 0.1).abs() < 1e-12);
        assert_eq!(mean.precision, Some(1.0));
        assert_eq!(mean.oos_recall, None);
        assert!(mean_report(&[]).is_none());
    }

    #[test]
    fn coverage_sweep() {
        // 97 right then 3 wrong at lower confidence: everything but the wrong ones.
        let mut rows: Vec<(f32, bool, bool)> = (0..100)
            .map(|i| (1.0 - i as f32 / 100.0, i < 97, true))
            .collect();
        assert!((coverage_at(&mut rows, 100, 0.97) - 1.0).abs() < 1e-9);
        let mut rows = vec![(0.9, false, true), (0.8, true, true)];
        assert_eq!(coverage_at(&mut rows, 2, 0.97), 0.0);
    }
}
