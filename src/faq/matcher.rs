//! The matcher: answer, suggest or escalate, with a calibrated confidence.
//!
//! Owns turning one customer message into a [`MatchOutcome`]. Built once per knowledge
//! base: it extracts features from every example phrasing, trains a sparse linear
//! model (see [`super::model`]), cross-validates on the knowledge base's own phrasings
//! to calibrate confidence and pick its thresholds (see [`super::calibrate`]). Matching
//! is then pure, synchronous and allocation-light. It must not do I/O, read clocks or
//! know about chat platforms; it never sees test data.

use std::sync::Arc;

use regex::RegexSet;
use serde::{Deserialize, Serialize};

use super::calibrate::{Calibrator, Evidence, HeldOut, Thresholds, N_EVIDENCE};
use super::features::{
    concept_hashes, Extractor, FeatureSpace, PhraseIndex, RawFeatures, SparseVec,
};
use super::model::{LinearModel, TrainOptions};
use super::normalize::{normalize, normalize_capped, tokens, Token};
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

/// What to do with one message.
///
/// Small talk ("hi there!", "谢谢") comes back as `decision: Answer`, `best: None`,
/// `small_talk: Some(..)`: the caller answers with the menu, never a ticket. A
/// knowledge-base entry matched with confidence wins over small talk (an author may
/// write a "hello" entry on purpose).
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

/// How a matcher is built.
#[derive(Debug, Clone)]
pub struct MatcherOptions {
    /// Use the shipped lexicon and the knowledge base's synonyms (off only to measure
    /// what they bring).
    pub use_lexicon: bool,
    /// Messages that must not be answered (`oos` rows of a training file): used only
    /// to calibrate the refusal threshold, never learnt as an entry.
    pub refusal_examples: Vec<String>,
    pub train: TrainOptions,
}

impl Default for MatcherOptions {
    fn default() -> Self {
        MatcherOptions {
            use_lexicon: true,
            refusal_examples: Vec::new(),
            train: TrainOptions::default(),
        }
    }
}

/// Figures about how the matcher was built.
#[derive(Debug, Clone, Default, Serialize)]
pub struct BuildStats {
    pub entries: usize,
    pub phrasings: usize,
    pub features: usize,
    pub weights: usize,
    /// Held-out predictions used for calibration.
    pub calibration_rows: usize,
    pub folds: usize,
}

/// Suggestions below this probability are not worth a button.
const MIN_SUGGESTION: f32 = 0.02;
/// Added to an entry's score when one of its keywords occurs.
const KEYWORD_BOOST: f32 = 0.5;
/// Added to an entry's score when one of its patterns matches.
const PATTERN_BOOST: f32 = 1.0;
/// Above this many entries the matcher trades a little accuracy for speed: very
/// common features are dropped, cross-validation runs one fold, and each feature keeps
/// only its strongest class weights.
const LARGE_KB: usize = 1000;
/// Document-frequency cap (share of phrasings) for large knowledge bases.
const LARGE_KB_MAX_DF: f32 = 0.01;
/// Class weights kept per feature for large knowledge bases.
const LARGE_KB_MAX_POSTINGS: usize = 64;
/// Candidates examined for evidence.
const TOP_K: usize = 3;

const SHIPPED_LEXICON: &str = include_str!("lexicon.toml");
const SHIPPED_SMALL_TALK: &str = include_str!("smalltalk.toml");

/// Trained parts that cross-validation rebuilds per fold.
struct Core {
    space: FeatureSpace,
    model: LinearModel,
    /// Median score of training phrasings for their own entry (see `Core::build`).
    scale: f32,
    /// Per entry: whether it had training phrasings (cross-validation leaves some
    /// entries out; those are not candidates).
    trained: Vec<bool>,
}

/// One example phrasing after feature extraction.
struct Doc {
    entry: u32,
    raw: RawFeatures,
    pattern_entries: Vec<u32>,
}

/// One scored candidate.
#[derive(Debug, Clone, Copy)]
struct Scored {
    entry: u32,
    evidence: Evidence,
}

