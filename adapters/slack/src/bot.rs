//! What the bot does with a verified Slack payload, whichever transport delivered it:
//! mentions, thread follow-ups and DMs, `/dba` commands, and clicks on choices.

use crate::api::SlackApi;
use crate::blocks::{self, SlackMessage};
use crate::config::{CommandDelivery, SlackConfig};
use crate::convert::{self, Incoming};
use dbabot_chat::replay::{ReplayGuard, DEFAULT_CAPACITY};
use dbabot_chat::{AttachmentBody, InboundMessage, MessageHandler, Part, Platform, Reply, User};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};
use serde_json::Value;
use std::num::NonZeroU32;
use std::sync::Arc;
use std::time::Duration;
use tracing::Instrument;

/// How long an `event_id` is remembered for retry deduplication (Slack retries within minutes).
const DEDUPE_TTL: Duration = Duration::from_secs(3600);

/// How long slash-command and interactivity delivery keys are remembered: the whole window of
/// accepted timestamps, which is `max_request_age_secs` either side of now ("Verifying requests
/// from Slack": reject requests more than five minutes old), so twice that; at least a minute.
fn request_ttl(max_request_age_secs: u64) -> Duration {
    Duration::from_secs(max_request_age_secs.saturating_mul(2).max(60))
}

/// A `/dba` invocation (the form Slack posts to the command URL).
#[derive(Debug, Clone, serde::Deserialize)]
pub struct CommandForm {
    pub team_id: String,
    pub channel_id: String,
    pub user_id: String,
    #[serde(default)]
    pub user_name: Option<String>,
    pub command: String,
    #[serde(default)]
    pub text: String,
    pub response_url: String,
    #[serde(default)]
    pub trigger_id: Option<String>,
}

/// The Slack side of the bot. Cheap to clone.
#[derive(Clone)]
pub struct SlackBot {
    inner: Arc<Inner>,
}

struct Inner {
    handler: Arc<dyn MessageHandler>,
    api: SlackApi,
    config: SlackConfig,
    /// The bot's user id from `auth.test`; set once, on the first success.
    bot_user: tokio::sync::OnceCell<String>,
    /// `event_id`s of Events API deliveries (Slack retries within minutes).
    seen_events: ReplayGuard,
    /// Delivery keys of slash commands and interactivity payloads (replay protection).
    seen_requests: ReplayGuard,
    per_user: DefaultKeyedRateLimiter<String>,
    per_channel: DefaultKeyedRateLimiter<String>,
}

fn quota(per_minute: u32) -> Quota {
    Quota::per_minute(NonZeroU32::new(per_minute).unwrap_or(NonZeroU32::MIN))
}

impl SlackBot {
    /// # Errors
    /// [`crate::api::ApiError`] when the HTTP client cannot be built.
    pub fn new(
        handler: Arc<dyn MessageHandler>,
        config: SlackConfig,
    ) -> Result<Self, crate::api::ApiError> {
        let api = SlackApi::new(&config)?;
        Ok(SlackBot {
            inner: Arc::new(Inner {
                handler,
                api,
                per_user: RateLimiter::keyed(quota(config.per_user_per_minute)),
                per_channel: RateLimiter::keyed(quota(config.per_channel_per_minute)),
                seen_events: ReplayGuard::new(DEDUPE_TTL, DEFAULT_CAPACITY),
                seen_requests: ReplayGuard::new(
                    request_ttl(config.max_request_age_secs),
                    DEFAULT_CAPACITY,
                ),
                config,
                bot_user: tokio::sync::OnceCell::new(),
            }),
        })
    }

    pub fn config(&self) -> &SlackConfig {
        &self.inner.config
    }

    pub fn api(&self) -> &SlackApi {
        &self.inner.api
    }

    /// The bot's user id from `auth.test`. Asks Slack while it is not known (a failure is not
    /// remembered: the next event, and [`SlackBot::resolve_identity`], ask again); `None`
    /// while Slack cannot be asked.
    pub async fn bot_user(&self) -> Option<String> {
        if let Some(u) = self.inner.bot_user.get() {
            return Some(u.clone());
        }
        match self.inner.api.bot_user_id().await {
            Ok(u) => Some(
                self.inner
                    .bot_user
                    .get_or_init(|| async { u })
                    .await
                    .clone(),
            ),
            Err(e) => {
                tracing::warn!(error = %e, "bot user id unknown: auth.test failed");
                None
            }
        }
    }

