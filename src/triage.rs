//! Triage: category, sub-category, priority, department and the supervisor flag for one
//! customer message, from rules kept as data (SPEC §2).
//!
//! Owns the rule-file format (the shipped default is `rules/triage.toml`, embedded in the
//! binary), its validation, and the matcher that applies it. Pure and synchronous: no I/O
//! (callers read a rules file and hand over its text), no clock, no storage, no FAQ logic.
//! Agent overrides of category and priority happen elsewhere; this module only proposes.
//!
//! # How a message is triaged
//! 1. The text is normalised: NFKC (full-width letters and punctuation become ASCII),
//!    lower case, apostrophes dropped (`can't`, `can’t` and `cant` are one form), runs of
//!    white space collapsed, white space between two CJK characters removed.
//! 2. Every rule whose keyword or pattern occurs fires, at most once. Keywords are found by
//!    one Aho-Corasick automaton over all rules; a keyword starting (ending) with a Latin
//!    letter or digit must start (end) on a word boundary, so `fire` does not fire on
//!    `firefox` (a plural `s` may precede the end boundary: `invoice` matches `invoices`),
//!    while Chinese keywords match anywhere. A trailing `*` lifts the end
//!    boundary (`crash*` matches `crashes`). Patterns are regexes run as one `RegexSet`
//!    over the normalised text.
//! 3. **Category**: each fired rule adds its `weight` to its category's score. If the
//!    complaint score reaches `resolution.strong_complaint`, the category is complaint;
//!    otherwise the highest score wins and ties go to the first category in
//!    `resolution.precedence`. Nothing fired: inquiry.
//! 4. **Sub-category / department**: from the heaviest fired rule of the chosen category
//!    that names one (ties: earlier in the file); department falls back to the category's.
//! 5. **Priority**: the most urgent of every fired rule's `priority` (whatever its
//!    category — a safety word makes a refund request P1) and the chosen category's base
//!    priority. A VIP customer then gets [`Priority::raised`].
//! 6. **Supervisors** are notified when the chosen category says so (complaint by default)
//!    or any fired rule has `notify_supervisors` (safety and security signals).
//!
//! Rules match signals, not meaning: there is no negation handling, so phrases are chosen
//! to avoid the obvious false positives ("how do I log in" is a question, only
//! "can't log in" / "无法登录" is an urgent login failure).

use std::collections::{BTreeMap, HashMap};
use std::sync::OnceLock;

use aho_corasick::AhoCorasick;
use regex::{RegexSet, RegexSetBuilder};
use serde::Deserialize;
use toml::Spanned;

use crate::domain::{is_han, Category, Priority, Signal};

/// The shipped default rules, as embedded in the binary (`rules/triage.toml`).
pub const BUILTIN_RULES_TOML: &str = include_str!("../rules/triage.toml");

/// The outcome of triage for one customer message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Triage {
    pub category: Category,
    pub sub_category: Option<String>,
    pub priority: Priority,
    pub department: String,
    /// Complaints and safety/security issues alert the supervisors at once.
    pub notify_supervisors: bool,
    /// What the fired rules say beyond category and priority (sorted, no repeats).
    pub signals: Vec<Signal>,
    /// Set when a person must see this message at once, whatever the knowledge base says
    /// (the `[escalate]` table): which condition decided, e.g. `P1 (rule login_failure)`.
    pub escalate: Option<String>,
    /// Whether an FAQ answer may go along with the ticket as "meanwhile, this may help":
    /// not for complaints, anger, repeat contact, a broken promise, an explicit request
    /// for a person or a legal matter (`[escalate] without_meanwhile`), where a canned
    /// text reads as being brushed off.
    pub meanwhile_allowed: bool,
    /// Which rules fired and how the decision was reached, for agents and `--json` output.
    /// Quotes only rule text (keywords, pattern sources), never the customer's message.
    pub reasons: Vec<String>,
}

impl Triage {
    pub fn has(&self, signal: Signal) -> bool {
        self.signals.contains(&signal)
    }
}

