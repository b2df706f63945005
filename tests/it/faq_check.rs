//! `faq/*.toml` loading: every problem as the exact `file:line: message` an author sees.

use std::path::Path;

use frontdesk::domain::Language;
use frontdesk::faq::kb::{
    self, check_dir, faq_list_json, load_dir, parse_str, KbWatcher, Severity,
};
use tempfile::TempDir;

const TITLE: &str = "[topic]\ntitle = { en = \"Account & login\", zh = \"账户与登录\" }\n";

/// A clean entry: enough phrasings in both languages that it draws no warning.
fn entry(id: &str, n: usize) -> String {
    format!(
        r#"
[[entry]]
id = "{id}"
questions.en = ["How do I reset my password {n}?", "I forgot my password {n}", "Password reset link {n}"]
questions.zh = ["怎么重置密码{n}？", "忘记密码了怎么办{n}"]
answer.en = "Use the reset link."
answer.zh = "使用重置链接。"
"#
    )
}

/// Writes `files` into a fresh directory.
fn kb_dir(files: &[(&str, &[u8])]) -> TempDir {
    let dir = TempDir::new().expect("temp dir");
    for (name, content) in files {
        std::fs::write(dir.path().join(name), content).expect("write fixture");
    }
    dir
}

/// How a problem names a file: the directory joined with the file name.
fn at(dir: &TempDir, name: &str) -> String {
    dir.path().join(name).display().to_string()
}

/// All problems of `dir`, displayed.
fn problems(dir: &Path) -> Vec<String> {
    check_dir(dir)
        .problems
        .iter()
        .map(ToString::to_string)
        .collect()
}

/// Checks one `account.toml` and returns its problems with the path replaced by `F`.
fn account(text: &str) -> Vec<String> {
    let dir = kb_dir(&[("account.toml", text.as_bytes())]);
    let path = at(&dir, "account.toml");
    problems(dir.path())
        .into_iter()
        .map(|p| p.replacen(&path, "F", 1))
        .collect()
}

#[test]
fn clean_directory_loads_topics_entries_and_synonyms() {
    let account = format!(
        "{TITLE}{}\nkeywords = [\"reset password\", \"忘记密码\"]\npatterns = ['(?i)pass ?word.*reset']\n",
        entry("account.reset-password", 1)
    );
    let billing = "[topic]\ntitle = { en = \"Billing\", zh = \"账单\" }\n".to_owned()
        + &entry("billing.refund", 2);
    let synonyms = "[[group]]\nterms = [\"refund\", \"money back\", \"退钱\"]\n";
    let dir = kb_dir(&[
        ("billing.toml", billing.as_bytes()),
        ("account.toml", account.as_bytes()),
        ("synonyms.toml", synonyms.as_bytes()),
        ("_draft.toml", b"this is [not toml"),
        ("README.md", b"# notes"),
    ]);

    let report = check_dir(dir.path());
    assert_eq!(report.problems, vec![]);
    let kb = load_dir(dir.path()).expect("loads");

    let topics: Vec<_> = kb
        .topics
        .iter()
        .map(|t| (t.id.as_str(), t.title_en.as_str(), t.title_zh.as_str()))
        .collect();
    assert_eq!(
        topics,
        [
            ("account", "Account & login", "账户与登录"),
            ("billing", "Billing", "账单")
        ]
    );
    let ids: Vec<_> = kb
        .entries
        .iter()
        .map(|e| (e.id.as_str(), e.topic.as_str()))
        .collect();
    assert_eq!(
        ids,
        [
            ("account.reset-password", "account"),
            ("billing.refund", "billing")
        ]
    );

    let first = &kb.entries[0];
    let questions: Vec<_> = first
        .questions
        .iter()
        .map(|q| (q.language, q.text.as_str()))
        .collect();
    assert_eq!(
        questions,
        [
            (Language::En, "How do I reset my password 1?"),
            (Language::En, "I forgot my password 1"),
            (Language::En, "Password reset link 1"),
            (Language::Zh, "怎么重置密码1？"),
            (Language::Zh, "忘记密码了怎么办1"),
        ]
    );
    assert_eq!(first.keywords, ["reset password", "忘记密码"]);
    assert_eq!(first.patterns, ["(?i)pass ?word.*reset"]);
    assert_eq!(first.answer.en, "Use the reset link.");
    assert_eq!(first.answer.zh, "使用重置链接。");
    assert_eq!(kb.synonyms.len(), 1);
    assert_eq!(kb.synonyms[0].terms, ["refund", "money back", "退钱"]);
}