    /// Calls `auth.test` until it succeeds (exponential backoff from 1 s to at most 60 s, no
    /// limit on attempts), so the bot learns its user id even when Slack was unreachable at
    /// startup. Meant to run as a background task of `serve`.
    pub async fn resolve_identity(self) {
        use backon::{ExponentialBuilder, Retryable};
        let backoff = ExponentialBuilder::default()
            .with_min_delay(Duration::from_secs(1))
            .with_max_delay(Duration::from_secs(60))
            .with_jitter()
            .without_max_times();
        let found = (|| async { self.bot_user().await.ok_or(()) })
            .retry(backoff)
            .sleep(tokio::time::sleep)
            .await;
        if let Ok(u) = found {
            tracing::info!(bot_user = %u, "Slack identity known (auth.test)");
        }
    }

    /// True the first time an `event_id` is seen (within an hour); retries return false.
    pub fn first_delivery(&self, event_id: &str) -> bool {
        self.inner.seen_events.first_delivery(&[event_id])
    }

    /// True the first time a slash command or interactivity request is seen: none of its
    /// delivery `keys` (`trigger_id`, request signature) was accepted within twice the
    /// request-age window. A replay returns false and must run nothing.
    pub fn first_request(&self, keys: &[&str]) -> bool {
        self.inner.seen_requests.first_delivery(keys)
    }

    /// Claims a delivery key across replicas through the handler's shared store.
    pub async fn claim_delivery(&self, key: &str) -> bool {
        self.inner.handler.claim_delivery(key).await
    }

    /// Handles the JSON of an `event_callback` envelope (already verified and acknowledged).
    pub async fn on_event(&self, envelope: Value) {
        let team = envelope
            .get("team_id")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let Some(event) = envelope.get("event") else {
            return;
        };
        let bot_user = self.bot_user().await;
        match convert::from_event(
            &team,
            event,
            bot_user.as_deref(),
            self.inner.config.allow_bots,
        ) {
            Incoming::Message(m) => {
                let m = *m;
                if !m.mentioned && !self.inner.handler.knows_thread(&m.thread_key()).await {
                    tracing::debug!(thread = %m.thread_key(), "message in a thread the bot is not part of");
                    return;
                }
                // One answer per Slack message: a mention in a thread arrives both as
                // `app_mention` and as `message` (two event ids), and while the bot's user id
                // is unknown the `message` copy cannot be recognised as a mention.
                if let Some(ts) = &m.message_id {
                    let key = format!("slack:message:{team}:{}:{ts}", m.channel);
                    if !self.inner.seen_events.first_delivery(&[key.as_str()])
                        || !self.inner.handler.claim_delivery(&key).await
                    {
                        tracing::debug!(%key, "message already answered (other event type)");
                        return;
                    }
                }
                let channel = m.channel.clone();
                let thread = m.thread.clone();
                self.converse(m, &channel, &thread, None).await;
            }
            Incoming::Ignore(why) => tracing::debug!(why, "event ignored"),
        }
    }

    /// Runs a `/dba` command (after the ephemeral ack).
    pub async fn on_command(&self, cmd: CommandForm) {
        let text = convert::command_text(&cmd.text);
        let user = User {
            id: cmd.user_id.clone(),
            display_name: cmd.user_name.clone().unwrap_or_else(|| cmd.user_id.clone()),
            groups: vec![],
        };
        match self.inner.config.command_delivery {
            CommandDelivery::Channel => {
                // The announcement starts a thread; the answer replaces it and follow-ups there
                // keep the context.
                let announce = SlackMessage {
                    text: format!("/dba {text}"),
                    blocks: vec![
                        serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": format!("<@{}> ran `/dba {}` — working on it…", blocks::escape(&cmd.user_id), blocks::escape(&text))}]}),
                    ],
                };
                let ts = match self.inner.api.post(&cmd.channel_id, None, &announce).await {
                    Ok(ts) => ts,
                    Err(e) => {
                        let _ = self.inner.api.respond(&cmd.response_url, &plain(&format!("Sorry, I could not post in this channel: {e}. Invite me with /invite @dbabot."))).await;
                        return;
                    }
                };
                let m = InboundMessage::text(
                    Platform::Slack,
                    cmd.team_id.clone(),
                    cmd.channel_id.clone(),
                    ts.clone(),
                    user,
                    text,
                );
                self.converse(m, &cmd.channel_id, &ts, Some(ts.clone()))
                    .await;
            }
            CommandDelivery::ResponseUrl => {
                let m = InboundMessage::text(
                    Platform::Slack,
                    cmd.team_id.clone(),
                    cmd.channel_id.clone(),
                    format!("slash-{}", cmd.user_id),
                    user,
                    text,
                );
                if let Some(limited) = self.over_limit(&m).await {
                    let _ = self
                        .inner
                        .api
                        .respond(&cmd.response_url, &plain(&limited))
                        .await;
                    return;
                }
                let reply = self.ask_engine(m).await;
                for msg in blocks::render(&reply) {
                    if let Err(e) = self.inner.api.respond(&cmd.response_url, &msg).await {
                        tracing::warn!(error = %e, "response_url delivery failed");
                    }
                }
            }
        }
    }

