//! Reading `faq/*.toml` into a [`KnowledgeBase`], collecting every problem on the way.
//!
//! Owns the file format: one topic per file (topic id = file stem), plus `synonyms.toml`.
//! Validation walks the parsed document by hand instead of deserialising with serde,
//! because serde stops at the first mistake and the author should see all of them at once;
//! `toml_edit` gives a byte span for every key and value, which becomes the line number.
//! It must not decide anything about matching: it only checks that the content is usable.

use std::collections::HashMap;
use std::ops::Range;
use std::path::Path;

use toml_edit::{ImDocument, Item, TableLike};

use super::{Answer, Entry, KnowledgeBase, Phrasing, Problem, SynonymGroup, Topic};
use crate::domain::Language;

/// The one file in the directory that is not a topic.
pub const SYNONYMS_FILE: &str = "synonyms.toml";

/// Fewer phrasings than this gets a warning: the matcher needs variety to generalise.
const RECOMMENDED_EN_QUESTIONS: usize = 3;
const RECOMMENDED_ZH_QUESTIONS: usize = 2;

const TOPIC_FILE_FIELDS: &[&str] = &["topic", "entry"];
const TOPIC_FIELDS: &[&str] = &["title"];
const LANGUAGE_FIELDS: &[&str] = &["en", "zh"];
const ENTRY_FIELDS: &[&str] = &[
    "id",
    "questions",
    "keywords",
    "patterns",
    "answer",
    "opens_ticket",
];
const SYNONYMS_FILE_FIELDS: &[&str] = &["group"];
const GROUP_FIELDS: &[&str] = &["terms"];

/// What loading found: the knowledge base when there was no error, and every problem
/// (errors and warnings) sorted by file, then line.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct CheckReport {
    /// `Some` exactly when `problems` holds no error.
    pub kb: Option<KnowledgeBase>,
    pub problems: Vec<Problem>,
}

impl CheckReport {
    pub fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    pub fn errors(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| p.is_error())
    }

    pub fn warnings(&self) -> impl Iterator<Item = &Problem> {
        self.problems.iter().filter(|p| !p.is_error())
    }

    /// The knowledge base, or all problems (warnings included) when there is an error.
    pub fn into_result(self) -> Result<KnowledgeBase, Vec<Problem>> {
        match self.kb {
            Some(kb) => Ok(kb),
            None => Err(self.problems),
        }
    }
}

/// Whether the loader reads a file with this name: `*.toml`, except names starting with
/// `_` (drafts, by convention) or `.` (editor lock and backup files such as `.#a.toml`).
pub fn is_kb_file_name(name: &str) -> bool {
    name.ends_with(".toml") && !name.starts_with('_') && !name.starts_with('.')
}

/// Loads every topic file and `synonyms.toml` in `dir`.
///
/// Fails only on errors; the `Err` then carries every problem found in every file
/// (warnings too), sorted by file and line. Use [`check_dir`] to see warnings on success.
pub fn load_dir(dir: &Path) -> Result<KnowledgeBase, Vec<Problem>> {
    check_dir(dir).into_result()
}

/// Loads `dir` like [`load_dir`] but always returns the full report.
///
/// A missing or unreadable directory, or one without any topic file, is an error on line 0
/// of the directory itself.
pub fn check_dir(dir: &Path) -> CheckReport {
    let dir_name = dir.display().to_string();
    let listing = match std::fs::read_dir(dir) {
        Ok(listing) => listing,
        Err(err) => {
            return Builder::default().fail(Problem::error(
                dir_name,
                0,
                format!("cannot read knowledge base directory: {err}"),
            ))
        }
    };
    let mut names = Vec::new();
    for item in listing {
        let item = match item {
            Ok(item) => item,
            Err(err) => {
                return Builder::default().fail(Problem::error(
                    dir_name,
                    0,
                    format!("cannot list knowledge base directory: {err}"),
                ))
            }
        };
        // Non-UTF-8 names cannot be topic ids; they are skipped like any other non-topic file.
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        // `metadata` follows symlinks, so a linked topic file is read like a plain one.
        let is_file = std::fs::metadata(item.path()).is_ok_and(|m| m.is_file());
        if is_kb_file_name(&name) && is_file {
            names.push(name);
        }
    }
    // Sorted so that topic order, "first defined" and problem order do not depend on the
    // file system's listing order.
    names.sort();

    let mut builder = Builder::default();
    for name in &names {
        let path = dir.join(name);
        let shown = path.display().to_string();
        match std::fs::read(&path) {
            Ok(bytes) => builder.add_bytes(&shown, name, &bytes),
            Err(err) => {
                builder.problem(Problem::error(shown, 0, format!("cannot read file: {err}")))
            }
        }
    }
    if !names.iter().any(|name| name != SYNONYMS_FILE) {
        builder.problem(Problem::error(
            dir_name,
            0,
            "no topic files (*.toml) in the knowledge base directory",
        ));
    }
    builder.finish()
}

