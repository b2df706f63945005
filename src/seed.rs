//! A synthetic history for benchmarks (`frontdesk seed`, `benches/report.rs`): customers,
//! tickets in every state with consistent times and counters, ratings and FAQ answers,
//! spread over the last `days` and reproducible from a seed.
//!
//! Writes through the store port only (no SQL here): each batch of 10 000 tickets is
//! played in memory, then written by one [`crate::store::Tx::import_history`] (a few bulk
//! statements), the same data on SQLite and PostgreSQL; a million tickets take minutes.
//! Tickets go through the ticket state machine, so their timestamps and counters are what
//! the service itself would have stored. Not for
//! production databases: it adds customers named `seed-N`.

use chrono::Duration;

use crate::domain::{
    Category, CustomerIdentity, Language, Platform, Priority, Ticket, TicketAction, TicketNo,
    TicketState, Timestamp,
};
use crate::sla::SlaPolicy;
use crate::store::{FaqFeedback, PastFaqEvent, PastTicket, Store, StoreError};

/// What to generate.
#[derive(Debug, Clone)]
pub struct SeedPlan {
    pub tickets: u32,
    /// Tickets are spread over this many days before `now`.
    pub days: u32,
    pub now: Timestamp,
    /// Same seed, same history.
    pub seed: u64,
    /// Tickets written per unit of work.
    pub batch: u32,
}

impl SeedPlan {
    pub fn new(tickets: u32, days: u32, now: Timestamp) -> SeedPlan {
        SeedPlan {
            tickets,
            days: days.max(1),
            now,
            seed: 5,
            batch: 10_000,
        }
    }
}

/// What was written.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Seeded {
    pub customers: u32,
    pub tickets: u32,
    /// Tickets left new, open or waiting on the customer (the `/queue`).
    pub active: u32,
    pub ratings: u32,
    pub faq_events: u32,
}

const DEPARTMENTS: &[(&str, Category)] = &[
    ("support", Category::Inquiry),
    ("tech", Category::Problem),
    ("after_sales", Category::AfterSales),
    ("complaints", Category::Complaint),
    ("product", Category::Inquiry),
];
const AGENTS: &[&str] = &["ana", "bo", "chen", "dana", "eli", "fay", "gus", "hana"];
const FAQ_ENTRIES: &[&str] = &[
    "account.reset_password",
    "billing.invoice",
    "orders.track",
    "orders.return",
    "product.pricing",
];

fn minutes(m: u64) -> Duration {
    Duration::minutes(m as i64)
}