    /// Handles a `block_actions` payload: records the choice on the message, then continues.
    pub async fn on_block_actions(&self, payload: Value) {
        let Some((m, click)) = convert::from_block_actions(&payload) else {
            tracing::debug!("block action that is not one of our choices");
            return;
        };
        let chosen = if click.label.is_empty() {
            m.choice
                .as_ref()
                .map(|c| c.value.clone())
                .unwrap_or_default()
        } else {
            click.label.clone()
        };
        let answered = SlackMessage {
            text: format!("Chosen: {chosen}"),
            blocks: blocks::answered(&click.blocks, &click.choice_id, &chosen, &m.user.id),
        };
        if !answered.blocks.is_empty() {
            if let Err(e) = self
                .inner
                .api
                .update(&click.channel, &click.message_ts, &answered)
                .await
            {
                tracing::warn!(error = %e, "could not replace the choice buttons");
            }
        }
        self.converse(m, &click.channel, &click.thread_ts, None)
            .await;
    }

    /// A polite refusal when `m` would run diagnostics and its user or channel is over the limit.
    async fn over_limit(&self, m: &InboundMessage) -> Option<String> {
        self.inner.handler.progress_hint(m).await?;
        if self
            .inner
            .per_user
            .check_key(&format!("{}/{}", m.workspace, m.user.id))
            .is_err()
        {
            return Some(format!(
                "You have asked for more than {} diagnostic runs in the last minute, so I did not run this one. Please try again in a minute.",
                self.inner.config.per_user_per_minute
            ));
        }
        if self
            .inner
            .per_channel
            .check_key(&format!("{}/{}", m.workspace, m.channel))
            .is_err()
        {
            return Some(format!(
                "This channel has asked for more than {} diagnostic runs in the last minute, so I did not run this one. Please try again in a minute.",
                self.inner.config.per_channel_per_minute
            ));
        }
        None
    }

    async fn ask_engine(&self, m: InboundMessage) -> Reply {
        match self.inner.handler.handle(m).await {
            Ok(r) => r,
            Err(e) => {
                tracing::error!(error = %e, "engine failed");
                Reply::text("Sorry, something went wrong on my side and I could not answer. Please try again; if it keeps failing, tell the DBA team.")
            }
        }
    }

    /// One exchange in a thread: limits, a progress marker, the engine, delivery.
    /// `placeholder` is a message to replace with the answer (a slash command's announcement).
    async fn converse(
        &self,
        m: InboundMessage,
        channel: &str,
        thread_ts: &str,
        placeholder: Option<String>,
    ) {
        let span = tracing::info_span!("slack_turn", thread = %m.thread_key(), user = %m.user.id);
        async move {
            if let Some(limited) = self.over_limit(&m).await {
                if let Err(e) = self
                    .inner
                    .api
                    .ephemeral(channel, &m.user.id, Some(thread_ts), &limited)
                    .await
                {
                    tracing::warn!(error = %e, "could not send the rate-limit notice");
                }
                if let Some(ts) = &placeholder {
                    let _ = self
                        .inner
                        .api
                        .update(channel, ts, &plain("Not run: rate limit reached."))
                        .await;
                }
                return;
            }
            let mut placeholder = placeholder;
            if let Some(hint) = self.inner.handler.progress_hint(&m).await {
                if let Some(ts) = &m.message_id {
                    if let Err(e) = self
                        .inner
                        .api
                        .react(channel, ts, "hourglass_flowing_sand")
                        .await
                    {
                        tracing::debug!(error = %e, "reaction failed");
                    }
                }
                if placeholder.is_none() {
                    placeholder = self
                        .inner
                        .api
                        .post(channel, Some(thread_ts), &plain(&hint))
                        .await
                        .ok();
                }
            }
            let turn = self.ask_engine(m);
            let (reply, posted) = crate::files::with_progress(
                &self.inner.api,
                channel,
                thread_ts,
                placeholder.as_deref(),
                turn,
            )
            .await;
            self.deliver(channel, thread_ts, &reply, placeholder.or(posted))
                .await;
        }
        .instrument(span)
        .await
    }