/// One held-out prediction before calibration: the evidence of the top candidates,
/// which of them (if any) is the right entry, whether the message was in scope and
/// whether it was a real refusal example.
#[derive(Debug, Clone)]
struct CalRow {
    candidates: Vec<Evidence>,
    right: Option<usize>,
    in_scope: bool,
    refusal: bool,
}

impl CalRow {
    fn new(scored: &[Scored], truth: Option<u32>, refusal: bool) -> CalRow {
        CalRow {
            candidates: scored.iter().map(|s| s.evidence).collect(),
            right: truth.and_then(|t| scored.iter().position(|s| s.entry == t)),
            in_scope: truth.is_some(),
            refusal,
        }
    }

    fn top(&self) -> Evidence {
        self.candidates
            .first()
            .copied()
            .unwrap_or([0.0; N_EVIDENCE])
    }
}

pub struct Matcher {
    kb: Arc<KnowledgeBase>,
    extractor: Extractor,
    patterns: Option<RegexSet>,
    pattern_entries: Vec<u32>,
    core: Core,
    calibrator: Calibrator,
    thresholds: Thresholds,
    small_talk: Vec<(Vec<String>, SmallTalk)>,
    stats: BuildStats,
    /// Held-out predictions the calibration was fitted on.
    held_out: Vec<CalRow>,
}

impl Matcher {
    pub fn new(kb: Arc<KnowledgeBase>) -> Matcher {
        Matcher::with_options(kb, MatcherOptions::default())
    }

    pub fn with_options(kb: Arc<KnowledgeBase>, opts: MatcherOptions) -> Matcher {
        let groups: Vec<Vec<String>> = if opts.use_lexicon {
            shipped_lexicon()
                .into_iter()
                .chain(kb.synonyms.iter().map(|g| g.terms.clone()))
                .collect()
        } else {
            Vec::new()
        };
        let keywords: Vec<(u32, String)> = kb
            .entries
            .iter()
            .enumerate()
            .flat_map(|(i, e)| e.keywords.iter().map(move |k| (i as u32, k.clone())))
            .collect();
        let extractor = Extractor::new(PhraseIndex::new(&groups, &keywords));
        let concepts = concept_hashes(&groups);
        let (patterns, pattern_entries) = compile_patterns(&kb);
        let mut matcher = Matcher {
            extractor,
            patterns,
            pattern_entries,
            core: Core {
                space: FeatureSpace::fit(&[], 1, None, &[]),
                model: LinearModel::default(),
                scale: 1.0,
                trained: Vec::new(),
            },
            calibrator: Calibrator::default(),
            thresholds: Thresholds::default(),
            small_talk: small_talk_phrases(),
            stats: BuildStats::default(),
            held_out: Vec::new(),
            kb,
        };
        let mut docs: Vec<Doc> = matcher
            .kb
            .entries
            .iter()
            .enumerate()
            .flat_map(|(i, e)| e.questions.iter().map(move |q| (i as u32, q.text.as_str())))
            .map(|(entry, text)| matcher.doc(entry, text))
            .collect();
        let n_real = docs.len();
        // An entry's keywords are also words it is about: learnt as extra one-word
        // phrasings (held out like the others, see `cross_validate`), so a message
        // sharing some of them scores without the verbatim hit the fixed bonus needs.
        let keyword_docs: Vec<Doc> = matcher
            .kb
            .entries
            .iter()
            .enumerate()
            .flat_map(|(i, e)| e.keywords.iter().map(move |k| (i as u32, k.as_str())))
            .map(|(entry, text)| matcher.doc(entry, text))
            .collect();
        docs.extend(keyword_docs);
        let n_entries = matcher.kb.entries.len();
        let all: Vec<usize> = (0..docs.len()).collect();
        matcher.core = Core::build(&docs, &all, n_entries, &concepts, &opts.train);
        matcher.stats = BuildStats {
            entries: n_entries,
            phrasings: n_real,
            features: matcher.core.space.len(),
            weights: matcher.core.model.n_weights(),
            ..BuildStats::default()
        };
        matcher.cross_validate(&docs, n_real, &concepts, &opts);
        matcher
    }

    pub fn kb(&self) -> &KnowledgeBase {
        &self.kb
    }

    pub fn thresholds(&self) -> Thresholds {
        self.thresholds
    }

