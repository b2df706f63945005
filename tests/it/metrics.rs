//! Metrics end to end: a desk day played through the service with a manual clock, whose
//! figures were worked out by hand; `/stats` and the report showing the same numbers; the
//! threshold-alert worker; groupings that always add up (property test); the report and
//! seed commands of the binary.

use std::sync::Arc;
use std::time::Duration;

use frontdesk::domain::{ChatAddress, Platform, Priority, TicketNo, TicketState, Timestamp};
use frontdesk::metrics::{
    self, render, AlertSettings, FaqTally, GroupBy, Metrics, Period, TicketFact,
};
use frontdesk::metrics_worker::{gather, AlertWorker};
use frontdesk::ports::Clock;
use frontdesk::replies::ButtonAction;
use frontdesk::service::{DeskOutcome, Knowledge, Service};
use frontdesk::store::FaqFeedback;
use frontdesk::supervisors::Supervisors;
use proptest::prelude::*;

use crate::desk::{desk, Desk, DESK_CHAT};

/// Puts the desk's clock `minutes` after `start`.
fn at_minute(d: &Desk, start: Timestamp, minutes: i64) {
    d.clock.set(start + chrono::Duration::minutes(minutes));
}

/// The day (minutes after 09:00):
/// -   0 ana opens #1, P2 (first response due 30, resolution due 24 h)
/// -   5 bob opens #2, P1 (due 15 and 125)
/// -  10 sam claims #1                      → first response 10 min, kept
/// -  40 kim replies on #2                  → first response 35 min, broken (due 15)
/// -  50 kim asks bob; 60 bob answers       → #2 has 2 agent replies
/// -  70 sam resolves #1                    → 70 min, kept; no reply before: first contact
/// -  75 ana: Solved; 76 rates 5
/// - 100 kim resolves #2; 105 bob: Not solved → reopened
/// - 130 kim resolves #2 again              → 125 min, kept: the 10 min waiting on bob
///   moved its resolution deadline from 125 to 135
/// - 135 bob: Solved; 136 rates 3
/// - 140 cy opens #3, P1: nobody answers    → both promises broken by 300 (due 150, 260)
/// - 150 the FAQ answers dee and eve; dee: "That helped"; 152 eve: "Talk to a person" → #4
///   (P2, unanswered: first response broken at 182)
///
/// Now: 300 (14:00).
async fn desk_day(d: &Desk) -> (Timestamp, [TicketNo; 4]) {
    let start = d.clock.now();
    let one = d.ticket_for("ana", "my invoice total is wrong").await;
    d.agent("sam", Some(one), "/priority P2").await;
    at_minute(d, start, 5);
    let two = d.ticket_for("bob", "the app shows an error").await;
    d.agent("kim", Some(two), "/priority P1").await;
    at_minute(d, start, 10);
    assert_eq!(
        d.agent("sam", Some(one), "/claim").await,
        DeskOutcome::Applied
    );
    at_minute(d, start, 40);
    assert_eq!(
        d.agent("kim", Some(two), "Looking at it").await,
        DeskOutcome::Applied
    );
    at_minute(d, start, 50);
    assert_eq!(
        d.agent("kim", Some(two), "/ask Which account?").await,
        DeskOutcome::Applied
    );
    at_minute(d, start, 60);
    d.customer_says("bob", "account 7").await;
    at_minute(d, start, 70);
    assert_eq!(
        d.agent("sam", Some(one), "/resolve Corrected invoice sent.")
            .await,
        DeskOutcome::Applied
    );
    at_minute(d, start, 75);
    d.press("ana", ButtonAction::Solved(one)).await;
    at_minute(d, start, 76);
    d.press("ana", ButtonAction::Rate(one, 5)).await;
    at_minute(d, start, 100);
    assert_eq!(
        d.agent("kim", Some(two), "/resolve Restart the app.").await,
        DeskOutcome::Applied
    );
    at_minute(d, start, 105);
    d.press("bob", ButtonAction::NotSolved(two)).await;
    at_minute(d, start, 130);
    assert_eq!(
        d.agent("kim", Some(two), "/resolve Reinstall it.").await,
        DeskOutcome::Applied
    );
    at_minute(d, start, 135);
    d.press("bob", ButtonAction::Solved(two)).await;
    at_minute(d, start, 136);
    d.press("bob", ButtonAction::Rate(two, 3)).await;
    at_minute(d, start, 140);
    let three = d.ticket_for("cy", "nothing loads at all").await;
    d.agent("kim", Some(three), "/priority P1").await;
    at_minute(d, start, 150);
    d.customer_says("dee", "Where is my order?").await;
    d.customer_says("eve", "Where is my order?").await;
    d.press("dee", ButtonAction::Helped("orders.track".into()))
        .await;
    at_minute(d, start, 152);
    let frontdesk::service::Handled::Done { ticket: Some(four) } = d
        .press("eve", ButtonAction::Human(Some("orders.track".into())))
        .await
    else {
        panic!("talk to a person opens a ticket");
    };
    d.agent("kim", Some(four), "/priority P2").await;
    at_minute(d, start, 300);
    d.sent().await;
    (start, [one, two, three, four])
}

