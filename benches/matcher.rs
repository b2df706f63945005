//! Matcher throughput and build time: the shipped knowledge base (`faq/`), a synthetic
//! ~50-entry one and a synthetic 10,000-entry one (deterministic).

use std::sync::Arc;

use criterion::{black_box, criterion_group, criterion_main, Criterion, Throughput};
use frontdesk::domain::Language;
use frontdesk::faq::{Answer, Entry, KnowledgeBase, Matcher, Phrasing};

const SUBJECTS: &[&str] = &[
    "refund",
    "password",
    "delivery",
    "invoice",
    "subscription",
    "account",
    "order",
    "payment",
    "card",
    "address",
    "email",
    "phone number",
    "coupon",
    "warranty",
    "return",
    "exchange",
    "shipping fee",
    "tracking number",
    "gift card",
    "membership",
    "points",
    "receipt",
    "discount",
    "price",
    "stock",
    "size chart",
    "login",
    "two-factor code",
    "profile photo",
    "newsletter",
    "cancellation",
    "upgrade",
    "downgrade",
    "trial",
    "bank transfer",
    "paypal",
    "installments",
    "tax",
    "customs",
    "pickup point",
    "locker",
    "damaged item",
    "missing item",
    "wrong item",
    "late parcel",
    "store hours",
    "contact details",
    "privacy settings",
    "data export",
    "account deletion",
];
const TEMPLATES: &[&str] = &[
    "how do i change my {}",
    "where can i find the {}",
    "i have a problem with my {}",
    "what is the policy for {}",
    "can you help me with the {}",
    "{} not working",
    "question about {}",
    "why was my {} rejected",
];
const ZH: &[&str] = &["我的{}有问题", "怎么处理{}", "{}在哪里"];

fn small_kb() -> KnowledgeBase {
    let entries = SUBJECTS
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let mut questions: Vec<Phrasing> = TEMPLATES
                .iter()
                .map(|t| Phrasing {
                    language: Language::En,
                    text: t.replace("{}", s),
                })
                .collect();
            questions.push(Phrasing {
                language: Language::Zh,
                text: ZH[i % ZH.len()].replace("{}", &format!("{s}服务")),
            });
            Entry {
                id: format!("e{i}"),
                topic: "bench".into(),
                questions,
                keywords: vec![s.to_string()],
                patterns: Vec::new(),
                answer: Answer {
                    en: format!("About {s}."),
                    zh: format!("关于{s}。"),
                },
                opens_ticket: false,
            }
        })
        .collect();
    KnowledgeBase {
        entries,
        ..KnowledgeBase::default()
    }
}

fn small_messages() -> Vec<String> {
    let mut out = Vec::new();
    for (i, s) in SUBJECTS.iter().enumerate() {
        out.push(format!("hi, I need help: my {s} is not working?"));
        out.push(format!("Where is the {s} option"));
        out.push(ZH[i % ZH.len()].replace("{}", s));
    }
    out.push("what is the weather on mars".into());
    out
}

/// Pseudo-words from syllables, deterministic.
fn vocabulary(n: usize, rng: &mut fastrand::Rng) -> Vec<String> {
    const SYL: &[&str] = &[
        "ka", "lo", "mi", "ne", "su", "ta", "ri", "po", "an", "el", "or", "ut", "ba", "de", "fi",
        "go", "hu", "ja", "ke", "ly", "mo", "nu", "pa", "qui", "ro", "se", "ti", "vo",
    ];
    (0..n)
        .map(|_| {
            let k = 2 + rng.usize(0..3);
            (0..k).map(|_| SYL[rng.usize(0..SYL.len())]).collect()
        })
        .collect()
}

/// The knowledge base and (message, entry it was written for) pairs.
fn large_kb(entries: usize) -> (KnowledgeBase, Vec<(String, String)>) {
    let mut rng = fastrand::Rng::with_seed(42);
    let vocab = vocabulary(3000, &mut rng);
    let common = [
        "how", "do", "i", "my", "the", "what", "is", "can", "you", "help",
    ];
    let mut kb = KnowledgeBase::default();
    let mut messages = Vec::new();
    for i in 0..entries {
        let topic: Vec<&str> = (0..3)
            .map(|_| vocab[rng.usize(0..vocab.len())].as_str())
            .collect();
        let mut questions = Vec::new();
        for _ in 0..3 {
            let mut words: Vec<&str> = Vec::new();
            for _ in 0..3 {
                words.push(common[rng.usize(0..common.len())]);
            }
            words.extend(topic.iter().filter(|_| rng.bool()));
            words.push(topic[rng.usize(0..3)]);
            words.push(vocab[rng.usize(0..vocab.len())].as_str());
            rng.shuffle(&mut words);
            questions.push(Phrasing {
                language: Language::En,
                text: words.join(" "),
            });
        }
        if i % 10 == 0 {
            messages.push((
                format!("{} {} please help", topic[0], topic[1]),
                format!("e{i}"),
            ));
        }
        kb.entries.push(Entry {
            id: format!("e{i}"),
            topic: "bench".into(),
            questions,
            keywords: Vec::new(),
            patterns: Vec::new(),
            answer: Answer::default(),
            opens_ticket: false,
        });
    }
    messages.truncate(1000);
    (kb, messages)
}

fn bench(c: &mut Criterion) {
    let kb = Arc::new(small_kb());
    let messages = small_messages();
    let matcher = Matcher::new(kb.clone());

    let mut g = c.benchmark_group("match_50_entries");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.bench_function("messages", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(matcher.match_text(black_box(m)));
            }
        })
    });
    g.finish();

    // The knowledge base frontdesk ships (faq/), with the same customer messages.
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    let shipped = frontdesk::faq::kb::load_dir(&dir)
        .unwrap_or_else(|problems| panic!("shipped faq/ must load: {problems:?}"));
    let shipped = Matcher::new(Arc::new(shipped));
    let mut g = c.benchmark_group("match_shipped_kb");
    g.throughput(Throughput::Elements(messages.len() as u64));
    g.bench_function("messages", |b| {
        b.iter(|| {
            for m in &messages {
                black_box(shipped.match_text(black_box(m)));
            }
        })
    });
    g.finish();

    let mut g = c.benchmark_group("build");
    g.sample_size(10);
    g.bench_function("50_entries", |b| {
        b.iter(|| Matcher::new(black_box(kb.clone())))
    });
    g.finish();

    let (big, big_messages) = large_kb(10_000);
    let started = std::time::Instant::now();
    let big_matcher = Matcher::new(Arc::new(big));
    eprintln!(
        "built 10,000-entry matcher in {:.2?}: {:?}",
        started.elapsed(),
        big_matcher.stats()
    );
    let right = big_messages
        .iter()
        .filter(|(m, id)| {
            big_matcher
                .match_text(m)
                .best
                .is_some_and(|b| &b.entry_id == id)
        })
        .count();
    eprintln!(
        "10,000-entry sanity: top-1 right for {right}/{}",
        big_messages.len()
    );
    let mut g = c.benchmark_group("match_10000_entries");
    g.throughput(Throughput::Elements(big_messages.len() as u64));
    g.sample_size(20);
    g.bench_function("messages", |b| {
        b.iter(|| {
            for (m, _) in &big_messages {
                black_box(big_matcher.match_text(black_box(m)));
            }
        })
    });
    g.finish();
}

criterion_group!(benches, bench);
criterion_main!(benches);
