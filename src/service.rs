//! The inbound pipeline: one customer message (or button press) → one store transaction.
//!
//! Dedup key, customer, FAQ decision or ticket change, history and every reply the
//! message causes are written in the same [`Tx`]; nothing is sent from here — replies
//! go to the outbox and the delivery worker is woken after commit. Adapters translate
//! platform events into [`Inbound`]; this module decides. The agents' side (desk commands)
//! and the customer's answers to a solution live in `desk_flow`.

use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

use tokio::sync::Notify;

use crate::decision::{self, Verdict};
use crate::desk::Staff;
use crate::domain::{
    Attachment, Category, ChatAddress, Customer, CustomerIdentity, Direction, Language, Outbound,
    Platform, Priority, TicketAction, TicketNo, TicketState, Timestamp,
};
use crate::faq::{KnowledgeBase, Matcher, SmallTalk};
use crate::ports::Clock;
use crate::replies::{self, ButtonAction};
use crate::sla::{human_duration, SlaPolicy};
use crate::store::{FaqFeedback, NewTicket, Store, StoreError, TicketEvent, TicketMessage, Tx};
use crate::supervisors::Supervisors;
use crate::triage::TriageRules;

mod alert_flow;
mod assignment;
mod csat;
mod desk_flow;
mod sla_flow;
pub use sla_flow::TimerOutcome;
pub mod desk_topic;

pub use desk_flow::{Agent, DeskHandled, DeskInbound, DeskOutcome};
pub use desk_topic::{DeskButton, DeskRoute};

/// Longest subject kept for a ticket (lists, topic names).
const SUBJECT_CHARS: usize = 80;
/// Longest button label built from an FAQ question.
const LABEL_CHARS: usize = 60;
/// Tickets shown by `/status`.
const STATUS_TICKETS: u32 = 5;

/// One thing a customer did, already translated by an adapter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Inbound {
    /// Platform-unique key (`telegram:update:42`, `console:ana:1700000000:3`); processed once.
    pub key: String,
    pub from: CustomerIdentity,
    pub content: InboundContent,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum InboundContent {
    /// Text and/or files (files by reference).
    Message {
        text: String,
        attachments: Vec<Attachment>,
    },
    /// A button press; `data` as it came back from the platform.
    Button { data: String },
    /// Something the bot cannot handle (sticker, location, …): a polite hint, no ticket.
    Unsupported { kind: String },
}

/// What happened to an inbound item.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Handled {
    /// Seen before: acknowledged, nothing done.
    Duplicate,
    /// Processed; the ticket it created or touched, if any.
    Done { ticket: Option<TicketNo> },
}

#[derive(Debug, thiserror::Error)]
pub enum ServiceError {
    /// The store failed: the inbound item was not processed and must not be acknowledged.
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// The live knowledge base and its matcher; replaced as a whole on reload.
#[derive(Clone)]
pub struct Knowledge {
    current: Arc<RwLock<Arc<Matcher>>>,
}

impl Knowledge {
    pub fn new(kb: KnowledgeBase) -> Knowledge {
        Knowledge {
            current: Arc::new(RwLock::new(Arc::new(Matcher::new(Arc::new(kb))))),
        }
    }

    pub fn matcher(&self) -> Arc<Matcher> {
        match self.current.read() {
            Ok(guard) => guard.clone(),
            Err(poisoned) => poisoned.into_inner().clone(),
        }
    }

    /// Swaps in a new knowledge base (the matcher is built before the swap).
    pub fn replace(&self, kb: KnowledgeBase) {
        let matcher = Arc::new(Matcher::new(Arc::new(kb)));
        match self.current.write() {
            Ok(mut guard) => *guard = matcher,
            Err(poisoned) => *poisoned.into_inner() = matcher,
        }
    }
}

/// The customer-facing service.
pub struct Service {
    store: Arc<dyn Store>,
    knowledge: Knowledge,
    triage: Arc<TriageRules>,
    sla: SlaPolicy,
    vip: BTreeSet<String>,
    clock: Arc<dyn Clock>,
    outbox_waker: Arc<Notify>,
    /// The agents' desks (at most one per platform); each new ticket gets a thread in one.
    desks: Vec<DeskRoute>,
    /// The platform whose desk works every ticket; `None`: the customer's own platform
    /// when it has a desk, else the first desk configured.
    desk_platform: Option<Platform>,
    supervisors: Supervisors,
    /// The configured agents and whether tickets are assigned automatically.
    staff: Staff,
}

/// Per-message working state.
struct Turn<'a> {
    tx: Box<dyn Tx>,
    customer: Customer,
    language: Language,
    now: Timestamp,
    matcher: &'a Matcher,
    /// Tickets created in this unit, counted in the metrics once it has committed (a unit
    /// that rolls back created none).
    created: Vec<(Category, Priority)>,
}

