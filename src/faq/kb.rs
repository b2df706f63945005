//! Knowledge base: the loaded FAQ content, and loading `faq/*.toml` with every problem
//! reported as `file:line: message`.
//!
//! This module owns the file format and its validation ([`check_dir`], [`load_dir`]) and
//! change detection for hot reload ([`KbWatcher`]). It must not match, rank or normalise
//! customer text (that is [`super::matcher`] and [`super::normalize`]), and it never logs:
//! problems are returned as values and the caller decides how to show them.
//!
//! # Hot reload contract
//! A reload yields either a complete, valid [`KnowledgeBase`] or problems, never a partly
//! loaded one. On problems the caller keeps serving the previous knowledge base and logs
//! why (SPEC §5: "a bad edit at run time keeps the previous knowledge base live").

mod load;
mod watch;

pub use load::{
    check_dir, check_file, is_kb_file_name, load_dir, parse_str, CheckReport, SYNONYMS_FILE,
};
pub use watch::{fingerprint, Fingerprint, KbWatcher};

use serde::{Deserialize, Serialize};

use crate::domain::Language;

/// A topic (one file), shown as a menu button.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Topic {
    pub id: String,
    pub title_en: String,
    pub title_zh: String,
}

/// One example question.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Phrasing {
    pub language: Language,
    pub text: String,
}

/// The answer in both languages.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Answer {
    pub en: String,
    pub zh: String,
}

impl Answer {
    /// The answer in `language`, falling back to the other language when it is missing.
    pub fn get(&self, language: Language) -> &str {
        let (first, second) = match language {
            Language::En => (&self.en, &self.zh),
            Language::Zh => (&self.zh, &self.en),
        };
        if first.trim().is_empty() {
            second
        } else {
            first
        }
    }
}

/// One FAQ entry.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Entry {
    pub id: String,
    /// Topic id (the file it came from).
    pub topic: String,
    pub questions: Vec<Phrasing>,
    /// Phrases that point strongly at this entry (matched in one aho-corasick pass).
    pub keywords: Vec<String>,
    /// Regular expressions that point at this entry.
    pub patterns: Vec<String>,
    pub answer: Answer,
    /// Matching this entry opens a ticket (complaint, talk to a person): its answer is a
    /// hand-over, so the customer gets the ticket acknowledgement instead.
    #[serde(default)]
    pub opens_ticket: bool,
}

/// Words that mean the same thing to customers (`refund`, `money back`, `退款`, `退钱`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SynonymGroup {
    pub terms: Vec<String>,
}

/// A loaded, validated knowledge base.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KnowledgeBase {
    pub topics: Vec<Topic>,
    pub entries: Vec<Entry>,
    /// Synonyms added by this knowledge base on top of the shipped lexicon.
    pub synonyms: Vec<SynonymGroup>,
}

/// How bad a [`Problem`] is: errors make the knowledge base unusable, warnings are advice.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Severity {
    Error,
    Warning,
}

/// One problem found while loading.
///
/// Displayed as `file:line: message` for errors and `file:line: warning: message` for
/// warnings (the compiler convention, so editors can jump to it). `file` is the directory
/// joined with the file name, as given; `line` is 1-based, or 0 when the problem concerns
/// the whole directory or file (missing directory, unreadable file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
    pub severity: Severity,
}

impl Problem {
    pub fn error(file: impl Into<String>, line: usize, message: impl Into<String>) -> Problem {
        Problem {
            file: file.into(),
            line,
            message: message.into(),
            severity: Severity::Error,
        }
    }

    pub fn warning(file: impl Into<String>, line: usize, message: impl Into<String>) -> Problem {
        Problem {
            severity: Severity::Warning,
            ..Problem::error(file, line, message)
        }
    }

    pub fn is_error(&self) -> bool {
        self.severity == Severity::Error
    }
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self.severity {
            Severity::Error => write!(f, "{}:{}: {}", self.file, self.line, self.message),
            Severity::Warning => {
                write!(f, "{}:{}: warning: {}", self.file, self.line, self.message)
            }
        }
    }
}

/// The knowledge base as `frontdesk faq list --json` prints it:
/// `[{"id", "category", "questions": [..], "answer"}]`, where `category` is the topic id,
/// `questions` are all phrasings (English first, then Chinese, as in the file) and
/// `answer` is the English answer (the Chinese one if English is missing).
pub fn faq_list_json(kb: &KnowledgeBase) -> serde_json::Value {
    kb.entries
        .iter()
        .map(|entry| {
            serde_json::json!({
                "id": entry.id,
                "category": entry.topic,
                "questions": entry.questions.iter().map(|q| q.text.as_str()).collect::<Vec<_>>(),
                "answer": entry.answer.get(Language::En),
            })
        })
        .collect()
}
