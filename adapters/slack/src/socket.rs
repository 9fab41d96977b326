//! Socket Mode: the bot opens a WebSocket to Slack with an app-level token (`xapp-…`), for
//! workspaces that cannot expose a public URL. Payloads arrive already authenticated by the
//! connection; they are handed to the same [`SlackBot`] as the HTTP transport.

use crate::bot::{CommandForm, SlackBot};
use slack_morphism::prelude::*;
use std::sync::Arc;

/// Socket Mode could not start.
#[derive(Debug, thiserror::Error)]
pub enum SocketError {
    #[error("Socket Mode needs an app-level token (app_token_env)")]
    NoAppToken,
    #[error("cannot connect to Slack: {0}")]
    Connect(String),
}

async fn bot_from(states: &SlackClientEventsUserState) -> Option<SlackBot> {
    states.read().await.get_user_state::<SlackBot>().cloned()
}

async fn on_push(
    event: SlackPushEventCallback,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let Some(bot) = bot_from(&states).await {
        let id = event.event_id.to_string();
        if bot.first_delivery(&id) {
            match serde_json::to_value(&event) {
                Ok(v) => {
                    tokio::spawn(async move { bot.on_event(v).await });
                }
                Err(e) => tracing::warn!(error = %e, "could not re-read a Socket Mode event"),
            }
        }
    }
    Ok(())
}

async fn on_command(
    event: SlackCommandEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<SlackCommandEventResponse> {
    let text = crate::convert::command_text(event.text.as_deref().unwrap_or(""));
    if let Some(bot) = bot_from(&states).await {
        let cmd = CommandForm {
            team_id: event.team_id.to_string(),
            channel_id: event.channel_id.to_string(),
            user_id: event.user_id.to_string(),
            user_name: None,
            command: event.command.to_string(),
            text: event.text.clone().unwrap_or_default(),
            response_url: event.response_url.0.to_string(),
            trigger_id: Some(event.trigger_id.to_string()),
        };
        tokio::spawn(async move { bot.on_command(cmd).await });
    }
    Ok(SlackCommandEventResponse::new(
        SlackMessageContent::new().with_text(format!("Working on `/dba {text}`…")),
    ))
}

async fn on_interaction(
    event: SlackInteractionEvent,
    _client: Arc<SlackHyperClient>,
    states: SlackClientEventsUserState,
) -> UserCallbackResult<()> {
    if let (Some(bot), SlackInteractionEvent::BlockActions(_)) = (bot_from(&states).await, &event) {
        match serde_json::to_value(&event) {
            Ok(v) => {
                tokio::spawn(async move { bot.on_block_actions(v).await });
            }
            Err(e) => tracing::warn!(error = %e, "could not re-read a Socket Mode interaction"),
        }
    }
    Ok(())
}

/// Connects with the app token and serves until the process stops (slack-morphism reconnects).
///
/// # Errors
/// [`SocketError`] when the token is missing or the first connection fails.
pub async fn run(bot: SlackBot) -> Result<(), SocketError> {
    let token = bot
        .config()
        .app_token
        .clone()
        .ok_or(SocketError::NoAppToken)?;
    // The same client as the Web API calls: configured API URL, explicit TLS provider, and
    // 429 handling; `apps.connections.open` goes through it with the app-level token.
    let client = bot.api().client();
    let callbacks = SlackSocketModeListenerCallbacks::new()
        .with_push_events(on_push)
        .with_command_events(on_command)
        .with_interaction_events(on_interaction);
    let env = Arc::new(SlackClientEventsListenerEnvironment::new(client).with_user_state(bot));
    let listener =
        SlackClientSocketModeListener::new(&SlackClientSocketModeConfig::new(), env, callbacks);
    let app_token = SlackApiToken::new(SlackApiTokenValue::new(token.expose().to_string()));
    listener
        .listen_for(&app_token)
        .await
        .map_err(|e| SocketError::Connect(e.to_string()))?;
    listener.serve().await;
    Ok(())
}
