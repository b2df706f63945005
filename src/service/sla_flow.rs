//! SLA timers inside the service: scheduling them from ticket changes, and applying one
//! that fired (desk line, history entry, customer message, state change) in one unit of
//! work together with marking it fired, so that it takes effect exactly once.
//!
//! Which timers a change causes is decided by the pure [`crate::sla::timer_plan`]; this
//! module only stores that decision. It never claims timers (the SLA worker does).

use super::csat::Survey;
use super::desk_topic::{self, ThreadLook};
use super::{Service, ServiceError};
use crate::domain::Direction;
use crate::domain::{Language, Outbound, Ticket, TicketAction, TicketNo, TicketState, Timestamp};
use crate::replies;
use crate::sla::{human_duration, timer_plan, to_chrono, SlaPolicy, TimerKind};
use crate::store::{DueTimer, StoreError, TicketEvent, TicketMessage, Tx};

/// Stores the timer changes of a ticket going from `before` (`None`: just created) to
/// `after`.
pub(super) async fn schedule(
    tx: &mut Box<dyn Tx>,
    policy: &SlaPolicy,
    before: Option<&Ticket>,
    after: &Ticket,
    now: Timestamp,
) -> Result<(), StoreError> {
    let plan = timer_plan(policy, before, after, now);
    if !plan.cancel.is_empty() {
        let kinds: Vec<&str> = plan.cancel.iter().map(|k| k.as_str()).collect();
        tx.cancel_timers(after.no, &kinds).await?;
    }
    for (kind, due) in &plan.schedule {
        tx.schedule_timer(after.no, kind.as_str(), *due, now)
            .await?;
    }
    Ok(())
}

/// Writes back a ticket changed through the state machine, with its timer changes.
pub(super) async fn save_ticket(
    tx: &mut Box<dyn Tx>,
    policy: &SlaPolicy,
    before: Option<&Ticket>,
    after: &Ticket,
    now: Timestamp,
) -> Result<(), StoreError> {
    tx.save_ticket(after).await?;
    schedule(tx, policy, before, after, now).await
}

/// Recent ticket messages looked at to tell whether an agent wrote since the last sync.
const PROGRESS_SAMPLE: u32 = 50;

/// What became of a claimed timer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TimerOutcome {
    /// Fired now, with its effects.
    Fired,
    /// Fired, but the ticket had moved on (e.g. answered meanwhile): nothing to do.
    Moot,
    /// Already fired, cancelled or taken by another worker: nothing done.
    Skipped,
}

async fn event(
    tx: &mut Box<dyn Tx>,
    no: TicketNo,
    kind: &str,
    detail: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    let event = TicketEvent {
        ticket: no,
        kind: kind.into(),
        actor: "system".into(),
        detail,
        at: now,
    };
    tx.add_event(&event).await
}

async fn tell_desk(
    tx: &mut Box<dyn Tx>,
    no: TicketNo,
    text: String,
    now: Timestamp,
) -> Result<(), StoreError> {
    if let Some(address) = tx.desk_thread(no).await? {
        tx.enqueue(&Outbound::text(address, text).for_ticket(no), now)
            .await?;
    }
    Ok(())
}

/// The supervisors' line about a missed deadline.
fn breach_notice(t: &Ticket, deadline: &str, overdue: String) -> String {
    format!(
        "SLA breach: {} {} {} missed its {deadline} deadline (overdue by {overdue}); department {}, assignee {}.",
        t.no,
        t.priority.label(),
        t.category,
        t.department,
        t.assignee.as_deref().unwrap_or("none")
    )
}

fn nudge_text(language: Language, no: TicketNo) -> String {
    match language {
        Language::En => format!(
            "Reminder about your ticket {no}: our agent is waiting for your answer to their \
             question. Just reply here."
        ),
        Language::Zh => format!("关于您的工单 {no}：客服正在等待您回复问题，请直接在此回复。"),
    }
}

/// The closing notice of an auto-close; asks for the rating when the survey is on (sent
/// with the rating buttons).
fn auto_closed_text(language: Language, no: TicketNo, was_resolved: bool, ask: bool) -> String {
    let notice = match (language, was_resolved) {
        (Language::En, true) => {
            format!("Your ticket {no} was closed because we did not hear back about the solution.")
        }
        (Language::Zh, true) => format!("由于未收到您对解决方案的确认，工单 {no} 已关闭。"),
        (Language::En, false) => format!(
            "Your ticket {no} was closed because we did not hear back from you. Write to us \
             any time if you still need help."
        ),
        (Language::Zh, false) => {
            format!("由于未收到您的回复，工单 {no} 已关闭。如仍需帮助，请随时联系我们。")
        }
    };
    match (ask, language) {
        (false, _) => notice,
        (true, Language::En) => format!("{notice} How did we do? Please rate us."),
        (true, Language::Zh) => format!("{notice}请为我们的服务评分。"),
    }
}