const DAY_STATS: &str = "Stats, today (since 2026-03-02 00:00 UTC):
Tickets: 4 created · backlog 2 (P1 1 · P2 1 · P3 0)
First response: avg 22 min · p50 10 min · p90 35 min (2)
Resolution: avg 1 h 37 min · p50 1 h 10 min · p90 2 h 5 min (2)
SLA met: first response 25% (1/4) · resolution 67% (2/3)
Reopened 50% (1/2) · first-contact resolution 50% (1/2)
CSAT 4.0/5 · 50% rated 4–5 (2 ratings)
Bot: 2 FAQ answers · deflection 50% (1/2)";

#[tokio::test]
async fn a_desk_day_gives_the_hand_computed_figures() {
    let d = desk().await;
    desk_day(&d).await;
    let window = Period::Today.window(d.clock.now());
    let report = gather(d.store.as_ref(), &window, Some(GroupBy::Agent))
        .await
        .unwrap();
    let m = &report.total;
    assert_eq!(m.created, 4);
    assert_eq!(m.first_response.count, 2);
    assert_eq!(m.first_response.avg_secs, Some(22.5 * 60.0));
    assert_eq!(m.first_response.p50_secs, Some(10 * 60));
    assert_eq!(m.first_response.p90_secs, Some(35 * 60));
    assert_eq!(m.resolution.avg_secs, Some(97.5 * 60.0));
    assert_eq!((m.resolved, m.reopened, m.first_contact), (2, 1, 1));
    assert_eq!((m.sla_first_response.met, m.sla_first_response.due), (1, 4));
    assert_eq!((m.sla_resolution.met, m.sla_resolution.due), (2, 3));
    assert_eq!((m.csat.count, m.csat.sum, m.csat.satisfied), (2, 8, 1));
    assert_eq!(
        (m.backlog.total, m.backlog.p1, m.backlog.p2, m.backlog.new),
        (2, 1, 1, 2)
    );
    let deflection = m.deflection.unwrap();
    assert_eq!((deflection.answered, deflection.deflected), (2, 1));
    assert_eq!(render::stats_text(&report), DAY_STATS);

    // Per agent: sam has #1, kim #2 (and answered nothing else), #3 and #4 nobody's.
    let names: Vec<&str> = report.groups.iter().map(|(n, _)| n.as_str()).collect();
    assert_eq!(names, ["kim", "sam", "unassigned"]);
    let kim = &report.groups[0].1;
    assert_eq!((kim.resolved, kim.reopened, kim.first_contact), (1, 1, 0));
    assert_eq!(kim.first_response.avg_secs, Some(35.0 * 60.0));
    let sam = &report.groups[1].1;
    assert_eq!((sam.resolved, sam.first_contact, sam.csat.sum), (1, 1, 5));
    let nobody = &report.groups[2].1;
    assert_eq!((nobody.created, nobody.backlog.total), (2, 2));

    // Per FAQ entry: orders.track shown twice, helped once, escalated once.
    assert_eq!(report.faq.len(), 1);
    let track = &report.faq[0];
    assert_eq!(
        (
            track.entry_id.as_str(),
            track.shown,
            track.helped,
            track.escalated
        ),
        ("orders.track", 2, 1, 1)
    );

    // The CSV row of the whole desk carries the same numbers.
    let csv = render::csv(render::CSV_HEADER, &render::rows(&report)).unwrap();
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(render::CSV_HEADER));
    assert_eq!(
        lines.next(),
        Some(
            "all,all,2026-03-02T00:00:00Z,2026-03-02T14:00:00Z,4,2,22.5,10.0,35.0,2,97.5,70.0,\
             125.0,4,1,0.25,3,2,0.6667,1,0.5,1,0.5,2,4.0,0.5,2,1,1,0,2,0,0,2,1,0.5"
        )
    );
    assert_eq!(lines.count(), 3, "one row per agent");

    // Tomorrow, "today" starts afresh; the backlog is still there.
    d.clock.advance(Duration::from_secs(12 * 3600));
    let tomorrow = Period::Today.window(d.clock.now());
    let later = gather(d.store.as_ref(), &tomorrow, None).await.unwrap();
    assert_eq!(later.total.created, 0);
    assert_eq!(later.total.backlog.total, 2);
}

