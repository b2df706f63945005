//! Knowledge base: loading `faq/*.toml` and reporting every problem as `file:line: message`.

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

/// One problem found while loading, reported as `file:line: message`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Problem {
    pub file: String,
    pub line: usize,
    pub message: String,
}

impl std::fmt::Display for Problem {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}: {}", self.file, self.line, self.message)
    }
}