#[test]
fn multi_line_answers_are_trimmed_and_inline_tables_are_accepted() {
    let text = format!(
        r#"{TITLE}
[[entry]]
id = "a.b"
questions = {{ en = ["one", "two", "three"], zh = ["一", "二"] }}
answer.en = """
Line one.
Line two.
"""
answer.zh = '''
第一行
'''

[[entry]]
id = "a.c"
questions.en = ["four", "five", "six"]
questions.zh = ["四", "五"]
[entry.answer]
en = "Four."
zh = "四。"
"#
    );
    let report = parse_str("account.toml", &text);
    assert_eq!(report.problems, vec![]);
    let kb = report.kb.expect("valid");
    assert_eq!(kb.entries[0].answer.en, "Line one.\nLine two.");
    assert_eq!(kb.entries[0].answer.zh, "第一行");
    assert_eq!(kb.entries[0].questions.len(), 5);
    assert_eq!(kb.entries[1].answer.zh, "四。");
}

#[test]
fn toml_syntax_error_reports_the_line_of_the_mistake() {
    let text = format!("{TITLE}\n[[entry]]\nid = \"account.a\nquestions.en = [\"x\"]\n");
    assert_eq!(
        account(&text),
        ["F:5: TOML syntax error: invalid basic string"]
    );
}

#[test]
fn unknown_field_names_the_field_and_the_allowed_ones() {
    let text = format!("{TITLE}{}answr.en = \"typo\"\n", entry("account.a", 1));
    assert_eq!(
        account(&text),
        ["F:10: unknown field `answr` in [[entry]] (allowed: `id`, `questions`, `keywords`, `patterns`, `answer`, `opens_ticket`)"]
    );
}

#[test]
fn unknown_fields_in_topic_title_and_questions_are_reported_each() {
    let text = "[topic]\ntitle = { en = \"A\", zh = \"甲\", fr = \"Un\" }\ncolour = \"red\"\n\n[[entry]]\nid = \"account.a\"\n\
         questions.en = [\"a\", \"b\", \"c\"]\nquestions.zh = [\"甲\", \"乙\"]\nquestions.de = [\"x\"]\n\
         answer.en = \"A\"\nanswer.zh = \"甲\"\n\n[extra]\n";
    assert_eq!(
        account(text),
        [
            "F:2: unknown field `fr` in `title` (allowed: `en`, `zh`)",
            "F:3: unknown field `colour` in [topic] (allowed: `title`)",
            "F:9: unknown field `de` in `questions` (allowed: `en`, `zh`)",
            "F:13: unknown field `extra` in a topic file (allowed: `topic`, `entry`)",
        ]
    );
}

#[test]
fn duplicate_id_is_reported_at_the_second_definition_with_the_first() {
    let account_text = format!("{TITLE}{}", entry("account.reset", 1));
    let billing_text = format!(
        "{TITLE}{}{}",
        entry("billing.refund", 2),
        entry("account.reset", 3)
    );
    let dir = kb_dir(&[
        ("billing.toml", billing_text.as_bytes()),
        ("account.toml", account_text.as_bytes()),
    ]);
    assert_eq!(
        problems(dir.path()),
        [format!(
            "{}:12: duplicate id `account.reset` (first defined at account.toml:5)",
            at(&dir, "billing.toml")
        )]
    );
}

#[test]
fn empty_or_missing_answers_are_errors_in_both_languages() {
    let blank = format!("{TITLE}{}", entry("account.a", 1))
        .replace("answer.zh = \"使用重置链接。\"", "answer.zh = \"  \\n \"");
    assert_eq!(
        account(&blank),
        ["F:9: entry `account.a` has an empty Chinese answer (answer.zh)"]
    );

    let no_en = format!("{TITLE}{}", entry("account.a", 1))
        .replace("answer.en = \"Use the reset link.\"\n", "");
    assert_eq!(
        account(&no_en),
        ["F:8: entry `account.a` has no English answer (answer.en)"]
    );

    let none = format!("{TITLE}{}", entry("account.a", 1)).replace(
        "answer.en = \"Use the reset link.\"\nanswer.zh = \"使用重置链接。\"\n",
        "",
    );
    assert_eq!(
        account(&none),
        ["F:4: entry `account.a` has no answer (answer.en and answer.zh are required)"]
    );
}