/// A rules file that cannot be used. Every variant names where the problem is.
#[derive(Debug, thiserror::Error)]
pub enum TriageError {
    /// Not valid TOML, a missing or unknown field, or a value of the wrong type.
    #[error("triage rules: {0}")]
    Toml(#[from] toml::de::Error),
    #[error("triage rules, line {line}: unknown category `{value}` (expected one of: inquiry, problem, complaint, after_sales)")]
    UnknownCategory { line: usize, value: String },
    #[error("triage rules, line {line}: unknown priority `{value}` (expected one of: p1, p2, p3)")]
    UnknownPriority { line: usize, value: String },
    #[error("triage rules, line {line}: unknown signal `{value}` (expected one of: {known})")]
    UnknownSignal {
        line: usize,
        value: String,
        known: String,
    },
    #[error("triage rules, line {line}: unknown department `{value}` (the `departments` list has: {known})")]
    UnknownDepartment {
        line: usize,
        value: String,
        known: String,
    },
    /// The regex error is part of the message: it points at the offending part of the pattern.
    #[error("triage rules, line {line}: rule `{rule}`: invalid pattern: {error}")]
    BadPattern {
        line: usize,
        rule: String,
        error: regex::Error,
    },
    #[error("triage rules, line {line}: rule `{rule}`: {message}")]
    BadRule {
        line: usize,
        rule: String,
        message: String,
    },
    #[error("triage rules: {0}")]
    Invalid(String),
}

/// Triage rules (keywords and patterns per category and urgency signal, en + zh),
/// validated and compiled. Cheap to clone (the automata are shared).
#[derive(Debug, Clone)]
pub struct TriageRules {
    rules: Vec<Rule>,
    /// One automaton over every keyword of every rule.
    keywords: AhoCorasick,
    /// Per automaton pattern: the rules that listed this (normalised) keyword.
    keyword_uses: Vec<Vec<KeywordUse>>,
    patterns: RegexSet,
    /// The same patterns one by one, to find where a problem report's pattern matched.
    pattern_regexes: Vec<regex::Regex>,
    /// Per regex of `patterns`: the rule it belongs to.
    pattern_rule: Vec<usize>,
    /// Per regex of `patterns`: the pattern as written in the file, for `reasons`.
    pattern_display: Vec<String>,
    /// `cased_patterns` of every rule, run on the text before lower-casing (shouting).
    cased: RegexSet,
    cased_rule: Vec<usize>,
    cased_display: Vec<String>,
    categories: [CategoryPolicy; 4],
    escalation: Escalation,
    departments: Vec<String>,
    precedence: [Category; 4],
    strong_complaint: Option<f64>,
}

#[derive(Debug, Clone)]
struct Rule {
    name: String,
    category: Option<Category>,
    sub_category: Option<String>,
    weight: f64,
    priority: Option<Priority>,
    notify_supervisors: bool,
    department: Option<String>,
    signal: Option<Signal>,
    /// A keyword right after a negation ("not urgent", "不着急") does not fire the rule.
    negatable: bool,
}

/// When a person must see a message at once (the `[escalate]` table).
#[derive(Debug, Clone, Default)]
struct Escalation {
    priorities: Vec<Priority>,
    categories: Vec<Category>,
    signals: Vec<Signal>,
    when_supervisors_notified: bool,
    /// A reference to the customer's own order or device together with one of these
    /// categories asks for action on it ("return NB-48213").
    with_reference: Vec<Category>,
    /// Signals and categories after which no FAQ answer goes along with the ticket.
    without_meanwhile: Vec<Signal>,
    without_meanwhile_categories: Vec<Category>,
}

#[derive(Debug, Clone)]
struct KeywordUse {
    rule: usize,
    /// The keyword as written in the file, for `reasons`.
    display: String,
    needs_start_boundary: bool,
    needs_end_boundary: bool,
}

#[derive(Debug, Clone)]
struct CategoryPolicy {
    department: String,
    priority: Priority,
    notify_supervisors: bool,
}

/// Why a rule fired (the first evidence found is kept).
#[derive(Debug, Clone, Copy)]
enum Evidence {
    Keyword { pattern: usize, rule_use: usize },
    Pattern(usize),
    Cased(usize),
}

// ---------------------------------------------------------------------------------------
// The file format, as deserialised before validation.

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRules {
    departments: Vec<Spanned<String>>,
    #[serde(default)]
    resolution: RawResolution,
    category: BTreeMap<String, RawCategory>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
    #[serde(default)]
    escalate: Option<RawEscalate>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawEscalate {
    #[serde(default)]
    priorities: Vec<Spanned<String>>,
    #[serde(default)]
    categories: Vec<Spanned<String>>,
    #[serde(default)]
    signals: Vec<Spanned<String>>,
    #[serde(default)]
    when_supervisors_notified: bool,
    #[serde(default)]
    with_reference: Vec<Spanned<String>>,
    #[serde(default)]
    without_meanwhile: Vec<Spanned<String>>,
    #[serde(default)]
    without_meanwhile_categories: Vec<Spanned<String>>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct RawResolution {
    #[serde(default)]
    precedence: Option<Spanned<Vec<Spanned<String>>>>,
    #[serde(default)]
    strong_complaint: Option<Spanned<f64>>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawCategory {
    department: Spanned<String>,
    priority: Spanned<String>,
    #[serde(default)]
    notify_supervisors: bool,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    #[serde(default)]
    category: Option<Spanned<String>>,
    #[serde(default)]
    sub_category: Option<String>,
    #[serde(default)]
    weight: Option<f64>,
    #[serde(default)]
    priority: Option<Spanned<String>>,
    #[serde(default)]
    notify_supervisors: bool,
    #[serde(default)]
    department: Option<Spanned<String>>,
    #[serde(default)]
    signal: Option<Spanned<String>>,
    #[serde(default)]
    negatable: bool,
    #[serde(default)]
    keywords: Vec<Spanned<String>>,
    #[serde(default)]
    patterns: Vec<Spanned<String>>,
    #[serde(default)]
    cased_patterns: Vec<Spanned<String>>,
}

/// Default precedence for equal scores: the more specific, more consequential reading wins.
const DEFAULT_PRECEDENCE: [Category; 4] = [
    Category::Complaint,
    Category::AfterSales,
    Category::Problem,
    Category::Inquiry,
];

fn category_index(c: Category) -> usize {
    match c {
        Category::Inquiry => 0,
        Category::Problem => 1,
        Category::Complaint => 2,
        Category::AfterSales => 3,
    }
}

const CATEGORY_ORDER: [Category; 4] = [
    Category::Inquiry,
    Category::Problem,
    Category::Complaint,
    Category::AfterSales,
];

/// 1-based line of a byte offset, for error messages.
fn line_of(text: &str, offset: usize) -> usize {
    let end = offset.min(text.len());
    text.as_bytes()[..end]
        .iter()
        .filter(|b| **b == b'\n')
        .count()
        + 1
}

impl TriageRules {
    /// The shipped default rules. Parsed once per process; a unit test guarantees the
    /// embedded file is valid, so this cannot fail at run time.
    pub fn builtin() -> TriageRules {
        static BUILTIN: OnceLock<TriageRules> = OnceLock::new();
        BUILTIN
            .get_or_init(|| {
                // The embedded text is part of the binary, not outside input; the
                // `builtin_rules_parse` test keeps it valid.
                #[allow(clippy::expect_used)]
                TriageRules::from_toml_str(BUILTIN_RULES_TOML)
                    .expect("embedded rules/triage.toml is valid (checked by tests)")
            })
            .clone()
    }

    /// Parse and validate a rules file (same format as `rules/triage.toml`).
    pub fn from_toml_str(text: &str) -> Result<TriageRules, TriageError> {
        let raw: RawRules = toml::from_str(text)?;
        let line = |span: std::ops::Range<usize>| line_of(text, span.start);

        let mut departments = Vec::new();
        for d in &raw.departments {
            let name = d.get_ref().trim();
            if name.is_empty() {
                return Err(TriageError::Invalid(format!(
                    "line {}: empty department name",
                    line(d.span())
                )));
            }
            departments.push(name.to_string());
        }
        let check_department = |d: &Spanned<String>| -> Result<String, TriageError> {
            let name = d.get_ref().trim();
            if departments.iter().any(|known| known == name) {
                Ok(name.to_string())
            } else {
                Err(TriageError::UnknownDepartment {
                    line: line(d.span()),
                    value: d.get_ref().clone(),
                    known: departments.join(", "),
                })
            }
        };
        let parse_category = |s: &Spanned<String>| -> Result<Category, TriageError> {
            s.get_ref()
                .parse::<Category>()
                .map_err(|_| TriageError::UnknownCategory {
                    line: line(s.span()),
                    value: s.get_ref().clone(),
                })
        };
        let parse_priority = |s: &Spanned<String>| -> Result<Priority, TriageError> {
            s.get_ref()
                .parse::<Priority>()
                .map_err(|_| TriageError::UnknownPriority {
                    line: line(s.span()),
                    value: s.get_ref().clone(),
                })
        };
        let parse_signal = |s: &Spanned<String>| -> Result<Signal, TriageError> {
            s.get_ref()
                .parse::<Signal>()
                .map_err(|_| TriageError::UnknownSignal {
                    line: line(s.span()),
                    value: s.get_ref().clone(),
                    known: Signal::ALL
                        .iter()
                        .map(|s| s.as_str())
                        .collect::<Vec<_>>()
                        .join(", "),
                })
        };
        let escalation = match &raw.escalate {
            None => Escalation::default(),
            Some(e) => Escalation {
                priorities: e
                    .priorities
                    .iter()
                    .map(parse_priority)
                    .collect::<Result<_, _>>()?,
                categories: e
                    .categories
                    .iter()
                    .map(parse_category)
                    .collect::<Result<_, _>>()?,
                signals: e
                    .signals
                    .iter()
                    .map(parse_signal)
                    .collect::<Result<_, _>>()?,
                when_supervisors_notified: e.when_supervisors_notified,
                with_reference: e
                    .with_reference
                    .iter()
                    .map(parse_category)
                    .collect::<Result<_, _>>()?,
                without_meanwhile: e
                    .without_meanwhile
                    .iter()
                    .map(parse_signal)
                    .collect::<Result<_, _>>()?,
                without_meanwhile_categories: e
                    .without_meanwhile_categories
                    .iter()
                    .map(parse_category)
                    .collect::<Result<_, _>>()?,
            },
        };

        // Categories: every one must be configured, nothing else may be.
        let mut policies: [Option<CategoryPolicy>; 4] = [None, None, None, None];
        for (key, cat) in &raw.category {
            let category = key
                .parse::<Category>()
                .map_err(|_| TriageError::UnknownCategory {
                    line: line(cat.department.span()),
                    value: key.clone(),
                })?;
            let slot = &mut policies[category_index(category)];
            if slot.is_some() {
                return Err(TriageError::Invalid(format!(
                    "[category.{key}]: category `{category}` is configured twice"
                )));
            }
            *slot = Some(CategoryPolicy {
                department: check_department(&cat.department)?,
                priority: parse_priority(&cat.priority)?,
                notify_supervisors: cat.notify_supervisors,
            });
        }
        let mut categories = Vec::with_capacity(4);
        for (i, policy) in policies.into_iter().enumerate() {
            match policy {
                Some(p) => categories.push(p),
                None => {
                    return Err(TriageError::Invalid(format!(
                        "missing [category.{}] table (department and priority)",
                        CATEGORY_ORDER[i]
                    )))
                }
            }
        }
        let categories: [CategoryPolicy; 4] = categories
            .try_into()
            .map_err(|_| TriageError::Invalid("category table".into()))?;

        let precedence = match &raw.resolution.precedence {
            None => DEFAULT_PRECEDENCE,
            Some(list) => {
                let mut out = Vec::with_capacity(4);
                for item in list.get_ref() {
                    let c = parse_category(item)?;
                    if out.contains(&c) {
                        return Err(TriageError::Invalid(format!(
                            "line {}: resolution.precedence lists `{c}` twice",
                            line(item.span())
                        )));
                    }
                    out.push(c);
                }
                out.try_into().map_err(|_| {
                    TriageError::Invalid(format!(
                        "line {}: resolution.precedence must list all four categories once",
                        line(list.span())
                    ))
                })?
            }
        };
        let strong_complaint = match &raw.resolution.strong_complaint {
            None => None,
            Some(v) if v.get_ref().is_finite() && *v.get_ref() > 0.0 => Some(*v.get_ref()),
            Some(v) => {
                return Err(TriageError::Invalid(format!(
                    "line {}: resolution.strong_complaint must be a positive number",
                    line(v.span())
                )))
            }
        };

        // Rules, their keywords and their patterns.
        let mut rules = Vec::with_capacity(raw.rules.len());
        let mut keyword_index: HashMap<String, usize> = HashMap::new();
        let mut keyword_texts: Vec<String> = Vec::new();
        let mut keyword_uses: Vec<Vec<KeywordUse>> = Vec::new();
        let mut pattern_sources: Vec<String> = Vec::new();
        let mut pattern_rule: Vec<usize> = Vec::new();
        let mut pattern_display: Vec<String> = Vec::new();
        let mut cased_sources: Vec<String> = Vec::new();
        let mut cased_rule: Vec<usize> = Vec::new();
        let mut cased_display: Vec<String> = Vec::new();
        let mut seen_names: HashMap<String, usize> = HashMap::new();

        for raw_rule in &raw.rules {
            let name = raw_rule.name.get_ref().trim().to_string();
            let rule_line = line(raw_rule.name.span());
            let bad = |message: String| TriageError::BadRule {
                line: rule_line,
                rule: name.clone(),
                message,
            };
            if name.is_empty() {
                return Err(bad("empty rule name".into()));
            }
            if let Some(first) = seen_names.insert(name.clone(), rule_line) {
                return Err(bad(format!("duplicate rule name (first at line {first})")));
            }
            let category = raw_rule.category.as_ref().map(parse_category).transpose()?;
            let priority = raw_rule.priority.as_ref().map(parse_priority).transpose()?;
            let signal = raw_rule.signal.as_ref().map(parse_signal).transpose()?;
            let department = raw_rule
                .department
                .as_ref()
                .map(check_department)
                .transpose()?;
            let weight = raw_rule.weight.unwrap_or(1.0);
            if !(weight.is_finite() && weight > 0.0) {
                return Err(bad(format!(
                    "weight must be a positive number, not {weight}"
                )));
            }
            let sub_category = raw_rule
                .sub_category
                .as_deref()
                .map(str::trim)
                .filter(|s| !s.is_empty())
                .map(str::to_string);
            if category.is_none() && (sub_category.is_some() || department.is_some()) {
                return Err(bad(
                    "sub_category and department need a category on the same rule".into(),
                ));
            }
            if category.is_none()
                && priority.is_none()
                && signal.is_none()
                && !raw_rule.notify_supervisors
            {
                return Err(bad(
                    "rule has no effect: give it a category, a priority, a signal or notify_supervisors"
                        .into(),
                ));
            }
            if raw_rule.keywords.is_empty()
                && raw_rule.patterns.is_empty()
                && raw_rule.cased_patterns.is_empty()
            {
                return Err(bad("rule has neither keywords nor patterns".into()));
            }

            let rule_idx = rules.len();
            for kw in &raw_rule.keywords {
                let written = kw.get_ref().trim();
                let (body, prefix) = match written.strip_suffix('*') {
                    Some(body) => (body, true),
                    None => (written, false),
                };
                let normalised = stem_words(&normalize(body));
                if normalised.is_empty() {
                    return Err(TriageError::BadRule {
                        line: line(kw.span()),
                        rule: name.clone(),
                        message: format!("empty keyword `{written}`"),
                    });
                }
                let starts_word = normalised.chars().next().is_some_and(is_word_char);
                let ends_word = normalised.chars().next_back().is_some_and(is_word_char);
                let pattern = *keyword_index.entry(normalised.clone()).or_insert_with(|| {
                    keyword_texts.push(normalised.clone());
                    keyword_uses.push(Vec::new());
                    keyword_texts.len() - 1
                });
                keyword_uses[pattern].push(KeywordUse {
                    rule: rule_idx,
                    display: written.to_string(),
                    needs_start_boundary: starts_word,
                    needs_end_boundary: ends_word && !prefix,
                });
            }
            for pat in &raw_rule.patterns {
                // Compile alone first so the error names the rule and line.
                if let Err(error) = regex::RegexBuilder::new(pat.get_ref())
                    .case_insensitive(true)
                    .build()
                {
                    return Err(TriageError::BadPattern {
                        line: line(pat.span()),
                        rule: name.clone(),
                        error,
                    });
                }
                pattern_sources.push(ascii_word_boundaries(pat.get_ref()));
                pattern_display.push(pat.get_ref().clone());
                pattern_rule.push(rule_idx);
            }
            for pat in &raw_rule.cased_patterns {
                if let Err(error) = regex::Regex::new(pat.get_ref()) {
                    return Err(TriageError::BadPattern {
                        line: line(pat.span()),
                        rule: name.clone(),
                        error,
                    });
                }
                cased_sources.push(ascii_word_boundaries(pat.get_ref()));
                cased_display.push(pat.get_ref().clone());
                cased_rule.push(rule_idx);
            }
            rules.push(Rule {
                name,
                category,
                sub_category,
                weight,
                priority,
                notify_supervisors: raw_rule.notify_supervisors,
                department,
                signal,
                negatable: raw_rule.negatable,
            });
        }

        let keywords = AhoCorasick::new(&keyword_texts)
            .map_err(|e| TriageError::Invalid(format!("keyword automaton: {e}")))?;
        let pattern_regexes = pattern_sources
            .iter()
            .map(|p| {
                regex::RegexBuilder::new(p)
                    .case_insensitive(true)
                    .build()
                    .map_err(|e| TriageError::Invalid(format!("pattern: {e}")))
            })
            .collect::<Result<Vec<_>, _>>()?;
        let patterns = RegexSetBuilder::new(&pattern_sources)
            .case_insensitive(true)
            .build()
            .map_err(|e| TriageError::Invalid(format!("pattern set: {e}")))?;
        let cased = RegexSet::new(&cased_sources)
            .map_err(|e| TriageError::Invalid(format!("cased pattern set: {e}")))?;

        Ok(TriageRules {
            rules,
            keywords,
            keyword_uses,
            patterns,
            pattern_regexes,
            pattern_rule,
            pattern_display,
            cased,
            cased_rule,
            cased_display,
            categories,
            escalation,
            departments,
            precedence,
            strong_complaint,
        })
    }

    /// The configured departments (targets of `/transfer`).
    pub fn departments(&self) -> &[String] {
        &self.departments
    }

    /// The department that owns a category (used when an agent changes the category).
    pub fn department_for(&self, category: Category) -> &str {
        &self.categories[category_index(category)].department
    }

    /// Number of rules loaded (for startup logs).
    pub fn rule_count(&self) -> usize {
        self.rules.len()
    }

    /// Triage one customer message. `vip` raises the priority one level.
    pub fn classify(&self, text: &str, vip: bool) -> Triage {
        let cased = normalize_cased(text);
        let text = normalize(text);
        // Keywords are matched on stemmed words ("changed", "changing" → "chang"), patterns
        // on the normalised text as written.
        let stemmed = stem_words(&text);
        let mut fired: Vec<Option<Evidence>> = vec![None; self.rules.len()];
        // Per rule: it fired at least once outside a condition ("if it arrives damaged").
        // Only problem reports care: a hypothetical one asks about a case, it reports none.
        let mut asserted = vec![false; self.rules.len()];
        let is_report = |rule: usize| self.rules[rule].signal == Some(Signal::ProblemReport);

        for m in self.keywords.find_overlapping_iter(&stemmed) {
            let before = &stemmed[..m.start()];
            let start_ok = before.chars().next_back().is_none_or(|c| !is_word_char(c));
            let end_ok = ends_word(&stemmed[m.end()..]);
            let pattern = m.pattern().as_usize();
            for (rule_use, u) in self.keyword_uses[pattern].iter().enumerate() {
                if fired[u.rule].is_some()
                    || (u.needs_start_boundary && !start_ok)
                    || (u.needs_end_boundary && !end_ok)
                    || (self.rules[u.rule].negatable && negated(before))
                {
                    continue;
                }
                if is_report(u.rule) && !conditional(&stemmed, m.start(), m.end()) {
                    asserted[u.rule] = true;
                }
                fired[u.rule] = Some(Evidence::Keyword { pattern, rule_use });
            }
        }
        if !self.pattern_rule.is_empty() {
            for idx in self.patterns.matches(&text).iter() {
                let rule = self.pattern_rule[idx];
                if is_report(rule) && !asserted[rule] {
                    asserted[rule] = self.pattern_regexes[idx]
                        .find_iter(&text)
                        .any(|m| !conditional(&text, m.start(), m.end()));
                }
                fired[rule].get_or_insert(Evidence::Pattern(idx));
            }
        }
        if !self.cased_rule.is_empty() {
            for idx in self.cased.matches(&cased).iter() {
                fired[self.cased_rule[idx]].get_or_insert(Evidence::Cased(idx));
            }
        }

        let mut reasons = Vec::new();
        let mut scores = [0.0f64; 4];
        let mut signals: Vec<Signal> = Vec::new();
        for (i, (rule, evidence)) in self.rules.iter().zip(&fired).enumerate() {
            let Some(evidence) = evidence else { continue };
            if let Some(c) = rule.category {
                scores[category_index(c)] += rule.weight;
            }
            if rule.signal != Some(Signal::ProblemReport) || asserted[i] {
                signals.extend(rule.signal);
            }
            let what = match *evidence {
                Evidence::Keyword { pattern, rule_use } => format!(
                    "keyword \"{}\"",
                    self.keyword_uses[pattern][rule_use].display
                ),
                Evidence::Pattern(idx) => {
                    format!("pattern /{}/", shorten(&self.pattern_display[idx], 48))
                }
                Evidence::Cased(idx) => {
                    format!("pattern /{}/", shorten(&self.cased_display[idx], 48))
                }
            };
            reasons.push(format!("rule {}: {what}", rule.name));
        }
        signals.sort();
        signals.dedup();

        let (category, why) = self.choose_category(&scores);
        reasons.push(format!("category {category}: {why}"));
        let policy = &self.categories[category_index(category)];

        // Heaviest fired rule of the chosen category that names a sub-category / department;
        // `max_by` keeps the last of equals, so iterate in reverse to prefer the earlier rule.
        let lead = |pick: fn(&Rule) -> Option<&String>| -> Option<String> {
            self.rules
                .iter()
                .zip(&fired)
                .rev()
                .filter(|(r, e)| e.is_some() && r.category == Some(category) && pick(r).is_some())
                .max_by(|(a, _), (b, _)| a.weight.total_cmp(&b.weight))
                .and_then(|(r, _)| pick(r).cloned())
        };
        let sub_category = lead(|r| r.sub_category.as_ref());
        let department = lead(|r| r.department.as_ref()).unwrap_or(policy.department.clone());

        let mut priority = policy.priority;
        let mut priority_source = format!("base for {category}");
        for (i, (rule, evidence)) in self.rules.iter().zip(&fired).enumerate() {
            if is_report(i) && !asserted[i] {
                continue;
            }
            if let (Some(p), Some(_)) = (rule.priority, evidence) {
                // Ord on Priority: P1 < P2 < P3, so smaller is more urgent.
                if p < priority {
                    priority = p;
                    priority_source = format!("rule {}", rule.name);
                }
            }
        }
        reasons.push(format!("priority {}: {priority_source}", priority.label()));
        // Whether a person must see it is judged on the message, before the VIP raise: a
        // VIP's routine question is still answered at once.
        let message_priority = priority;
        if vip {
            let raised = priority.raised();
            reasons.push(format!("vip: {} -> {}", priority.label(), raised.label()));
            priority = raised;
        }

        let mut notify_supervisors = policy.notify_supervisors;
        if notify_supervisors {
            reasons.push(format!("supervisors: category {category}"));
        }
        let mut notifying_rule = None;
        for (rule, evidence) in self.rules.iter().zip(&fired) {
            if rule.notify_supervisors && evidence.is_some() {
                notify_supervisors = true;
                notifying_rule.get_or_insert(rule.name.as_str());
                reasons.push(format!("supervisors: rule {}", rule.name));
            }
        }

        let e = &self.escalation;
        let escalate = if e.priorities.contains(&message_priority) {
            Some(format!("{} ({priority_source})", message_priority.label()))
        } else if e.categories.contains(&category) {
            Some(format!("category {category}"))
        } else if let Some(signal) = signals.iter().find(|s| e.signals.contains(s)) {
            let rule = self
                .rules
                .iter()
                .zip(&fired)
                .find(|(r, f)| f.is_some() && r.signal == Some(*signal))
                .map_or(String::new(), |(r, _)| format!(" (rule {})", r.name));
            Some(format!("signal {signal}{rule}"))
        } else if e.when_supervisors_notified && notify_supervisors {
            Some(format!(
                "supervisors notified{}",
                notifying_rule.map_or(String::new(), |r| format!(" (rule {r})"))
            ))
        } else if signals.contains(&Signal::OwnReference) && e.with_reference.contains(&category) {
            Some(format!(
                "{category} about the customer's own order or device"
            ))
        } else {
            None
        };
        if let Some(why) = &escalate {
            reasons.push(format!("escalate: {why}"));
        }
        let meanwhile_allowed = !e.without_meanwhile_categories.contains(&category)
            && !signals.iter().any(|s| e.without_meanwhile.contains(s));

        Triage {
            category,
            sub_category,
            priority,
            department,
            notify_supervisors,
            signals,
            escalate,
            meanwhile_allowed,
            reasons,
        }
    }

    fn choose_category(&self, scores: &[f64; 4]) -> (Category, String) {
        let complaint = scores[category_index(Category::Complaint)];
        if let Some(threshold) = self.strong_complaint {
            if complaint >= threshold {
                return (
                    Category::Complaint,
                    format!("strong complaint signal (score {complaint} >= {threshold})"),
                );
            }
        }
        let best = scores.iter().copied().fold(0.0f64, f64::max);
        if best <= 0.0 {
            return (Category::Inquiry, "no rule fired (default)".into());
        }
        let mut winner = Category::Inquiry;
        for c in self.precedence {
            if scores[category_index(c)] == best {
                winner = c;
                break;
            }
        }
        let detail: Vec<String> = self
            .precedence
            .iter()
            .filter(|c| scores[category_index(**c)] > 0.0)
            .map(|c| format!("{c} {}", scores[category_index(*c)]))
            .collect();
        (winner, format!("highest score ({})", detail.join(", ")))
    }
}

/// Every run of letters replaced by its base form, everything else kept: applied to
/// keywords when the rules load and to each message, so `change my password` also finds
/// "changed my password" and "changing my password". Chinese text passes unchanged.
fn stem_words(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    let mut word_start: Option<usize> = None;
    for (i, c) in text.char_indices() {
        if is_word_char(c) {
            word_start.get_or_insert(i);
            continue;
        }
        if let Some(start) = word_start.take() {
            out.push_str(&inflection_base(&text[start..i]));
        }
        out.push(c);
    }
    if let Some(start) = word_start {
        out.push_str(&inflection_base(&text[start..]));
    }
    out
}

/// An English word without its inflection: plural and third-person `s`/`es`/`ies`, past
/// `ed`/`ied`, `ing`, a doubled final consonant (stopped → stop) and a final `e` (change,
/// changed, changing → chang). Only inflections: a Porter stemmer would also fold
/// "reporter" into "report" and "organ" into "organisation", which keywords must keep apart.
fn inflection_base(word: &str) -> std::borrow::Cow<'_, str> {
    use std::borrow::Cow;
    if word.len() <= 3 || !word.bytes().all(|b| b.is_ascii_lowercase()) {
        return Cow::Borrowed(word);
    }
    let n = word.len();
    let mut base: String = if (word.ends_with("ies") || word.ends_with("ied")) && n > 4 {
        format!("{}y", &word[..n - 3])
    } else if word.ends_with("sses") {
        word[..n - 2].to_string()
    } else if word.ends_with("ss") || word.ends_with("us") || word.ends_with("is") {
        word.to_string()
    } else if word.ends_with("ing") && n >= 6 {
        undouble(&word[..n - 3])
    } else if word.ends_with("ed") && n >= 5 {
        undouble(&word[..n - 2])
    } else if ["ches", "shes", "xes", "zes"]
        .iter()
        .any(|e| word.ends_with(e))
    {
        word[..n - 2].to_string()
    } else if let Some(stem) = word.strip_suffix('s') {
        stem.to_string()
    } else {
        word.to_string()
    };
    if base.len() >= 4 && base.ends_with('e') {
        base.pop();
    }
    Cow::Owned(base)
}

/// "stopp" → "stop"; l, s and z stay doubled (fill, pass, buzz).
fn undouble(stem: &str) -> String {
    let b = stem.as_bytes();
    match b {
        [.., x, y] if x == y && !b"aeiouylsz".contains(x) => stem[..stem.len() - 1].to_string(),
        _ => stem.to_string(),
    }
}

/// Words that make what follows in the same sentence a condition rather than a fact:
/// "what do you do if the parcel never arrives", "does the warranty cover it if I crack
/// it", "why would there be two charges", 如果收到的是坏的.
const CONDITIONS: &[&str] = &[
    "if",
    "whether",
    "suppos",
    "hypothetically",
    "normally",
    "usually",
    "generally",
    "typically",
    "would",
    "happen",
    "case",
];
const CONDITIONS_ZH: &[&str] = &[
    "如果", "万一", "萬一", "要是", "假如", "假设", "假設", "一般", "通常",
];
/// Chinese puts the condition after the case: 发错货的话怎么办.
const CONDITIONS_ZH_AFTER: &[&str] = &["的话", "的話"];

/// True when the match at `start..end` sits in a condition (see [`CONDITIONS`]).
fn conditional(text: &str, start: usize, end: usize) -> bool {
    let is_break = |c: char| matches!(c, '.' | '!' | '?' | '。' | '！' | '？' | ';' | '；' | '\n');
    let sentence_start = text[..start]
        .char_indices()
        .rev()
        .find(|(_, c)| is_break(*c))
        .map_or(0, |(i, c)| i + c.len_utf8());
    let before = &text[sentence_start..start];
    if CONDITIONS_ZH.iter().any(|c| before.contains(c)) {
        return true;
    }
    if before
        .split(|c: char| !is_word_char(c))
        .any(|w| CONDITIONS.contains(&w))
    {
        return true;
    }
    let after: String = text[end..]
        .chars()
        .take_while(|c| !is_break(*c))
        .take(10)
        .collect();
    CONDITIONS_ZH_AFTER.iter().any(|c| after.contains(c))
}

/// Negation cues (stemmed) that cancel a negatable keyword up to three words later:
/// "not urgent", "no rush at all", "nothing dangerous".
const NEGATIONS: &[&str] = &[
    "not", "no", "never", "isnt", "arent", "wasnt", "werent", "dont", "doesnt", "didnt", "without",
    "noth", "neither", "nor", "hardly",
];
/// Chinese negation characters that cancel a negatable keyword up to two characters
/// later: 不着急, 不是很急, 没有冒烟.
const NEGATIONS_ZH: &[char] = &['不', '没', '沒', '别', '別', '无', '無', '非', '未'];

/// True when the text right before a keyword negates it.
fn negated(before: &str) -> bool {
    let zh: Vec<char> = before
        .chars()
        .rev()
        .filter(|c| !c.is_whitespace())
        .take(2)
        .collect();
    if zh.iter().any(|c| NEGATIONS_ZH.contains(c)) && zh.iter().all(|c| is_cjk(*c)) {
        return true;
    }
    before
        .rsplit(|c: char| !is_word_char(c))
        .filter(|w| !w.is_empty())
        .take(3)
        .any(|w| NEGATIONS.contains(&w))
}

/// Rewrite `\b` as an ASCII word boundary. CJK text has no spaces, so a Unicode `\b`
/// between "登录" and "fail" would be no boundary at all; ASCII `\b` treats CJK characters as
/// non-word, like the keyword matcher does. It also keeps the regex engine on its fast DFA
/// path: a Unicode `\b` forces the slow fallback engine as soon as the text is not ASCII.
fn ascii_word_boundaries(pattern: &str) -> String {
    let mut out = String::with_capacity(pattern.len() + 16);
    let mut chars = pattern.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('b') => out.push_str("(?-u:\\b)"),
            Some(next) => {
                out.push('\\');
                out.push(next);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// A long pattern cut to `max` characters for `reasons`, which agents read on a ticket card.
fn shorten(text: &str, max: usize) -> String {
    match text.char_indices().nth(max) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_string(),
    }
}

/// True when a keyword match followed by `rest` ends on a word boundary. A plain English
/// plural `s` is allowed first, so `invoice` also matches `invoices`.
fn ends_word(rest: &str) -> bool {
    let mut chars = rest.chars();
    match chars.next() {
        None => true,
        Some('s') => chars.next().is_none_or(|c| !is_word_char(c)),
        Some(c) => !is_word_char(c),
    }
}

/// A letter or digit of a script that separates words with spaces. CJK text has no word
/// boundaries, so its characters never count as word characters.
fn is_word_char(c: char) -> bool {
    (c.is_alphanumeric() || c == '_') && !is_cjk(c)
}

fn is_cjk(c: char) -> bool {
    is_han(c) || matches!(c as u32, 0x3040..=0x30FF | 0xAC00..=0xD7AF)
}

/// NFKC with white space collapsed but case kept, for `cased_patterns` (shouting).
fn normalize_cased(text: &str) -> String {
    use unicode_normalization::UnicodeNormalization;
    let nfkc: String = text.nfkc().collect();
    nfkc.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Normalise text for matching (see the module docs). Applied to keywords when the rules
/// are loaded and to each message, so both sides compare in the same form.
/// The matcher's normalisation (NFKC, case folding, controls, whitespace), then two
/// triage-specific folds: apostrophes vanish (`can't` = `cant`) and spaces between Chinese
/// characters go (`无法 登录` = `无法登录`), so one keyword covers all spellings.
fn normalize(text: &str) -> String {
    let base = crate::faq::normalize::normalize(text);
    let mut out = String::with_capacity(base.len());
    let mut pending_space = false;
    for c in base.chars() {
        if matches!(c, '\'' | '\u{2018}' | '\u{2019}' | '\u{02BC}' | '`') {
            continue;
        }
        if c == ' ' {
            pending_space = !out.is_empty();
            continue;
        }
        if pending_space {
            let joins_cjk = out.chars().next_back().is_some_and(is_cjk) && is_cjk(c);
            if !joins_cjk {
                out.push(' ');
            }
            pending_space = false;
        }
        out.push(c);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inflections_share_a_base_and_derivations_do_not() {
        for (a, b) in [
            ("changed", "change"),
            ("changing", "changes"),
            ("hacked", "hacking"),
            ("stopped", "stop"),
            ("arrives", "arrived"),
            ("tried", "tries"),
            ("crashes", "crash"),
        ] {
            assert_eq!(inflection_base(a), inflection_base(b), "{a} / {b}");
        }
        assert_ne!(inflection_base("reporter"), inflection_base("report"));
        assert_eq!(inflection_base("this"), "this");
        assert_eq!(inflection_base("access"), "access");
    }

    #[test]
    fn sentences_after_full_width_stops_are_read() {
        // The break before the match is a 3-byte '。': finding the sentence start must
        // not cut it in half (this panicked).
        assert!(!conditional("我要起诉你们。保固内拒绝维修", 21, 27));
        assert!(conditional("好的。如果发错货怎么办", 15, 24));
        let rules = TriageRules::builtin();
        let t = rules.classify(
            "我要起诉你们。保固内的摄影机拒绝维修,还说是人为损坏,我根本没摔过!",
            false,
        );
        assert_eq!(t.priority, Priority::P1, "{t:?}");
    }

    #[test]
    fn negated_keywords_do_not_fire_negatable_rules() {
        let rules = TriageRules::builtin();
        assert!(rules.classify("this is urgent", false).has(Signal::Urgency));
        assert!(!rules
            .classify("not urgent at all", false)
            .has(Signal::Urgency));
        assert!(rules.classify("很着急", false).has(Signal::Urgency));
        assert!(!rules
            .classify("不着急，有空再看", false)
            .has(Signal::Urgency));
    }

    #[test]
    fn word_boundaries_become_ascii_only() {
        assert_eq!(ascii_word_boundaries(r"\bfoo\b"), r"(?-u:\b)foo(?-u:\b)");
        assert_eq!(ascii_word_boundaries(r"a\\b\d"), r"a\\b\d");
        assert_eq!(ascii_word_boundaries(r"x\B"), r"x\B");
    }

    #[test]
    fn builtin_rules_parse() {
        let rules = TriageRules::from_toml_str(BUILTIN_RULES_TOML);
        assert!(rules.is_ok(), "{:?}", rules.err());
        assert!(TriageRules::builtin().rule_count() > 20);
    }

    #[test]
    fn normalize_folds_width_case_apostrophes_and_cjk_spaces() {
        assert_eq!(normalize("  ＣＡＮ’Ｔ   Log\tIN！ "), "cant log in!");
        assert_eq!(normalize("无法 登录 my App"), "无法登录 my app");
        assert_eq!(normalize("退款？"), "退款?");
    }

    #[test]
    fn english_keywords_respect_word_boundaries() {
        let rules = TriageRules::builtin();
        let t = rules.classify("firefox shows a blank page when I open the settings", false);
        assert!(
            !t.reasons.iter().any(|r| r.starts_with("rule safety")),
            "{t:?}"
        );
        let t = rules.classify("the charger caught fire", false);
        assert_eq!(t.priority, Priority::P1, "{t:?}");
    }

    #[test]
    fn prefix_keyword_matches_word_forms() {
        let rules = TriageRules::builtin();
        let t = rules.classify("app crashes on startup", false);
        assert_eq!(t.category, Category::Problem, "{t:?}");
    }

    #[test]
    fn chinese_keywords_match_inside_text() {
        let rules = TriageRules::builtin();
        let t = rules.classify("我的账号昨天晚上被盗了", false);
        assert_eq!(t.priority, Priority::P1, "{t:?}");
        assert!(t.notify_supervisors);
    }

    #[test]
    fn empty_text_is_a_default_inquiry() {
        let t = TriageRules::builtin().classify("", false);
        assert_eq!(t.category, Category::Inquiry);
        assert_eq!(t.priority, Priority::P3);
        assert_eq!(t.department, "support");
        assert!(!t.notify_supervisors);
    }
}
