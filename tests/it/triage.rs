//! Triage with the shipped rules (table, en + zh) and rule-file validation.

use frontdesk::domain::{Category, Priority};
use frontdesk::triage::{TriageError, TriageRules};

use Category::{AfterSales, Complaint, Inquiry, Problem};
use Priority::{P1, P2, P3};

/// (message, vip, category, sub-category, priority, department, notify supervisors)
type Row = (
    &'static str,
    bool,
    Category,
    Option<&'static str>,
    Priority,
    &'static str,
    bool,
);

const NO: bool = false;
const VIP: bool = true;

#[rustfmt::skip]
const TABLE: &[Row] = &[
    // --- English: inquiry (P3, support) ---
    ("How do I export my invoices as PDF? couldn't find it in the FAQ", NO, Inquiry, Some("billing"), P3, "support", false),
    ("how do i log in with my google account?", NO, Inquiry, Some("how_to"), P3, "support", false),
    // Orders and shipping are the after-sales department's, questions included.
    ("Hi, can you tell me if you ship to Canada?", NO, AfterSales, Some("order_status"), P2, "after_sales", false),
    ("Suggestion: it would be great to have a dark mode", NO, Inquiry, Some("suggestion"), P3, "product", false),
    ("where is my order #5512, tracking number doesnt update", NO, Problem, Some("bug"), P2, "tech", false),
    // --- English: problem, P1 ---
    ("I CAN'T LOG IN!!! it says wrong password", NO, Problem, Some("login"), P1, "tech", false),
    ("cant login since this morning, pls help", NO, Problem, Some("login"), P1, "tech", false),
    ("I'm locked out of my account after the update", NO, Problem, Some("login"), P1, "tech", false),
    ("The whole site is down, nothing works", NO, Problem, Some("outage"), P1, "tech", false),
    ("My account was hacked and someone changed my email", NO, Problem, Some("security"), P1, "tech", true),
    ("my acount got hacked!!! plz help", NO, Problem, Some("security"), P1, "tech", true),
    ("there's a charge on my card that I didn't make", NO, Problem, Some("security"), P1, "tech", true),
    ("the charger started smoking and smells like burning plastic", NO, Problem, Some("safety"), P1, "tech", true),
    ("Got an electric shock from the kettle handle", NO, Problem, Some("safety"), P1, "tech", true),
    ("The battery of my phone is swelling and getting really hot", NO, Problem, Some("safety"), P1, "tech", true),
    ("your website has been down for hours, we are losing money", NO, Problem, Some("outage"), P1, "tech", false),
    ("Someone placed an order with my account, I didn't make it", NO, Problem, Some("security"), P1, "tech", true),
    // --- English: problem, P2 / P3 ---
    ("App keeps crashing when I upload a photo", NO, Problem, Some("bug"), P2, "tech", false),
    ("The checkout button does nothing when I click it", NO, Problem, Some("bug"), P2, "tech", false),
    ("ＡＰＰ　ＣＲＡＳＨＥＳ　ＯＮ　ＳＴＡＲＴＵＰ", NO, Problem, Some("bug"), P2, "tech", false),
    ("Payment failed but money was taken from my account", NO, Problem, Some("payment"), P2, "tech", false),
    ("I was charged twice for order #4411", NO, Problem, Some("payment"), P2, "tech", false),
    ("the dashboard is really slow to load today", NO, Problem, Some("performance"), P2, "tech", false),
    ("There's a typo on the pricing page: 'recieve'", NO, Problem, Some("cosmetic"), P3, "tech", false),
    // --- English: after-sales (P2) ---
    ("I want to return the shoes, they don’t fit", NO, AfterSales, Some("return"), P2, "after_sales", false),
    ("Where is my refund?? it's been 2 weeks", NO, AfterSales, Some("refund"), P2, "after_sales", false),
    ("package arrived damaged, the box was crushed", NO, AfterSales, Some("delivery"), P2, "after_sales", false),
    ("Still haven't received my order from last month", NO, AfterSales, Some("delivery"), P2, "after_sales", false),
    ("My headphones stopped working after 2 weeks, is this covered by warranty?", NO, AfterSales, Some("repair"), P2, "after_sales", false),
    ("please cancel my order, I ordered the wrong one", NO, AfterSales, Some("cancellation"), P2, "after_sales", false),
    // --- English: complaint (P2, or P1 on legal/media threats) ---
    ("Your agent was extremely rude to me on the phone", NO, Complaint, Some("staff"), P2, "complaints", true),
    ("This is unacceptable. I've been waiting 3 days for a reply and I want to speak to your manager.", NO, Complaint, Some("escalation"), P2, "complaints", true),
    ("Worst service ever, I'm switching to another provider", NO, Complaint, Some("churn"), P2, "complaints", true),
    ("I want to file a complaint about the delivery driver", NO, Complaint, Some("service"), P2, "complaints", true),
    ("fix this or I'll take legal action and talk to my lawyer", NO, Complaint, Some("legal_media"), P1, "complaints", true),
    ("I will go to the media about this", NO, Complaint, Some("legal_media"), P1, "complaints", true),
    ("I can't login and you charge me for a service that doesnt work. calling my lawyer.", NO, Complaint, Some("legal_media"), P1, "complaints", true),
    // --- English: VIP raises one level ---
    ("How can I change the language of the app?", VIP, Inquiry, Some("how_to"), P2, "support", false),
    ("Refund please, order 1234 never arrived", VIP, AfterSales, Some("refund"), P1, "after_sales", false),
    ("Nothing works since the last update!", VIP, Problem, Some("outage"), P1, "tech", false),
    ("the icon looks misaligned on android", VIP, Problem, Some("cosmetic"), P2, "tech", false),
    ("Your support is terrible and nobody replied for a week", VIP, Complaint, Some("delay"), P1, "complaints", true),

    // --- 中文：咨询 (P3) ---
    ("请问你们支持开发票吗？", NO, Inquiry, Some("billing"), P3, "support", false),
    ("怎么修改绑定的手机号", NO, Inquiry, Some("how_to"), P3, "support", false),
    ("建议增加夜间模式", NO, Inquiry, Some("suggestion"), P3, "product", false),
    ("我有个问题想问一下", NO, Inquiry, Some("request"), P3, "support", false),
    // --- 中文：问题 P1 ---
    ("我的账号无法登录，一直提示密码错误", NO, Problem, Some("login"), P1, "tech", false),
    ("登不上了！！！急", NO, Problem, Some("login"), P1, "tech", false),
    ("服务挂了吗？整个网站都打不开", NO, Problem, Some("outage"), P1, "tech", false),
    ("我的账号被盗了，有人盗刷了我的信用卡", NO, Problem, Some("security"), P1, "tech", true),
    ("充电器冒烟了，还有一股烧焦的味道", NO, Problem, Some("safety"), P1, "tech", true),
    ("充电的时候手机很烫", NO, Problem, Some("safety"), P1, "tech", true),
    ("系统升级后所有人都登不上去", NO, Problem, Some("login"), P1, "tech", false),
    ("用户资料是不是泄露了？我收到了诈骗电话", NO, Problem, Some("security"), P1, "tech", true),
    // --- 中文：问题 P2 / P3 ---
    ("APP一打开就闪退", NO, Problem, Some("bug"), P2, "tech", false),
    ("支付失败了，但是钱扣了", NO, Problem, Some("payment"), P2, "tech", false),
    ("页面加载太慢了", NO, Problem, Some("performance"), P2, "tech", false),
    ("首页有个错别字", NO, Problem, Some("cosmetic"), P3, "tech", false),
    // --- 中文：售后 (P2) ---
    ("我要退货，尺码不合适", NO, AfterSales, Some("return"), P2, "after_sales", false),
    ("申请退款，订单号 20240518", NO, AfterSales, Some("refund"), P2, "after_sales", false),
    ("快递丢了，到现在还没收到", NO, AfterSales, Some("delivery"), P2, "after_sales", false),
    ("收到的商品有破损", NO, AfterSales, Some("delivery"), P2, "after_sales", false),
    ("耳机坏了，在保修期内能维修吗", NO, AfterSales, Some("repair"), P2, "after_sales", false),
    // --- 中文：投诉 ---
    ("你们客服态度太差了，我要投诉！", NO, Complaint, Some("service"), P2, "complaints", true),
    ("等了好久都没人回复，太失望了", NO, Complaint, Some("delay"), P2, "complaints", true),
    ("叫你们经理出来", NO, Complaint, Some("escalation"), P2, "complaints", true),
    ("订单一直显示待发货，已经一周了", NO, Complaint, Some("delay"), P2, "complaints", true),
    ("收不到验证码怎么办", NO, Problem, Some("bug"), P2, "tech", false),
    ("再不解决我就找律师起诉你们", NO, Complaint, Some("legal_media"), P1, "complaints", true),
    ("我要去网上曝光你们，还要打12315", NO, Complaint, Some("legal_media"), P1, "complaints", true),
    // --- 中文：VIP ---
    ("怎么修改收货地址？", VIP, AfterSales, Some("order_status"), P1, "after_sales", false),
    ("订单发错货了，我要换货", VIP, AfterSales, Some("exchange"), P1, "after_sales", false),
    ("系统全部瘫痪了！", VIP, Problem, Some("outage"), P1, "tech", false),
    ("字体太小看不清", VIP, Problem, Some("cosmetic"), P2, "tech", false),
    ("发货太慢了，垃圾", VIP, Complaint, Some("delay"), P1, "complaints", true),
];