    /// Override the operating thresholds (e.g. from configuration).
    pub fn set_thresholds(&mut self, thresholds: Thresholds) {
        self.thresholds = thresholds;
    }

    pub fn stats(&self) -> &BuildStats {
        &self.stats
    }

    /// The fitted confidence calibration (for `faq eval`'s report).
    pub fn calibrator(&self) -> &Calibrator {
        &self.calibrator
    }

    /// Ids of the entries whose keywords or patterns occur in `text`.
    pub fn cue_entries(&self, text: &str) -> Vec<&str> {
        let norm = normalize_capped(text);
        let mut raw = RawFeatures::default();
        self.extractor.extract(&norm, &mut raw);
        let mut entries = raw.keyword_entries;
        entries.extend(self.pattern_hits(&norm));
        entries.sort_unstable();
        entries.dedup();
        entries
            .into_iter()
            .filter_map(|e| self.kb.entries.get(e as usize).map(|e| e.id.as_str()))
            .collect()
    }

    /// Recalibrate confidence and thresholds on labelled validation messages
    /// (`None` label = must not be answered). Used by `faq eval --val`.
    pub fn calibrate_on(&mut self, rows: &[(String, Option<String>)]) {
        let mut fit_rows = Vec::with_capacity(rows.len());
        let mut raw = RawFeatures::default();
        for (text, label) in rows {
            let norm = normalize_capped(text);
            self.extractor.extract(&norm, &mut raw);
            let pats = self.pattern_hits(&norm);
            let cues = cues(&raw.keyword_entries, &pats, None);
            let scored = self.score(&self.core, &raw, &cues);
            let truth = label.as_deref().and_then(|l| {
                self.kb
                    .entries
                    .iter()
                    .position(|e| e.id == l)
                    .map(|i| i as u32)
            });
            let mut row = CalRow::new(&scored, truth, label.is_none());
            // A label the knowledge base has no entry for can never be answered right.
            row.in_scope = label.is_some();
            fit_rows.push(row);
        }
        // Validation rows add to the cross-validation rows rather than replace them:
        // a few dozen out-of-scope examples alone make a jumpy threshold.
        let mut all = std::mem::take(&mut self.held_out);
        all.extend(fit_rows);
        self.apply_calibration(&all);
        self.held_out = all;
    }

    /// Match one customer message.
    pub fn match_text(&self, text: &str) -> MatchOutcome {
        let language = Language::detect(text).unwrap_or(Language::En);
        let norm = normalize_capped(text);
        let ranked = self.rank_normalized(&norm);
        let best = ranked.first().cloned();
        let p = best.as_ref().map_or(0.0, |c| c.confidence);
        if p < self.thresholds.answer {
            if let Some(kind) = self.small_talk_kind(&norm) {
                return MatchOutcome {
                    decision: Decision::Answer,
                    language,
                    best: None,
                    suggestions: Vec::new(),
                    small_talk: Some(kind),
                };
            }
        }
        let (decision, suggestions) = if best.is_none() {
            (Decision::Escalate, Vec::new())
        } else if p >= self.thresholds.answer {
            (Decision::Answer, Vec::new())
        } else {
            // "Did you mean" when the buttons together are likely to hold the answer.
            let shown: Vec<Candidate> = ranked
                .iter()
                .filter(|c| c.confidence >= MIN_SUGGESTION)
                .take(TOP_K)
                .cloned()
                .collect();
            let mass: f32 = shown.iter().map(|c| c.confidence).sum();
            if mass >= self.thresholds.suggest {
                (Decision::Suggest, shown)
            } else {
                (Decision::Escalate, Vec::new())
            }
        };
        MatchOutcome {
            decision,
            language,
            best,
            suggestions,
            small_talk: None,
        }
    }

    /// The top candidates (best first, up to 3) with calibrated confidences, ignoring
    /// thresholds and small talk.
    pub fn rank(&self, text: &str) -> Vec<Candidate> {
        self.rank_normalized(&normalize_capped(text))
    }

