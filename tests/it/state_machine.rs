//! Property tests of the ticket state machine: random action sequences against an
//! independently written table of allowed transitions (SPEC §1, §4).

use frontdesk::domain::{
    Category, CustomerId, Priority, Ticket, TicketAction, TicketNo, TicketState, Timestamp,
};
use proptest::prelude::*;

use TicketAction as A;
use TicketState as S;

/// Every allowed transition, written out by hand from the product rules.
const ALLOWED: &[(TicketState, TicketAction, TicketState)] = &[
    // Agent picks up / works on it.
    (S::New, A::Claim, S::Open),
    (S::Open, A::Claim, S::Open),
    (S::WaitingOnCustomer, A::Claim, S::Open),
    (S::New, A::AgentReply, S::Open),
    (S::Open, A::AgentReply, S::Open),
    (S::WaitingOnCustomer, A::AgentReply, S::WaitingOnCustomer),
    // `/ask`: waiting on the customer.
    (S::New, A::AskCustomer, S::WaitingOnCustomer),
    (S::Open, A::AskCustomer, S::WaitingOnCustomer),
    (S::WaitingOnCustomer, A::AskCustomer, S::WaitingOnCustomer),
    // The customer writes.
    (S::New, A::CustomerReply, S::New),
    (S::Open, A::CustomerReply, S::Open),
    (S::WaitingOnCustomer, A::CustomerReply, S::Open),
    (S::Resolved, A::CustomerReply, S::Open),
    // `/resolve`, then "Solved" / "Not solved".
    (S::New, A::Resolve, S::Resolved),
    (S::Open, A::Resolve, S::Resolved),
    (S::WaitingOnCustomer, A::Resolve, S::Resolved),
    (S::Resolved, A::Confirm, S::Closed),
    (S::Resolved, A::Reopen, S::Open),
    (S::Closed, A::Reopen, S::Open),
    // Closed without confirmation (timeout, agent).
    (S::New, A::Close, S::Closed),
    (S::Open, A::Close, S::Closed),
    (S::WaitingOnCustomer, A::Close, S::Closed),
    (S::Resolved, A::Close, S::Closed),
];

fn allowed(from: TicketState, action: TicketAction) -> Option<TicketState> {
    ALLOWED
        .iter()
        .find(|(f, a, _)| *f == from && *a == action)
        .map(|(_, _, to)| *to)
}

fn start() -> Timestamp {
    chrono::DateTime::from_timestamp_millis(1_700_000_000_000).unwrap()
}

fn fresh_ticket() -> Ticket {
    Ticket {
        no: TicketNo(1),
        customer: CustomerId(1),
        state: TicketState::New,
        category: Category::Inquiry,
        priority: Priority::P3,
        department: "support".into(),
        assignee: None,
        subject: "hello".into(),
        created_at: start(),
        updated_at: start(),
        first_response_due: start() + chrono::Duration::hours(1),
        resolution_due: start() + chrono::Duration::hours(24),
        first_response_at: None,
        resolved_at: None,
        closed_at: None,
        waiting_since: None,
        reopens: 0,
        agent_replies: 0,
    }
}

fn any_action() -> impl Strategy<Value = TicketAction> {
    prop::sample::select(TicketAction::ALL.to_vec())
}

fn any_state() -> impl Strategy<Value = TicketState> {
    prop::sample::select(TicketState::ALL.to_vec())
}

/// Timestamps agree with the state: the facts a report or the SLA worker relies on.
fn assert_consistent(t: &Ticket) -> Result<(), TestCaseError> {
    prop_assert_eq!(
        t.closed_at.is_some(),
        t.state == S::Closed,
        "closed_at iff closed: {:?}",
        t
    );
    if t.state == S::Resolved {
        prop_assert!(
            t.resolved_at.is_some(),
            "resolved without resolved_at: {:?}",
            t
        );
    }
    if matches!(t.state, S::New | S::Open | S::WaitingOnCustomer) {
        prop_assert!(t.resolved_at.is_none(), "active with resolved_at: {:?}", t);
    }
    prop_assert!(t.created_at <= t.updated_at);
    for at in [t.first_response_at, t.resolved_at, t.closed_at]
        .into_iter()
        .flatten()
    {
        prop_assert!(t.created_at <= at && at <= t.updated_at, "{:?}", t);
    }
    Ok(())
}

