//! Change detection for hot reload of the knowledge base directory.
//!
//! Synchronous and small on purpose: the caller owns the timer (an async polling task)
//! and the swap of the live knowledge base. This module only answers "did the files the
//! loader reads change?" and reloads when asked. It never logs and never sleeps.

use std::path::{Path, PathBuf};
use std::time::SystemTime;

use super::load::{check_dir, is_kb_file_name, CheckReport};

/// Name, size and modification time of every file the loader would read.
///
/// Sizes and times rather than contents keep a poll cheap. A rewrite that keeps both the
/// size and the modification time (same nanosecond on Linux, same second on coarse file
/// systems) goes unnoticed until the next change.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Fingerprint {
    /// False when the directory could not be listed, so that it disappearing (or coming
    /// back) counts as a change.
    readable: bool,
    files: Vec<FileStamp>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
struct FileStamp {
    name: String,
    len: u64,
    modified: Option<SystemTime>,
}

/// Takes the fingerprint of `dir` now. Files the loader ignores (`_draft.toml`, `README.md`,
/// editor backups) are left out, so editing them triggers no reload.
pub fn fingerprint(dir: &Path) -> Fingerprint {
    let Ok(listing) = std::fs::read_dir(dir) else {
        return Fingerprint::default();
    };
    let mut files = Vec::new();
    for item in listing.flatten() {
        let Ok(name) = item.file_name().into_string() else {
            continue;
        };
        if !is_kb_file_name(&name) {
            continue;
        }
        // Follows symlinks, like the loader.
        let Ok(meta) = std::fs::metadata(item.path()) else {
            continue;
        };
        if meta.is_file() {
            files.push(FileStamp {
                name,
                len: meta.len(),
                modified: meta.modified().ok(),
            });
        }
    }
    files.sort_by(|a, b| a.name.cmp(&b.name));
    Fingerprint {
        readable: true,
        files,
    }
}

/// Remembers the last fingerprint of a knowledge base directory and reloads on change.
///
/// ```no_run
/// # use frontdesk::faq::kb::KbWatcher;
/// let (mut watcher, first) = KbWatcher::load("faq");
/// let mut live = first.into_result().expect("the shipped knowledge base is valid");
/// // every few seconds, from the caller's own timer:
/// if let Some(report) = watcher.poll() {
///     match report.kb {
///         Some(kb) => live = kb,
///         // A bad edit: keep serving `live` and log `report.problems`.
///         None => {}
///     }
/// }
/// # drop(live);
/// ```
#[derive(Debug, Clone)]
pub struct KbWatcher {
    dir: PathBuf,
    last: Fingerprint,
}

impl KbWatcher {
    /// Starts watching `dir` from its current state, without loading it.
    pub fn new(dir: impl Into<PathBuf>) -> KbWatcher {
        let dir = dir.into();
        let last = fingerprint(&dir);
        KbWatcher { dir, last }
    }

    /// Loads `dir` and starts watching it. The fingerprint is taken before reading, so an
    /// edit that lands while loading is seen by the next [`poll`](KbWatcher::poll).
    pub fn load(dir: impl Into<PathBuf>) -> (KbWatcher, CheckReport) {
        let watcher = KbWatcher::new(dir);
        let report = check_dir(&watcher.dir);
        (watcher, report)
    }

    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// Whether the files differ from the last fingerprint; remembers nothing.
    pub fn has_changed(&self) -> bool {
        fingerprint(&self.dir) != self.last
    }

    /// Reloads if the files changed since the last call: `None` when nothing changed,
    /// otherwise the new report.
    ///
    /// When the report has errors (`report.kb` is `None`) the caller keeps the previous
    /// knowledge base and logs the problems. The bad state is remembered, so the same
    /// problems are not reported again on every poll; the next edit triggers a new load.
    pub fn poll(&mut self) -> Option<CheckReport> {
        let now = fingerprint(&self.dir);
        if now == self.last {
            return None;
        }
        self.last = now;
        Some(check_dir(&self.dir))
    }
}
