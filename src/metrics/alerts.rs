//! Threshold alerts (SPEC §6): which configured conditions hold for a period's metrics,
//! and which of them changed since the last evaluation.
//!
//! Pure: the worker (`metrics_worker`) gathers the metrics, keeps each condition's last
//! state in the store and sends the changes to the supervisors. An alert is said when a
//! condition starts to hold and once more when it clears — never on every evaluation.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::render::human_secs;
use super::{Metrics, Period};

/// `[alerts]` settings. A threshold left out is not checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct AlertSettings {
    /// Evaluate the thresholds at all (changes go to the supervisors' chats, else the desk).
    pub enabled: bool,
    /// The period the conditions look at, ending now (`24h`, `7d`, `today`).
    pub window: String,
    /// Minutes between evaluations.
    pub every_minutes: u64,
    /// Alert when the average first response takes longer than this.
    pub avg_first_response_minutes: Option<f64>,
    /// Alert when SLA compliance (first response and resolution together) is below this
    /// fraction (0.9 = 90 %).
    pub sla_compliance_below: Option<f64>,
    /// Alert when the average rating is below this.
    pub csat_below: Option<f64>,
    /// Alert when more P1 tickets than this wait for agents.
    pub backlog_p1_above: Option<u64>,
}

impl Default for AlertSettings {
    fn default() -> Self {
        AlertSettings {
            enabled: true,
            window: "24h".into(),
            every_minutes: 5,
            avg_first_response_minutes: Some(25.0),
            sla_compliance_below: Some(0.9),
            csat_below: Some(4.0),
            backlog_p1_above: None,
        }
    }
}

impl AlertSettings {
    /// The window, checked.
    pub fn period(&self) -> Result<Period, String> {
        self.window
            .parse::<Period>()
            .map_err(|e| format!("alerts.window: {e}"))
    }

    /// Problems a person must fix before starting.
    pub fn validate(&self) -> Result<(), String> {
        self.period()?;
        if self.every_minutes == 0 {
            return Err("alerts.every_minutes must be at least 1".into());
        }
        if let Some(v) = self.sla_compliance_below {
            if !(0.0..=1.0).contains(&v) {
                return Err(format!(
                    "alerts.sla_compliance_below must be a fraction between 0 and 1 (got {v})"
                ));
            }
        }
        if let Some(v) = self.csat_below {
            if !(1.0..=5.0).contains(&v) {
                return Err(format!(
                    "alerts.csat_below must be between 1 and 5 (got {v})"
                ));
            }
        }
        if let Some(v) = self.avg_first_response_minutes {
            if v.is_nan() || v <= 0.0 {
                return Err(format!(
                    "alerts.avg_first_response_minutes must be positive (got {v})"
                ));
            }
        }
        Ok(())
    }

    /// Nothing to check.
    pub fn is_empty(&self) -> bool {
        self.avg_first_response_minutes.is_none()
            && self.sla_compliance_below.is_none()
            && self.csat_below.is_none()
            && self.backlog_p1_above.is_none()
    }
}

/// One configured condition, evaluated.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertCheck {
    /// Stable name, the key of its stored state.
    pub key: &'static str,
    /// The condition holds (there is something wrong).
    pub firing: bool,
    /// The measured value, when there was anything to measure.
    pub value: Option<f64>,
    /// What a supervisor reads: the value against the threshold.
    pub text: String,
}

/// Evaluates every configured condition. A condition without data (no first responses,
/// no ratings, …) does not hold: silence is not a breach.
pub fn evaluate(settings: &AlertSettings, period: Period, m: &Metrics) -> Vec<AlertCheck> {
    let during = period.describe();
    let mut checks = Vec::new();
    if let Some(limit) = settings.avg_first_response_minutes {
        let value = m.first_response.avg_secs.map(|s| s / 60.0);
        checks.push(AlertCheck {
            key: "avg_first_response",
            firing: value.is_some_and(|v| v > limit),
            value,
            text: format!(
                "average first response {} ({during}, {} tickets; limit {} min)",
                m.first_response
                    .avg_secs
                    .map(human_secs)
                    .unwrap_or_else(|| "–".into()),
                m.first_response.count,
                limit
            ),
        });
    }
    if let Some(limit) = settings.sla_compliance_below {
        let value = m.sla_compliance();
        checks.push(AlertCheck {
            key: "sla_compliance",
            firing: value.is_some_and(|v| v < limit),
            value,
            text: format!(
                "SLA compliance {} ({during}, {} of {} promises kept; minimum {:.0}%)",
                value
                    .map(|v| format!("{:.0}%", v * 100.0))
                    .unwrap_or_else(|| "–".into()),
                m.sla_first_response.met + m.sla_resolution.met,
                m.sla_first_response.due + m.sla_resolution.due,
                limit * 100.0
            ),
        });
    }
    if let Some(limit) = settings.csat_below {
        let value = m.csat.average();
        checks.push(AlertCheck {
            key: "csat",
            firing: value.is_some_and(|v| v < limit),
            value,
            text: format!(
                "CSAT {} ({during}, {} ratings; minimum {limit:.1})",
                value
                    .map(|v| format!("{v:.1}/5"))
                    .unwrap_or_else(|| "–".into()),
                m.csat.count
            ),
        });
    }
    if let Some(limit) = settings.backlog_p1_above {
        checks.push(AlertCheck {
            key: "backlog_p1",
            firing: m.backlog.p1 > limit,
            value: Some(m.backlog.p1 as f64),
            text: format!(
                "P1 tickets waiting for agents: {} (limit {limit})",
                m.backlog.p1
            ),
        });
    }
    checks
}