/// Checks one file on its own (a topic file, or `synonyms.toml` by its name); ids are only
/// compared within the file. Problems name the file as `path` is given.
pub fn check_file(path: &Path) -> CheckReport {
    let shown = path.display().to_string();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let mut builder = Builder::default();
    match std::fs::read(path) {
        Ok(bytes) => builder.add_bytes(&shown, &name, &bytes),
        Err(err) => builder.problem(Problem::error(shown, 0, format!("cannot read file: {err}"))),
    }
    builder.finish()
}

/// Checks `text` as if it were the file `name` (`account.toml` → topic `account`;
/// `synonyms.toml` → synonyms). For tests and editors; nothing is read from disk.
pub fn parse_str(name: &str, text: &str) -> CheckReport {
    let mut builder = Builder::default();
    builder.add_text(name, name, text);
    builder.finish()
}

/// Byte offset → 1-based line number.
struct Lines {
    starts: Vec<usize>,
}

impl Lines {
    fn new(text: &[u8]) -> Lines {
        let mut starts = vec![0];
        starts.extend(
            text.iter()
                .enumerate()
                .filter(|(_, b)| **b == b'\n')
                .map(|(i, _)| i + 1),
        );
        Lines { starts }
    }

    fn line(&self, offset: usize) -> usize {
        self.starts.partition_point(|start| *start <= offset)
    }

    fn of(&self, span: Option<Range<usize>>, fallback: usize) -> usize {
        span.map_or(fallback, |span| self.line(span.start))
    }
}

/// Where the first occurrence of something was, for "first defined at" messages.
#[derive(Debug, Clone)]
struct Origin {
    /// The entry (or synonym group) it belongs to.
    owner: String,
    file_name: String,
    line: usize,
}

impl std::fmt::Display for Origin {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}:{}", self.file_name, self.line)
    }
}

/// Accumulates files into one knowledge base; cross-file checks (duplicate ids, shared
/// questions) need to see every file, which is why this is not per-file.
#[derive(Default)]
struct Builder {
    kb: KnowledgeBase,
    problems: Vec<Problem>,
    ids: HashMap<String, Origin>,
    questions: HashMap<String, Origin>,
    keywords: HashMap<String, Origin>,
    terms: HashMap<String, Origin>,
}

impl Builder {
    fn problem(&mut self, problem: Problem) {
        self.problems.push(problem);
    }

    fn has_errors(&self) -> bool {
        self.problems.iter().any(Problem::is_error)
    }

    fn fail(mut self, problem: Problem) -> CheckReport {
        self.problem(problem);
        self.finish()
    }

    fn finish(mut self) -> CheckReport {
        // Stable: problems on the same line keep the order they were found in.
        self.problems
            .sort_by(|a, b| (&a.file, a.line).cmp(&(&b.file, b.line)));
        let kb = (!self.has_errors()).then_some(self.kb);
        CheckReport {
            kb,
            problems: self.problems,
        }
    }

    fn add_bytes(&mut self, shown: &str, name: &str, bytes: &[u8]) {
        match std::str::from_utf8(bytes) {
            Ok(text) => self.add_text(shown, name, text),
            Err(err) => {
                let bad = err.valid_up_to();
                let lines = Lines::new(bytes);
                let line = lines.line(bad);
                let column = bad - lines.starts[line - 1] + 1;
                self.problem(Problem::error(
                    shown,
                    line,
                    format!(
                        "file is not valid UTF-8 (first bad byte 0x{:02x} at column {column})",
                        bytes[bad]
                    ),
                ));
            }
        }
    }