/// The overview's extra figures of the same day: per priority, by hour, CSAT scores and the
/// backlog crossed by priority and state.
#[tokio::test]
async fn a_desk_day_by_priority_hour_and_score() {
    let d = desk().await;
    desk_day(&d).await;
    let window = Period::Today.window(d.clock.now());
    let report = gather(d.store.as_ref(), &window, Some(GroupBy::Priority))
        .await
        .unwrap();
    let m = &report.total;
    let mut created = [0; 24];
    created[9] = 2; // #1 09:00, #2 09:05
    created[11] = 2; // #3 11:20, #4 11:32
    assert_eq!(m.created_by_hour, created);
    let mut answers = [0; 24];
    answers[11] = 2; // dee and eve at 11:30
    assert_eq!(m.answers_by_hour, answers);
    assert_eq!(m.csat.by_score, [0, 0, 1, 0, 1]);
    // #3 (P1) and #4 (P2) are new and nobody's.
    assert_eq!(
        m.backlog.by_priority_state,
        [[1, 0, 0], [1, 0, 0], [0, 0, 0]]
    );
    let group = |name: &str| {
        report
            .groups
            .iter()
            .find(|(g, _)| g == name)
            .map(|(_, m)| m.clone())
            .unwrap_or_else(|| panic!("no {name}"))
    };
    // P1: #2 answered after 35 min, resolved after 125; P2: #1 claimed after 10, resolved
    // after 70.
    let (p1, p2) = (group("P1"), group("P2"));
    assert_eq!(
        (p1.first_response.p50_secs, p1.resolution.p90_secs),
        (Some(35 * 60), Some(125 * 60))
    );
    assert_eq!(
        (p2.first_response.p90_secs, p2.resolution.p50_secs),
        (Some(10 * 60), Some(70 * 60))
    );
    assert_eq!((p1.created, p2.created), (2, 2));
    let human = render::human(&report);
    assert!(
        human.contains("CSAT scores 1–5: 0 · 0 · 1 · 0 · 1\nCreated by hour (UTC): 09h 2 · 11h 2\nFAQ answers by hour (UTC): 11h 2"),
        "{human}"
    );
}

