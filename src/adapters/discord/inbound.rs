//! Receiving gateway events: serenity's event handler forwards them to one worker that
//! processes them in order, each in its own store transaction, and answers interactions
//! only after the service committed.
//!
//! Serenity runs every handler call in its own task, so events that arrive together (a
//! resumed session replaying what was missed) could be handled out of order; the worker
//! sorts each burst by snowflake id (ids grow with creation time). A replayed event
//! repeats its id, so the store's dedup key drops it.

use std::sync::Arc;
use std::time::Duration;

use serenity::all::{
    ChannelId, Context as GatewayContext, CreateInteractionResponse,
    CreateInteractionResponseMessage, EventHandler, Http, Interaction, Message, Ready,
};
use tokio::sync::{mpsc, watch};

pub use super::translate::DeskPlace;
use super::translate::{
    interaction_id, translate_interaction, translate_message, Ack, Translation,
};
use super::{customer_commands, describe, desk_commands, message_content_hint};
use crate::domain::Platform;
use crate::service::{Agent, DeskInbound, Service, ServiceError};

/// One gateway event the worker handles.
#[derive(Debug)]
pub(super) enum GatewayEvent {
    Ready(Box<Ready>),
    Message(Box<Message>),
    Interaction(Box<Interaction>),
}

impl GatewayEvent {
    /// Sort key within a burst: READY first, then by creation time.
    fn order(&self) -> u64 {
        match self {
            GatewayEvent::Ready(_) => 0,
            GatewayEvent::Message(m) => m.id.get(),
            GatewayEvent::Interaction(i) => interaction_id(i),
        }
    }
}

/// Serenity's event handler: hands events to the worker, nothing else.
pub(super) struct Forwarder {
    events: mpsc::UnboundedSender<GatewayEvent>,
}

impl Forwarder {
    pub(super) fn new(events: mpsc::UnboundedSender<GatewayEvent>) -> Forwarder {
        Forwarder { events }
    }
}

#[serenity::async_trait]
impl EventHandler for Forwarder {
    async fn ready(&self, _ctx: GatewayContext, ready: Ready) {
        let _ = self.events.send(GatewayEvent::Ready(Box::new(ready)));
    }

    async fn message(&self, _ctx: GatewayContext, message: Message) {
        let _ = self.events.send(GatewayEvent::Message(Box::new(message)));
    }

    async fn interaction_create(&self, _ctx: GatewayContext, interaction: Interaction) {
        let _ = self
            .events
            .send(GatewayEvent::Interaction(Box::new(interaction)));
    }
}

/// What the worker needs.
pub(super) struct Worker {
    pub http: Arc<Http>,
    pub service: Arc<Service>,
    pub desk: Option<DeskPlace>,
    pub max_backoff: Duration,
    /// Ends the retries of an event the store keeps refusing.
    pub shutdown: watch::Receiver<bool>,
}

/// Processes events until shutdown (or every sender is gone).
pub(super) async fn process_events(
    worker: Worker,
    mut events: mpsc::UnboundedReceiver<GatewayEvent>,
    mut shutdown: watch::Receiver<bool>,
) {
    let worker = Arc::new(worker);
    let mut commands_registered = false;
    loop {
        let first = tokio::select! {
            event = events.recv() => event,
            _ = shutdown.wait_for(|stop| *stop) => None,
        };
        let Some(first) = first else {
            break;
        };
        // Let the handler tasks of the same burst deliver their events too.
        tokio::task::yield_now().await;
        let mut burst = vec![first];
        while let Ok(next) = events.try_recv() {
            burst.push(next);
        }
        burst.sort_by_key(GatewayEvent::order);
        for event in burst {
            if let GatewayEvent::Ready(ready) = &event {
                worker.on_ready(ready, &mut commands_registered).await;
                continue;
            }
            worker.process_until_stored(Arc::new(event)).await;
        }
    }
}

/// Events that crash the handler this many times are skipped (a bug: reported).
const MAX_CRASHES: u32 = 3;

impl Worker {
    /// Handles one event; a store failure is retried with backoff until shutdown (Discord
    /// will not send the event again), a panic is contained and the event skipped after a
    /// few.
    async fn process_until_stored(self: &Arc<Self>, event: Arc<GatewayEvent>) {
        let mut failures: u32 = 0;
        let mut crashes: u32 = 0;
        loop {
            let worker = self.clone();
            let item = event.clone();
            match tokio::spawn(async move { worker.handle(&item).await }).await {
                Ok(Ok(())) => return,
                Ok(Err(e)) => {
                    failures += 1;
                    tracing::warn!("discord: event not stored ({e}); retrying");
                }
                Err(_) => {
                    crashes += 1;
                    if crashes >= MAX_CRASHES {
                        tracing::error!("discord: an event crashed the handler {MAX_CRASHES} times; skipped (a bug: please report)");
                        return;
                    }
                }
            }
            let exp = failures.saturating_sub(1).min(10);
            let delay = Duration::from_millis(500u64 << exp).min(self.max_backoff);
            let mut shutdown = self.shutdown.clone();
            let stopped = tokio::select! {
                _ = tokio::time::sleep(delay) => false,
                _ = shutdown.wait_for(|stop| *stop) => true,
            };
            if stopped {
                tracing::warn!("discord: shutting down with an event the store did not take");
                return;
            }
        }
    }