impl Turn<'_> {
    fn chat(&self) -> ChatAddress {
        self.customer.chat()
    }

    async fn say(&mut self, message: Outbound) -> Result<(), StoreError> {
        self.tx.enqueue(&message, self.now).await
    }

    async fn say_text(&mut self, text: impl Into<String>) -> Result<(), StoreError> {
        let message = Outbound::text(self.chat(), text);
        self.say(message).await
    }

    async fn event(
        &mut self,
        ticket: TicketNo,
        kind: &str,
        actor: &str,
        detail: String,
    ) -> Result<(), StoreError> {
        let event = TicketEvent {
            ticket,
            kind: kind.into(),
            actor: actor.into(),
            detail,
            at: self.now,
        };
        self.tx.add_event(&event).await
    }
}

impl Service {
    pub fn new(
        store: Arc<dyn Store>,
        knowledge: Knowledge,
        triage: Arc<TriageRules>,
        sla: SlaPolicy,
        vip: BTreeSet<String>,
        clock: Arc<dyn Clock>,
    ) -> Service {
        Service {
            store,
            knowledge,
            triage,
            sla,
            vip,
            clock,
            outbox_waker: Arc::new(Notify::new()),
            desks: Vec::new(),
            desk_platform: None,
            supervisors: Supervisors::default(),
            staff: Staff::default(),
        }
    }

    /// Replaces the SLA policy given to [`Service::new`].
    pub fn with_sla(mut self, sla: SlaPolicy) -> Service {
        self.sla = sla;
        self
    }

    pub fn sla(&self) -> &SlaPolicy {
        &self.sla
    }

    /// The desk's agents (empty: anyone in the desk is one) and auto-assignment.
    pub fn with_staff(mut self, staff: Staff) -> Service {
        self.staff = staff;
        self
    }

    /// Who hears about complaints, P1 tickets and SLA breaches (default: the desk chat).
    pub fn with_supervisors(mut self, supervisors: Supervisors) -> Service {
        self.supervisors = supervisors;
        self
    }

    pub fn supervisors(&self) -> &Supervisors {
        &self.supervisors
    }

    /// The supervisor notices saying `text` (about `ticket`, if any): to the configured
    /// supervisors' chats, else the desk chat. The caller enqueues them in its own
    /// transaction; [`Service::notify_supervisors`] does it in one of its own.
    pub fn supervisor_notice(&self, ticket: Option<TicketNo>, text: &str) -> Vec<Outbound> {
        let desk_chat = self.desk().map(DeskRoute::chat);
        self.supervisors.notices(desk_chat.as_ref(), ticket, text)
    }

    /// Enqueues the supervisor notices of [`Service::supervisor_notice`] in `tx`.
    pub async fn enqueue_supervisor_notice(
        &self,
        tx: &mut Box<dyn Tx>,
        ticket: Option<TicketNo>,
        text: &str,
        now: Timestamp,
    ) -> Result<usize, StoreError> {
        let notices = self.supervisor_notice(ticket, text);
        for notice in &notices {
            tx.enqueue(notice, now).await?;
        }
        Ok(notices.len())
    }