#[test]
fn shipped_rules_table() {
    let rules = TriageRules::builtin();
    let mut failures = Vec::new();
    for (text, vip, category, sub, priority, department, notify) in TABLE {
        let t = rules.classify(text, *vip);
        let got = (
            t.category,
            t.sub_category.as_deref(),
            t.priority,
            t.department.as_str(),
            t.notify_supervisors,
        );
        let want = (*category, *sub, *priority, *department, *notify);
        if got != want {
            failures.push(format!(
                "{text:?} (vip={vip})\n    want {want:?}\n    got  {got:?}\n    reasons {:?}",
                t.reasons
            ));
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} rows failed:\n{}",
        failures.len(),
        TABLE.len(),
        failures.join("\n")
    );
}

#[test]
fn table_covers_every_category_and_priority_in_both_languages() {
    let is_zh = |s: &str| s.chars().any(frontdesk::domain::is_han);
    for zh in [false, true] {
        for c in Category::ALL {
            assert!(
                TABLE.iter().any(|r| r.2 == *c && is_zh(r.0) == zh),
                "no {} row for {c}",
                if zh { "zh" } else { "en" }
            );
        }
        for p in Priority::ALL {
            assert!(TABLE.iter().any(|r| r.4 == *p && !r.1 && is_zh(r.0) == zh));
        }
    }
    assert!(TABLE.len() >= 40);
}