#[tokio::test]
async fn stats_in_the_desk_match_the_report() {
    let d = desk().await;
    desk_day(&d).await;
    assert_eq!(d.agent("sam", None, "/stats").await, DeskOutcome::Answered);
    let sent = d.sent().await;
    assert_eq!(sent.desk_texts(), vec![DAY_STATS.to_string()]);
    assert!(sent.all.iter().all(|m| m.to.chat_id == DESK_CHAT));

    for (arg, period) in [("7d", Period::Days(7)), ("30d", Period::Days(30))] {
        assert_eq!(
            d.agent("sam", None, &format!("/stats {arg}")).await,
            DeskOutcome::Answered
        );
        let report = gather(d.store.as_ref(), &period.window(d.clock.now()), None)
            .await
            .unwrap();
        let text = render::stats_text(&report);
        assert_eq!(d.sent().await.desk_texts(), vec![text.clone()]);
        // The same day seen from a longer period: the same figures under another title.
        let body = |t: &str| t.lines().skip(1).collect::<Vec<_>>().join("\n");
        assert_eq!(body(&text), body(DAY_STATS));
    }

    // Wrong use: a hint, nothing else.
    assert_eq!(
        d.agent("sam", None, "/stats week").await,
        DeskOutcome::Usage
    );
    let hint = d.sent().await.desk_texts();
    assert_eq!(hint.len(), 1);
    assert!(hint[0].starts_with("Usage: /stats"), "{hint:?}");
}

/// A service over the desk's store whose supervisors' chat is `supervisors`.
fn alerting_service(d: &Desk) -> Arc<Service> {
    Arc::new(
        Service::new(
            d.store.clone(),
            Knowledge::new(crate::support::small_kb()),
            Arc::new(frontdesk::triage::TriageRules::builtin()),
            frontdesk::sla::SlaPolicy::default(),
            Default::default(),
            Arc::new(d.clock.clone()),
        )
        .with_supervisors(Supervisors::new(
            vec![ChatAddress::new(Platform::Console, "supervisors")],
            Vec::new(),
        )),
    )
}

fn supervisor_texts(sent: &crate::desk::Sent) -> Vec<String> {
    sent.all
        .iter()
        .filter(|m| m.to.chat_id == "supervisors")
        .filter_map(|m| m.text_body().map(str::to_string))
        .collect()
}