    fn add_text(&mut self, shown: &str, name: &str, text: &str) {
        // A BOM is invisible in editors and rejected by TOML; it holds no newline, so
        // dropping it changes no line number.
        let text = text.strip_prefix('\u{feff}').unwrap_or(text);
        let mut file = FileCheck {
            shown: shown.to_owned(),
            name: name.to_owned(),
            lines: Lines::new(text.as_bytes()),
            builder: self,
        };
        let doc = match ImDocument::parse(text) {
            Ok(doc) => doc,
            Err(err) => {
                let line = file.lines.of(err.span(), 1);
                let message = err
                    .message()
                    .lines()
                    .map(str::trim)
                    .filter(|l| !l.is_empty())
                    .collect::<Vec<_>>()
                    .join(": ");
                file.error(line, format!("TOML syntax error: {message}"));
                return;
            }
        };
        if name == SYNONYMS_FILE {
            file.synonyms_file(doc.as_table());
        } else {
            let topic_id = name.strip_suffix(".toml").unwrap_or(name).to_owned();
            file.topic_file(&topic_id, doc.as_table());
        }
    }
}

/// One file being checked.
struct FileCheck<'b> {
    shown: String,
    name: String,
    lines: Lines,
    builder: &'b mut Builder,
}

/// A table that may be written as `[[x]]` or as an inline table inside `x = [ {..} ]`.
struct Row<'d> {
    table: &'d dyn TableLike,
    line: usize,
}