    fn rank_normalized(&self, norm: &str) -> Vec<Candidate> {
        let mut raw = RawFeatures::default();
        self.extractor.extract(norm, &mut raw);
        let pats = self.pattern_hits(norm);
        let cues = cues(&raw.keyword_entries, &pats, None);
        self.score(&self.core, &raw, &cues)
            .into_iter()
            .map(|s| Candidate {
                entry_id: self.kb.entries[s.entry as usize].id.clone(),
                confidence: self.calibrator.probability(&s.evidence) as f32,
            })
            .collect()
    }

    fn doc(&self, entry: u32, text: &str) -> Doc {
        let norm = normalize_capped(text);
        let mut raw = RawFeatures::default();
        self.extractor.extract(&norm, &mut raw);
        Doc {
            entry,
            raw,
            pattern_entries: self.pattern_hits(&norm),
        }
    }

    fn pattern_hits(&self, norm: &str) -> Vec<u32> {
        let Some(set) = &self.patterns else {
            return Vec::new();
        };
        let mut out: Vec<u32> = set
            .matches(norm)
            .into_iter()
            .filter_map(|i| self.pattern_entries.get(i).copied())
            .collect();
        out.dedup();
        out
    }

    /// Top candidates with their evidence, best first. `cues` are the fixed bonuses of
    /// keyword and pattern hits, (entry, bonus).
    ///
    /// The learnt scores are the evidence; the fixed bonuses only rank. A keyword or
    /// pattern may put an entry on top, but its confidence is what the words say:
    /// cross-validation, which never sees the bonus of the right entry (authors take
    /// keywords from their own phrasings), could not calibrate a bonus.
    fn score(&self, core: &Core, raw: &RawFeatures, cues: &[(u32, f32)]) -> Vec<Scored> {
        let n = core.model.n_classes();
        let (x, known) = core.space.vectorize_known(raw);
        if n == 0 || (x.is_empty() && cues.is_empty()) {
            return Vec::new();
        }
        let mut scores = vec![0f32; n];
        core.model.accumulate(&x, &mut scores);
        // Top-k by a single scan (k is tiny, n may be 10,000), over trained entries.
        let mut top: Vec<(u32, f32)> = Vec::with_capacity(TOP_K + cues.len() + 1);
        for (i, s) in scores.iter().enumerate() {
            if (top.len() < TOP_K || *s > top[top.len() - 1].1) && core.is_candidate(i) {
                let pos = top.iter().position(|t| *s > t.1).unwrap_or(top.len());
                top.insert(pos, (i as u32, *s));
                top.truncate(TOP_K);
            }
        }
        let first = top.first().map_or(0.0, |t| t.1);
        let second = top.get(1).map_or(0.0, |t| t.1);
        let learnt = |e: u32| scores.get(e as usize).copied().unwrap_or(0.0);
        // The margin is over the best other entry by learnt score.
        let leader = top.first().map_or(u32::MAX, |t| t.0);
        let rival = |e: u32| if e == leader { second } else { first };
        if !cues.is_empty() {
            // Entries with a bonus compete on score + bonus.
            for (e, _) in cues {
                if core.is_candidate(*e as usize) && !top.iter().any(|t| t.0 == *e) {
                    top.push((*e, learnt(*e)));
                }
            }
            let bonus =
                |e: u32| -> f32 { cues.iter().filter(|(c, _)| *c == e).map(|(_, b)| b).sum() };
            let mut ranked: Vec<(u32, f32)> = top
                .iter()
                .map(|t| (t.0, learnt(t.0) + bonus(t.0)))
                .collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then(a.0.cmp(&b.0)));
            ranked.truncate(TOP_K);
            top = ranked;
        }
        let scale = f64::from(core.scale);
        top.iter()
            .map(|&(entry, _)| {
                let s = learnt(entry);
                Scored {
                    entry,
                    evidence: [
                        f64::from(s) / scale,
                        f64::from(s - rival(entry)) / scale,
                        f64::from(known),
                    ],
                }
            })
            .collect()
    }

    /// k-fold cross-validation over the knowledge base's own phrasings: each fold's
    /// model scores the phrasings it did not see (and the refusal examples); the
    /// calibrator and thresholds are fitted on those predictions.
    ///
    /// Three things keep these rows like customer messages. A held-out phrasing is
    /// scored without the bonus of its own entry's keywords and patterns: authors take
    /// keywords from their phrasings, customers use them far less often. Keywords are
    /// also learnt as one-word phrasings and held out like the others, so the
    /// calibration sees bare keywords ("email", "refund"), which customers do type. And
    /// each fold leaves a few entries out entirely ("unknown entries"): their held-out
    /// phrasings are questions the fold's knowledge base cannot answer, the in-domain
    /// out-of-scope messages every knowledge base receives, which must not be answered.
    ///
    /// `docs[n_real..]` are the phrasings made from keywords.
    fn cross_validate(
        &mut self,
        docs: &[Doc],
        n_real: usize,
        concepts: &[u64],
        opts: &MatcherOptions,
    ) {
        let n_entries = self.kb.entries.len();
        let k = if n_real <= 3000 { 5 } else { 3 };
        let mut per_entry = vec![0usize; n_entries];
        for d in docs {
            per_entry[d.entry as usize] += 1;
        }
        // Stratified folds; entries with one phrasing are never held out (their class
        // would vanish from the fold and teach the calibrator nothing true).
        let mut seen = vec![0usize; n_entries];
        let fold_of: Vec<Option<usize>> = docs
            .iter()
            .map(|d| {
                let e = d.entry as usize;
                let j = seen[e];
                seen[e] += 1;
                (per_entry[e] >= 2).then_some((j + e) % k)
            })
            .collect();
        // Unknown entries: about one in 2k per fold, at least one when there are two.
        let unknown = |entry: u32, fold: usize| n_entries >= 2 && entry as usize % (2 * k) == fold;
        let refusals: Vec<Doc> = opts
            .refusal_examples
            .iter()
            .map(|t| self.doc(u32::MAX, t))
            .collect();
        let mut rows: Vec<CalRow> = Vec::new();
        let mut used_folds = 0;
        // One held-out third of a large knowledge base is plenty of calibration rows.
        let runs = if n_entries > LARGE_KB { 1 } else { k };
        for fold in 0..k {
            if used_folds == runs {
                break;
            }
            let train: Vec<usize> = (0..docs.len())
                .filter(|&i| fold_of[i] != Some(fold) && !unknown(docs[i].entry, fold))
                .collect();
            let held: Vec<usize> = (0..docs.len())
                .filter(|&i| fold_of[i] == Some(fold))
                .collect();
            if held.is_empty() || train.is_empty() {
                continue;
            }
            used_folds += 1;
            let core = Core::build(docs, &train, n_entries, concepts, &opts.train);
            for &i in &held {
                let d = &docs[i];
                let cues = cues(&d.raw.keyword_entries, &d.pattern_entries, Some(d.entry));
                let scored = self.score(&core, &d.raw, &cues);
                let truth = (!unknown(d.entry, fold)).then_some(d.entry);
                rows.push(CalRow::new(&scored, truth, false));
            }
            for d in &refusals {
                let cues = cues(&d.raw.keyword_entries, &d.pattern_entries, None);
                let scored = self.score(&core, &d.raw, &cues);
                if !scored.is_empty() {
                    rows.push(CalRow::new(&scored, None, true));
                }
            }
        }
        self.stats.folds = used_folds;
        self.apply_calibration(&rows);
        self.held_out = rows;
    }

    /// Fit the calibrator and thresholds on held-out rows.
    fn apply_calibration(&mut self, rows: &[CalRow]) {
        let fit: Vec<(Evidence, bool)> = rows
            .iter()
            .map(|r| (r.top(), r.in_scope && r.right == Some(0)))
            .collect();
        self.calibrator = Calibrator::fit(&fit);
        let held: Vec<HeldOut> = rows
            .iter()
            .map(|r| {
                let p: Vec<f64> = r
                    .candidates
                    .iter()
                    .map(|e| self.calibrator.probability(e))
                    .collect();
                // Suggestions shown: the top candidates worth a button.
                let shown = |p: &f64| *p >= f64::from(MIN_SUGGESTION);
                let right_in_suggestions = r.right.is_some_and(|i| p.get(i).is_some_and(shown));
                let suggestion_mass = p.iter().copied().filter(shown).sum();
                HeldOut {
                    probability: p
                        .first()
                        .copied()
                        .unwrap_or_else(|| self.calibrator.probability(&r.top())),
                    correct: r.right == Some(0),
                    in_scope: r.in_scope,
                    refusal: r.refusal,
                    right_in_suggestions: r.in_scope && right_in_suggestions,
                    suggestion_mass,
                }
            })
            .collect();
        self.thresholds = Thresholds::choose(&held);
        self.stats.calibration_rows = rows.len();
    }

    fn small_talk_kind(&self, norm: &str) -> Option<SmallTalk> {
        let toks: Vec<&str> = tokens(norm)
            .into_iter()
            .map(|t| match t {
                Token::Word(w) | Token::Han(w) => w,
            })
            .collect();
        if toks.is_empty() || toks.len() > 8 {
            return None;
        }
        let mut kind = None;
        let mut i = 0;
        'outer: while i < toks.len() {
            for (phrase, k) in &self.small_talk {
                let rest = &toks[i..];
                if rest.len() >= phrase.len() && phrase.iter().zip(rest).all(|(a, b)| a == b) {
                    kind.get_or_insert(*k);
                    i += phrase.len();
                    continue 'outer;
                }
            }
            if SMALL_TALK_FILLERS.contains(&toks[i]) {
                i += 1;
                continue;
            }
            return None;
        }
        kind
    }
}