/// Writes the history described by `plan`.
pub async fn seed(store: &dyn Store, plan: &SeedPlan) -> Result<Seeded, StoreError> {
    let mut rng = fastrand::Rng::with_seed(plan.seed);
    let policy = SlaPolicy::default();
    let mut out = Seeded {
        customers: (plan.tickets / 4).clamp(1, 25_000),
        ..Seeded::default()
    };
    // Whole milliseconds, as the stores keep times: the tickets written are the tickets
    // read back.
    let now = Timestamp::from_timestamp_millis(plan.now.timestamp_millis()).unwrap_or(plan.now);
    let span_ms = i64::from(plan.days) * 86_400_000;
    let start = now - Duration::milliseconds(span_ms);
    // Customers first, one unit; their ids are kept for the tickets.
    let mut customers = Vec::with_capacity(out.customers as usize);
    let mut tx = store.begin().await?;
    for c in 0..out.customers {
        let platform = if c % 3 == 2 {
            Platform::Discord
        } else {
            Platform::Telegram
        };
        let who = CustomerIdentity {
            platform,
            user_id: format!("seed-{c}"),
            chat_id: format!("seed-{c}"),
            display_name: format!("Customer {c}"),
            language: Some(if c % 4 == 0 {
                Language::Zh
            } else {
                Language::En
            }),
        };
        customers.push(tx.upsert_customer(&who, false, start).await?.id);
    }
    tx.commit().await?;

    let mut written = 0;
    while written < plan.tickets {
        let end = (written + plan.batch.max(1)).min(plan.tickets);
        let mut tickets = Vec::with_capacity((end - written) as usize);
        let mut faq = Vec::new();
        for i in written..end {
            let created =
                start + Duration::milliseconds(span_ms * i64::from(i) / i64::from(plan.tickets));
            let customer = customers[rng.usize(..customers.len())];
            // An FAQ answer before about half the tickets (not deflected: a ticket follows),
            // and answers that deflect for other customers in between.
            if rng.bool() {
                let entry = FAQ_ENTRIES[rng.usize(..FAQ_ENTRIES.len())];
                let asked = created - minutes(rng.u64(1..600));
                let other = customers[rng.usize(..customers.len())];
                for (customer, kind, at) in [
                    (customer, FaqFeedback::Shown, asked),
                    (customer, FaqFeedback::Escalated, asked),
                    (other, FaqFeedback::Shown, asked),
                    (other, FaqFeedback::Helped, asked + minutes(1)),
                ] {
                    faq.push(PastFaqEvent {
                        customer,
                        entry_id: entry.to_string(),
                        kind,
                        at,
                    });
                }
                out.faq_events += 4;
            }
            let priority = match rng.u8(0..10) {
                0 => Priority::P1,
                1..=4 => Priority::P2,
                _ => Priority::P3,
            };
            let (department, category) = DEPARTMENTS[rng.usize(..DEPARTMENTS.len())];
            let deadlines = policy.deadlines(priority, created);
            // What `Tx::create_ticket` starts a ticket with; the store numbers it.
            let mut ticket = Ticket {
                no: TicketNo(0),
                customer,
                state: TicketState::New,
                category,
                priority,
                department: department.into(),
                assignee: None,
                subject: format!("seeded question {i}"),
                created_at: created,
                updated_at: created,
                first_response_due: deadlines.first_response,
                resolution_due: deadlines.resolution,
                first_response_at: None,
                resolved_at: None,
                closed_at: None,
                waiting_since: None,
                reopens: 0,
                agent_replies: 0,
            };
            let rated = life(&mut rng, &mut ticket, now);
            if ticket.state.is_active() && ticket.state != TicketState::Resolved {
                out.active += 1;
            }
            let rating = match (rated, ticket.closed_at) {
                (Some(score), Some(closed)) if closed + minutes(2) <= now => {
                    out.ratings += 1;
                    Some((score, closed + minutes(2)))
                }
                _ => None,
            };
            tickets.push(PastTicket { ticket, rating });
        }
        let mut tx = store.begin().await?;
        tx.import_history(&tickets, &faq).await?;
        tx.commit().await?;
        out.tickets += end - written;
        written = end;
    }
    store.refresh_statistics().await?;
    Ok(out)
}

/// Plays a plausible life of the ticket up to `now` through the state machine; returns the
/// rating the customer will give, if any. Young tickets are still in progress.
fn life(rng: &mut fastrand::Rng, t: &mut Ticket, now: Timestamp) -> Option<u8> {
    let agent = AGENTS[rng.usize(..AGENTS.len())];
    let fast = match t.priority {
        Priority::P1 => 12,
        Priority::P2 => 40,
        Priority::P3 => 150,
    };
    let mut at = t.created_at;
    let mut step = |rng: &mut fastrand::Rng, t: &mut Ticket, action: TicketAction, upto: u64| {
        at += minutes(rng.u64(1..=upto));
        if at > now {
            return false;
        }
        t.apply(action, at).is_ok()
    };
    // A few never get picked up (the queue's long tail).
    if rng.u8(0..100) < 3 {
        return None;
    }
    t.assignee = Some(agent.to_string());
    if !step(rng, t, TicketAction::Claim, fast) {
        return None;
    }
    if rng.u8(0..100) < 40 && !step(rng, t, TicketAction::AgentReply, 60) {
        return None;
    }
    if rng.u8(0..100) < 20 {
        if !step(rng, t, TicketAction::AskCustomer, 30) {
            return None;
        }
        if !step(rng, t, TicketAction::CustomerReply, 600) {
            return None;
        }
    }
    if !step(rng, t, TicketAction::Resolve, 900) {
        return None;
    }
    if rng.u8(0..100) < 10 {
        if !step(rng, t, TicketAction::Reopen, 600) {
            return None;
        }
        if !step(rng, t, TicketAction::Resolve, 600) {
            return None;
        }
    }
    if !step(rng, t, TicketAction::Confirm, 300) {
        return None;
    }
    (rng.u8(0..100) < 60).then(|| match rng.u8(0..10) {
        0 => 1,
        1 => 2,
        2 => 3,
        3..=5 => 4,
        _ => 5,
    })
}
