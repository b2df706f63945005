//! Triage: category, priority and department from rules kept as data (SPEC §2).

use crate::domain::{Category, Priority};

/// The outcome of triage for one customer message.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Triage {
    pub category: Category,
    pub sub_category: Option<String>,
    pub priority: Priority,
    pub department: String,
    /// Complaints and safety/security issues alert the supervisors at once.
    pub notify_supervisors: bool,
}

/// Triage rules (keywords and patterns per category and urgency signal, en + zh).
#[derive(Debug, Clone)]
pub struct TriageRules {}

impl TriageRules {
    pub fn builtin() -> TriageRules {
        TriageRules {}
    }

    pub fn classify(&self, _text: &str, _vip: bool) -> Triage {
        todo!("triage")
    }
}