/// Words that may surround a greeting/thanks/goodbye without making it a question.
const SMALL_TALK_FILLERS: &[&str] = &[
    "there",
    "all",
    "everyone",
    "everybody",
    "guys",
    "folks",
    "again",
    "a",
    "lot",
    "so",
    "much",
    "very",
    "you",
    "ya",
    "bot",
    "team",
    "mate",
    "friend",
    "sir",
    "madam",
    "ok",
    "okay",
    "oh",
    "well",
    "and",
    "for",
    "help",
    "the",
    "your",
    "many",
    "again",
    "now",
    "later",
    "soon",
    "then",
    "dear",
    "hi",
    "呀",
    "啊",
    "哦",
    "哈",
    "啦",
    "嘛",
    "呢",
    "吧",
    "了",
    "你",
    "您",
    "大",
    "家",
    "好",
    "的",
    "嗯",
    "喔",
    "哟",
];

impl Core {
    fn build(
        docs: &[Doc],
        subset: &[usize],
        n_entries: usize,
        concepts: &[u64],
        train: &TrainOptions,
    ) -> Core {
        let raws: Vec<&RawFeatures> = subset.iter().map(|&i| &docs[i].raw).collect();
        let max_df = (n_entries > LARGE_KB).then_some(LARGE_KB_MAX_DF);
        let space = FeatureSpace::fit(&raws, 1, max_df, concepts);
        let xs: Vec<SparseVec> = raws.iter().map(|r| space.vectorize(r)).collect();
        let ys: Vec<u32> = subset.iter().map(|&i| docs[i].entry).collect();
        let mut train = *train;
        if n_entries > LARGE_KB {
            train.max_postings = Some(LARGE_KB_MAX_POSTINGS);
        }
        let model = LinearModel::train(&xs, &ys, space.len(), n_entries, &train);
        // The typical score of a phrasing for its own entry: scores are divided by it
        // so evidence means the same on a 10-phrasing and a 10,000-phrasing knowledge
        // base (the default calibrator relies on that). A sample is enough.
        let step = (xs.len() / 2000).max(1);
        let mut own: Vec<f32> = Vec::new();
        let mut scores = vec![0f32; n_entries];
        for (x, y) in xs.iter().zip(&ys).step_by(step) {
            scores.iter_mut().for_each(|s| *s = 0.0);
            model.accumulate(x, &mut scores);
            if let Some(s) = scores.get(*y as usize) {
                own.push(*s);
            }
        }
        own.sort_by(f32::total_cmp);
        let scale = own.get(own.len() / 2).copied().unwrap_or(1.0).max(1e-3);
        let mut trained = vec![false; n_entries];
        for y in &ys {
            if let Some(t) = trained.get_mut(*y as usize) {
                *t = true;
            }
        }
        Core {
            space,
            model,
            scale,
            trained,
        }
    }

