//! Triage speed: one customer message through the shipped rules (goal: µs per message).

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use frontdesk::triage::TriageRules;

const MESSAGES: &[&str] = &[
    "How do I export my invoices as PDF? couldn't find it in the FAQ",
    "I CAN'T LOG IN!!! it says wrong password",
    "This is unacceptable. I've been waiting 3 days for a reply and I want to speak to your manager.",
    "My headphones stopped working after 2 weeks, is this covered by warranty?",
    "我的账号无法登录，一直提示密码错误",
    "你们客服态度太差了，我要投诉！",
    "耳机坏了，在保修期内能维修吗",
    "ＡＰＰ　ＣＲＡＳＨＥＳ　ＯＮ　ＳＴＡＲＴＵＰ",
];

fn triage(c: &mut Criterion) {
    let rules = TriageRules::builtin();
    c.bench_function("triage/classify_mixed_8", |b| {
        b.iter(|| {
            for m in MESSAGES {
                black_box(rules.classify(black_box(m), false));
            }
        })
    });
    let long = MESSAGES.join(" ").repeat(8);
    c.bench_function("triage/classify_long_2kb", |b| {
        b.iter(|| black_box(rules.classify(black_box(&long), true)))
    });
    c.bench_function("triage/load_builtin_rules", |b| {
        b.iter(|| {
            black_box(TriageRules::from_toml_str(frontdesk::triage::BUILTIN_RULES_TOML).is_ok())
        })
    });
}

criterion_group!(benches, triage);
criterion_main!(benches);