#[tokio::test]
async fn threshold_alerts_are_said_once_and_when_they_clear() {
    let d = desk().await;
    let (start, [_, _, three, _]) = desk_day(&d).await;
    let settings = AlertSettings {
        backlog_p1_above: Some(0),
        ..AlertSettings::default()
    };
    let service = alerting_service(&d);
    let worker = |s: &AlertSettings| {
        Arc::new(AlertWorker::new(service.clone(), Arc::new(d.clock.clone()), s.clone()).unwrap())
    };
    let (first, second) = (worker(&settings), worker(&settings));

    // Average first response 22.5 min (limit 25) and CSAT 4.0 (minimum 4.0) are fine; SLA
    // compliance 3/7 and one P1 waiting are not. Two workers at once: said once.
    let (a, b) = tokio::join!(first.run_once(), second.run_once());
    let mut keys: Vec<&str> = a
        .unwrap()
        .iter()
        .chain(b.unwrap().iter())
        .map(|c| c.key)
        .collect();
    keys.sort();
    assert_eq!(keys, ["backlog_p1", "sla_compliance"]);
    let texts = supervisor_texts(&d.sent().await);
    assert_eq!(texts.len(), 2, "{texts:?}");
    assert!(
        texts.iter().any(|t| t.starts_with(
            "📣 Supervisors: ⚠ Alert: SLA compliance 43% (last 24 hours, 3 of 7 promises kept; minimum 90%)"
        )),
        "{texts:?}"
    );
    assert!(
        texts
            .iter()
            .any(|t| t == "📣 Supervisors: ⚠ Alert: P1 tickets waiting for agents: 1 (limit 0)."),
        "{texts:?}"
    );

    // A minute later nothing changed: nothing is said again (also after a "restart").
    d.clock.advance(Duration::from_secs(60));
    assert!(first.run_once().await.unwrap().is_empty());
    assert!(worker(&settings).run_once().await.unwrap().is_empty());
    assert!(supervisor_texts(&d.sent().await).is_empty());

    // #3 is resolved at 310: the P1 backlog clears; its solution is also its (very late)
    // first response, which lifts the average first response to (10 + 35 + 170) / 3 min.
    at_minute(&d, start, 310);
    assert_eq!(
        d.agent("kim", Some(three), "/resolve Fixed the outage.")
            .await,
        DeskOutcome::Applied
    );
    d.sent().await;
    let changed = first.run_once().await.unwrap();
    let mut seen: Vec<(&str, bool)> = changed.iter().map(|c| (c.key, c.firing)).collect();
    seen.sort();
    assert_eq!(seen, [("avg_first_response", true), ("backlog_p1", false)]);
    let mut texts = supervisor_texts(&d.sent().await);
    texts.sort();
    assert_eq!(
        texts,
        vec![
            "📣 Supervisors: ⚠ Alert: average first response 1 h 11 min (last 24 hours, 3 tickets; limit 25 min)."
                .to_string(),
            "📣 Supervisors: ✓ Back to normal: P1 tickets waiting for agents: 0 (limit 0).".to_string(),
        ]
    );
    let mut firing: Vec<(String, bool)> = d
        .store
        .alert_states()
        .await
        .unwrap()
        .into_iter()
        .map(|s| (s.key, s.firing))
        .collect();
    firing.sort();
    let want = [
        ("avg_first_response", true),
        ("backlog_p1", false),
        ("sla_compliance", true),
    ]
    .map(|(k, f)| (k.to_string(), f));
    assert_eq!(firing, want);
}