    /// Tells the supervisors `text` in a unit of work of its own (metric threshold alerts
    /// and other notices not tied to a ticket change). Returns how many notices were queued
    /// (0: no supervisors' chat and no desk configured).
    pub async fn notify_supervisors(&self, text: &str) -> Result<usize, ServiceError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let queued = self
            .enqueue_supervisor_notice(&mut tx, None, text, now)
            .await?;
        tx.commit().await?;
        if queued > 0 {
            self.outbox_waker.notify_one();
        }
        Ok(queued)
    }

    /// Adds an agents' desk: new tickets get a thread there (card, buttons, the customer's
    /// words). A second desk on the same platform replaces the first.
    pub fn with_desk(mut self, desk: DeskRoute) -> Service {
        self.desks.retain(|d| d.platform != desk.platform);
        self.desks.push(desk);
        self
    }

    /// Works every ticket in the desk on `platform` (when it has one), whatever the
    /// customer's platform; `None` keeps the default (the customer's own platform).
    pub fn with_desk_platform(mut self, platform: Option<Platform>) -> Service {
        self.desk_platform = platform;
        self
    }

    /// The first configured agents' desk, if any.
    pub fn desk(&self) -> Option<&DeskRoute> {
        self.desks.first()
    }

    /// The desk a ticket lives in: the one its thread was opened in, else the first desk.
    pub(crate) async fn ticket_desk(
        &self,
        tx: &mut Box<dyn Tx>,
        no: TicketNo,
    ) -> Result<Option<DeskRoute>, StoreError> {
        let thread = tx.desk_thread(no).await?;
        Ok(match thread {
            Some(address) if address.ticket_of_thread() == Some(no) => {
                Some(DeskRoute::new(address.platform, address.chat_id))
            }
            _ => self.desk().cloned(),
        })
    }

    /// The agents' desk on `platform`, if one is configured.
    pub fn desk_on(&self, platform: Platform) -> Option<&DeskRoute> {
        self.desks.iter().find(|d| d.platform == platform)
    }

    /// The desk a new ticket of a customer on `platform` lives in: the configured desk
    /// platform's, else the customer's own platform's, else the only (first) desk.
    pub fn desk_for(&self, platform: Platform) -> Option<&DeskRoute> {
        self.desk_platform
            .and_then(|p| self.desk_on(p))
            .or_else(|| self.desk_on(platform))
            .or_else(|| self.desks.first())
    }

    /// Lets the outbox worker sleep until there is something new to deliver.
    pub fn with_outbox_waker(mut self, waker: Arc<Notify>) -> Service {
        self.outbox_waker = waker;
        self
    }

    pub fn knowledge(&self) -> &Knowledge {
        &self.knowledge
    }

    pub fn store(&self) -> &Arc<dyn Store> {
        &self.store
    }

    /// Processes one inbound item exactly once. On `Err` nothing was recorded and the
    /// platform must not be told it was received.
    pub async fn handle(&self, inbound: Inbound) -> Result<Handled, ServiceError> {
        let now = self.clock.now();
        let mut tx = self.store.begin().await?;
        let platform = inbound.from.platform;
        if !tx.record_inbound(&inbound.key, now).await? {
            tracing::debug!(key = %inbound.key, "duplicate inbound ignored");
            crate::telemetry::inbound(platform, "duplicate");
            return Ok(Handled::Duplicate);
        }
        let vip = self.vip.contains(&format!(
            "{}:{}",
            inbound.from.platform, inbound.from.user_id
        ));
        let mut from = inbound.from;
        // The language a customer writes in beats the platform's locale and is remembered
        // for button presses and pushes, which carry no text (and keep what was learnt).
        match &inbound.content {
            InboundContent::Message { text, .. } if parse_command(text.trim()).is_none() => {
                if let Some(written) = Language::detect(text) {
                    from.language = Some(written);
                }
            }
            InboundContent::Button { .. } => from.language = None,
            _ => {}
        }
        let customer = tx.upsert_customer(&from, vip, now).await?;
        let matcher = self.knowledge.matcher();
        let language = customer.language;
        let mut turn = Turn {
            tx,
            customer,
            language,
            now,
            matcher: &matcher,
            created: Vec::new(),
        };
        let ticket = match inbound.content {
            InboundContent::Message { text, attachments } => {
                self.on_message(&mut turn, text, attachments).await?
            }
            InboundContent::Button { data } => self.on_button(&mut turn, &data).await?,
            InboundContent::Unsupported { kind } => {
                tracing::info!(kind = %kind, "unsupported inbound kind");
                let hint = match turn.language {
                    Language::En => "Sorry, I can only read text, photos, files and voice messages. Please describe your question in words.",
                    Language::Zh => "抱歉，我只能处理文字、图片、文件和语音消息，请用文字描述您的问题。",
                };
                turn.say_text(hint).await?;
                None
            }
        };
        let Turn { tx, created, .. } = turn;
        tx.commit().await?;
        self.outbox_waker.notify_one();
        for (category, priority) in created {
            crate::telemetry::ticket_created(category, priority);
        }
        crate::telemetry::inbound(platform, if ticket.is_some() { "ticket" } else { "bot" });
        Ok(Handled::Done { ticket })
    }

    async fn on_message(
        &self,
        turn: &mut Turn<'_>,
        text: String,
        attachments: Vec<Attachment>,
    ) -> Result<Option<TicketNo>, StoreError> {
        let trimmed = text.trim();
        if trimmed.is_empty() && attachments.is_empty() {
            turn.say_text(replies::empty_message(turn.language)).await?;
            return Ok(None);
        }
        if let Some((command, args)) = parse_command(trimmed) {
            match command.as_str() {
                "start" | "help" | "menu" => {
                    self.send_menu(turn, true).await?;
                    return Ok(None);
                }
                "status" | "tickets" => {
                    self.send_status(turn).await?;
                    return Ok(None);
                }
                "human" | "agent" | "person" => {
                    let text = if args.is_empty() {
                        turn.tx
                            .last_question(turn.customer.id)
                            .await?
                            .unwrap_or_default()
                    } else {
                        args
                    };
                    return self
                        .escalate(turn, &text, attachments, false, "asked for a person".into())
                        .await
                        .map(Some);
                }
                "new" => {
                    return self
                        .escalate(
                            turn,
                            &args,
                            attachments,
                            true,
                            "asked for a new ticket".into(),
                        )
                        .await
                        .map(Some);
                }
                _ => {} // unknown command: treat as text
            }
        }
        if let Some(ticket) = turn.tx.active_ticket(turn.customer.id).await? {
            return self
                .follow_up(turn, ticket, &text, attachments)
                .await
                .map(Some);
        }
        if !attachments.is_empty() {
            // A file needs a person to look at it.
            return self
                .escalate(turn, &text, attachments, false, "sent a file".into())
                .await
                .map(Some);
        }
        let outcome = turn.matcher.match_text(trimmed);
        let triage = self.triage.classify(trimmed, turn.customer.vip);
        let door = decision::decide(&outcome, &triage, turn.matcher.kb());
        if let Verdict::SmallTalk { kind } = door.verdict {
            match kind {
                SmallTalk::Greeting => self.send_menu(turn, true).await?,
                SmallTalk::Thanks => turn.say_text(replies::thanks_reply(turn.language)).await?,
                SmallTalk::Goodbye => turn.say_text(replies::goodbye_reply(turn.language)).await?,
            }
            return Ok(None);
        }
        // Right after a rating, words the FAQ does not answer are the rating's comment —
        // unless a person must see them (a new problem report, a complaint).
        if !matches!(door.verdict, Verdict::Answer { .. }) && triage.escalate.is_none() {
            if let Some(no) = self.take_rating_comment(turn, trimmed).await? {
                return Ok(Some(no));
            }
        }
        turn.tx
            .remember_question(turn.customer.id, trimmed, turn.now)
            .await?;
        match door.verdict {
            Verdict::Answer { entry, .. } => {
                self.send_answer(turn, &entry).await?;
                Ok(None)
            }
            Verdict::Suggest { entries } => {
                let mut rows = Vec::new();
                for candidate in entries.iter().take(3) {
                    if let Some(label) =
                        question_label(turn.matcher.kb(), &candidate.entry_id, turn.language)
                    {
                        rows.push(vec![
                            ButtonAction::ShowFaq(candidate.entry_id.clone()).button(label)
                        ]);
                    }
                }
                rows.push(vec![
                    ButtonAction::Human(None).button(replies::talk_to_person_label(turn.language))
                ]);
                let message = Outbound::text(turn.chat(), replies::did_you_mean(turn.language))
                    .with_buttons(rows);
                turn.say(message).await?;
                Ok(None)
            }
            Verdict::Escalate { meanwhile } => {
                if door.unanswered {
                    turn.tx
                        .record_unanswered(turn.customer.id, trimmed, turn.language, turn.now)
                        .await?;
                }
                let why = Escalation {
                    reason: &door.reason,
                    meanwhile: meanwhile.as_deref(),
                };
                self.escalate(turn, &text, attachments, false, why)
                    .await
                    .map(Some)
            }
            Verdict::SmallTalk { .. } => Ok(None),
        }
    }

    async fn on_button(
        &self,
        turn: &mut Turn<'_>,
        data: &str,
    ) -> Result<Option<TicketNo>, StoreError> {
        let Some(action) = ButtonAction::decode(data) else {
            turn.say_text(replies::unknown_button(turn.language))
                .await?;
            return Ok(None);
        };
        match action {
            ButtonAction::Helped(id) => {
                turn.tx
                    .record_faq_feedback(turn.customer.id, &id, FaqFeedback::Helped, turn.now)
                    .await?;
                crate::telemetry::faq_feedback(FaqFeedback::Helped);
                turn.say_text(replies::glad_it_helped(turn.language))
                    .await?;
                Ok(None)
            }
            ButtonAction::ShowFaq(id) => {
                self.send_answer(turn, &id).await?;
                Ok(None)
            }
            ButtonAction::Human(entry) => {
                if let Some(id) = &entry {
                    turn.tx
                        .record_faq_feedback(turn.customer.id, id, FaqFeedback::Escalated, turn.now)
                        .await?;
                    crate::telemetry::faq_feedback(FaqFeedback::Escalated);
                }
                let text = turn
                    .tx
                    .last_question(turn.customer.id)
                    .await?
                    .unwrap_or_default();
                self.escalate(
                    turn,
                    &text,
                    Vec::new(),
                    false,
                    "pressed \"talk to a person\"".into(),
                )
                .await
                .map(Some)
            }
            ButtonAction::Topic(topic) => {
                let kb = turn.matcher.kb();
                let title = kb
                    .topics
                    .iter()
                    .find(|t| t.id == topic)
                    .map(|t| match turn.language {
                        Language::En => t.title_en.clone(),
                        Language::Zh => t.title_zh.clone(),
                    });
                let Some(title) = title else {
                    turn.say_text(replies::unknown_button(turn.language))
                        .await?;
                    return Ok(None);
                };
                let rows: Vec<_> = kb
                    .entries
                    .iter()
                    .filter(|e| e.topic == topic)
                    .take(8)
                    .filter_map(|e| {
                        question_label(kb, &e.id, turn.language)
                            .map(|label| vec![ButtonAction::ShowFaq(e.id.clone()).button(label)])
                    })
                    .collect();
                let message =
                    Outbound::text(turn.chat(), replies::topic_intro(turn.language, &title))
                        .with_buttons(rows);
                turn.say(message).await?;
                Ok(None)
            }
            ButtonAction::Status => {
                self.send_status(turn).await?;
                Ok(None)
            }
            ButtonAction::Solved(no) => self.on_confirmation(turn, no, true).await,
            ButtonAction::NotSolved(no) => self.on_confirmation(turn, no, false).await,
            ButtonAction::Rate(no, score) => self.on_rate(turn, no, score).await,
            ButtonAction::MeanwhileHelped(no, id) => {
                turn.tx
                    .record_faq_feedback(turn.customer.id, &id, FaqFeedback::Helped, turn.now)
                    .await?;
                crate::telemetry::faq_feedback(FaqFeedback::Helped);
                let (text, buttons) = replies::offer_to_close(turn.language, no);
                let message = Outbound::text(turn.chat(), text)
                    .with_buttons(buttons)
                    .for_ticket(no);
                turn.say(message).await?;
                Ok(Some(no))
            }
            ButtonAction::CloseTicket(no) => self.on_close_own(turn, no).await,
            ButtonAction::KeepTicket(no) => {
                turn.say_text(replies::kept_open(turn.language, no)).await?;
                Ok(Some(no))
            }
        }
    }

    async fn send_menu(&self, turn: &mut Turn<'_>, greeting: bool) -> Result<(), StoreError> {
        let buttons = replies::menu_buttons(turn.language, &turn.matcher.kb().topics);
        let message = Outbound::text(turn.chat(), replies::menu_text(turn.language, greeting))
            .with_buttons(buttons);
        turn.say(message).await
    }

    async fn send_status(&self, turn: &mut Turn<'_>) -> Result<(), StoreError> {
        let tickets = turn
            .tx
            .customer_tickets(turn.customer.id, STATUS_TICKETS)
            .await?;
        let text = replies::status_list(turn.language, &tickets, turn.now);
        turn.say_text(text).await
    }

    async fn send_answer(&self, turn: &mut Turn<'_>, entry_id: &str) -> Result<(), StoreError> {
        let Some(entry) = turn.matcher.kb().entries.iter().find(|e| e.id == entry_id) else {
            return turn.say_text(replies::unknown_button(turn.language)).await;
        };
        let text = entry.answer.get(turn.language).trim().to_string();
        let message = Outbound::text(turn.chat(), text)
            .with_buttons(replies::answer_buttons(turn.language, entry_id));
        turn.tx
            .record_faq_feedback(turn.customer.id, entry_id, FaqFeedback::Shown, turn.now)
            .await?;
        crate::telemetry::faq_feedback(FaqFeedback::Shown);
        turn.say(message).await
    }

    /// Adds a customer message to their open ticket.
    async fn follow_up(
        &self,
        turn: &mut Turn<'_>,
        mut ticket: crate::domain::Ticket,
        text: &str,
        attachments: Vec<Attachment>,
    ) -> Result<TicketNo, StoreError> {
        let no = ticket.no;
        self.relay_to_desk(turn, no, text, &attachments).await?;
        self.add_customer_message(turn, no, text, attachments)
            .await?;
        if ticket.state == TicketState::WaitingOnCustomer {
            // The answer the agent waited for: back to the agent.
            let before = ticket.clone();
            if ticket.apply(TicketAction::CustomerReply, turn.now).is_ok() {
                sla_flow::save_ticket(&mut turn.tx, &self.sla, Some(&before), &ticket, turn.now)
                    .await?;
                turn.event(
                    no,
                    "customer_replied",
                    "customer",
                    "waiting_on_customer → open".into(),
                )
                .await?;
            }
        } else {
            ticket.updated_at = turn.now;
            turn.tx.save_ticket(&ticket).await?;
        }
        let ack =
            Outbound::text(turn.chat(), replies::added_to_ticket(turn.language, no)).for_ticket(no);
        turn.say(ack).await?;
        Ok(no)
    }

    /// Creates a ticket (or appends to the open one unless `separate`).
    async fn escalate(
        &self,
        turn: &mut Turn<'_>,
        text: &str,
        attachments: Vec<Attachment>,
        separate: bool,
        why: Escalation<'_>,
    ) -> Result<TicketNo, StoreError> {
        let reason = why.reason;
        if !separate {
            if let Some(ticket) = turn.tx.active_ticket(turn.customer.id).await? {
                return self.follow_up(turn, ticket, text, attachments).await;
            }
        }
        let triage = self.triage.classify(text, turn.customer.vip);
        let deadlines = self.sla.deadlines(triage.priority, turn.now);
        let new = NewTicket {
            customer: turn.customer.id,
            category: triage.category,
            priority: triage.priority,
            department: triage.department.clone(),
            subject: subject_of(text, &attachments),
            now: turn.now,
            first_response_due: deadlines.first_response,
            resolution_due: deadlines.resolution,
        };
        let mut ticket = turn.tx.create_ticket(&new).await?;
        turn.created.push((ticket.category, ticket.priority));
        let no = ticket.no;
        if self
            .auto_assign(&mut turn.tx, &mut ticket, turn.now)
            .await?
            .is_some()
        {
            turn.tx.save_ticket(&ticket).await?;
        }
        sla_flow::schedule(&mut turn.tx, &self.sla, None, &ticket, turn.now).await?;
        let detail = format!(
            "{reason}; category {}{}, priority {}, department {}{}",
            triage.category,
            triage
                .sub_category
                .as_deref()
                .map(|s| format!("/{s}"))
                .unwrap_or_default(),
            triage.priority.label(),
            triage.department,
            if turn.customer.vip { ", vip" } else { "" },
        );
        turn.event(no, "created", "customer", detail).await?;
        // Complaints, P1 tickets and safety/security signals reach the supervisors at once.
        if triage.notify_supervisors
            || triage.priority == Priority::P1
            || triage.category == Category::Complaint
        {
            let why = if triage.category == Category::Complaint {
                "complaint"
            } else if triage.priority == Priority::P1 {
                "P1"
            } else {
                "safety/security signal"
            };
            let text = format!(
                "new {why}: {no} {} {} from {} — {}",
                triage.priority.label(),
                triage.category,
                turn.customer.display_name,
                ticket.subject
            );
            let queued = self
                .enqueue_supervisor_notice(&mut turn.tx, Some(no), &text, turn.now)
                .await?;
            turn.event(
                no,
                "supervisors_notified",
                "system",
                format!("{why}; category {}; {queued} notice(s)", triage.category),
            )
            .await?;
        }
        if let Some(desk) = self.desk_for(turn.customer.platform) {
            let opening = desk_topic::Opening {
                text,
                attachments: &attachments,
                why: reason,
                meanwhile: why.meanwhile,
            };
            desk_topic::open(
                &mut turn.tx,
                desk,
                &ticket,
                &turn.customer,
                &opening,
                turn.now,
            )
            .await?;
            if let Some(agent) = &ticket.assignee {
                // The responsible agent sees it in the ticket's own thread, under the card.
                let line = format!(
                    "{no} auto-assigned to {agent} (least loaded with the skill for {}); /claim to start.",
                    ticket.department
                );
                let message = Outbound::text(desk.thread(no), line).for_ticket(no);
                turn.say(message).await?;
            }
        }
        if ticket.assignee.is_none() {
            self.announce_unassigned(&mut turn.tx, &ticket, "new", turn.now)
                .await?;
        }
        if !text.trim().is_empty() || !attachments.is_empty() {
            self.add_customer_message(turn, no, text, attachments)
                .await?;
        }
        let promise = human_duration(self.sla.limits(triage.priority).first_response);
        let ack = replies::ticket_created(
            turn.language,
            no,
            triage.priority,
            &promise,
            triage.category == Category::Complaint,
        );
        let meanwhile = why
            .meanwhile
            .and_then(|id| turn.matcher.kb().entries.iter().find(|e| e.id == id));
        let message = match meanwhile {
            Some(entry) => {
                let answer = entry.answer.get(turn.language);
                let text = replies::ticket_created_meanwhile(turn.language, &ack, answer);
                turn.tx
                    .record_faq_feedback(turn.customer.id, &entry.id, FaqFeedback::Shown, turn.now)
                    .await?;
                crate::telemetry::faq_feedback(FaqFeedback::Shown);
                Outbound::text(turn.chat(), text).with_buttons(replies::meanwhile_buttons(
                    turn.language,
                    no,
                    &entry.id,
                ))
            }
            None => Outbound::text(turn.chat(), ack),
        };
        turn.say(message.for_ticket(no)).await?;
        tracing::info!(ticket = %no, priority = triage.priority.label(), category = %triage.category, "ticket created");
        Ok(no)
    }

    async fn add_customer_message(
        &self,
        turn: &mut Turn<'_>,
        ticket: TicketNo,
        text: &str,
        attachments: Vec<Attachment>,
    ) -> Result<(), StoreError> {
        let message = TicketMessage {
            ticket,
            direction: Direction::Inbound,
            author: "customer".into(),
            text: text.to_string(),
            attachments,
            at: turn.now,
        };
        turn.tx.add_message(&message).await
    }
}