#[test]
fn vip_raises_exactly_one_level() {
    let rules = TriageRules::builtin();
    for (text, plain, vip) in [
        ("How can I change the language of the app?", P3, P2),
        ("首页有个错别字", P3, P2),
        ("I was charged twice for order #4411", P2, P1),
        ("申请退款，订单号 20240518", P2, P1),
        ("I can't log in", P1, P1),
        ("充电器冒烟了", P1, P1),
    ] {
        assert_eq!(rules.classify(text, false).priority, plain, "{text}");
        let raised = rules.classify(text, true);
        assert_eq!(raised.priority, vip, "{text}");
        // Only the priority changes.
        let mut plain_t = rules.classify(text, false);
        plain_t.priority = raised.priority;
        plain_t.reasons = raised.reasons.clone();
        assert_eq!(plain_t, raised, "{text}");
    }
}

#[test]
fn obvious_false_positives_stay_calm() {
    let rules = TriageRules::builtin();
    for text in [
        "how do I log in on a new phone?",
        "What is your privacy policy?",
        "Does firefox work with your web app?",
        "How do I share my playlist to Facebook?",
        "我有个问题想问一下",
        "社交媒体账号怎么绑定？",
        "照片曝光不足怎么调？",
        "how do I reset my password",
    ] {
        let t = rules.classify(text, false);
        assert_eq!(t.priority, P3, "{text}: {:?}", t.reasons);
        assert!(!t.notify_supervisors, "{text}: {:?}", t.reasons);
        assert_ne!(t.category, Complaint, "{text}: {:?}", t.reasons);
    }
}