#[test]
fn entry_without_questions_is_an_error() {
    let missing =
        format!("{TITLE}\n[[entry]]\nid = \"account.a\"\nanswer.en = \"A\"\nanswer.zh = \"甲\"\n");
    assert_eq!(
        account(&missing),
        ["F:4: entry `account.a` has no questions (add questions.en and questions.zh)"]
    );

    let blank = format!("{TITLE}\n[[entry]]\nid = \"account.a\"\nquestions.en = [\"\", \"  \"]\nanswer.en = \"A\"\nanswer.zh = \"甲\"\n");
    assert_eq!(
        account(&blank),
        [
            "F:4: entry `account.a` has no questions (add questions.en and questions.zh)",
            "F:6: warning: empty question in questions.en of entry `account.a` is ignored",
            "F:6: warning: empty question in questions.en of entry `account.a` is ignored",
        ]
    );
}

#[test]
fn pattern_that_does_not_compile_shows_the_regex_error() {
    let text = format!(
        "{TITLE}{}patterns = [\n  '(?i)refund',\n  '(?i)pass(word',\n  '.*',\n]\n",
        entry("account.a", 1)
    );
    assert_eq!(
        account(&text),
        [
            "F:12: pattern `(?i)pass(word` does not compile: unclosed group",
            "F:13: pattern `.*` matches any text",
        ]
    );
}

#[test]
fn invalid_utf8_reports_the_line_of_the_first_bad_byte() {
    let mut bytes = TITLE.as_bytes().to_vec();
    bytes.extend_from_slice(b"\n[[entry]]\nid = \"account.\xff\"\n");
    let dir = kb_dir(&[("account.toml", &bytes)]);
    assert_eq!(
        problems(dir.path()),
        [format!(
            "{}:5: file is not valid UTF-8 (first bad byte 0xff at column 15)",
            at(&dir, "account.toml")
        )]
    );
}

#[test]
fn missing_or_invalid_id_is_an_error() {
    let missing = format!("{TITLE}{}", entry("account.a", 1)).replace("id = \"account.a\"\n", "");
    assert_eq!(account(&missing), ["F:4: entry has no `id`"]);

    let invalid = format!("{TITLE}{}", entry("Account A", 1));
    assert_eq!(
        account(&invalid),
        ["F:5: invalid id `Account A`: use only a-z, 0-9, '.', '_' and '-'"]
    );

    let number =
        format!("{TITLE}{}", entry("account.a", 1)).replace("id = \"account.a\"", "id = 7");
    assert_eq!(
        account(&number),
        ["F:5: `id` must be a string, found integer"]
    );
}

#[test]
fn missing_topic_or_title_is_an_error() {
    let no_topic = entry("account.a", 1);
    assert_eq!(
        account(&no_topic),
        ["F:1: missing [topic] table with title = { en = \"...\", zh = \"...\" }"]
    );

    let no_title = format!("# Account\n[topic]\n{}", entry("account.a", 1));
    assert_eq!(
        account(&no_title),
        ["F:2: missing topic title (title = { en = \"...\", zh = \"...\" })"]
    );

    let half_title = format!(
        "[topic]\ntitle.en = \"Account\"\ntitle.zh = \"\"\n{}",
        entry("account.a", 1)
    );
    assert_eq!(account(&half_title), ["F:3: empty topic title.zh"]);
}