/// Why a ticket is opened, and an FAQ entry whose answer goes along "meanwhile".
pub(crate) struct Escalation<'a> {
    pub reason: &'a str,
    pub meanwhile: Option<&'a str>,
}

impl<'a> From<&'a str> for Escalation<'a> {
    fn from(reason: &'a str) -> Self {
        Escalation {
            reason,
            meanwhile: None,
        }
    }
}

/// `/cmd args` or `/cmd@botname args` → (`cmd`, `args`).
pub fn parse_command(text: &str) -> Option<(String, String)> {
    let rest = text.strip_prefix('/')?;
    let (word, args) = rest.split_once(char::is_whitespace).unwrap_or((rest, ""));
    let name = word.split('@').next().unwrap_or("").to_ascii_lowercase();
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return None;
    }
    Some((name, args.trim().to_string()))
}

fn subject_of(text: &str, attachments: &[Attachment]) -> String {
    let line: String = text.split_whitespace().collect::<Vec<_>>().join(" ");
    if line.is_empty() {
        return attachments
            .first()
            .map(|a| format!("({})", a.kind))
            .unwrap_or_else(|| "(no text)".into());
    }
    truncate_chars(&line, SUBJECT_CHARS)
}

fn truncate_chars(text: &str, max: usize) -> String {
    if text.chars().count() <= max {
        return text.to_string();
    }
    let mut out: String = text.chars().take(max.saturating_sub(1)).collect();
    out.push('…');
    out
}