#[test]
fn reasons_name_the_rules_that_fired() {
    let t = TriageRules::builtin().classify("My account was hacked, I will sue you", true);
    let joined = t.reasons.join("\n");
    for expected in [
        "rule security_incident",
        "rule legal_media_threat",
        "category complaint",
        "priority P1",
        "vip: P1 -> P1",
        "supervisors: rule security_incident",
    ] {
        assert!(
            joined.contains(expected),
            "missing {expected:?} in\n{joined}"
        );
    }
    // Reasons quote rule text only, never the customer's own words.
    assert!(!joined.contains("my account was hacked"));
}

#[test]
fn triage_serializes_with_stable_names() {
    let t = TriageRules::builtin().classify("退款", false);
    let v = serde_json::to_value(&t).unwrap_or_default();
    assert_eq!(v["category"], "after_sales");
    assert_eq!(v["sub_category"], "refund");
    assert_eq!(v["priority"], "P2");
    assert_eq!(v["department"], "after_sales");
    assert_eq!(v["notify_supervisors"], false);
    assert!(v["reasons"].as_array().is_some_and(|r| !r.is_empty()));
}

// ---------------------------------------------------------------------------------------
// Custom rule files.

const DEPARTMENTS: &str =
    r#"departments = ["support", "tech", "after_sales", "product", "complaints"]"#;

const CATEGORIES: &str = r#"
[category.inquiry]
department = "support"
priority = "p3"

[category.problem]
department = "tech"
priority = "p2"

[category.after_sales]
department = "after_sales"
priority = "p2"

[category.complaint]
department = "complaints"
priority = "p2"
notify_supervisors = true
"#;

/// A rules file; `resolution` goes between the top-level keys and the category tables.
fn rules_file(resolution: &str, rules: &str) -> String {
    format!("{DEPARTMENTS}\n{resolution}\n{CATEGORIES}\n{rules}")
}

fn with_rules(rules: &str) -> String {
    rules_file("", rules)
}

#[test]
fn custom_rules_change_triage_without_recompiling() {
    let text = with_rules(
        r#"
[[rule]]
name = "pizza_cold"
category = "complaint"
sub_category = "food"
priority = "p1"
keywords = ["cold pizza", "披萨凉了"]

[[rule]]
name = "menu"
category = "inquiry"
department = "product"
keywords = ["menu*"]
"#,
    );
    let rules = TriageRules::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"));
    let t = rules.classify("COLD PIZZA again!!", false);
    assert_eq!(t.category, Complaint);
    assert_eq!(t.sub_category.as_deref(), Some("food"));
    assert_eq!(t.priority, P1);
    assert!(t.notify_supervisors);
    let t = rules.classify("披萨凉了", false);
    assert_eq!(t.category, Complaint);
    let t = rules.classify("do you have vegan menus", false);
    assert_eq!((t.category, t.department.as_str()), (Inquiry, "product"));
    // The shipped rules are not in play: a login failure is just a default inquiry here.
    let t = rules.classify("I can't log in", false);
    assert_eq!((t.category, t.priority), (Inquiry, P3));
    assert_eq!(rules.department_for(AfterSales), "after_sales");
    assert_eq!(rules.departments().len(), 5);
}