#[test]
fn missing_or_empty_directory_is_an_error_on_line_zero() {
    let dir = kb_dir(&[("README.md", b"# not a topic")]);
    assert_eq!(
        problems(dir.path()),
        [format!(
            "{}:0: no topic files (*.toml) in the knowledge base directory",
            dir.path().display()
        )]
    );

    // Synonyms alone are not a knowledge base, even when they have problems of their own.
    std::fs::write(dir.path().join("synonyms.toml"), "[[group]\n").expect("write");
    assert_eq!(
        problems(dir.path()),
        [
            format!(
                "{}:0: no topic files (*.toml) in the knowledge base directory",
                dir.path().display()
            ),
            format!(
                "{}:1: TOML syntax error: invalid table header: expected `.`, `]]`",
                at(&dir, "synonyms.toml")
            ),
        ]
    );

    let gone = dir.path().join("nope");
    let shown = problems(&gone);
    assert_eq!(shown.len(), 1);
    assert!(
        shown[0].starts_with(&format!(
            "{}:0: cannot read knowledge base directory: ",
            gone.display()
        )),
        "{shown:?}"
    );
    assert!(load_dir(&gone).is_err());
}

#[test]
fn synonym_problems_are_reported() {
    let text = "[[group]]\nterms = [\"refund\"]\n\n[[group]]\nterms = [\"Refund\", \"money back\", \"\"]\nweight = 2\n\n[[group]]\n";
    let dir = kb_dir(&[
        (
            "account.toml",
            format!("{TITLE}{}", entry("account.a", 1)).as_bytes(),
        ),
        ("synonyms.toml", text.as_bytes()),
    ]);
    let path = at(&dir, "synonyms.toml");
    assert_eq!(
        problems(dir.path()),
        [
            format!("{path}:1: synonym group needs at least 2 terms, found 1"),
            format!(
                "{path}:5: warning: term `Refund` is also in the synonym group at synonyms.toml:1"
            ),
            format!("{path}:5: empty synonym term"),
            format!("{path}:6: unknown field `weight` in [[group]] (allowed: `terms`)"),
            format!("{path}:8: synonym group has no `terms`"),
        ]
    );
}

#[test]
fn problems_in_several_files_are_reported_together_sorted_by_file_and_line() {
    let account_text = format!("{TITLE}{}{}", entry("account.a", 1), entry("account.b", 2))
        .replace("answer.zh = \"使用重置链接。\"\n\n[[entry]]", "\n[[entry]]")
        .replace("id = \"account.b\"", "id = \"account.a\"");
    let billing_text = format!("{TITLE}{}patterns = ['(']\n", entry("billing.x", 3))
        .replace("[topic]\n", "[topics]\n");
    let dir = kb_dir(&[
        ("account.toml", account_text.as_bytes()),
        ("billing.toml", billing_text.as_bytes()),
        ("orders.toml", b"[topic\n"),
    ]);
    let (a, b, o) = (
        at(&dir, "account.toml"),
        at(&dir, "billing.toml"),
        at(&dir, "orders.toml"),
    );
    let expected = [
        format!("{a}:8: entry `account.a` has no Chinese answer (answer.zh)"),
        format!("{a}:11: duplicate id `account.a` (first defined at account.toml:5)"),
        format!("{b}:1: unknown field `topics` in a topic file (allowed: `topic`, `entry`)"),
        format!("{b}:1: missing [topic] table with title = {{ en = \"...\", zh = \"...\" }}"),
        format!("{b}:10: pattern `(` does not compile: unclosed group"),
        format!("{o}:1: TOML syntax error: invalid table header: expected `.`, `]`"),
    ];
    assert_eq!(problems(dir.path()), expected);
    let err = load_dir(dir.path()).expect_err("errors fail the load");
    assert_eq!(
        err.iter().map(ToString::to_string).collect::<Vec<_>>(),
        expected
    );
}