#[tokio::test]
async fn the_alert_worker_runs_until_shutdown() {
    let d = desk().await;
    desk_day(&d).await;
    let settings = AlertSettings {
        every_minutes: 1,
        ..AlertSettings::default()
    };
    let worker = Arc::new(
        AlertWorker::new(alerting_service(&d), Arc::new(d.clock.clone()), settings).unwrap(),
    );
    let (stop, stopped) = tokio::sync::watch::channel(false);
    let task = tokio::spawn(worker.run(stopped));
    // The first evaluation happens at once.
    let mut said = Vec::new();
    for _ in 0..200 {
        said = supervisor_texts(&d.sent().await);
        if !said.is_empty() {
            break;
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    assert_eq!(said.len(), 1, "{said:?}");
    assert!(said[0].contains("SLA compliance"), "{said:?}");
    stop.send(true).unwrap();
    task.await.unwrap();
}

// ---------------------------------------------------------------------------------------
// Groupings always add up

fn base() -> Timestamp {
    chrono::DateTime::from_timestamp(1_772_000_000, 0).unwrap()
}

fn ticket_fact() -> impl Strategy<Value = TicketFact> {
    let minutes = || 0i64..3000;
    (
        (
            1i64..10_000,
            0usize..3,
            0usize..3,
            0usize..4,
            0usize..3,
            0usize..5,
        ),
        (
            minutes(),
            minutes(),
            proptest::option::of(minutes()),
            minutes(),
        ),
        (
            proptest::option::of(minutes()),
            proptest::option::of(minutes()),
        ),
        (0u32..3, 0u32..4, proptest::option::of((1u8..=5, minutes()))),
    )
        .prop_map(|(ids, times, done, counters)| {
            let (no, platform, department, agent, priority, state) = ids;
            let (created, fr_due, fr_at, res_due) = times;
            let (resolved, closed) = done;
            let (reopens, agent_replies, rating) = counters;
            let t = |m: i64| base() + chrono::Duration::minutes(m);
            TicketFact {
                no: TicketNo(no),
                platform: [Platform::Telegram, Platform::Discord, Platform::Console][platform],
                department: ["support", "tech", "complaints"][department].into(),
                assignee: [None, Some("ana"), Some("bo"), Some("cy")][agent].map(String::from),
                priority: [Priority::P1, Priority::P2, Priority::P3][priority],
                state: TicketState::ALL[state],
                created_at: t(created),
                first_response_due: t(created + fr_due),
                first_response_at: fr_at.map(|m| t(created + m)),
                resolution_due: t(created + res_due),
                resolved_at: resolved.map(|m| t(created + m)),
                closed_at: closed.map(|m| t(created + m)),
                reopens,
                agent_replies,
                rating: rating.map(|(s, m)| (s, t(created + m))),
            }
        })
}

fn faq_tally() -> impl Strategy<Value = FaqTally> {
    (0usize..3, 0usize..3, 0usize..3, 0u8..24, 0u64..50, 0u64..50).prop_map(
        |(entry, platform, kind, hour, count, followed)| {
            let kind = [
                FaqFeedback::Shown,
                FaqFeedback::Helped,
                FaqFeedback::Escalated,
            ][kind];
            FaqTally {
                entry_id: ["a", "b", "c"][entry].into(),
                platform: [Platform::Telegram, Platform::Discord, Platform::Console][platform],
                kind,
                hour,
                count,
                followed: match kind {
                    FaqFeedback::Shown => followed.min(count),
                    _ => 0,
                },
            }
        },
    )
}

/// The additive parts of a slice.
fn counts(m: &Metrics) -> [u64; 14] {
    let d = m.deflection.unwrap_or_default();
    [
        m.created,
        m.first_response.count,
        m.resolution.count,
        m.resolved,
        m.reopened,
        m.first_contact,
        m.sla_first_response.due,
        m.sla_first_response.met,
        m.sla_resolution.due + m.sla_resolution.met * 1000,
        m.csat.count + m.csat.sum * 1000 + m.csat.satisfied * 1_000_000,
        m.backlog.total,
        m.backlog.p1 + m.backlog.p2 * 1000 + m.backlog.p3 * 1_000_000,
        m.backlog.new + m.backlog.open * 1000 + m.backlog.waiting * 1_000_000,
        d.answered + d.deflected * 1_000_000,
    ]
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn groupings_add_up_to_the_total(
        tickets in proptest::collection::vec(ticket_fact(), 0..60),
        faq in proptest::collection::vec(faq_tally(), 0..30),
        hours in 1u32..80,
    ) {
        let window = Period::Hours(hours).window(base() + chrono::Duration::hours(40));
        for by in [GroupBy::Department, GroupBy::Agent, GroupBy::Platform] {
            let report = metrics::compute(&tickets, &faq, &window, Some(by));
            let mut sum = [0u64; 14];
            for (_, m) in &report.groups {
                for (s, c) in sum.iter_mut().zip(counts(m)) {
                    *s += c;
                }
            }
            let mut total = counts(&report.total);
            if by != GroupBy::Platform {
                // FAQ answers belong to platforms only.
                total[13] = 0;
            }
            prop_assert_eq!(sum, total, "{:?}", by);
            let m = &report.total;
            prop_assert!(m.sla_first_response.met <= m.sla_first_response.due);
            prop_assert!(m.reopened + m.first_contact <= m.resolved);
            prop_assert!(m.first_response.p50_secs <= m.first_response.p90_secs);
            prop_assert_eq!(m.resolution.count, m.resolved);
            let rows = render::rows(&report);
            prop_assert_eq!(rows.len(), report.groups.len() + 1);
        }
        let plain = metrics::compute(&tickets, &faq, &window, None);
        prop_assert!(plain.groups.is_empty());
        let shown: u64 = plain.faq.iter().map(|r| r.shown).sum();
        prop_assert_eq!(shown, plain.total.deflection.unwrap_or_default().answered);
    }
}

/// FAQ figures of `window` straight from the interactions, by their definitions (an answer
/// deflects unless its customer created a ticket within 24 h, looked up per answer): the
/// reference for the hourly tallies. `(answered, deflected, answers by hour, per entry
/// (shown, helped, escalated))`.
type FaqReference = (u64, u64, [u64; 24], Vec<(String, u64, u64, u64)>);

async fn faq_reference(db: &sqlx::SqlitePool, window: &metrics::Window) -> FaqReference {
    use chrono::Timelike;
    let rows: Vec<(String, String, i64, bool)> = sqlx::query_as(
        "SELECT e.entry_id, e.kind, e.at, EXISTS (SELECT 1 FROM tickets t \
             WHERE t.customer = e.customer AND t.created_at >= e.at \
               AND t.created_at <= e.at + 86400000) \
         FROM faq_events e WHERE e.at >= ?1 AND e.at <= ?2",
    )
    .bind(window.since.timestamp_millis())
    .bind(window.now.timestamp_millis())
    .fetch_all(db)
    .await
    .unwrap();
    let (mut answered, mut deflected, mut by_hour) = (0, 0, [0u64; 24]);
    let mut entries: std::collections::BTreeMap<String, (u64, u64, u64)> = Default::default();
    for (entry, kind, at, followed) in rows {
        let row = entries.entry(entry).or_default();
        match kind.as_str() {
            "shown" => {
                row.0 += 1;
                answered += 1;
                deflected += u64::from(!followed);
                let at = chrono::DateTime::from_timestamp_millis(at).unwrap();
                by_hour[at.hour() as usize] += 1;
            }
            "helped" => row.1 += 1,
            _ => row.2 += 1,
        }
    }
    let entries = entries
        .into_iter()
        .map(|(e, (s, h, x))| (e, s, h, x))
        .collect();
    (answered, deflected, by_hour, entries)
}

/// The same seeded history gives the same report on SQLite and on PostgreSQL (ticket facts
/// grouped with number arrays, FAQ figures from hourly tallies and the first partial hour),
/// and the FAQ figures are those the interactions give by definition: every figure, every
/// grouping, short and whole periods.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sqlite_and_postgres_report_the_same_seeded_history() {
    use frontdesk::seed::{seed, SeedPlan};
    let now = chrono::DateTime::parse_from_rfc3339("2026-03-10T15:30:00Z")
        .unwrap()
        .with_timezone(&chrono::Utc);
    let plan = SeedPlan::new(3000, 60, now);
    let dir = tempfile::tempdir().unwrap();
    let sqlite = frontdesk::store::sqlite::SqliteStore::open(&format!(
        "sqlite://{}",
        dir.path().join("a.db").display()
    ))
    .await
    .unwrap();
    let schema = crate::pg::PgSchema::new();
    let pg = schema.open().await;
    let raw = sqlx::SqlitePool::connect(&format!("sqlite://{}", dir.path().join("a.db").display()))
        .await
        .unwrap();
    let a = seed(&sqlite, &plan).await.unwrap();
    let b = seed(pg.as_ref(), &plan).await.unwrap();
    assert_eq!(a, b);
    for period in ["today", "12h", "7d", "30d", "365d"] {
        let window = period.parse::<Period>().unwrap().window(now);
        for by in [None, Some(GroupBy::Platform), Some(GroupBy::Agent)] {
            let lite = gather(&sqlite, &window, by).await.unwrap();
            let post = gather(pg.as_ref(), &window, by).await.unwrap();
            assert_eq!(lite, post, "{period} {by:?}");
            assert!(post.total.created > 0 || period == "today", "{period}");
        }
        let (answered, deflected, by_hour, entries) = faq_reference(&raw, &window).await;
        let report = gather(&sqlite, &window, None).await.unwrap();
        let d = report.total.deflection.unwrap();
        assert_eq!((d.answered, d.deflected), (answered, deflected), "{period}");
        assert_eq!(report.total.answers_by_hour, by_hour, "{period}");
        let mut rows: Vec<_> = report
            .faq
            .iter()
            .map(|r| (r.entry_id.clone(), r.shown, r.helped, r.escalated))
            .collect();
        rows.sort();
        assert_eq!(rows, entries, "{period}");
        assert!(answered > 0 || period == "today", "{period}");
    }
    let whole = gather(pg.as_ref(), &Period::Days(365).window(now), None)
        .await
        .unwrap();
    assert_eq!(whole.total.created, 3000);
    assert!(whole.total.deflection.unwrap().deflected > 0);
    assert!(whole.total.csat.count > 0);
    let plans = pg.query_plans(now, false).await.unwrap();
    assert!(plans[0].plan.contains("tickets_queue"), "{}", plans[0].plan);
}

// ---------------------------------------------------------------------------------------
// The binary

#[test]
fn report_prints_csv_json_and_tables_from_a_seeded_store() {
    let dir = tempfile::tempdir().unwrap();
    let url = format!("sqlite://{}", dir.path().join("fd.db").display());
    let run = |args: &[&str]| {
        let out = crate::cli::frontdesk(dir.path())
            .env("FRONTDESK_DATABASE_URL", &url)
            .args(args)
            .output()
            .unwrap();
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let seeded = run(&["seed", "--tickets", "400", "--days", "20"]);
    assert!(seeded.starts_with("seeded 400 tickets"), "{seeded}");
    let plans = run(&["explain", "--since", "1d", "--analyze"]);
    for part in [
        "== queue ==",
        "tickets_queue",
        "== ticket_facts ==",
        "== faq_tallies ==",
    ] {
        assert!(plans.contains(part), "{part}: {plans}");
    }

    let csv = run(&["report", "--since", "30d", "--csv", "--by", "department"]);
    let mut lines = csv.lines();
    assert_eq!(lines.next(), Some(render::CSV_HEADER));
    let column = |line: &str, name: &str| -> u64 {
        let i = render::CSV_HEADER
            .split(',')
            .position(|c| c == name)
            .unwrap();
        line.split(',').nth(i).unwrap().parse().unwrap()
    };
    let rows: Vec<&str> = lines.collect();
    assert!(rows[0].starts_with("all,all,"));
    assert_eq!(column(rows[0], "tickets_created"), 400);
    assert!(rows.len() > 2, "several departments: {csv}");
    for name in [
        "tickets_created",
        "resolved",
        "backlog",
        "csat_count",
        "sla_first_response_due",
    ] {
        let parts: u64 = rows[1..].iter().map(|r| column(r, name)).sum();
        assert_eq!(parts, column(rows[0], name), "{name}");
    }

    let json: serde_json::Value =
        serde_json::from_str(&run(&["report", "--since", "30d", "--json"])).unwrap();
    assert_eq!(json[0]["group_by"], "all");
    assert_eq!(json[0]["tickets_created"], 400);

    let table = run(&["report", "--since", "30d", "--by", "agent"]);
    assert!(table.starts_with("Stats, last 30 days"), "{table}");
    assert!(
        table.contains("agent") && table.contains("unassigned"),
        "{table}"
    );

    let faq = run(&["report", "--since", "30d", "--faq", "--csv"]);
    assert!(faq.starts_with(render::FAQ_CSV_HEADER), "{faq}");
    assert!(faq.lines().count() > 1, "{faq}");

    let bad = crate::cli::frontdesk(dir.path())
        .env("FRONTDESK_DATABASE_URL", &url)
        .args(["report", "--since", "soon"])
        .output()
        .unwrap();
    assert!(!bad.status.success());
    assert!(String::from_utf8_lossy(&bad.stderr).contains("unknown period"));
}
