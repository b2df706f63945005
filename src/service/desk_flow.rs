//! The agents' desk workflow: one desk message → one store transaction, plus the customer's
//! side of a resolution ("Solved", "Not solved", the 1–5 rating).
//!
//! Platform-neutral: the Telegram forum, Discord and console desks translate their events
//! into [`DeskInbound`] (resolving thread → ticket) and deliver what lands in the outbox.
//! Every change goes through the ticket state machine; a refused transition produces one
//! line in the desk thread and changes nothing else. Nothing is sent from here.

use crate::desk::{self, DeskCommand, DeskMember, FindQuery, InfoView};
use crate::domain::{
    Attachment, Category, ChatAddress, Customer, Direction, Language, Outbound, Platform, Priority,
    Ticket, TicketAction, TicketNo, TicketState, Timestamp, TransitionError,
};
use crate::replies;
use crate::sla::human_duration;
use crate::store::{Rating, StoreError, TicketEvent, TicketMessage, Tx};

use super::csat::Survey;
use super::desk_topic::{self, ThreadLook};
use super::{Service, ServiceError, Turn};

/// Tickets listed by `/queue`, `/mine` and `/find`.
const LIST_TICKETS: u32 = 20;
/// Messages and history entries shown by `/info`.
const INFO_ITEMS: u32 = 8;

/// Someone posting in the desk. Anyone there is an agent (SPEC §3).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Agent {
    pub platform: Platform,
    pub user_id: String,
    /// Shown to colleagues and stored as the ticket's assignee and message author.
    pub name: String,
}

/// One desk message, already translated by an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeskInbound {
    /// Platform-unique key; processed once.
    pub key: String,
    pub agent: Agent,
    /// The ticket whose thread this was posted in (the adapter resolves thread → ticket);
    /// `None` in the desk's main chat, where only desk-wide commands work.
    pub ticket: Option<TicketNo>,
    /// Where the desk's answer goes: the ticket's thread or the desk chat.
    pub reply_to: ChatAddress,
    pub text: String,
}

