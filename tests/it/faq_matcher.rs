//! The FAQ matcher on small knowledge bases built in code.

use std::sync::Arc;

use frontdesk::domain::Language;
use frontdesk::faq::calibrate::Thresholds;
use frontdesk::faq::normalize::normalize;
use frontdesk::faq::{
    Answer, Decision, Entry, KnowledgeBase, Matcher, MatcherOptions, Phrasing, SmallTalk,
    SynonymGroup,
};
use proptest::prelude::*;

fn entry(id: &str, questions: &[&str], keywords: &[&str], patterns: &[&str]) -> Entry {
    Entry {
        id: id.to_string(),
        topic: "test".to_string(),
        questions: questions
            .iter()
            .map(|q| Phrasing {
                language: Language::detect(q).unwrap_or(Language::En),
                text: q.to_string(),
            })
            .collect(),
        keywords: keywords.iter().map(|k| k.to_string()).collect(),
        patterns: patterns.iter().map(|p| p.to_string()).collect(),
        answer: Answer {
            en: format!("answer {id}"),
            zh: format!("答案 {id}"),
        },
        opens_ticket: false,
    }
}

/// A small shop knowledge base: few phrasings per entry, English only except one.
fn shop_kb() -> KnowledgeBase {
    let e = |id: &str, q: &[&str]| entry(id, q, &[], &[]);
    let mut delivery = e(
        "delivery",
        &[
            "When will my order arrive?",
            "How long does shipping take?",
            "my order is late",
            "delivery time to my country",
        ],
    );
    delivery.keywords.push("tracking number".into());
    let mut cancel = e(
        "cancel",
        &[
            "How do I cancel my subscription?",
            "Stop my monthly plan",
            "end my subscription",
            "I no longer want the monthly plan",
        ],
    );
    cancel.patterns.push(r"\bunsubscribe\b".into());
    KnowledgeBase {
        topics: Vec::new(),
        entries: vec![
            e(
                "refund",
                &[
                    "How do I get a refund?",
                    "I want a refund for my order",
                    "can I return this for a refund",
                    "refund status",
                ],
            ),
            e(
                "password",
                &[
                    "How do I reset my password?",
                    "I forgot my password",
                    "怎么重置密码",
                    "password reset link not working",
                ],
            ),
            delivery,
            e(
                "hours",
                &[
                    "What are your opening hours?",
                    "When is the store open?",
                    "are you open on sunday",
                    "what time do you close",
                ],
            ),
            e(
                "address",
                &[
                    "How do I change my delivery address?",
                    "Update my shipping address",
                    "I moved, new address",
                    "wrong address on my order",
                ],
            ),
            cancel,
            e(
                "invoice",
                &[
                    "Can I get an invoice?",
                    "I need a receipt for my purchase",
                    "invoice with my company name",
                    "where do I download invoices",
                ],
            ),
        ],
        synonyms: vec![SynonymGroup {
            terms: vec!["subscription".into(), "membership".into(), "会员".into()],
        }],
    }
}

fn matcher() -> Matcher {
    Matcher::new(Arc::new(shop_kb()))
}

fn best_id(m: &Matcher, text: &str) -> Option<String> {
    m.match_text(text).best.map(|b| b.entry_id)
}

#[test]
fn synonyms_reach_entries_written_with_other_words() {
    let with = matcher();
    let without = Matcher::with_options(
        Arc::new(shop_kb()),
        MatcherOptions {
            use_lexicon: false,
            ..MatcherOptions::default()
        },
    );
    for query in [
        "can I have my money back",
        "我要退钱",
        "please reimburse me",
    ] {
        assert_eq!(best_id(&with, query).as_deref(), Some("refund"), "{query}");
        let conf_with = with.match_text(query).best.map_or(0.0, |b| b.confidence);
        let conf_without = without
            .match_text(query)
            .best
            .filter(|b| b.entry_id == "refund")
            .map_or(0.0, |b| b.confidence);
        assert!(
            conf_with > conf_without,
            "{query}: {conf_with} vs {conf_without}"
        );
    }
    // The knowledge base's own synonyms count too.
    assert_eq!(
        best_id(&with, "end my membership").as_deref(),
        Some("cancel")
    );
    assert_eq!(best_id(&with, "取消会员").as_deref(), Some("cancel"));
}

#[test]
fn language_follows_the_message() {
    let m = matcher();
    let en = m.match_text("how can I reset my password");
    assert_eq!(en.language, Language::En);
    assert_eq!(en.best.map(|b| b.entry_id).as_deref(), Some("password"));
    let zh = m.match_text("密码怎么重置？");
    assert_eq!(zh.language, Language::Zh);
    assert_eq!(zh.best.map(|b| b.entry_id).as_deref(), Some("password"));
    // No letters at all: English by default.
    assert_eq!(m.match_text("12345").language, Language::En);
}

#[test]
fn clear_questions_are_answered() {
    let m = matcher();
    for (q, id) in [
        ("How do I reset my password?", "password"),
        ("what are your opening hours", "hours"),
        ("i want a refund for my order", "refund"),
    ] {
        let o = m.match_text(q);
        assert_eq!(o.decision, Decision::Answer, "{q}: {o:?}");
        assert_eq!(o.best.map(|b| b.entry_id).as_deref(), Some(id));
        assert!(o.small_talk.is_none());
    }
}