    /// Whether entry `i` was trained on (cross-validation leaves some entries out).
    fn is_candidate(&self, i: usize) -> bool {
        self.trained.get(i).copied().unwrap_or(false)
    }
}

/// The fixed bonuses of keyword and pattern hits as (entry, bonus), leaving out
/// `except`'s own (cross-validation: see `Matcher::cross_validate`).
fn cues(keyword_entries: &[u32], pattern_entries: &[u32], except: Option<u32>) -> Vec<(u32, f32)> {
    keyword_entries
        .iter()
        .map(|e| (*e, KEYWORD_BOOST))
        .chain(pattern_entries.iter().map(|e| (*e, PATTERN_BOOST)))
        .filter(|(e, _)| Some(*e) != except)
        .collect()
}

fn compile_patterns(kb: &KnowledgeBase) -> (Option<RegexSet>, Vec<u32>) {
    let mut sources = Vec::new();
    let mut entries = Vec::new();
    for (i, e) in kb.entries.iter().enumerate() {
        for p in &e.patterns {
            // Matched against normalised (lower-case) text, so case-insensitive.
            let src = format!("(?i){p}");
            // The loader validates patterns; one that still fails is skipped, not fatal.
            if regex::Regex::new(&src).is_ok() {
                sources.push(src);
                entries.push(i as u32);
            } else {
                tracing::warn!(entry = %e.id, pattern = %p, "skipping invalid pattern");
            }
        }
    }
    if sources.is_empty() {
        return (None, entries);
    }
    match RegexSet::new(&sources) {
        Ok(set) => (Some(set), entries),
        Err(err) => {
            tracing::warn!(%err, "patterns disabled");
            (None, Vec::new())
        }
    }
}