#[test]
fn ties_follow_precedence_and_strong_complaints_win() {
    let rules = |resolution: &str| {
        let text = rules_file(
            resolution,
            r#"
[[rule]]
name = "broken"
category = "problem"
weight = 2
keywords = ["broken"]

[[rule]]
name = "angry"
category = "complaint"
weight = 2
keywords = ["angry"]

[[rule]]
name = "furious"
category = "complaint"
weight = 1
keywords = ["furious"]
"#,
        );
        TriageRules::from_toml_str(&text).unwrap_or_else(|e| panic!("{e}"))
    };
    let complaint_first = rules(
        "[resolution]\nprecedence = [\"complaint\", \"after_sales\", \"problem\", \"inquiry\"]",
    );
    let problem_first = rules(
        "[resolution]\nprecedence = [\"problem\", \"complaint\", \"after_sales\", \"inquiry\"]\nstrong_complaint = 3",
    );
    assert_eq!(
        complaint_first.classify("broken and angry", false).category,
        Complaint
    );
    assert_eq!(
        problem_first.classify("broken and angry", false).category,
        Problem
    );
    assert_eq!(
        problem_first
            .classify("broken, angry, furious", false)
            .category,
        Complaint
    );
    assert_eq!(problem_first.classify("broken", false).category, Problem);
}

fn parse_err(text: &str) -> TriageError {
    match TriageRules::from_toml_str(text) {
        Ok(_) => panic!("rules should be rejected:\n{text}"),
        Err(e) => e,
    }
}

#[test]
fn unknown_category_is_reported_with_line() {
    let err = parse_err(&with_rules(
        "[[rule]]\nname = \"x\"\ncategory = \"billing\"\nkeywords = [\"a\"]\n",
    ));
    assert!(
        matches!(&err, TriageError::UnknownCategory { value, .. } if value == "billing"),
        "{err:?}"
    );
    let text = with_rules("[[rule]]\nname = \"x\"\ncategory = \"billing\"\nkeywords = [\"a\"]\n");
    let line = text
        .lines()
        .position(|l| l.contains("billing"))
        .unwrap_or_default()
        + 1;
    let msg = err.to_string();
    assert!(
        msg.contains(&format!("line {line}:")) && msg.contains("billing"),
        "{msg}"
    );
}

#[test]
fn unknown_priority_is_reported() {
    let err = parse_err(&with_rules(
        "[[rule]]\nname = \"x\"\npriority = \"p4\"\nkeywords = [\"a\"]\n",
    ));
    assert!(
        matches!(&err, TriageError::UnknownPriority { value, .. } if value == "p4"),
        "{err:?}"
    );
    assert!(err.to_string().contains("p1, p2, p3"));
}

#[test]
fn bad_regex_carries_the_regex_error() {
    let err = parse_err(&with_rules(
        "[[rule]]\nname = \"broken_regex\"\ncategory = \"problem\"\npatterns = ['(unclosed']\n",
    ));
    assert!(
        matches!(&err, TriageError::BadPattern { rule, .. } if rule == "broken_regex"),
        "{err:?}"
    );
    let msg = err.to_string();
    assert!(
        msg.contains("broken_regex") && msg.contains("unclosed group"),
        "{msg}"
    );
}

#[test]
fn unknown_fields_are_rejected() {
    // `keyword` instead of `keywords`: silently ignoring it would make the rule match nothing.
    let err = parse_err(&with_rules(
        "[[rule]]\nname = \"x\"\ncategory = \"problem\"\nkeyword = [\"a\"]\n",
    ));
    assert!(matches!(err, TriageError::Toml(_)), "{err:?}");
    assert!(err.to_string().contains("unknown field `keyword`"), "{err}");
    let err = parse_err(&format!("colour = \"red\"\n{}", with_rules("")));
    assert!(err.to_string().contains("unknown field `colour`"), "{err}");
}

