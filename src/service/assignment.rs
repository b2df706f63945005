//! Who works a ticket: recognising agents in the desk, auto-assignment by skill and load,
//! and the desk's announcement of tickets nobody has (SPEC §3).
//!
//! The choice itself is the pure [`crate::desk::pick_agent`]; this module gathers the
//! workloads from the store and records the result (assignee, history entry, desk line) in
//! the caller's unit of work. Nothing is sent from here.

use crate::desk::{pick_agent, AgentLoad};
use crate::domain::{Outbound, Ticket, Timestamp};
use crate::store::{StoreError, TicketEvent, Tx};

use super::Service;

/// Open tickets looked at per agent when measuring load (above any sensible capacity).
const LOAD_SCAN: u32 = 500;
/// Tickets opened this recently count as "recent" work on a tie.
const RECENT: chrono::Duration = chrono::Duration::hours(24);

impl Service {
    /// Gives `t` to the least-loaded configured agent with the skill, when auto-assignment
    /// is on and the ticket has nobody. Records the history entry; the caller saves `t`.
    /// Returns the agent's name.
    pub(super) async fn auto_assign(
        &self,
        tx: &mut Box<dyn Tx>,
        t: &mut Ticket,
        now: Timestamp,
    ) -> Result<Option<String>, StoreError> {
        if !self.staff.auto_assign || t.assignee.is_some() {
            return Ok(None);
        }
        let mut loads = Vec::with_capacity(self.staff.agents.len());
        for agent in &self.staff.agents {
            if !agent.can_take(&t.department, t.category) {
                continue;
            }
            let open = tx.tickets_assigned_to(&agent.name, LOAD_SCAN).await?;
            let recent = open.iter().filter(|x| now - x.created_at < RECENT).count();
            loads.push(AgentLoad {
                name: agent.name.clone(),
                active: u32::try_from(open.len()).unwrap_or(u32::MAX),
                recent: u32::try_from(recent).unwrap_or(u32::MAX),
            });
        }
        let Some(agent) = pick_agent(&self.staff.agents, &t.department, t.category, &loads) else {
            return Ok(None);
        };
        let load = loads
            .iter()
            .find(|l| l.name == agent.name)
            .map_or(0, |l| l.active);
        t.assignee = Some(agent.name.clone());
        t.updated_at = now;
        let event = TicketEvent {
            ticket: t.no,
            kind: "assigned".into(),
            actor: "system".into(),
            detail: format!(
                "unassigned → {} (auto: department {}, {load} open before)",
                agent.name, t.department
            ),
            at: now,
        };
        tx.add_event(&event).await?;
        Ok(Some(agent.name.clone()))
    }

    /// Tells the desk chat that `t` waits for someone to claim it (it is then reminded by
    /// the unassigned-reminder timer until claimed). Nothing without a desk.
    pub(super) async fn announce_unassigned(
        &self,
        tx: &mut Box<dyn Tx>,
        t: &Ticket,
        why: &str,
        now: Timestamp,
    ) -> Result<(), StoreError> {
        let Some(desk) = self.ticket_desk(tx, t.no).await? else {
            return Ok(());
        };
        let line = format!(
            "🆕 {} {} {} · {} · unassigned ({why}) — {} · /claim it in its thread",
            t.no,
            t.priority.label(),
            t.category,
            t.department,
            t.subject
        );
        tx.enqueue(&Outbound::text(desk.chat(), line).for_ticket(t.no), now)
            .await
    }
}