impl FileCheck<'_> {
    fn error(&mut self, line: usize, message: impl Into<String>) {
        let problem = Problem::error(self.shown.clone(), line, message);
        self.builder.problem(problem);
    }

    fn warn(&mut self, line: usize, message: impl Into<String>) {
        let problem = Problem::warning(self.shown.clone(), line, message);
        self.builder.problem(problem);
    }

    fn origin(&self, owner: &str, line: usize) -> Origin {
        Origin {
            owner: owner.to_owned(),
            file_name: self.name.clone(),
            line,
        }
    }

    /// Line of `key` in `table`, or `fallback` when it has no span.
    fn key_line(&self, table: &dyn TableLike, key: &str, fallback: usize) -> usize {
        let span = table.get_key_value(key).and_then(|(key, _)| key.span());
        self.lines.of(span, fallback)
    }

    /// Line of the value of `key`; for dotted-key tables (`answer.en = ..`) the table
    /// itself has no span, so this falls back to the key.
    fn value_line(&self, table: &dyn TableLike, key: &str, fallback: usize) -> usize {
        let key_line = self.key_line(table, key, fallback);
        let span = table.get(key).and_then(Item::span);
        self.lines.of(span, key_line)
    }

    fn check_fields(
        &mut self,
        table: &dyn TableLike,
        allowed: &[&str],
        context: &str,
        fallback: usize,
    ) {
        let unknown: Vec<String> = table
            .iter()
            .map(|(k, _)| k.to_owned())
            .filter(|k| !allowed.contains(&k.as_str()))
            .collect();
        for key in unknown {
            let line = self.key_line(table, &key, fallback);
            let allowed = allowed
                .iter()
                .map(|a| format!("`{a}`"))
                .collect::<Vec<_>>()
                .join(", ");
            self.error(
                line,
                format!("unknown field `{key}` in {context} (allowed: {allowed})"),
            );
        }
    }

    /// The rows of an array of tables; `None` (after reporting) when `item` is something else.
    fn rows<'d>(&mut self, item: &'d Item, name: &str, line: usize) -> Option<Vec<Row<'d>>> {
        if let Some(tables) = item.as_array_of_tables() {
            return Some(
                tables
                    .iter()
                    .map(|table| Row {
                        table: table as &dyn TableLike,
                        line: self.lines.of(table.span(), line),
                    })
                    .collect(),
            );
        }
        if let Some(array) = item.as_array() {
            let mut rows = Vec::new();
            for value in array.iter() {
                let row_line = self.lines.of(value.span(), line);
                match value.as_inline_table() {
                    Some(table) => rows.push(Row {
                        table: table as &dyn TableLike,
                        line: row_line,
                    }),
                    None => self.error(
                        row_line,
                        format!(
                            "`{name}` must hold tables ([[{name}]]), found {}",
                            value.type_name()
                        ),
                    ),
                }
            }
            return Some(rows);
        }
        self.error(
            line,
            format!(
                "`{name}` must be an array of tables ([[{name}]]), found {}",
                item.type_name()
            ),
        );
        None
    }

    /// A list of strings with their lines; non-strings are reported and skipped.
    fn string_list(&mut self, item: &Item, what: &str, line: usize) -> Vec<(String, usize)> {
        let Some(array) = item.as_array() else {
            self.error(
                line,
                format!(
                    "`{what}` must be an array of strings, found {}",
                    item.type_name()
                ),
            );
            return Vec::new();
        };
        let mut out = Vec::new();
        for value in array.iter() {
            let value_line = self.lines.of(value.span(), line);
            match value.as_str() {
                Some(text) => out.push((text.trim().to_owned(), value_line)),
                None => self.error(
                    value_line,
                    format!(
                        "`{what}` must contain only strings, found {}",
                        value.type_name()
                    ),
                ),
            }
        }
        out
    }

    /// `{ en = "..", zh = ".." }` or `x.en = ".."` / `x.zh = ".."`: each text (trimmed) with
    /// its line, `None` when missing; type errors are reported here.
    fn language_strings(
        &mut self,
        table: &dyn TableLike,
        name: &str,
        line: usize,
    ) -> [(Option<String>, usize); 2] {
        let Some(item) = table.get(name) else {
            return [(None, line), (None, line)];
        };
        let name_line = self.key_line(table, name, line);
        let Some(inner) = item.as_table_like() else {
            let found = item.type_name();
            let message = format!(
                "`{name}` must be a table with `en` and `zh` \
                 ({name}.en = \"...\", {name}.zh = \"...\"), found {found}"
            );
            self.error(name_line, message);
            return [(None, name_line), (None, name_line)];
        };
        self.check_fields(inner, LANGUAGE_FIELDS, &format!("`{name}`"), name_line);
        ["en", "zh"].map(|lang| match inner.get(lang) {
            None => (None, name_line),
            Some(value) => {
                let value_line = self.value_line(inner, lang, name_line);
                match value.as_str() {
                    Some(text) => (Some(text.trim().to_owned()), value_line),
                    None => {
                        self.error(
                            value_line,
                            format!(
                                "`{name}.{lang}` must be a string, found {}",
                                value.type_name()
                            ),
                        );
                        (Some(String::new()), value_line)
                    }
                }
            }
        })
    }

    fn topic_file(&mut self, topic_id: &str, root: &dyn TableLike) {
        self.check_fields(root, TOPIC_FILE_FIELDS, "a topic file", 1);
        if !is_valid_id(topic_id) || topic_id.contains('.') {
            self.error(
                1,
                format!(
                    "topic id `{topic_id}` (the file name) must use only a-z, 0-9, '_' and '-'"
                ),
            );
        }
        let topic = self.topic(topic_id, root);
        self.builder.kb.topics.push(topic);

        let Some(entries) = root.get("entry") else {
            self.warn(1, "topic has no entries ([[entry]])");
            return;
        };
        let line = self.key_line(root, "entry", 1);
        let Some(rows) = self.rows(entries, "entry", line) else {
            return;
        };
        if rows.is_empty() {
            self.warn(line, "topic has no entries ([[entry]])");
        }
        for row in rows {
            let entry = self.entry(topic_id, &row);
            self.builder.kb.entries.push(entry);
        }
    }

    fn topic(&mut self, topic_id: &str, root: &dyn TableLike) -> Topic {
        let mut topic = Topic {
            id: topic_id.to_owned(),
            title_en: String::new(),
            title_zh: String::new(),
        };
        let Some(item) = root.get("topic") else {
            self.error(
                1,
                "missing [topic] table with title = { en = \"...\", zh = \"...\" }",
            );
            return topic;
        };
        let line = self.value_line(root, "topic", 1);
        let Some(table) = item.as_table_like() else {
            self.error(
                line,
                format!(
                    "`topic` must be a table ([topic]), found {}",
                    item.type_name()
                ),
            );
            return topic;
        };
        self.check_fields(table, TOPIC_FIELDS, "[topic]", line);
        if table.get("title").is_none() {
            self.error(
                line,
                "missing topic title (title = { en = \"...\", zh = \"...\" })",
            );
            return topic;
        }
        let [(en, en_line), (zh, zh_line)] = self.language_strings(table, "title", line);
        for (text, text_line, lang) in [(&en, en_line, "en"), (&zh, zh_line, "zh")] {
            match text {
                None => self.error(text_line, format!("missing topic title.{lang}")),
                Some(t) if t.is_empty() => {
                    self.error(text_line, format!("empty topic title.{lang}"))
                }
                Some(_) => {}
            }
        }
        topic.title_en = en.unwrap_or_default();
        topic.title_zh = zh.unwrap_or_default();
        topic
    }

    fn entry(&mut self, topic_id: &str, row: &Row<'_>) -> Entry {
        let table = row.table;
        let line = row.line;
        self.check_fields(table, ENTRY_FIELDS, "[[entry]]", line);

        let id = self.entry_id(table, line);
        // Names the entry in messages: "entry `x`" once the id is known.
        let label = id
            .as_deref()
            .map_or_else(|| "entry".to_owned(), |id| format!("entry `{id}`"));
        let owner = id.clone().unwrap_or_default();

        let questions = self.questions(table, line, &label, &owner);
        let keywords = match table.get("keywords") {
            Some(item) => {
                let keywords_line = self.value_line(table, "keywords", line);
                let list = self.string_list(item, "keywords", keywords_line);
                self.keywords(list, &label, &owner)
            }
            None => Vec::new(),
        };
        let patterns = match table.get("patterns") {
            Some(item) => {
                let patterns_line = self.value_line(table, "patterns", line);
                let list = self.string_list(item, "patterns", patterns_line);
                self.patterns(list)
            }
            None => Vec::new(),
        };
        let answer = self.answer(table, line, &label);
        let opens_ticket = match table.get("opens_ticket") {
            None => false,
            Some(item) => match item.as_bool() {
                Some(b) => b,
                None => {
                    let at = self.value_line(table, "opens_ticket", line);
                    self.error(
                        at,
                        format!(
                            "{label}: `opens_ticket` must be true or false, found {}",
                            item.type_name()
                        ),
                    );
                    false
                }
            },
        };

        Entry {
            id: id.unwrap_or_default(),
            topic: topic_id.to_owned(),
            questions,
            keywords,
            patterns,
            answer,
            opens_ticket,
        }
    }

    fn entry_id(&mut self, table: &dyn TableLike, line: usize) -> Option<String> {
        let Some(item) = table.get("id") else {
            self.error(line, "entry has no `id`");
            return None;
        };
        let id_line = self.value_line(table, "id", line);
        let Some(id) = item.as_str() else {
            self.error(
                id_line,
                format!("`id` must be a string, found {}", item.type_name()),
            );
            return None;
        };
        if !is_valid_id(id) {
            self.error(
                id_line,
                format!("invalid id `{id}`: use only a-z, 0-9, '.', '_' and '-'"),
            );
            return None;
        }
        if let Some(first) = self.builder.ids.get(id) {
            let message = format!("duplicate id `{id}` (first defined at {first})");
            self.error(id_line, message);
        } else {
            let origin = self.origin(id, id_line);
            self.builder.ids.insert(id.to_owned(), origin);
        }
        Some(id.to_owned())
    }

    fn questions(
        &mut self,
        table: &dyn TableLike,
        line: usize,
        label: &str,
        owner: &str,
    ) -> Vec<Phrasing> {
        let mut phrasings = Vec::new();
        if let Some(item) = table.get("questions") {
            let questions_line = self.key_line(table, "questions", line);
            match item.as_table_like() {
                None => {
                    let found = item.type_name();
                    let message = format!(
                        "`questions` must be a table \
                         (questions.en = [...], questions.zh = [...]), found {found}"
                    );
                    self.error(questions_line, message);
                }
                Some(inner) => {
                    self.check_fields(inner, LANGUAGE_FIELDS, "`questions`", questions_line);
                    for language in [Language::En, Language::Zh] {
                        let found = self.phrasings(inner, language, questions_line, label, owner);
                        phrasings.extend(found);
                    }
                }
            }
        }
        if phrasings.is_empty() {
            let message = format!("{label} has no questions (add questions.en and questions.zh)");
            self.error(line, message);
            return phrasings;
        }
        for (language, name, recommended) in [
            (Language::En, "English", RECOMMENDED_EN_QUESTIONS),
            (Language::Zh, "Chinese", RECOMMENDED_ZH_QUESTIONS),
        ] {
            let count = phrasings.iter().filter(|p| p.language == language).count();
            if count < recommended {
                let message = format!(
                    "{label} has {count} {name} question(s); {recommended} or more recommended"
                );
                self.warn(line, message);
            }
        }
        phrasings
    }

    /// The non-empty phrasings of `questions.en` or `questions.zh`.
    fn phrasings(
        &mut self,
        questions: &dyn TableLike,
        language: Language,
        questions_line: usize,
        label: &str,
        owner: &str,
    ) -> Vec<Phrasing> {
        let lang = match language {
            Language::En => "en",
            Language::Zh => "zh",
        };
        let Some(list) = questions.get(lang) else {
            return Vec::new();
        };
        let list_line = self.value_line(questions, lang, questions_line);
        let mut phrasings = Vec::new();
        for (text, text_line) in self.string_list(list, &format!("questions.{lang}"), list_line) {
            if text.is_empty() {
                let message = format!("empty question in questions.{lang} of {label} is ignored");
                self.warn(text_line, message);
                continue;
            }
            self.note_question(&text, text_line, owner);
            phrasings.push(Phrasing { language, text });
        }
        phrasings
    }

    /// Warns when the same question (ignoring case, spacing and punctuation) appears twice:
    /// in two entries it makes the matcher's choice arbitrary.
    fn note_question(&mut self, text: &str, line: usize, owner: &str) {
        let key = comparable(text);
        if key.is_empty() {
            return;
        }
        match self.builder.questions.get(&key).cloned() {
            Some(first) if first.owner == owner => {
                self.warn(
                    line,
                    format!("question `{text}` repeats the one at {first}"),
                );
            }
            Some(first) => {
                self.warn(
                    line,
                    format!(
                        "question `{text}` is also in entry `{}` ({first})",
                        first.owner
                    ),
                );
            }
            None => {
                let origin = self.origin(owner, line);
                self.builder.questions.insert(key, origin);
            }
        }
    }

    fn keywords(&mut self, list: Vec<(String, usize)>, label: &str, owner: &str) -> Vec<String> {
        let mut keywords = Vec::new();
        for (keyword, line) in list {
            if keyword.is_empty() {
                // An empty phrase is found in every message.
                self.error(line, format!("empty keyword in {label}"));
                continue;
            }
            let key = keyword.to_lowercase();
            match self.builder.keywords.get(&key).cloned() {
                Some(first) if first.owner != owner => {
                    self.warn(
                        line,
                        format!(
                            "keyword `{keyword}` is also in entry `{}` ({first})",
                            first.owner
                        ),
                    );
                }
                Some(_) => {}
                None => {
                    let origin = self.origin(owner, line);
                    self.builder.keywords.insert(key, origin);
                }
            }
            keywords.push(keyword);
        }
        keywords
    }

    fn patterns(&mut self, list: Vec<(String, usize)>) -> Vec<String> {
        let mut patterns = Vec::new();
        for (pattern, line) in list {
            match regex::Regex::new(&pattern) {
                Err(err) => self.error(
                    line,
                    format!(
                        "pattern `{pattern}` does not compile: {}",
                        regex_error_summary(&err)
                    ),
                ),
                // Matching both nothing and unrelated text means it matches every message.
                Ok(re) if re.is_match("") && re.is_match("zq unrelated text 无关") => {
                    self.error(line, format!("pattern `{pattern}` matches any text"));
                }
                Ok(_) => {}
            }
            patterns.push(pattern);
        }
        patterns
    }

    fn answer(&mut self, table: &dyn TableLike, line: usize, label: &str) -> Answer {
        if table.get("answer").is_none() {
            self.error(
                line,
                format!("{label} has no answer (answer.en and answer.zh are required)"),
            );
            return Answer::default();
        }
        let [(en, en_line), (zh, zh_line)] = self.language_strings(table, "answer", line);
        for (text, text_line, language, field) in [
            (&en, en_line, "English", "answer.en"),
            (&zh, zh_line, "Chinese", "answer.zh"),
        ] {
            match text {
                None => self.error(
                    text_line,
                    format!("{label} has no {language} answer ({field})"),
                ),
                Some(t) if t.is_empty() => self.error(
                    text_line,
                    format!("{label} has an empty {language} answer ({field})"),
                ),
                Some(_) => {}
            }
        }
        Answer {
            en: en.unwrap_or_default(),
            zh: zh.unwrap_or_default(),
        }
    }

    fn synonyms_file(&mut self, root: &dyn TableLike) {
        self.check_fields(root, SYNONYMS_FILE_FIELDS, "the synonyms file", 1);
        let Some(groups) = root.get("group") else {
            return;
        };
        let line = self.key_line(root, "group", 1);
        let Some(rows) = self.rows(groups, "group", line) else {
            return;
        };
        for row in rows {
            self.check_fields(row.table, GROUP_FIELDS, "[[group]]", row.line);
            let Some(item) = row.table.get("terms") else {
                self.error(row.line, "synonym group has no `terms`");
                continue;
            };
            let terms_line = self.value_line(row.table, "terms", row.line);
            let mut terms = Vec::new();
            for (term, term_line) in self.string_list(item, "terms", terms_line) {
                if term.is_empty() {
                    self.error(term_line, "empty synonym term");
                    continue;
                }
                let owner = format!("group@{}", row.line);
                match self.builder.terms.get(&term.to_lowercase()).cloned() {
                    Some(first) if first.owner != owner => {
                        self.warn(
                            term_line,
                            format!("term `{term}` is also in the synonym group at {first}"),
                        );
                    }
                    Some(_) => {}
                    None => {
                        let origin = self.origin(&owner, row.line);
                        self.builder.terms.insert(term.to_lowercase(), origin);
                    }
                }
                terms.push(term);
            }
            if terms.len() < 2 {
                self.error(
                    row.line,
                    format!(
                        "synonym group needs at least 2 terms, found {}",
                        terms.len()
                    ),
                );
            }
            self.builder.kb.synonyms.push(SynonymGroup { terms });
        }
    }
}