#[test]
fn small_talk_in_both_languages() {
    let m = matcher();
    for (text, kind) in [
        ("hi", SmallTalk::Greeting),
        ("hi there!", SmallTalk::Greeting),
        ("Hello?", SmallTalk::Greeting),
        ("good morning everyone", SmallTalk::Greeting),
        ("你好呀", SmallTalk::Greeting),
        ("在吗？", SmallTalk::Greeting),
        ("thanks a lot", SmallTalk::Thanks),
        ("Thank you so much!", SmallTalk::Thanks),
        ("谢谢你", SmallTalk::Thanks),
        ("bye", SmallTalk::Goodbye),
        ("再见！", SmallTalk::Goodbye),
    ] {
        let o = m.match_text(text);
        assert_eq!(o.small_talk, Some(kind), "{text}: {o:?}");
        assert_eq!(
            o.decision,
            Decision::Answer,
            "small talk is never escalated"
        );
        assert!(o.best.is_none());
    }
    assert_eq!(m.match_text("你好呀").language, Language::Zh);
    for text in [
        "hi, how do I reset my password",
        "thanks but my refund never came",
    ] {
        assert_eq!(m.match_text(text).small_talk, None, "{text}");
    }
}

#[test]
fn suggest_and_escalate_follow_the_thresholds() {
    let mut m = matcher();
    // Nothing to go on: escalate.
    let o = m.match_text("qwzx vvkj plorf");
    assert_eq!(o.decision, Decision::Escalate);
    assert!(o.suggestions.is_empty());
    // A knowledge base without out-of-scope examples cannot learn to refuse
    // questions that share words with an entry ("what is the weather on mars" vs
    // "what time do you close"); that needs `oos` rows or a validation file, see
    // faq_eval. Only the mechanics are asserted here.

    m.set_thresholds(Thresholds {
        // Above any probability: nothing is answered outright.
        answer: 1.5,
        suggest: 0.0001,
    });
    let o = m.match_text("change my address");
    assert_eq!(o.decision, Decision::Suggest);
    assert!((1..=3).contains(&o.suggestions.len()));
    assert_eq!(o.suggestions.first(), o.best.as_ref());
    assert!(o
        .suggestions
        .windows(2)
        .all(|w| w[0].confidence >= w[1].confidence || w[0] == o.suggestions[0]));

    m.set_thresholds(Thresholds {
        answer: 1.5,
        suggest: 1.4,
    });
    let o = m.match_text("change my address");
    assert_eq!(o.decision, Decision::Escalate);
    assert_eq!(
        o.best.map(|b| b.entry_id).as_deref(),
        Some("address"),
        "kept for statistics"
    );
}

#[test]
fn keywords_and_patterns_point_at_entries() {
    let m = matcher();
    assert_eq!(
        best_id(&m, "my tracking number?").as_deref(),
        Some("delivery")
    );
    assert_eq!(best_id(&m, "UNSUBSCRIBE").as_deref(), Some("cancel"));
}

#[test]
fn hostile_input_does_not_panic() {
    let m = matcher();
    for text in ["", "   \t\n ", "😀😀🎉", "\u{0}\u{1}\u{7f}", "？！。"] {
        let o = m.match_text(text);
        assert_eq!(o.decision, Decision::Escalate, "{text:?}");
        assert!(o.best.is_none());
    }
    let big = "refund ".repeat(15_000) + &"退款🎉\u{0}".repeat(5_000);
    assert!(big.len() > 100_000);
    let o = m.match_text(&big);
    assert_eq!(o.best.map(|b| b.entry_id).as_deref(), Some("refund"));
    let o = m.match_text("re\u{0}set my pass\u{7}word\u{1b}");
    assert!(o.best.is_some());
}

#[test]
fn full_width_text_matches() {
    assert_eq!(normalize("ＲＥＦＵＮＤ"), "refund");
    assert_eq!(normalize("Ｈｏｗ　ｄｏ　Ｉ"), "how do i");
    let m = matcher();
    assert_eq!(best_id(&m, "ＲＥＦＵＮＤ").as_deref(), Some("refund"));
}

#[test]
fn empty_knowledge_base_escalates() {
    let m = Matcher::new(Arc::new(KnowledgeBase::default()));
    let o = m.match_text("how do I get a refund");
    assert_eq!(o.decision, Decision::Escalate);
    assert!(o.best.is_none());
    assert_eq!(m.match_text("hello!").small_talk, Some(SmallTalk::Greeting));
}

#[test]
fn confidences_are_probabilities() {
    let m = matcher();
    for q in [
        "refund please",
        "opening hours",
        "random words here",
        "我要退钱",
    ] {
        for c in m.rank(q) {
            assert!((0.0..=1.0).contains(&c.confidence), "{q}: {c:?}");
        }
    }
    let t = m.thresholds();
    assert!(t.suggest < t.answer && t.answer < 1.0);
}

proptest! {
    #[test]
    fn normalize_is_idempotent(s in "\\PC{0,40}|[a-zA-Z０-９Ａ-Ｚ \t\u{0}-\u{1f}\u{300}-\u{36f}İΣς㎒ǅ]{0,30}") {
        let once = normalize(&s);
        prop_assert_eq!(normalize(&once), once.clone());
        prop_assert!(!once.starts_with(' ') && !once.ends_with(' ') && !once.contains("  "));
        prop_assert!(!once.chars().any(char::is_control));
    }

    #[test]
    fn matching_never_panics(s in "\\PC{0,60}") {
        let m = small_matcher();
        let o = m.match_text(&s);
        prop_assert!(o.suggestions.len() <= 3);
    }
}

fn small_matcher() -> &'static Matcher {
    static M: std::sync::OnceLock<Matcher> = std::sync::OnceLock::new();
    M.get_or_init(matcher)
}