/// Author of the ticket messages the service writes itself (automatic updates).
const BOT: &str = "bot";

impl Service {
    /// The progress cadence came round (SPEC §4): the assignee is reminded in the thread
    /// and, when nobody has told the customer anything since the previous sync point (no
    /// reply, question, FAQ quote or solution), the customer gets an automatic "still
    /// working on it". The cadence then continues.
    async fn progress_sync(
        &self,
        tx: &mut Box<dyn Tx>,
        t: &Ticket,
        timer: &DueTimer,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let no = t.no;
        let cadence = to_chrono(self.sla.limits(t.priority).progress);
        let since = timer.due_at - cadence;
        let messages = tx.recent_messages(no, PROGRESS_SAMPLE).await?;
        let told = messages
            .iter()
            .any(|m| m.direction == Direction::Outbound && m.author != BOT && m.at >= since);
        let who = t.assignee.as_deref().unwrap_or("unassigned");
        let every = human_duration(self.sla.limits(t.priority).progress);
        let mut line = format!(
            "⏰ {no} ({}) progress sync for {who}: tell the customer where it stands (every {every})."
        ,
            t.priority.label()
        );
        if !told {
            let customer = tx.customer(t.customer).await?;
            if let Some(customer) = customer {
                let language = super::desk_flow::ticket_language(tx, no, customer.language).await?;
                let text = replies::still_working(language, no);
                let message = TicketMessage {
                    ticket: no,
                    direction: Direction::Outbound,
                    author: BOT.into(),
                    text: text.clone(),
                    attachments: Vec::new(),
                    at: now,
                };
                tx.add_message(&message).await?;
                tx.enqueue(&Outbound::text(customer.chat(), text).for_ticket(no), now)
                    .await?;
                line.push_str(" Nobody wrote to the customer since the last one: they were told it is still being worked on.");
                event(
                    tx,
                    no,
                    "progress_update",
                    "automatic: still working on it".into(),
                    now,
                )
                .await?;
            }
        }
        tell_desk(tx, no, line, now).await?;
        event(
            tx,
            no,
            "progress_sync",
            format!("assignee {who}; customer told by an agent since last sync: {told}"),
            now,
        )
        .await?;
        tx.schedule_timer(no, TimerKind::ProgressSync.as_str(), now + cadence, now)
            .await
    }