    async fn handle(&self, event: &GatewayEvent) -> Result<(), ServiceError> {
        let translation = match event {
            GatewayEvent::Ready(_) => return Ok(()),
            GatewayEvent::Message(m) => translate_message(m, self.desk.as_ref()),
            GatewayEvent::Interaction(i) => translate_interaction(i, self.desk.as_ref()),
        };
        match translation {
            Translation::Customer { inbound, ack } => {
                let handled = self.service.handle(inbound).await?;
                tracing::debug!(?handled, "discord customer event processed");
                self.answer(ack);
            }
            Translation::DeskText {
                key,
                agent,
                channel,
                text,
                ack,
            } => {
                match self.desk_inbound(key, agent, channel, text).await? {
                    Some(inbound) => {
                        let handled = self.service.handle_desk(inbound).await?;
                        tracing::debug!(?handled, "discord desk message processed");
                    }
                    None => {
                        tracing::debug!(channel = %channel, "discord: message outside the desk ignored")
                    }
                }
                self.answer(ack);
            }
            Translation::DeskPress {
                key,
                agent,
                button,
                ack,
            } => {
                if let (Some(button), Some(route)) =
                    (button, self.service.desk_on(Platform::Discord))
                {
                    let no = button.ticket();
                    let inbound = DeskInbound {
                        key,
                        agent,
                        ticket: Some(no),
                        reply_to: route.thread(no),
                        text: button.command(),
                    };
                    let handled = self.service.handle_desk(inbound).await?;
                    tracing::debug!(?handled, "discord desk button processed");
                } else {
                    tracing::debug!("discord: unknown desk button ignored");
                }
                self.answer(Some(ack));
            }
            Translation::Ignore { reason, ack } => {
                tracing::debug!(reason, "discord event ignored");
                self.answer(ack);
            }
        }
        Ok(())
    }

    /// A desk message with its ticket looked up: in the desk channel itself (desk-wide
    /// commands), or in a thread the store knows as a ticket's. Anything else is not the
    /// desk (`None`).
    async fn desk_inbound(
        &self,
        key: String,
        agent: Agent,
        channel: ChannelId,
        text: String,
    ) -> Result<Option<DeskInbound>, ServiceError> {
        let (Some(desk), Some(route)) = (self.desk, self.service.desk_on(Platform::Discord)) else {
            return Ok(None);
        };
        let (ticket, reply_to) = if channel == desk.channel {
            (None, route.chat())
        } else {
            match self
                .service
                .store()
                .thread_ticket(Platform::Discord, &route.chat_id, &channel.to_string())
                .await?
            {
                Some(no) => (Some(no), route.thread(no)),
                None => return Ok(None),
            }
        };
        Ok(Some(DeskInbound {
            key,
            agent,
            ticket,
            reply_to,
            text,
        }))
    }

    /// Answers an interaction (in the background: the next event need not wait for it).
    /// A button press is acknowledged silently; a slash command gets a private line, the
    /// real answer arriving through the outbox.
    fn answer(&self, ack: Option<Ack>) {
        let Some(ack) = ack else {
            return;
        };
        let http = self.http.clone();
        tokio::spawn(async move {
            let response = match &ack.command {
                None => CreateInteractionResponse::Acknowledge,
                Some(line) => CreateInteractionResponse::Message(
                    CreateInteractionResponseMessage::new()
                        .content(line.clone())
                        .ephemeral(true),
                ),
            };
            if let Err(e) = http
                .create_interaction_response(ack.id, &ack.token, &response, Vec::new())
                .await
            {
                tracing::debug!("discord: interaction response failed ({})", describe(&e));
            }
        });
    }

    /// READY: the application id (for commands), the intent hint, and the slash commands —
    /// registered once per process (globally for customers, in the desk's server for agents).
    async fn on_ready(&self, ready: &Ready, registered: &mut bool) {
        self.http.set_application_id(ready.application.id);
        tracing::info!(user = %ready.user.name, guilds = ready.guilds.len(), "discord: gateway ready");
        if let Some(hint) = message_content_hint(Some(ready.application.flags)) {
            tracing::warn!("discord: {hint}");
        }
        if *registered {
            return;
        }
        *registered = true;
        if let Err(e) = self.http.create_global_commands(&customer_commands()).await {
            tracing::warn!(
                "discord: registering the customers' slash commands failed ({})",
                describe(&e)
            );
        }
        if let Some(guild) = self.desk.and_then(|d| d.guild) {
            if let Err(e) = self
                .http
                .create_guild_commands(guild, &desk_commands())
                .await
            {
                tracing::warn!(guild = %guild, "discord: registering the desk's slash commands failed ({}); the bot needs the applications.commands scope", describe(&e));
            }
        }
    }
}