/// A condition that started or stopped holding: what to tell the supervisors and store.
#[derive(Debug, Clone, PartialEq)]
pub struct AlertChange {
    pub key: &'static str,
    pub firing: bool,
    pub value: Option<f64>,
    pub text: String,
}

impl AlertChange {
    /// The supervisors' message.
    pub fn message(&self) -> String {
        if self.firing {
            format!("⚠ Alert: {}.", self.text)
        } else {
            format!("✓ Back to normal: {}.", self.text)
        }
    }
}

/// The checks whose state differs from the stored one (`key → firing`). A condition never
/// seen before counts as not firing, so a healthy start says nothing.
pub fn changes(checks: &[AlertCheck], previous: &BTreeMap<String, bool>) -> Vec<AlertChange> {
    checks
        .iter()
        .filter(|c| previous.get(c.key).copied().unwrap_or(false) != c.firing)
        .map(|c| AlertChange {
            key: c.key,
            firing: c.firing,
            value: c.value,
            text: c.text.clone(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metrics::{Compliance, Csat, DurationStats};

    fn metrics(avg_first_response_min: f64, met: u64, due: u64, csat: (u64, u64)) -> Metrics {
        Metrics {
            first_response: DurationStats {
                count: 4,
                avg_secs: Some(avg_first_response_min * 60.0),
                p50_secs: None,
                p90_secs: None,
            },
            sla_first_response: Compliance { due, met },
            csat: Csat {
                count: csat.0,
                sum: csat.1,
                satisfied: 0,
                ..Csat::default()
            },
            ..Metrics::default()
        }
    }

    #[test]
    fn each_threshold_fires_only_past_its_limit() {
        let s = AlertSettings {
            backlog_p1_above: Some(2),
            ..AlertSettings::default()
        };
        let healthy = metrics(25.0, 9, 10, (2, 8));
        let checks = evaluate(&s, Period::Hours(24), &healthy);
        assert_eq!(checks.len(), 4);
        assert!(checks.iter().all(|c| !c.firing), "{checks:?}");

        let mut bad = metrics(26.0, 8, 10, (2, 7));
        bad.backlog.p1 = 3;
        let checks = evaluate(&s, Period::Hours(24), &bad);
        assert!(checks.iter().all(|c| c.firing), "{checks:?}");
        assert!(checks[0].text.contains("26 min"), "{}", checks[0].text);
        assert_eq!(checks[1].value, Some(0.8));
        assert_eq!(checks[2].value, Some(3.5));
    }

    #[test]
    fn no_data_is_not_a_breach() {
        let checks = evaluate(
            &AlertSettings::default(),
            Period::Days(1),
            &Metrics::default(),
        );
        assert!(checks.iter().all(|c| !c.firing && c.value.is_none()));
    }

    #[test]
    fn only_changes_are_reported() {
        let s = AlertSettings::default();
        let bad = evaluate(&s, Period::Hours(24), &metrics(40.0, 10, 10, (0, 0)));
        let none = BTreeMap::new();
        let first = changes(&bad, &none);
        assert_eq!(first.len(), 1);
        assert_eq!(first[0].key, "avg_first_response");
        assert!(first[0]
            .message()
            .starts_with("⚠ Alert: average first response 40 min"));
        let stored: BTreeMap<String, bool> = [("avg_first_response".to_string(), true)].into();
        assert!(changes(&bad, &stored).is_empty());
        let good = evaluate(&s, Period::Hours(24), &metrics(10.0, 10, 10, (0, 0)));
        let cleared = changes(&good, &stored);
        assert_eq!(cleared.len(), 1);
        assert!(!cleared[0].firing);
        assert!(cleared[0].message().starts_with("✓ Back to normal"));
    }

    #[test]
    fn settings_are_checked() {
        assert!(AlertSettings::default().validate().is_ok());
        let bad = [
            AlertSettings {
                window: "soon".into(),
                ..AlertSettings::default()
            },
            AlertSettings {
                sla_compliance_below: Some(90.0),
                ..AlertSettings::default()
            },
            AlertSettings {
                every_minutes: 0,
                ..AlertSettings::default()
            },
            AlertSettings {
                csat_below: Some(7.0),
                ..AlertSettings::default()
            },
        ];
        for s in bad {
            assert!(s.validate().is_err(), "{s:?}");
        }
    }
}