#[derive(Deserialize)]
struct LexiconFile {
    #[serde(default)]
    group: Vec<LexiconGroup>,
}

#[derive(Deserialize)]
struct LexiconGroup {
    terms: Vec<String>,
}

/// The shipped synonym lexicon (`src/faq/lexicon.toml`, compiled in).
pub fn shipped_lexicon() -> Vec<Vec<String>> {
    match toml::from_str::<LexiconFile>(SHIPPED_LEXICON) {
        Ok(f) => f.group.into_iter().map(|g| g.terms).collect(),
        Err(err) => {
            tracing::error!(%err, "shipped lexicon does not parse; matching without it");
            Vec::new()
        }
    }
}

#[derive(Deserialize, Default)]
struct SmallTalkFile {
    #[serde(default)]
    greeting: PhraseList,
    #[serde(default)]
    thanks: PhraseList,
    #[serde(default)]
    goodbye: PhraseList,
}

#[derive(Deserialize, Default)]
struct PhraseList {
    #[serde(default)]
    phrases: Vec<String>,
}

/// Small-talk phrases as token sequences, longest first so "thank you" beats "thank".
fn small_talk_phrases() -> Vec<(Vec<String>, SmallTalk)> {
    let file = match toml::from_str::<SmallTalkFile>(SHIPPED_SMALL_TALK) {
        Ok(f) => f,
        Err(err) => {
            tracing::error!(%err, "shipped small talk does not parse");
            SmallTalkFile::default()
        }
    };
    let mut out: Vec<(Vec<String>, SmallTalk)> = Vec::new();
    for (list, kind) in [
        (file.greeting, SmallTalk::Greeting),
        (file.thanks, SmallTalk::Thanks),
        (file.goodbye, SmallTalk::Goodbye),
    ] {
        for p in list.phrases {
            let norm = normalize(&p);
            let toks: Vec<String> = tokens(&norm)
                .into_iter()
                .map(|t| match t {
                    Token::Word(w) | Token::Han(w) => w.to_string(),
                })
                .collect();
            if !toks.is_empty() {
                out.push((toks, kind));
            }
        }
    }
    out.sort_by_key(|(t, _)| std::cmp::Reverse(t.len()));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shipped_files_parse() {
        assert!(!shipped_lexicon().is_empty());
        assert!(small_talk_phrases().len() >= 10);
    }
}
