//! The satisfaction survey (SPEC §1.6): asked once, right away when a ticket closes, and
//! open until its outer limit (24 h for P1, two business days otherwise), when the CSAT
//! timer closes it; a rating pressed later is thanked and not recorded.
//!
//! The rating's optional comment is the customer's next words within a short window
//! after rating (unless they are a question the FAQ answers).
//!
//! Decides whether to ask and records the asking (history entry, timer) in the caller's
//! unit of work; the caller sends the closing message with or without the rating buttons.

use crate::domain::{Customer, Ticket, TicketNo, Timestamp};
use crate::replies;
use crate::sla::{to_chrono, TimerKind};
use crate::store::{StoreError, TicketEvent, Tx};

use super::{Service, Turn};

/// History entries looked at for an earlier survey of the ticket.
const HISTORY_SCAN: u32 = 1000;

/// Whether a closing asks for a rating.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Survey {
    /// Ask now (the survey was recorded and its closing timer scheduled).
    Ask,
    /// Not asked: surveys are off, the ticket had its survey already, or the customer
    /// cannot be reached (recorded, so it is never asked later either).
    Skip,
}

impl Service {
    /// Decides and records the survey of `t`, which closes at `now`.
    pub(super) async fn open_survey(
        &self,
        tx: &mut Box<dyn Tx>,
        t: &Ticket,
        customer: &Customer,
        actor: &str,
        now: Timestamp,
    ) -> Result<Survey, StoreError> {
        if !self.sla.csat.enabled {
            return Ok(Survey::Skip);
        }
        let history = tx.recent_events(t.no, HISTORY_SCAN).await?;
        if history
            .iter()
            .any(|e| e.kind == "rating_asked" || e.kind == "rating_not_asked")
        {
            // Asked once per ticket, whatever happened to that request.
            return Ok(Survey::Skip);
        }
        let mut event = TicketEvent {
            ticket: t.no,
            kind: "rating_asked".into(),
            actor: actor.into(),
            detail: String::new(),
            at: now,
        };
        if customer.unreachable {
            event.kind = "rating_not_asked".into();
            event.detail = "customer unreachable at closing; not asked later".into();
            tx.add_event(&event).await?;
            return Ok(Survey::Skip);
        }
        let closes = self.sla.csat_closes_at(t.priority, now);
        event.detail = format!("open until {}", closes.format("%Y-%m-%d %H:%M UTC"));
        tx.add_event(&event).await?;
        tx.schedule_timer(t.no, TimerKind::CsatClose.as_str(), closes, now)
            .await?;
        Ok(Survey::Ask)
    }

    /// Whether the survey of the closed ticket `t` still takes a rating at `now`.
    pub(super) fn survey_open(&self, t: &Ticket, now: Timestamp) -> bool {
        t.closed_at
            .is_some_and(|closed| now < self.sla.csat_closes_at(t.priority, closed))
    }
}

impl Service {
    /// Takes `text` as the comment of the customer's rating given within the comment window,
    /// if there is one waiting for it: stored, thanked, shown to the desk.
    pub(super) async fn take_rating_comment(
        &self,
        turn: &mut Turn<'_>,
        text: &str,
    ) -> Result<Option<TicketNo>, StoreError> {
        if !self.sla.csat.enabled {
            return Ok(None);
        }
        let since = turn.now - to_chrono(self.sla.csat.comment_window);
        let Some(no) = turn
            .tx
            .comment_rating(turn.customer.id, since, text)
            .await?
        else {
            return Ok(None);
        };
        turn.event(no, "rating_commented", "customer", String::new())
            .await?;
        turn.say_text(replies::comment_thanks(turn.language, no))
            .await?;
        self.tell_desk(
            turn,
            no,
            format!("{no}: the customer's comment on their rating: {text}"),
        )
        .await?;
        Ok(Some(no))
    }
}