/// Entry ids are used in commands (`/faq <id>`), logs and statistics: keep them plain.
fn is_valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.bytes().all(|b| {
            b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'_' | b'-')
        })
}

/// The text used to spot repeated questions: letters and digits only, lowercased.
fn comparable(text: &str) -> String {
    text.chars()
        .filter(|c| c.is_alphanumeric())
        .flat_map(char::to_lowercase)
        .collect()
}

/// The useful line of a regex error: parse errors are a multi-line picture whose last
/// `error: ...` line says what is wrong; other errors are one line.
fn regex_error_summary(err: &regex::Error) -> String {
    let text = err.to_string();
    text.lines()
        .find_map(|line| line.trim().strip_prefix("error: "))
        .or_else(|| text.lines().map(str::trim).find(|line| !line.is_empty()))
        .unwrap_or("invalid regex")
        .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_are_one_based_and_count_newlines_before_the_offset() {
        let lines = Lines::new(b"a\nbc\n\nd");
        assert_eq!(lines.line(0), 1);
        assert_eq!(lines.line(1), 1); // the newline itself belongs to its line
        assert_eq!(lines.line(2), 2);
        assert_eq!(lines.line(5), 3);
        assert_eq!(lines.line(6), 4);
    }

    #[test]
    fn ids_allow_lowercase_digits_dot_dash_underscore_only() {
        assert!(is_valid_id("account.reset-password_2"));
        for bad in ["", "Account", "a b", "账户", "a/b"] {
            assert!(!is_valid_id(bad), "{bad:?}");
        }
    }

    #[test]
    fn file_names_skip_drafts_hidden_and_non_toml() {
        assert!(is_kb_file_name("account.toml"));
        assert!(is_kb_file_name("synonyms.toml"));
        for skipped in [
            "_draft.toml",
            ".#account.toml",
            "README.md",
            "account.toml.bak",
        ] {
            assert!(!is_kb_file_name(skipped), "{skipped}");
        }
    }

    #[test]
    fn regex_summary_is_the_error_line() {
        // Built at run time: clippy rejects an invalid regex literal.
        let pattern = String::from("(a");
        let err = regex::Regex::new(&pattern).err();
        assert_eq!(
            err.map(|e| regex_error_summary(&e)).as_deref(),
            Some("unclosed group")
        );
    }

    #[test]
    fn comparable_ignores_case_spacing_and_punctuation() {
        assert_eq!(comparable("How do I reset?"), comparable("how do i  reset"));
        assert_eq!(comparable("怎么重置密码？"), "怎么重置密码");
    }
}