    /// Applies one claimed timer in its own unit of work: marks it fired and applies its
    /// effect, or does nothing when it was fired, cancelled or taken meanwhile. `worker`
    /// must be the name it was claimed under.
    pub async fn fire_timer(
        &self,
        timer: &DueTimer,
        worker: &str,
    ) -> Result<TimerOutcome, ServiceError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        if !tx.fire_timer(timer.id, worker, now).await? {
            return Ok(TimerOutcome::Skipped);
        }
        let no = timer.ticket;
        let (Some(kind), Some(mut t)) = (TimerKind::parse(&timer.kind), tx.ticket(no).await?)
        else {
            tracing::warn!(timer = timer.id, kind = %timer.kind, ticket = %no, "timer for an unknown kind or ticket dropped");
            tx.commit().await?;
            return Ok(TimerOutcome::Moot);
        };
        let unanswered = t.first_response_at.is_none() && t.state.is_active();
        let overdue = |due: Timestamp| human_duration((now - due).to_std().unwrap_or_default());
        let fired = match kind {
            TimerKind::FirstResponseReminder if unanswered => {
                let left =
                    human_duration((t.first_response_due - now).to_std().unwrap_or_default());
                event(
                    &mut tx,
                    no,
                    "sla_reminder",
                    format!("first response due in {left}"),
                    now,
                )
                .await?;
                tell_desk(
                    &mut tx,
                    no,
                    format!(
                        "⏰ {no} ({}): first response due in {left} — nobody has answered yet.",
                        t.priority.label()
                    ),
                    now,
                )
                .await?;
                true
            }
            TimerKind::FirstResponseBreach if unanswered => {
                crate::telemetry::sla_breach("first_response");
                event(
                    &mut tx,
                    no,
                    "sla_breached",
                    format!(
                        "first response overdue by {}",
                        overdue(t.first_response_due)
                    ),
                    now,
                )
                .await?;
                tell_desk(
                    &mut tx,
                    no,
                    format!(
                        "🚨 {no} ({}): first-response deadline missed.",
                        t.priority.label()
                    ),
                    now,
                )
                .await?;
                let text = breach_notice(&t, "first-response", overdue(t.first_response_due));
                self.enqueue_supervisor_notice(&mut tx, Some(no), &text, now)
                    .await?;
                true
            }
            // Paused while waiting on the customer: the deadline moves when they answer.
            TimerKind::ResolutionBreach
                if matches!(t.state, TicketState::New | TicketState::Open) =>
            {
                crate::telemetry::sla_breach("resolution");
                event(
                    &mut tx,
                    no,
                    "sla_breached",
                    format!("resolution overdue by {}", overdue(t.resolution_due)),
                    now,
                )
                .await?;
                tell_desk(
                    &mut tx,
                    no,
                    format!(
                        "🚨 {no} ({}): resolution deadline missed.",
                        t.priority.label()
                    ),
                    now,
                )
                .await?;
                let text = breach_notice(&t, "resolution", overdue(t.resolution_due));
                self.enqueue_supervisor_notice(&mut tx, Some(no), &text, now)
                    .await?;
                true
            }
            TimerKind::CustomerNudge if t.state == TicketState::WaitingOnCustomer => {
                if let Some(customer) = tx.customer(t.customer).await? {
                    let text = nudge_text(customer.language, no);
                    tx.enqueue(&Outbound::text(customer.chat(), text).for_ticket(no), now)
                        .await?;
                }
                event(
                    &mut tx,
                    no,
                    "customer_nudged",
                    format!("no answer for {}", human_duration(self.sla.nudge_after)),
                    now,
                )
                .await?;
                true
            }
            TimerKind::AutoClose
                if matches!(
                    t.state,
                    TicketState::WaitingOnCustomer | TicketState::Resolved
                ) =>
            {
                let original = t.clone();
                let was_resolved = t.state == TicketState::Resolved;
                if t.apply(TicketAction::Close, now).is_err() {
                    false
                } else {
                    save_ticket(&mut tx, &self.sla, Some(&original), &t, now).await?;
                    let why = if was_resolved {
                        "no confirmation"
                    } else {
                        "no answer"
                    };
                    event(
                        &mut tx,
                        no,
                        "auto_closed",
                        format!(
                            "{} → closed; {why} for {}",
                            original.state.as_str(),
                            human_duration(self.sla.auto_close_after)
                        ),
                        now,
                    )
                    .await?;
                    let customer = tx.customer(t.customer).await?;
                    if let Some(customer) = &customer {
                        // A closing by timeout asks with the closing notice (SPEC §1.6).
                        let survey = self
                            .open_survey(&mut tx, &t, customer, "system", now)
                            .await?;
                        let ask = survey == Survey::Ask;
                        let text = auto_closed_text(customer.language, no, was_resolved, ask);
                        let mut message = Outbound::text(customer.chat(), text).for_ticket(no);
                        if ask {
                            message = message.with_buttons(replies::rating_buttons(no));
                        }
                        tx.enqueue(&message, now).await?;
                    }
                    tell_desk(
                        &mut tx,
                        no,
                        format!(
                            "{no} closed automatically: {why} from the customer for {}.",
                            human_duration(self.sla.auto_close_after)
                        ),
                        now,
                    )
                    .await?;
                    if let Some(customer) = &customer {
                        let before = ThreadLook::of(&original, &customer.display_name);
                        desk_topic::follow(&mut tx, &before, &t, &customer.display_name, now)
                            .await?;
                    }
                    true
                }
            }
            TimerKind::UnassignedReminder if t.assignee.is_none() && t.state.is_active() => {
                let waited = human_duration((now - t.created_at).to_std().unwrap_or_default());
                let line = format!(
                    "⏳ {no} {} {} · {} is still unassigned ({waited} since it came in) — /claim it in its thread.",
                    t.priority.label(),
                    t.category,
                    t.department
                );
                match self.ticket_desk(&mut tx, no).await? {
                    Some(desk) => {
                        tx.enqueue(&Outbound::text(desk.chat(), line).for_ticket(no), now)
                            .await?;
                    }
                    None => tell_desk(&mut tx, no, line, now).await?,
                }
                event(&mut tx, no, "unassigned_reminder", waited, now).await?;
                // Again every interval until somebody has it (claiming cancels it).
                let next = now + to_chrono(self.sla.unassigned_reminder);
                tx.schedule_timer(no, kind.as_str(), next, now).await?;
                true
            }
            TimerKind::ProgressSync if matches!(t.state, TicketState::New | TicketState::Open) => {
                self.progress_sync(&mut tx, &t, timer, now).await?;
                true
            }
            TimerKind::CsatClose if t.state == TicketState::Closed => {
                let rated = tx.rating(no).await?.is_some();
                let detail = if rated { "rated" } else { "no rating" };
                event(&mut tx, no, "csat_closed", detail.into(), now).await?;
                true
            }
            _ => false,
        };
        tx.commit().await?;
        self.outbox_waker.notify_one();
        tracing::info!(ticket = %no, kind = kind.as_str(), fired, "SLA timer");
        Ok(if fired {
            TimerOutcome::Fired
        } else {
            TimerOutcome::Moot
        })
    }
}