proptest! {
    #[test]
    fn state_apply_matches_the_table(from in any_state(), action in any_action()) {
        match (from.apply(action), allowed(from, action)) {
            (Ok(to), Some(expected)) => prop_assert_eq!(to, expected),
            (Err(e), None) => {
                prop_assert_eq!(e.from, from);
                prop_assert_eq!(e.action, action);
            }
            (got, expected) => {
                prop_assert!(false, "{from:?} + {action:?}: got {got:?}, table says {expected:?}")
            }
        }
    }

    #[test]
    fn random_sequences_stay_legal_and_consistent(
        steps in prop::collection::vec((any_action(), 0u32..100_000), 0..60)
    ) {
        let mut ticket = fresh_ticket();
        let mut now = start();
        let mut first_response = None;
        for (action, gap_ms) in steps {
            now += chrono::Duration::milliseconds(i64::from(gap_ms));
            let before = ticket.clone();
            match ticket.apply(action, now) {
                Ok(next) => {
                    prop_assert_eq!(Some(next), allowed(before.state, action));
                    prop_assert_eq!(ticket.state, next);
                    prop_assert_eq!(ticket.updated_at, now);
                    prop_assert!(
                        next != S::New || before.state == S::New,
                        "nothing leads back to new"
                    );
                    // Only state and timestamps change.
                    prop_assert_eq!(&ticket.subject, &before.subject);
                    prop_assert_eq!(ticket.priority, before.priority);
                    prop_assert_eq!(ticket.created_at, before.created_at);
                    if next == S::Resolved {
                        prop_assert_eq!(ticket.resolved_at, Some(now));
                    }
                    if next == S::Closed {
                        prop_assert_eq!(ticket.closed_at, Some(now));
                    }
                }
                Err(e) => {
                    prop_assert!(allowed(before.state, action).is_none());
                    prop_assert_eq!(e.from, before.state);
                    prop_assert_eq!(&ticket, &before, "a rejected action changes nothing");
                }
            }
            // The first response is recorded once and never moves.
            match (first_response, ticket.first_response_at) {
                (None, Some(at)) => first_response = Some(at),
                (Some(old), current) => prop_assert_eq!(Some(old), current),
                (None, None) => {}
            }
            assert_consistent(&ticket)?;
        }
    }
}

#[test]
fn first_response_is_set_by_agent_actions_only() {
    let mut t = fresh_ticket();
    t.apply(A::CustomerReply, start()).unwrap();
    assert_eq!(t.first_response_at, None);
    let later = start() + chrono::Duration::minutes(5);
    t.apply(A::AskCustomer, later).unwrap();
    assert_eq!(t.first_response_at, Some(later));
    assert_eq!(t.state, S::WaitingOnCustomer);
}

#[test]
fn reopen_clears_resolution_and_closing() {
    let mut t = fresh_ticket();
    let at = |m| start() + chrono::Duration::minutes(m);
    t.apply(A::Resolve, at(1)).unwrap();
    t.apply(A::Confirm, at(2)).unwrap();
    assert_eq!((t.resolved_at, t.closed_at), (Some(at(1)), Some(at(2))));
    t.apply(A::Reopen, at(3)).unwrap();
    assert_eq!(t.state, S::Open);
    assert_eq!((t.resolved_at, t.closed_at), (None, None));
    assert!(t.apply(A::Confirm, at(4)).is_err());
}

#[test]
fn a_solution_sent_first_is_the_first_response() {
    let mut t = fresh_ticket();
    let at = start() + chrono::Duration::minutes(7);
    t.apply(A::Resolve, at).unwrap();
    assert_eq!(t.first_response_at, Some(at));
    t.apply(A::Reopen, at + chrono::Duration::minutes(1))
        .unwrap();
    assert_eq!(t.first_response_at, Some(at), "kept after reopening");
}

/// The metric counters: every way back from a solution is a reopen; replies and questions
/// (not claims, not solutions) are agent replies.
#[test]
fn reopens_and_agent_replies_are_counted() {
    let mut t = fresh_ticket();
    let mut at = start();
    let mut step = |t: &mut Ticket, action| {
        at += chrono::Duration::minutes(1);
        t.apply(action, at).unwrap();
    };
    step(&mut t, TicketAction::Claim);
    step(&mut t, TicketAction::AgentReply);
    step(&mut t, TicketAction::AskCustomer);
    step(&mut t, TicketAction::CustomerReply);
    step(&mut t, TicketAction::Resolve);
    assert_eq!((t.reopens, t.agent_replies), (0, 2));
    step(&mut t, TicketAction::Reopen);
    step(&mut t, TicketAction::Resolve);
    step(&mut t, TicketAction::CustomerReply);
    step(&mut t, TicketAction::Resolve);
    step(&mut t, TicketAction::Confirm);
    step(&mut t, TicketAction::Reopen);
    assert_eq!((t.reopens, t.agent_replies), (3, 2));
    // A refused action counts nothing.
    assert!(t.apply(TicketAction::Confirm, at).is_err());
    assert_eq!((t.reopens, t.agent_replies), (3, 2));
}