/// The entry's first question in the language (for a button), falling back to any question.
fn question_label(kb: &KnowledgeBase, entry_id: &str, language: Language) -> Option<String> {
    let entry = kb.entries.iter().find(|e| e.id == entry_id)?;
    let question = entry
        .questions
        .iter()
        .find(|q| q.language == language)
        .or_else(|| entry.questions.first())?;
    Some(truncate_chars(&question.text, LABEL_CHARS))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `tickets_created` counts committed tickets only: a unit that fails after creating
    /// its ticket rolls it back, and the counter stays. (No other unit test of the library
    /// creates tickets, so the process-wide counter is this test's alone.)
    #[tokio::test]
    async fn a_ticket_rolled_back_with_its_unit_is_not_counted() {
        let dir = tempfile::tempdir().unwrap();
        let url = format!("sqlite://{}", dir.path().join("fd.db").display());
        let sqlite = crate::store::sqlite::SqliteStore::open(&url).await.unwrap();
        // The ticket's "created" history entry is written after the ticket: refuse it.
        sqlite.fail_inserts_into("ticket_events").await.unwrap();
        let store: Arc<dyn Store> = Arc::new(sqlite);
        let kb = KnowledgeBase {
            topics: Vec::new(),
            entries: Vec::new(),
            synonyms: Vec::new(),
        };
        let service = Service::new(
            store.clone(),
            Knowledge::new(kb),
            Arc::new(crate::triage::TriageRules::builtin()),
            SlaPolicy::default(),
            Default::default(),
            Arc::new(crate::ports::SystemClock),
        );
        let before = crate::telemetry::tickets_created_total();
        let inbound = Inbound {
            key: "test:1".into(),
            from: CustomerIdentity {
                platform: Platform::Web,
                user_id: "v1".into(),
                chat_id: "v1".into(),
                display_name: "visitor".into(),
                language: None,
            },
            content: InboundContent::Message {
                text: "my parcel never arrived".into(),
                attachments: Vec::new(),
            },
        };
        assert!(service.handle(inbound).await.is_err());
        let stored = store
            .list_tickets(&crate::store::TicketFilter::default())
            .await
            .unwrap();
        assert!(stored.is_empty(), "{stored:?}");
        assert_eq!(crate::telemetry::tickets_created_total(), before);
    }

    #[test]
    fn commands_parse_with_and_without_bot_name() {
        assert_eq!(
            parse_command("/status"),
            Some(("status".into(), String::new()))
        );
        assert_eq!(
            parse_command("/Status@frontdesk_bot"),
            Some(("status".into(), String::new()))
        );
        assert_eq!(
            parse_command("/new my printer is on fire"),
            Some(("new".into(), "my printer is on fire".into()))
        );
        assert_eq!(parse_command("/"), None);
        assert_eq!(parse_command("/ status"), None);
        assert_eq!(parse_command("status"), None);
        assert_eq!(parse_command("/path/to/file"), None);
    }

    #[test]
    fn subjects_are_one_short_line() {
        let long = "word ".repeat(100);
        let s = subject_of(&long, &[]);
        assert_eq!(s.chars().count(), SUBJECT_CHARS);
        assert!(s.ends_with('…'));
        assert_eq!(subject_of("a\nb", &[]), "a b");
        let photo = Attachment {
            kind: "photo".into(),
            reference: "f1".into(),
            name: None,
        };
        assert_eq!(subject_of("  ", &[photo]), "(photo)");
    }
}