#[test]
fn unknown_department_is_rejected() {
    let err = parse_err(&with_rules(
        "[[rule]]\nname = \"x\"\ncategory = \"inquiry\"\ndepartment = \"sales\"\nkeywords = [\"a\"]\n",
    ));
    assert!(
        matches!(&err, TriageError::UnknownDepartment { value, .. } if value == "sales"),
        "{err:?}"
    );
}

#[test]
fn structural_mistakes_are_rejected() {
    let misspelt = with_rules("").replace("[category.complaint]", "[category.complaints]");
    let err = parse_err(&misspelt);
    assert!(
        matches!(err, TriageError::UnknownCategory { .. }),
        "{err:?}"
    );

    let without_complaint = with_rules("")
        .split("[category.complaint]")
        .next()
        .unwrap_or_default()
        .to_string();
    let err = parse_err(&without_complaint);
    assert!(
        err.to_string().contains("missing [category.complaint]"),
        "{err}"
    );

    for (rules, needle) in [
        ("[[rule]]\nname = \"x\"\ncategory = \"problem\"\n", "neither keywords nor patterns"),
        ("[[rule]]\nname = \"x\"\nkeywords = [\"a\"]\n", "no effect"),
        ("[[rule]]\nname = \"x\"\ncategory = \"problem\"\nkeywords = [\"*\"]\n", "empty keyword"),
        ("[[rule]]\nname = \"x\"\ncategory = \"problem\"\nweight = -1\nkeywords = [\"a\"]\n", "weight"),
        (
            "[[rule]]\nname = \"x\"\ncategory = \"problem\"\nkeywords = [\"a\"]\n[[rule]]\nname = \"x\"\ncategory = \"problem\"\nkeywords = [\"b\"]\n",
            "duplicate rule name",
        ),
        ("[[rule]]\nname = \"x\"\npriority = \"p1\"\nsub_category = \"s\"\nkeywords = [\"a\"]\n", "need a category"),
    ] {
        let err = parse_err(&with_rules(rules));
        assert!(matches!(err, TriageError::BadRule { .. }), "{err:?}");
        assert!(err.to_string().contains(needle), "{err} (wanted {needle:?})");
    }

    let err = parse_err(&rules_file(
        "[resolution]\nprecedence = [\"complaint\", \"problem\"]",
        "",
    ));
    assert!(err.to_string().contains("all four categories"), "{err}");
    let err = parse_err("not toml at all = = =");
    assert!(matches!(err, TriageError::Toml(_)), "{err:?}");
}

mod properties {
    use super::*;
    use proptest::prelude::*;

    proptest! {
        #[test]
        fn classify_is_total_and_deterministic(text in "\\PC{0,200}", vip in any::<bool>()) {
            let rules = TriageRules::builtin();
            let a = rules.classify(&text, vip);
            let b = rules.classify(&text, vip);
            prop_assert_eq!(&a, &b);
            prop_assert!(!a.department.is_empty());
            if vip {
                prop_assert_ne!(a.priority, Priority::P3);
            }
        }

        /// Keywords, conditions, negations and full-width punctuation side by side:
        /// where byte offsets of multi-byte characters meet the rules' context checks.
        #[test]
        fn classify_survives_mixed_script_sentences(
            parts in proptest::collection::vec(proptest::sample::select(vec![
                "我要起诉你们", "。", "！", "？", "；", "如果", "的话", "保固内", "退款", "冒烟",
                "不着急", "被盗", "帳號", "password", "hacked", "not urgent", "if", "?", "!",
                " ", "\n", "NB-12345", "😡", "，", "“", "”", "第三次",
                "拒绝维修", "人为损坏", "包裹没到", "坏了", "收到的是坏的", "never arrived",
                "charged twice",
            ]), 0..12)
        ) {
            let text: String = parts.concat();
            let t = TriageRules::builtin().classify(&text, false);
            prop_assert!(!t.department.is_empty());
        }
    }
}
