//! The ticket and its state machine.
//!
//! `new → open → waiting_on_customer ↔ open → resolved → closed`, reopen from resolved or
//! closed. Every change goes through [`TicketState::apply`]; anything else is a typed
//! [`TransitionError`], never a panic. Pure: timestamps are passed in.

use serde::{Deserialize, Serialize};

use super::{Category, CustomerId, Priority, Timestamp};
use crate::domain::TicketNo;

/// Lifecycle state of a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketState {
    /// Created, nobody has picked it up yet.
    New,
    /// An agent works on it.
    Open,
    /// An agent asked the customer for information.
    WaitingOnCustomer,
    /// A solution was sent; waiting for the customer's confirmation.
    Resolved,
    /// Finished (confirmed, timed out, or closed by an agent).
    Closed,
}

impl TicketState {
    pub const ALL: &'static [TicketState] = &[
        TicketState::New,
        TicketState::Open,
        TicketState::WaitingOnCustomer,
        TicketState::Resolved,
        TicketState::Closed,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            TicketState::New => "new",
            TicketState::Open => "open",
            TicketState::WaitingOnCustomer => "waiting_on_customer",
            TicketState::Resolved => "resolved",
            TicketState::Closed => "closed",
        }
    }

    pub fn parse(s: &str) -> Option<TicketState> {
        TicketState::ALL.iter().copied().find(|st| st.as_str() == s)
    }

    /// Open in the customer's sense: not closed. A customer has at most one such ticket
    /// (unless they ask for a separate one).
    pub fn is_active(self) -> bool {
        !matches!(self, TicketState::Closed)
    }

    /// The state after `action`, or why it is not allowed.
    pub fn apply(self, action: TicketAction) -> Result<TicketState, TransitionError> {
        use TicketAction as A;
        use TicketState as S;
        let next = match (self, action) {
            (S::New | S::Open | S::WaitingOnCustomer, A::Claim) => S::Open,
            (S::New | S::Open | S::WaitingOnCustomer, A::AgentReply) => {
                if self == S::WaitingOnCustomer {
                    S::WaitingOnCustomer
                } else {
                    S::Open
                }
            }
            (S::New | S::Open | S::WaitingOnCustomer, A::AskCustomer) => S::WaitingOnCustomer,
            (S::WaitingOnCustomer, A::CustomerReply) => S::Open,
            (S::New | S::Open, A::CustomerReply) => self,
            (S::New | S::Open | S::WaitingOnCustomer, A::Resolve) => S::Resolved,
            (S::Resolved, A::Confirm) => S::Closed,
            (S::Resolved | S::Closed, A::Reopen) => S::Open,
            (S::Resolved, A::CustomerReply) => S::Open,
            (S::New | S::Open | S::WaitingOnCustomer | S::Resolved, A::Close) => S::Closed,
            (from, action) => return Err(TransitionError { from, action }),
        };
        Ok(next)
    }
}

/// Something that happens to a ticket.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TicketAction {
    Claim,
    AgentReply,
    AskCustomer,
    CustomerReply,
    Resolve,
    /// The customer confirmed the solution ("Solved").
    Confirm,
    /// "Not solved", or an agent's `/reopen`.
    Reopen,
    /// Closed without confirmation (timeout, agent).
    Close,
}

impl TicketAction {
    pub const ALL: &'static [TicketAction] = &[
        TicketAction::Claim,
        TicketAction::AgentReply,
        TicketAction::AskCustomer,
        TicketAction::CustomerReply,
        TicketAction::Resolve,
        TicketAction::Confirm,
        TicketAction::Reopen,
        TicketAction::Close,
    ];
}

/// An action that the ticket's current state does not allow.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[error("a ticket that is {} cannot be {action:?}", from.as_str())]
pub struct TransitionError {
    pub from: TicketState,
    pub action: TicketAction,
}

/// A ticket as stored.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Ticket {
    pub no: TicketNo,
    pub customer: CustomerId,
    pub state: TicketState,
    pub category: Category,
    pub priority: Priority,
    pub department: String,
    pub assignee: Option<String>,
    /// First customer words, shortened; shown in lists and topic names.
    pub subject: String,
    pub created_at: Timestamp,
    pub updated_at: Timestamp,
    pub first_response_due: Timestamp,
    pub resolution_due: Timestamp,
    pub first_response_at: Option<Timestamp>,
    pub resolved_at: Option<Timestamp>,
    pub closed_at: Option<Timestamp>,
    /// Since when the ticket waits on the customer; the deadlines are paused meanwhile.
    #[serde(default)]
    pub waiting_since: Option<Timestamp>,
    /// Times the ticket went back to work after a solution (resolved or closed → open),
    /// for the reopen rate and first-contact resolution.
    #[serde(default)]
    pub reopens: u32,
    /// Messages agents sent the customer before a solution (replies, questions, quoted FAQ
    /// answers; the solution itself is not counted), for first-contact resolution.
    #[serde(default)]
    pub agent_replies: u32,
}

impl Ticket {
    /// Applies `action` at `now`, keeping the timestamps consistent with the new state.
    /// Leaving "waiting on the customer" moves the deadlines by the time waited.
    /// Any agent action that reaches the customer — claim, reply, question or solution —
    /// is the first response when none was recorded yet.
    pub fn apply(
        &mut self,
        action: TicketAction,
        now: Timestamp,
    ) -> Result<TicketState, TransitionError> {
        let next = self.state.apply(action)?;
        if matches!(action, TicketAction::AgentReply | TicketAction::AskCustomer) {
            self.agent_replies = self.agent_replies.saturating_add(1);
        }
        if matches!(self.state, TicketState::Resolved | TicketState::Closed)
            && next == TicketState::Open
        {
            self.reopens = self.reopens.saturating_add(1);
        }
        if matches!(
            action,
            TicketAction::Claim
                | TicketAction::AgentReply
                | TicketAction::AskCustomer
                | TicketAction::Resolve
        ) && self.first_response_at.is_none()
        {
            self.first_response_at = Some(now);
        }
        let waiting = TicketState::WaitingOnCustomer;
        if next == waiting && self.state != waiting {
            self.waiting_since = Some(now);
        } else if next != waiting && self.state == waiting {
            // The deadlines were paused while the customer had the ticket: they move by the
            // time waited (SPEC §4).
            if let Some(since) = self.waiting_since.take() {
                let waited = (now - since).max(chrono::Duration::zero());
                self.resolution_due += waited;
                if self.first_response_at.is_none() {
                    self.first_response_due += waited;
                }
            }
        }
        match next {
            TicketState::Resolved => self.resolved_at = Some(now),
            TicketState::Closed => self.closed_at = Some(now),
            TicketState::Open
                if matches!(action, TicketAction::Reopen)
                    || self.state == TicketState::Resolved =>
            {
                self.resolved_at = None;
                self.closed_at = None;
            }
            _ => {}
        }
        self.state = next;
        self.updated_at = now;
        Ok(next)
    }
}