    /// Posts a reply in a thread: the first message replaces `placeholder` (chat.update), the
    /// rest follow in the thread; report CSVs are uploaded into the thread.
    pub async fn deliver(
        &self,
        channel: &str,
        thread_ts: &str,
        reply: &Reply,
        placeholder: Option<String>,
    ) {
        for (i, msg) in blocks::render(reply).into_iter().enumerate() {
            let sent = match (&placeholder, i) {
                (Some(ts), 0) => self.inner.api.update(channel, ts, &msg).await,
                _ => self
                    .inner
                    .api
                    .post(channel, Some(thread_ts), &msg)
                    .await
                    .map(|_| ()),
            };
            if let Err(e) = sent {
                tracing::warn!(error = %e, part = i, "could not deliver part of a reply");
                self.tell_delivery_failed(channel, thread_ts, placeholder.as_deref(), i, &e)
                    .await;
                break;
            }
        }
        crate::files::upload_reply_files(&self.inner.api, channel, thread_ts, reply).await;
        if self.inner.config.upload_csv {
            for p in &reply.parts {
                if let Part::Attachment(a) = p {
                    if let AttachmentBody::Text(t) = &a.body {
                        if let Err(e) = self
                            .inner
                            .api
                            .upload(
                                channel,
                                Some(thread_ts),
                                &a.name,
                                &a.content_type,
                                t.clone().into_bytes(),
                            )
                            .await
                        {
                            tracing::warn!(error = %e, file = %a.name, "CSV upload failed");
                        }
                    }
                }
            }
        }
    }
}

impl SlackBot {
    /// After part `part` of a reply could not be posted: replaces the placeholder ("Running the
    /// health report…") with a short plain error, or posts it in the thread, so the user is not
    /// left waiting. Slack's error code is named (`invalid_blocks`, `msg_too_long`); nothing
    /// else of the failure is shown.
    async fn tell_delivery_failed(
        &self,
        channel: &str,
        thread_ts: &str,
        placeholder: Option<&str>,
        part: usize,
        e: &crate::api::ApiError,
    ) {
        let why = match e.slack_code() {
            Some(code) => format!("Slack refused the message (`{code}`)"),
            None => "Slack could not be reached".to_string(),
        };
        let text = if part == 0 {
            format!("Sorry, I could not post this answer: {why}. Please ask again; if it keeps failing, tell the DBA team.")
        } else {
            format!("Sorry, the rest of this answer could not be posted: {why}.")
        };
        let note = plain(&text);
        let replaced = match (placeholder, part) {
            (Some(ts), 0) => self.inner.api.update(channel, ts, &note).await.is_ok(),
            _ => false,
        };
        if !replaced {
            if let Err(e) = self.inner.api.post(channel, Some(thread_ts), &note).await {
                tracing::warn!(error = %e, "could not post the delivery error either");
            }
        }
    }
}

/// A one-paragraph message.
fn plain(text: &str) -> SlackMessage {
    blocks::render(&Reply::text(text))
        .into_iter()
        .next()
        .unwrap_or(SlackMessage {
            text: text.to_string(),
            blocks: vec![],
        })
}

#[async_trait::async_trait]
impl dbabot_chat::Outbox for SlackBot {
    /// Posts escalation handoffs and case updates: `channel` is a Slack channel id, `thread` a
    /// thread_ts (the requester's thread) or none (a new message in the DBA channel).
    async fn post(
        &self,
        destination: &dbabot_chat::Destination,
        reply: &Reply,
    ) -> Result<Option<String>, dbabot_chat::OutboxError> {
        let err = |message: String| dbabot_chat::OutboxError::at(destination, message);
        let mut first = None;
        let mut thread = destination.thread.clone();
        for m in blocks::render(reply) {
            let ts = self
                .inner
                .api
                .post(&destination.channel, thread.as_deref(), &m)
                .await
                .map_err(|e| err(e.to_string()))?;
            if first.is_none() {
                first = Some(ts.clone());
                // Continuation messages of a long handoff go into its own thread.
                thread.get_or_insert(ts);
            }
        }
        Ok(first)
    }
}
