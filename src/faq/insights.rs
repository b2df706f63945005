//! FAQ insights: the customer questions the knowledge base did not answer, grouped by
//! similarity so the most frequent gaps come first, each with a TOML snippet to start a
//! new entry from (SPEC §5: the knowledge base improves from real traffic).
//!
//! Pure: the questions are passed in; no I/O.

use std::collections::BTreeSet;

use crate::domain::Language;

use super::normalize::{normalize, tokens, Stemmer, Token};

/// Two questions sharing at least this share of their words (Jaccard) are one group.
const SIMILAR: f64 = 0.5;
/// Example phrasings kept per group.
const EXAMPLES: usize = 5;

/// Unanswered questions that say much the same thing.
#[derive(Debug, Clone, PartialEq)]
pub struct QuestionGroup {
    /// How many questions fell into the group.
    pub count: usize,
    /// Distinct phrasings, most recent first, at most five.
    pub examples: Vec<String>,
    pub language: Language,
}

impl QuestionGroup {
    /// A new knowledge-base entry to paste and complete (id, topic and answer left to
    /// the editor). Strings are TOML-escaped by the `toml` crate.
    pub fn toml_snippet(&self) -> String {
        let quote = |s: &str| toml::Value::String(s.to_string()).to_string();
        let lang = self.language.as_str();
        let questions: Vec<String> = self.examples.iter().map(|q| quote(q)).collect();
        format!(
            "[[entries]]\nid = \"new.entry\"\ntopic = \"TODO\"\nquestions.{lang} = [{}]\nanswer.{lang} = \"\"\n",
            questions.join(", ")
        )
    }
}

/// The words that carry a question's meaning: normalised, stemmed, Han characters one by one.
fn words(text: &str, stemmer: &Stemmer) -> BTreeSet<String> {
    let normal = normalize(text);
    tokens(&normal)
        .into_iter()
        .filter_map(|t| match t {
            Token::Word(w) if w.chars().count() > 2 => Some(stemmer.stem(w).into_owned()),
            Token::Han(h) => Some(h.to_string()),
            _ => None,
        })
        .collect()
}

fn jaccard(a: &BTreeSet<String>, b: &BTreeSet<String>) -> f64 {
    let union = a.union(b).count();
    if union == 0 {
        return 0.0;
    }
    a.intersection(b).count() as f64 / union as f64
}

/// Groups `questions` (newest first) greedily: each joins the first group whose first
/// question is similar enough. Largest groups first; ties keep the most recent first.
pub fn group_questions(questions: &[(String, Language)]) -> Vec<QuestionGroup> {
    let stemmer = Stemmer::default();
    let mut groups: Vec<(BTreeSet<String>, QuestionGroup)> = Vec::new();
    for (text, language) in questions {
        let text = text.trim();
        if text.is_empty() {
            continue;
        }
        let w = words(text, &stemmer);
        match groups
            .iter_mut()
            .find(|(seed, g)| g.language == *language && jaccard(seed, &w) >= SIMILAR)
        {
            Some((_, group)) => {
                group.count += 1;
                if group.examples.len() < EXAMPLES && !group.examples.iter().any(|e| e == text) {
                    group.examples.push(text.to_string());
                }
            }
            None => groups.push((
                w,
                QuestionGroup {
                    count: 1,
                    examples: vec![text.to_string()],
                    language: *language,
                },
            )),
        }
    }
    let mut out: Vec<QuestionGroup> = groups.into_iter().map(|(_, g)| g).collect();
    // Stable: equal counts keep their order (the most recent first).
    out.sort_by_key(|g| std::cmp::Reverse(g.count));
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn similar_questions_group_and_the_biggest_gap_comes_first() {
        let q = |t: &str| (t.to_string(), Language::En);
        let groups = group_questions(&[
            q("Do you ship to Iceland?"),
            q("can I pay with bitcoin"),
            q("do you ship to iceland"),
            q("Do you deliver to Iceland?"),
            q("Shipping to Iceland possible?"),
        ]);
        assert_eq!(groups[0].count, 4, "{groups:?}");
        assert!(groups[0].examples[0].contains("Iceland"));
        assert!(groups.iter().any(|g| g.examples[0].contains("bitcoin")));
        let snippet = groups[0].toml_snippet();
        let parsed: toml::Value = toml::from_str(&snippet).unwrap();
        assert_eq!(
            parsed["entries"][0]["questions"]["en"][0].as_str(),
            Some("Do you ship to Iceland?")
        );
    }

    #[test]
    fn snippet_escapes_quotes() {
        let groups = group_questions(&[("say \"hi\" \\ now".into(), Language::En)]);
        let parsed: toml::Value = toml::from_str(&groups[0].toml_snippet()).unwrap();
        assert_eq!(
            parsed["entries"][0]["questions"]["en"][0].as_str(),
            Some("say \"hi\" \\ now")
        );
    }
}
