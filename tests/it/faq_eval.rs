//! `faq::eval` on the small xSID Chinese split kept in tests/data (CC BY-SA 4.0, see
//! tests/data/xsid/README.md); the large datasets run as ignored tests.

use std::path::Path;

use frontdesk::faq::eval::{self, EvalOptions, Row};

fn rows(path: &Path) -> Vec<Row> {
    let bytes = std::fs::read(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    eval::parse_jsonl(&bytes, &path.display().to_string()).unwrap_or_else(|e| panic!("{e}"))
}

fn data(rel: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .join("tests/data")
        .join(rel)
}

#[test]
fn xsid_zh_meets_the_target() {
    let train = rows(&data("xsid/zh.train.jsonl"));
    let test = rows(&data("xsid/zh.test.jsonl"));
    let matcher = eval::build_matcher(&train, None, &EvalOptions::default()).expect("matcher");
    let report = eval::evaluate(&matcher, &test, |_| {});
    assert_eq!(report.n, 500);
    assert!(report.accuracy >= 0.88, "accuracy {}", report.accuracy);
    assert!(
        report.coverage_at_97 > 0.5,
        "coverage {}",
        report.coverage_at_97
    );
    assert!(report.answered > 0.5 && report.answered <= 1.0);
    assert!(report.per_label.contains_key("oos"));
    assert_eq!(
        report.oos_recall.map(|r| (0.0..=1.0).contains(&r)),
        Some(true)
    );
}

#[test]
fn report_json_has_exactly_the_spec_fields() {
    let train = rows(&data("xsid/zh.train.jsonl"));
    let test: Vec<Row> = rows(&data("xsid/zh.test.jsonl"))
        .into_iter()
        .take(40)
        .collect();
    let matcher = eval::build_matcher(&train, None, &EvalOptions::default()).expect("matcher");
    let report = eval::evaluate(&matcher, &test, |_| {});
    let json = serde_json::to_value(&report).expect("json");
    let mut keys: Vec<&str> = json
        .as_object()
        .expect("object")
        .keys()
        .map(String::as_str)
        .collect();
    keys.sort_unstable();
    assert_eq!(
        keys,
        [
            "accuracy",
            "answered",
            "coverage_at_97",
            "n",
            "oos_recall",
            "per_label",
            "precision"
        ]
    );
}

/// Thresholds come from the training rows (cross-validation) or --val, never from the
/// test rows: evaluating different test sets leaves them unchanged, and they are fixed
/// before any test row is seen.
#[test]
fn thresholds_do_not_depend_on_test_data() {
    let train = rows(&data("xsid/zh.train.jsonl"));
    let test = rows(&data("xsid/zh.test.jsonl"));
    let matcher = eval::build_matcher(&train, None, &EvalOptions::default()).expect("matcher");
    let before = matcher.thresholds();
    let _ = eval::evaluate(&matcher, &test[..100], |_| {});
    let _ = eval::evaluate(&matcher, &test[300..], |_| {});
    assert_eq!(matcher.thresholds(), before);
    // Same training rows → same thresholds (deterministic), whatever is tested later.
    let again = eval::build_matcher(&train, None, &EvalOptions::default()).expect("matcher");
    assert_eq!(again.thresholds(), before);
    assert!(
        matcher.stats().calibration_rows >= 250,
        "{:?}",
        matcher.stats()
    );
    // A validation file does move them: it is where they may come from.
    let mut val: Vec<Row> = test[..200].to_vec();
    for r in val.iter_mut().step_by(3) {
        r.label = "oos".to_string();
    }
    let tuned = eval::build_matcher(&train, Some(&val), &EvalOptions::default()).expect("matcher");
    assert_ne!(tuned.thresholds(), before);
}

/// On a few-phrasing knowledge base, synonyms (lexicon + the KB's own) lift accuracy on
/// questions written with other words.
#[test]
fn lexicon_helps_few_phrasing_kbs() {
    let train: Vec<Row> = [
        ("how do i get a refund", "refund"),
        ("i want a refund for my order", "refund"),
        ("i cannot log in to my account", "login"),
        ("login does not work", "login"),
        ("where is my package", "package"),
        ("my package has not arrived", "package"),
        ("how do i change my email", "email"),
        ("update my email address", "email"),
        ("what are your opening hours", "hours"),
        ("when do you open", "hours"),
    ]
    .iter()
    .map(|(t, l)| Row {
        text: t.to_string(),
        label: l.to_string(),
    })
    .collect();
    let test: Vec<Row> = [
        ("can i have my money back", "refund"),
        ("我要退钱", "refund"),
        ("please reimburse me", "refund"),
        ("i cannot sign in", "login"),
        ("登录不了", "login"),
        ("where is my parcel", "package"),
        ("我的快递在哪里", "package"),
        ("parcel still not here", "package"),
    ]
    .iter()
    .map(|(t, l)| Row {
        text: t.to_string(),
        label: l.to_string(),
    })
    .collect();
    let with = eval::build_matcher(&train, None, &EvalOptions::default()).expect("matcher");
    let without = eval::build_matcher(
        &train,
        None,
        &EvalOptions {
            use_lexicon: false,
            ..EvalOptions::default()
        },
    )
    .expect("matcher");
    let a = eval::evaluate(&with, &test, |_| {});
    let b = eval::evaluate(&without, &test, |_| {});
    assert!(a.accuracy >= 0.85, "with lexicon {}", a.accuracy);
    assert!(
        a.accuracy > b.accuracy + 0.3,
        "with {} vs without {}",
        a.accuracy,
        b.accuracy
    );
}

fn shared(rel: &str) -> std::path::PathBuf {
    let base = std::env::var("FRONTDESK_DATA_DIR").unwrap_or_else(|_| "/work/shared/data".into());
    Path::new(&base).join(rel)
}

/// Slow in debug builds: `cargo test --release --test it faq_eval -- --ignored`.
#[test]
#[ignore]
fn banking77_meets_the_targets() {
    let train = rows(&shared("banking77/train.jsonl"));
    let test = rows(&shared("banking77/test.jsonl"));
    let m = eval::build_matcher(&train, None, &EvalOptions::default()).expect("matcher");
    let r = eval::evaluate(&m, &test, |_| {});
    assert!(r.accuracy >= 0.90, "{}", r.accuracy);
    assert!(r.coverage_at_97 >= 0.70, "{}", r.coverage_at_97);
}

#[test]
#[ignore]
fn clinc150_meets_the_targets() {
    let train = rows(&shared("clinc150/train.jsonl"));
    let val = rows(&shared("clinc150/val.jsonl"));
    let test = rows(&shared("clinc150/test.jsonl"));
    let m = eval::build_matcher(&train, Some(&val), &EvalOptions::default()).expect("matcher");
    let r = eval::evaluate(&m, &test, |_| {});
    assert!(r.accuracy >= 0.90, "{}", r.accuracy);
    assert!(r.oos_recall.unwrap_or(0.0) >= 0.88, "{:?}", r.oos_recall);
    // The operating point is 97 % precision with a guarantee (see faq::calibrate):
    // fewer answers than an equal-error cut, and right ones.
    assert!(r.precision.unwrap_or(0.0) >= 0.97, "{:?}", r.precision);
    assert!(r.answered >= 0.6, "{}", r.answered);
}

fn eval_json(args: &[&str]) -> serde_json::Value {
    let dir = tempfile::tempdir().unwrap();
    let out = crate::cli::frontdesk(dir.path())
        .args(["faq", "eval", "--json"])
        .args(args)
        .output()
        .unwrap();
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    serde_json::from_slice(&out.stdout).unwrap()
}

#[test]
fn few_shot_draws_report_means_and_spread() {
    let train = data("xsid/zh.train.jsonl");
    let test = data("xsid/zh.test.jsonl");
    let (train, test) = (train.to_str().unwrap(), test.to_str().unwrap());
    let one = |seed: &str| {
        eval_json(&[
            "--train", train, "--test", test, "--shots", "3", "--seed", seed,
        ])
    };
    let (a, b) = (one("1"), one("2"));
    assert_eq!(a["seeds"], 1, "{a}");
    assert_ne!(a["accuracy"], b["accuracy"], "another seed, another draw");
    assert_eq!(one("1")["accuracy"], a["accuracy"], "a seed names one draw");
    let both = eval_json(&[
        "--train", train, "--test", test, "--shots", "3", "--seed", "1", "--seeds", "2",
    ]);
    assert_eq!(both["seeds"], 2);
    let mean = (a["accuracy"].as_f64().unwrap() + b["accuracy"].as_f64().unwrap()) / 2.0;
    assert!(
        (both["accuracy"].as_f64().unwrap() - mean).abs() < 1e-9,
        "{both}"
    );
    let spread = both["spread"]["accuracy"].as_f64().unwrap();
    assert!(spread > 0.0 && spread < 0.5, "{both}");
    for field in [
        "n",
        "answered",
        "precision",
        "oos_recall",
        "coverage_at_97",
        "per_label",
    ] {
        assert!(both.get(field).is_some(), "{field} missing: {both}");
    }
    // Without --shots the output is the SPEC report alone.
    let full = eval_json(&["--train", train, "--test", test]);
    assert!(
        full.get("seeds").is_none() && full.get("spread").is_none(),
        "{full}"
    );
}

#[test]
fn holdout_reports_rows_with_and_without_their_keywords() {
    let faq = Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    let r = eval_json(&["--faq", faq.to_str().unwrap(), "--holdout", "3"]);
    let with = r["with_keywords"]["n"].as_u64().unwrap();
    let without = r["without_keywords"]["n"].as_u64().unwrap();
    assert!(with > 0 && without > 0, "{r}");
    assert_eq!(with + without, r["n"].as_u64().unwrap());
    // The fixed keyword bonus does not make rows that contain their keyword look
    // surer than the evidence: answers on either side stay precise.
    for side in ["with_keywords", "without_keywords"] {
        let p = r[side]["precision"].as_f64().unwrap_or(1.0);
        assert!(p >= 0.9, "{side}: {r}");
    }
}