#[test]
fn warnings_do_not_fail_the_load() {
    let thin = format!("{TITLE}{}", entry("account.a", 1))
        .replace(
            ", \"I forgot my password 1\", \"Password reset link 1\"",
            "",
        )
        .replace(", \"忘记密码了怎么办1\"", "");
    let shared = "[topic]\ntitle = { en = \"Billing\", zh = \"账单\" }\n".to_owned()
        + &entry("billing.b", 2).replace("Password reset link 2", "HOW do I reset my password 1")
        + "keywords = [\"reset\"]\n"
        + &entry("billing.c", 3)
        + "keywords = [\"Reset\"]\n";
    let dir = kb_dir(&[
        ("account.toml", thin.as_bytes()),
        ("billing.toml", shared.as_bytes()),
    ]);
    let report = check_dir(dir.path());
    let (a, b) = (at(&dir, "account.toml"), at(&dir, "billing.toml"));
    assert_eq!(
        report.problems.iter().map(ToString::to_string).collect::<Vec<_>>(),
        [
            format!("{a}:4: warning: entry `account.a` has 1 English question(s); 3 or more recommended"),
            format!("{a}:4: warning: entry `account.a` has 1 Chinese question(s); 2 or more recommended"),
            format!("{b}:6: warning: question `HOW do I reset my password 1` is also in entry `account.a` (account.toml:6)"),
            format!("{b}:18: warning: keyword `Reset` is also in entry `billing.b` (billing.toml:10)"),
        ]
    );
    assert!(report
        .problems
        .iter()
        .all(|p| p.severity == Severity::Warning));
    assert!(!report.has_errors());
    let kb = load_dir(dir.path()).expect("warnings only");
    assert_eq!(kb.entries.len(), 3);
}

#[test]
fn faq_list_json_has_id_category_questions_and_english_answer() {
    let report = parse_str("account.toml", &format!("{TITLE}{}", entry("account.a", 1)));
    let kb = report.kb.expect("valid");
    let json = faq_list_json(&kb);
    assert_eq!(
        json,
        serde_json::json!([{
            "id": "account.a",
            "category": "account",
            "questions": [
                "How do I reset my password 1?", "I forgot my password 1", "Password reset link 1",
                "怎么重置密码1？", "忘记密码了怎么办1"
            ],
            "answer": "Use the reset link.",
        }])
    );
}

#[test]
fn watcher_reloads_on_change_and_reports_bad_edits_once() {
    let good = format!("{TITLE}{}", entry("account.a", 1));
    let dir = kb_dir(&[("account.toml", good.as_bytes())]);
    let (mut watcher, first) = KbWatcher::load(dir.path());
    assert!(first.kb.is_some());
    assert!(watcher.poll().is_none(), "nothing changed");

    // Ignored files never trigger a reload.
    std::fs::write(dir.path().join("_draft.toml"), "x").expect("write");
    std::fs::write(dir.path().join("notes.md"), "x").expect("write");
    assert!(!watcher.has_changed());

    // A bad edit (size differs, so it is seen whatever the mtime resolution): problems, no kb.
    std::fs::write(
        dir.path().join("account.toml"),
        format!("{good}\n[[entry]]\n"),
    )
    .expect("write");
    assert!(watcher.has_changed());
    let bad = watcher.poll().expect("changed");
    assert!(bad.kb.is_none());
    assert_eq!(bad.errors().count(), 3, "{:?}", bad.problems);
    assert!(
        watcher.poll().is_none(),
        "the same bad state is reported once"
    );

    // The fix is picked up.
    let fixed = format!("{good}{}", entry("account.b", 2));
    std::fs::write(dir.path().join("account.toml"), fixed).expect("write");
    let kb = watcher.poll().and_then(|r| r.kb).expect("fixed");
    assert_eq!(kb.entries.len(), 2);

    // A new topic file counts, and so does the directory disappearing.
    std::fs::write(
        dir.path().join("billing.toml"),
        format!("{TITLE}{}", entry("billing.a", 3)),
    )
    .expect("write");
    assert_eq!(
        watcher.poll().and_then(|r| r.kb).map(|kb| kb.topics.len()),
        Some(2)
    );
    let path = dir.path().to_owned();
    drop(dir);
    let gone = watcher.poll().expect("directory removed");
    assert!(gone.kb.is_none());
    assert_eq!(kb::fingerprint(&path), kb::Fingerprint::default());
}

/// The knowledge base shipped in the repository must load without errors.
#[test]
fn shipped_faq_directory_has_no_errors() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("faq");
    if !dir.is_dir() {
        eprintln!(
            "note: {} does not exist yet; skipping the shipped knowledge base check",
            dir.display()
        );
        return;
    }
    let report = check_dir(&dir);
    let errors: Vec<String> = report.errors().map(ToString::to_string).collect();
    assert_eq!(errors, Vec::<String>::new());
    for warning in report.warnings() {
        eprintln!("{warning}");
    }
    let kb = report.kb.expect("no errors means a knowledge base");
    assert!(!kb.entries.is_empty());
}