/// What happened to a desk message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DeskHandled {
    /// Seen before: acknowledged, nothing done.
    Duplicate,
    Done {
        ticket: Option<TicketNo>,
        outcome: DeskOutcome,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DeskOutcome {
    /// The ticket changed (and the customer may have been told).
    Applied,
    /// Information only (`/info`, `/queue`, …) or nothing to change.
    Answered,
    /// Wrong use: a usage hint was sent to the desk.
    Usage,
    /// Not allowed in the ticket's state (or no such ticket): explained, nothing changed.
    Refused,
}

/// Messages looked at to tell the customer's language from their own words.
const LANGUAGE_SAMPLE: u32 = 20;

/// The language of the customer's latest words in this ticket; the stored preference
/// (platform locale) when none tell. Keeps desk pushes in the language the customer wrote.
pub(super) async fn ticket_language(
    tx: &mut Box<dyn Tx>,
    no: TicketNo,
    fallback: Language,
) -> Result<Language, StoreError> {
    let messages = tx.recent_messages(no, LANGUAGE_SAMPLE).await?;
    Ok(messages
        .iter()
        .rev()
        .filter(|m| m.direction == Direction::Inbound)
        .find_map(|m| Language::detect(&m.text))
        .unwrap_or(fallback))
}

/// Per-desk-message working state.
struct DeskTurn {
    tx: Box<dyn Tx>,
    now: Timestamp,
    agent: Agent,
    reply_to: ChatAddress,
    /// `/stats` answer, gathered before the unit of work began.
    stats: Option<String>,
}

impl DeskTurn {
    /// The desk's answer, in the thread the agent wrote in.
    async fn answer(
        &mut self,
        ticket: Option<TicketNo>,
        text: impl Into<String>,
    ) -> Result<(), StoreError> {
        let mut message = Outbound::text(self.reply_to.clone(), text);
        message.ticket = ticket;
        self.tx.enqueue(&message, self.now).await
    }

    async fn push(&mut self, message: Outbound) -> Result<(), StoreError> {
        self.tx.enqueue(&message, self.now).await
    }

    async fn event(
        &mut self,
        ticket: TicketNo,
        kind: &str,
        detail: String,
    ) -> Result<(), StoreError> {
        let event = TicketEvent {
            ticket,
            kind: kind.into(),
            actor: self.agent.name.clone(),
            detail,
            at: self.now,
        };
        self.tx.add_event(&event).await
    }

    async fn message(
        &mut self,
        ticket: TicketNo,
        direction: Direction,
        text: &str,
    ) -> Result<(), StoreError> {
        let message = TicketMessage {
            ticket,
            direction,
            author: self.agent.name.clone(),
            text: text.to_string(),
            attachments: Vec::new(),
            at: self.now,
        };
        self.tx.add_message(&message).await
    }
}

/// One line explaining why a command does not fit the ticket's state.
fn refusal(no: TicketNo, command: &DeskCommand, e: TransitionError) -> String {
    let hint = match e.from {
        TicketState::Resolved => {
            " (it waits for the customer's confirmation; /reopen to work on it again)"
        }
        TicketState::Closed => " (/reopen it first)",
        _ if command == &DeskCommand::Reopen => " (only resolved or closed tickets reopen)",
        _ => "",
    };
    format!(
        "{no} is {}: {} is not possible now{hint}.",
        e.from.as_str(),
        command.name()
    )
}

fn closed_refusal(no: TicketNo, command: &DeskCommand) -> String {
    format!(
        "{no} is closed: {} is not possible now (/reopen it first).",
        command.name()
    )
}

impl Service {
    /// Processes one desk message exactly once. On `Err` nothing was recorded and the
    /// platform must not be told it was received.
    pub async fn handle_desk(&self, inbound: DeskInbound) -> Result<DeskHandled, ServiceError> {
        let now = self.clock.now();
        // `/stats` reads every ticket of its period: read before the unit of work begins, so
        // a long period never holds the write lock (and other desk messages) meanwhile.
        let stats = match desk::parse(&inbound.text) {
            Ok(DeskCommand::Stats(period)) => {
                let window = period.window(now);
                let report =
                    crate::metrics_worker::gather(self.store.as_ref(), &window, None).await?;
                Some(crate::metrics::render::stats_text(&report))
            }
            _ => None,
        };
        let mut tx = self.store.begin().await?;
        if !tx.record_inbound(&inbound.key, now).await? {
            tracing::debug!(key = %inbound.key, "duplicate desk inbound ignored");
            return Ok(DeskHandled::Duplicate);
        }
        let mut agent = inbound.agent;
        let known = match self.staff.who(agent.platform, &agent.user_id) {
            DeskMember::Anyone => true,
            DeskMember::Agent(profile) => {
                // The configured name is what `/assign`, `/mine` and the history use.
                agent.name = profile.name.clone();
                true
            }
            DeskMember::Stranger => false,
        };
        let mut turn = DeskTurn {
            tx,
            now,
            agent,
            reply_to: inbound.reply_to,
            stats,
        };
        let outcome = if known {
            self.desk_command(&mut turn, inbound.ticket, &inbound.text)
                .await?
        } else {
            tracing::info!(platform = %turn.agent.platform, "desk message from someone who is not a configured agent");
            let refusal = format!(
                "Only the desk's agents can use it: {}:{} is not among the configured agents (ask a supervisor to add it to [[agents]] ids). Nothing was done or sent.",
                turn.agent.platform, turn.agent.user_id
            );
            turn.answer(inbound.ticket, refusal).await?;
            DeskOutcome::Refused
        };
        turn.tx.commit().await?;
        self.outbox_waker.notify_one();
        Ok(DeskHandled::Done {
            ticket: inbound.ticket,
            outcome,
        })
    }

    async fn desk_command(
        &self,
        turn: &mut DeskTurn,
        ticket: Option<TicketNo>,
        text: &str,
    ) -> Result<DeskOutcome, StoreError> {
        let command = match desk::parse(text) {
            Ok(command) => command,
            Err(usage) => {
                turn.answer(ticket, usage.0).await?;
                return Ok(DeskOutcome::Usage);
            }
        };
        if !command.needs_ticket() {
            return self.desk_wide(turn, command).await;
        }
        let Some(no) = ticket else {
            let hint = format!(
                "{} works in a ticket's thread (Telegram: the ticket's topic; console: prefix the line with #N). Here: /queue, /mine, /stats, /find.",
                command.name()
            );
            turn.answer(None, hint).await?;
            return Ok(DeskOutcome::Usage);
        };
        let Some(ticket) = turn.tx.ticket(no).await? else {
            turn.answer(Some(no), format!("There is no ticket {no}."))
                .await?;
            return Ok(DeskOutcome::Refused);
        };
        let customer =
            turn.tx.customer(ticket.customer).await?.ok_or_else(|| {
                StoreError::Corrupt(format!("ticket {no}: its customer is missing"))
            })?;
        // A ticket's own thread (its forum topic) stays its desk address when an agent works
        // on it from elsewhere (the console): customer follow-ups keep going to the topic.
        let address = turn.reply_to.clone();
        let has_own_thread = turn
            .tx
            .desk_thread(no)
            .await?
            .is_some_and(|a| a.ticket_of_thread() == Some(no));
        if !has_own_thread {
            turn.tx.set_desk_thread(no, &address).await?;
        }
        self.ticket_command(turn, ticket, &customer, command).await
    }

    async fn desk_wide(
        &self,
        turn: &mut DeskTurn,
        command: DeskCommand,
    ) -> Result<DeskOutcome, StoreError> {
        let now = turn.now;
        let text = match command {
            DeskCommand::Queue => {
                let tickets = turn.tx.queue(LIST_TICKETS).await?;
                desk::ticket_list("Queue, most urgent first", &tickets, now)
            }
            DeskCommand::Mine => {
                let name = turn.agent.name.clone();
                let tickets = turn.tx.tickets_assigned_to(&name, LIST_TICKETS).await?;
                desk::ticket_list(&format!("Tickets of {name}"), &tickets, now)
            }
            DeskCommand::Stats(period) => turn
                .stats
                .take()
                .unwrap_or_else(|| format!("Stats for {period} are not available now.")),
            DeskCommand::Find(FindQuery::Ticket(no)) => match turn.tx.ticket(no).await? {
                Some(t) => desk::ticket_list(&format!("Found {no}"), &[t], now),
                None => format!("There is no ticket {no}."),
            },
            DeskCommand::Find(FindQuery::Text(text)) => {
                let tickets = turn.tx.find_tickets(&text, LIST_TICKETS).await?;
                desk::ticket_list(&format!("Tickets mentioning \"{text}\""), &tickets, now)
            }
            // `needs_ticket` routes every other command elsewhere.
            other => format!("{} works in a ticket's thread.", other.name()),
        };
        turn.answer(None, text).await?;
        Ok(DeskOutcome::Answered)
    }

    async fn ticket_command(
        &self,
        turn: &mut DeskTurn,
        mut t: Ticket,
        customer: &Customer,
        command: DeskCommand,
    ) -> Result<DeskOutcome, StoreError> {
        let no = t.no;
        let now = turn.now;
        let agent = turn.agent.name.clone();
        let before = ThreadLook::of(&t, &customer.display_name);
        let original = t.clone();
        let language = ticket_language(&mut turn.tx, no, customer.language).await?;
        let to_customer = |text: String| Outbound::text(customer.chat(), text).for_ticket(no);
        let changes_closed = matches!(
            command,
            DeskCommand::Assign(_)
                | DeskCommand::Transfer(_)
                | DeskCommand::Priority(_)
                | DeskCommand::Category(_)
        );
        if changes_closed && t.state == TicketState::Closed {
            turn.answer(Some(no), closed_refusal(no, &command)).await?;
            return Ok(DeskOutcome::Refused);
        }
        macro_rules! transition {
            ($action:expr) => {{
                let from = t.state;
                if let Err(e) = t.apply($action, now) {
                    turn.answer(Some(no), refusal(no, &command, e)).await?;
                    return Ok(DeskOutcome::Refused);
                }
                format!("{} → {}", from.as_str(), t.state.as_str())
            }};
        }
        let answer = match &command {
            DeskCommand::Claim => {
                // "Already yours" only while it is being worked on: a resolved or closed
                // ticket refuses the claim below with its hint.
                if t.assignee.as_deref() == Some(agent.as_str())
                    && matches!(t.state, TicketState::Open | TicketState::WaitingOnCustomer)
                {
                    turn.answer(Some(no), format!("{no} is already yours."))
                        .await?;
                    return Ok(DeskOutcome::Answered);
                }
                // The customer hears when someone first picks the ticket up (not on hand-overs).
                let pickup = t.state == TicketState::New || t.assignee.is_none();
                let previous = t.assignee.replace(agent.clone());
                let change = transition!(TicketAction::Claim);
                let detail = match &previous {
                    Some(p) if p != &agent => format!("{change}; taken over from {p}"),
                    _ => change,
                };
                turn.event(no, "claimed", detail).await?;
                if pickup {
                    turn.push(to_customer(replies::agent_on_it(language, no)))
                        .await?;
                }
                format!("{no} claimed by {agent}; it is {}.", t.state.as_str())
            }
            DeskCommand::Assign(to) => {
                let to = if self.staff.agents.is_empty() {
                    to.clone()
                } else if let Some(profile) = self.staff.agent(to) {
                    profile.name.clone()
                } else {
                    turn.answer(
                        Some(no),
                        format!(
                            "Unknown agent `{to}`. Agents: {}.",
                            self.staff.names().join(", ")
                        ),
                    )
                    .await?;
                    return Ok(DeskOutcome::Usage);
                };
                let to = &to;
                if t.assignee.as_deref() == Some(to.as_str()) {
                    turn.answer(Some(no), format!("{no} is already assigned to {to}."))
                        .await?;
                    return Ok(DeskOutcome::Answered);
                }
                // Only responsibility changes: the state (and the customer's "an agent is on
                // it") waits until the assignee claims or answers.
                let previous = t.assignee.replace(to.clone());
                t.updated_at = now;
                let was = previous.as_deref().unwrap_or("unassigned");
                turn.event(no, "assigned", format!("{was} → {to}")).await?;
                format!("{no} assigned to {to} (was {was}).")
            }
            DeskCommand::Transfer(department) => {
                let known = self.triage.departments();
                if !known.iter().any(|d| d == department) {
                    turn.answer(
                        Some(no),
                        format!(
                            "Unknown department `{department}`. Departments: {}.",
                            known.join(", ")
                        ),
                    )
                    .await?;
                    return Ok(DeskOutcome::Usage);
                }
                if &t.department == department {
                    turn.answer(Some(no), format!("{no} is already in {department}."))
                        .await?;
                    return Ok(DeskOutcome::Answered);
                }
                let from = std::mem::replace(&mut t.department, department.clone());
                // A new department picks its own responsible agent.
                let previous = t.assignee.take();
                t.updated_at = now;
                let unassigned = previous
                    .map(|p| format!("; unassigned (was {p})"))
                    .unwrap_or_default();
                turn.event(
                    no,
                    "transferred",
                    format!("{from} → {department}{unassigned}"),
                )
                .await?;
                let now_with = match self.auto_assign(&mut turn.tx, &mut t, now).await? {
                    Some(agent) => format!("; auto-assigned to {agent}"),
                    None => {
                        self.announce_unassigned(&mut turn.tx, &t, "transferred", now)
                            .await?;
                        String::new()
                    }
                };
                format!("{no} transferred from {from} to {department}{unassigned}{now_with}.")
            }
            DeskCommand::Priority(priority) => {
                if t.priority == *priority {
                    turn.answer(Some(no), format!("{no} is already {priority}."))
                        .await?;
                    return Ok(DeskOutcome::Answered);
                }
                // Limits run from creation (plus any time paused waiting on the customer): a
                // raised priority can make a ticket overdue at once.
                let deadlines = self.sla.rebased_deadlines(&t, *priority);
                let from = std::mem::replace(&mut t.priority, *priority);
                t.first_response_due = deadlines.first_response;
                t.resolution_due = deadlines.resolution;
                t.updated_at = now;
                let due = format!(
                    "first response due {}, resolution due {}",
                    t.first_response_due.format("%Y-%m-%d %H:%M UTC"),
                    t.resolution_due.format("%Y-%m-%d %H:%M UTC")
                );
                turn.event(
                    no,
                    "priority_changed",
                    format!("{from} → {priority}; {due}"),
                )
                .await?;
                if *priority == Priority::P1 {
                    let text = format!(
                        "{no} raised to P1 by {agent} ({} · {}) — {}",
                        t.category, t.department, t.subject
                    );
                    self.enqueue_supervisor_notice(&mut turn.tx, Some(no), &text, now)
                        .await?;
                }
                format!("{no} priority {from} → {priority}; {due}.")
            }
            DeskCommand::Category(category) => {
                if t.category == *category {
                    turn.answer(Some(no), format!("{no} is already {category}."))
                        .await?;
                    return Ok(DeskOutcome::Answered);
                }
                let from = std::mem::replace(&mut t.category, *category);
                let department = self.triage.department_for(*category).to_string();
                let moved = if department != t.department {
                    let old = std::mem::replace(&mut t.department, department.clone());
                    format!("; department {old} → {department}")
                } else {
                    String::new()
                };
                t.updated_at = now;
                turn.event(
                    no,
                    "category_changed",
                    format!("{from} → {category}{moved}"),
                )
                .await?;
                if *category == Category::Complaint {
                    let text = format!(
                        "{no} filed as a complaint by {agent} ({} · {}) — {}",
                        t.priority.label(),
                        t.department,
                        t.subject
                    );
                    self.enqueue_supervisor_notice(&mut turn.tx, Some(no), &text, now)
                        .await?;
                }
                format!("{no} category {from} → {category}{moved}.")
            }
            DeskCommand::Note(text) => {
                turn.message(no, Direction::Internal, text).await?;
                turn.event(no, "note", "internal note added".into()).await?;
                t.updated_at = now;
                format!("Note added to {no} (internal, not sent to the customer).")
            }
            DeskCommand::Reply(text) => {
                let change = transition!(TicketAction::AgentReply);
                self.take_if_unassigned(turn, &mut t).await?;
                turn.message(no, Direction::Outbound, text).await?;
                turn.event(no, "agent_reply", change).await?;
                turn.push(to_customer(text.clone())).await?;
                format!("Sent to the customer of {no}.")
            }
            DeskCommand::Ask(text) => {
                let change = transition!(TicketAction::AskCustomer);
                self.take_if_unassigned(turn, &mut t).await?;
                turn.message(no, Direction::Outbound, text).await?;
                turn.event(no, "asked", change).await?;
                turn.push(to_customer(text.clone())).await?;
                format!("Asked the customer; {no} is waiting on the customer.")
            }
            DeskCommand::Resolve(text) => {
                let change = transition!(TicketAction::Resolve);
                self.take_if_unassigned(turn, &mut t).await?;
                turn.message(no, Direction::Outbound, text).await?;
                turn.event(no, "resolved", change).await?;
                let message = to_customer(text.clone())
                    .with_buttons(replies::resolution_buttons(language, no));
                turn.push(message).await?;
                format!(
                    "Solution sent; {no} is resolved and waits for the customer's confirmation."
                )
            }
            DeskCommand::Reopen => {
                let change = transition!(TicketAction::Reopen);
                turn.event(no, "reopened", change).await?;
                turn.push(to_customer(replies::reopened_by_agent(language, no)))
                    .await?;
                format!(
                    "{no} reopened; assignee {}.",
                    t.assignee.as_deref().unwrap_or("none")
                )
            }
            DeskCommand::Faq(id) => {
                let matcher = self.knowledge.matcher();
                let Some(entry) = matcher.kb().entries.iter().find(|e| &e.id == id) else {
                    turn.answer(
                        Some(no),
                        format!("No FAQ entry `{id}` (see `frontdesk faq list`)."),
                    )
                    .await?;
                    return Ok(DeskOutcome::Usage);
                };
                let text = entry.answer.get(language).trim().to_string();
                let change = transition!(TicketAction::AgentReply);
                self.take_if_unassigned(turn, &mut t).await?;
                turn.message(no, Direction::Outbound, &text).await?;
                turn.event(no, "faq_quoted", format!("{id}; {change}"))
                    .await?;
                turn.push(to_customer(text)).await?;
                format!("FAQ `{id}` sent to the customer of {no}.")
            }
            DeskCommand::Info => {
                let messages = turn.tx.recent_messages(no, INFO_ITEMS).await?;
                let events = turn.tx.recent_events(no, INFO_ITEMS).await?;
                let view = InfoView {
                    ticket: &t,
                    customer_name: &customer.display_name,
                    customer_platform: customer.platform.as_str(),
                    customer_language: customer.language.as_str(),
                    vip: customer.vip,
                    messages: &messages,
                    events: &events,
                };
                let text = desk::info_text(&view, now);
                turn.answer(Some(no), text).await?;
                return Ok(DeskOutcome::Answered);
            }
            DeskCommand::Queue
            | DeskCommand::Mine
            | DeskCommand::Stats(_)
            | DeskCommand::Find(_) => {
                return self.desk_wide(turn, command).await;
            }
        };
        super::sla_flow::save_ticket(&mut turn.tx, &self.sla, Some(&original), &t, now).await?;
        turn.answer(Some(no), answer).await?;
        desk_topic::follow(&mut turn.tx, &before, &t, &customer.display_name, now).await?;
        tracing::info!(ticket = %no, command = command.name(), "desk command applied");
        Ok(DeskOutcome::Applied)
    }

    /// The first agent who answers a nobody's ticket becomes responsible for it.
    async fn take_if_unassigned(
        &self,
        turn: &mut DeskTurn,
        t: &mut Ticket,
    ) -> Result<(), StoreError> {
        if t.assignee.is_none() {
            t.assignee = Some(turn.agent.name.clone());
            turn.event(t.no, "assigned", "unassigned → self (by answering)".into())
                .await?;
        }
        Ok(())
    }

    // -----------------------------------------------------------------------------------
    // The customer's side of a resolution.

    /// The ticket if it is the customer's own; otherwise a polite refusal was said.
    /// Unknown numbers get the same refusal, so buttons reveal nothing about other tickets.
    async fn own_ticket(
        &self,
        turn: &mut Turn<'_>,
        no: TicketNo,
    ) -> Result<Option<Ticket>, StoreError> {
        match turn.tx.ticket(no).await? {
            Some(t) if t.customer == turn.customer.id => Ok(Some(t)),
            _ => {
                tracing::info!(ticket = %no, "button for a ticket that is not the customer's");
                turn.say_text(replies::not_your_ticket(turn.language))
                    .await?;
                Ok(None)
            }
        }
    }

    /// Tells the desk thread of a ticket, when the desk has one.
    pub(super) async fn tell_desk(
        &self,
        turn: &mut Turn<'_>,
        no: TicketNo,
        text: String,
    ) -> Result<(), StoreError> {
        if let Some(address) = turn.tx.desk_thread(no).await? {
            let message = Outbound::text(address, text).for_ticket(no);
            turn.say(message).await?;
        }
        Ok(())
    }

    /// Relays a customer's follow-up to the ticket's desk thread, when it has one. A
    /// ticket's own thread on the customer's platform gets the files too (by file id).
    pub(super) async fn relay_to_desk(
        &self,
        turn: &mut Turn<'_>,
        no: TicketNo,
        text: &str,
        attachments: &[Attachment],
    ) -> Result<(), StoreError> {
        let Some(address) = turn.tx.desk_thread(no).await? else {
            return Ok(());
        };
        let name = turn.customer.display_name.clone();
        if address.ticket_of_thread() == Some(no) && address.platform == turn.customer.platform {
            return desk_topic::mirror(
                &mut turn.tx,
                &address,
                no,
                &name,
                text,
                attachments,
                turn.now,
            )
            .await;
        }
        let line = desk_topic::foreign_line(&name, no, text, attachments);
        turn.say(Outbound::text(address, line).for_ticket(no)).await
    }

    /// The customer's answer to a resolution: "Solved" closes the ticket and asks for a
    /// rating (once: a second press finds it closed); "Not solved" reopens it to the same
    /// agent with its priority kept (SPEC §1.5). Either way the desk hears about it.
    pub(super) async fn on_confirmation(
        &self,
        turn: &mut Turn<'_>,
        no: TicketNo,
        solved: bool,
    ) -> Result<Option<TicketNo>, StoreError> {
        let Some(mut t) = self.own_ticket(turn, no).await? else {
            return Ok(None);
        };
        turn.language = ticket_language(&mut turn.tx, no, turn.language).await?;
        let before = ThreadLook::of(&t, &turn.customer.display_name);
        let original = t.clone();
        let action = if solved {
            TicketAction::Confirm
        } else {
            TicketAction::Reopen
        };
        if t.state != TicketState::Resolved || t.apply(action, turn.now).is_err() {
            let text = replies::confirmation_not_pending(turn.language, no, t.state);
            turn.say_text(text).await?;
            return Ok(Some(no));
        }
        super::sla_flow::save_ticket(&mut turn.tx, &self.sla, Some(&original), &t, turn.now)
            .await?;
        let (message, desk_line) = if solved {
            turn.event(no, "confirmed", "customer", "resolved → closed".into())
                .await?;
            let customer = turn.customer.clone();
            let ask = match self
                .open_survey(&mut turn.tx, &t, &customer, "bot", turn.now)
                .await?
            {
                Survey::Ask => {
                    Outbound::text(turn.chat(), replies::solved_ask_rating(turn.language, no))
                        .with_buttons(replies::rating_buttons(no))
                }
                Survey::Skip => {
                    Outbound::text(turn.chat(), replies::solved_closed(turn.language, no))
                }
            };
            (
                ask,
                format!("{no}: the customer confirmed it is solved — closed."),
            )
        } else {
            let assignee = t.assignee.clone().unwrap_or_else(|| "unassigned".into());
            let detail = format!("not solved; resolved → open; back to {assignee}");
            turn.event(no, "reopened", "customer", detail).await?;
            let prompt =
                Outbound::text(turn.chat(), replies::not_solved_followup(turn.language, no));
            let line =
                format!("{no}: the customer says it is NOT solved — reopened, back to {assignee}.");
            (prompt, line)
        };
        turn.say(message.for_ticket(no)).await?;
        self.tell_desk(turn, no, desk_line).await?;
        let name = turn.customer.display_name.clone();
        desk_topic::follow(&mut turn.tx, &before, &t, &name, turn.now).await?;
        Ok(Some(no))
    }

    /// "Yes, close it" after a "meanwhile" answer helped: the customer closes their own
    /// open ticket; the desk is told. Anything but an open ticket is left alone.
    pub(super) async fn on_close_own(
        &self,
        turn: &mut Turn<'_>,
        no: TicketNo,
    ) -> Result<Option<TicketNo>, StoreError> {
        let Some(mut t) = self.own_ticket(turn, no).await? else {
            return Ok(None);
        };
        let before = ThreadLook::of(&t, &turn.customer.display_name);
        let original = t.clone();
        let open = matches!(
            t.state,
            TicketState::New | TicketState::Open | TicketState::WaitingOnCustomer
        );
        if !open || t.apply(TicketAction::Close, turn.now).is_err() {
            turn.say_text(replies::cannot_close(turn.language, no))
                .await?;
            return Ok(Some(no));
        }
        super::sla_flow::save_ticket(&mut turn.tx, &self.sla, Some(&original), &t, turn.now)
            .await?;
        let detail = format!("{} → closed; an FAQ answer helped", original.state.as_str());
        turn.event(no, "closed_by_customer", "customer", detail)
            .await?;
        turn.say(
            Outbound::text(turn.chat(), replies::closed_by_customer(turn.language, no))
                .for_ticket(no),
        )
        .await?;
        let line = format!("{no}: the customer closed it — the FAQ answer sent meanwhile helped.");
        self.tell_desk(turn, no, line).await?;
        let name = turn.customer.display_name.clone();
        desk_topic::follow(&mut turn.tx, &before, &t, &name, turn.now).await?;
        Ok(Some(no))
    }

    pub(super) async fn on_rate(
        &self,
        turn: &mut Turn<'_>,
        no: TicketNo,
        score: u8,
    ) -> Result<Option<TicketNo>, StoreError> {
        let Some(t) = self.own_ticket(turn, no).await? else {
            return Ok(None);
        };
        turn.language = ticket_language(&mut turn.tx, no, turn.language).await?;
        if t.state != TicketState::Closed {
            turn.say_text(replies::rating_not_yet(turn.language, no))
                .await?;
            return Ok(Some(no));
        }
        if !self.survey_open(&t, turn.now) {
            // Past the survey's outer limit: thanked, nothing recorded.
            turn.say_text(replies::survey_closed(turn.language, no))
                .await?;
            return Ok(Some(no));
        }
        let rating = Rating {
            ticket: no,
            customer: turn.customer.id,
            score,
            comment: None,
            at: turn.now,
        };
        if !turn.tx.record_rating(&rating).await? {
            turn.say_text(replies::rating_already_given(turn.language, no))
                .await?;
            return Ok(Some(no));
        }
        turn.event(no, "rated", "customer", format!("{score}/5"))
            .await?;
        let window = human_duration(self.sla.csat.comment_window);
        turn.say_text(replies::rating_thanks(turn.language, score, &window))
            .await?;
        self.tell_desk(turn, no, format!("{no}: the customer rated {score}/5."))
            .await?;
        Ok(Some(no))
    }
}
