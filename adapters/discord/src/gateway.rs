//! Gateway mode (serenity): mentions → threads, follow-ups, DMs, and interactions over the socket.
//!
//! Intents: `GUILDS` (channel and thread lists, to tell threads from channels), `GUILD_MESSAGES`,
//! `DIRECT_MESSAGES`, and the privileged `MESSAGE_CONTENT` (without it Discord delivers guild
//! messages with empty `content` unless they mention the bot, so follow-ups in a thread would be
//! blank). serenity reconnects and resumes sessions by itself; stage changes are logged here.
//! Channel messages go through serenity's `Http`, whose ratelimiter waits out HTTP 429s.

use crate::config::{DiscordConfig, DEFAULT_API_BASE};
use crate::convert::{
    interaction_json, is_thread_kind, parse_interaction, route_message, MessageFacts, MessageRoute,
};
use crate::interactions::{register_with, Core};
use crate::render::{render, RenderOptions};
use crate::wire::{MessageReference, OutMessage};
use crate::DiscordError;
use dbabot_chat::{MessageHandler, Reply};
use serde_json::json;
use serenity::all::{
    ApplicationId, ChannelId, ClientBuilder, Context, CreateAttachment, Event, EventHandler,
    GatewayIntents, Guild, GuildChannel, HttpBuilder, Interaction, Message, MessageId,
    RatelimitInfo, RawEventHandler, ReactionType, Ready, ResumedEvent, ShardStageUpdateEvent,
    ThreadListSyncEvent,
};
use serenity::async_trait;
use serenity::http::Http;
use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tracing::Instrument;

/// How often the typing indicator is renewed while the engine works (Discord shows it ~10 s).
const TYPING_EVERY: Duration = Duration::from_secs(8);
/// Reaction added to a message that mentions the bot, before the answer.
const ACK_REACTION: &str = "👀";
/// Most channels whose kind is remembered.
const CHANNEL_CACHE_MAX: usize = 50_000;

/// The intents the bot connects with.
pub fn intents() -> GatewayIntents {
    GatewayIntents::GUILDS
        | GatewayIntents::GUILD_MESSAGES
        | GatewayIntents::DIRECT_MESSAGES
        | GatewayIntents::MESSAGE_CONTENT
}

struct Bot {
    core: Arc<Core>,
    bot_id: AtomicU64,
    registered: AtomicBool,
    /// channel id → is a thread.
    channels: Mutex<HashMap<u64, bool>>,
    /// Threads the bot started or answered in during this run (follow-ups need no mention).
    active: Mutex<HashSet<u64>>,
}

impl Bot {
    fn remember(&self, channel: u64, thread: bool) {
        if let Ok(mut m) = self.channels.lock() {
            if m.len() > CHANNEL_CACHE_MAX {
                m.clear();
            }
            m.insert(channel, thread);
        }
    }

    fn activate(&self, thread: u64) {
        if let Ok(mut s) = self.active.lock() {
            if s.len() > CHANNEL_CACHE_MAX {
                s.clear();
            }
            s.insert(thread);
        }
    }

    fn is_active(&self, thread: u64) -> bool {
        self.active
            .lock()
            .map(|s| s.contains(&thread))
            .unwrap_or(false)
    }

    /// Whether `channel` is a thread: from the events seen so far, else one REST lookup.
    async fn is_thread(&self, http: &Http, channel: ChannelId) -> bool {
        let known = self
            .channels
            .lock()
            .ok()
            .and_then(|m| m.get(&channel.get()).copied());
        if let Some(k) = known {
            return k;
        }
        match http.get_channel(channel).await {
            Ok(c) => {
                let thread = c.guild().is_some_and(|g| is_thread_kind(g.kind));
                self.remember(channel.get(), thread);
                thread
            }
            Err(e) => {
                tracing::warn!(channel = channel.get(), error = %e, "channel lookup failed");
                false
            }
        }
    }

    async fn on_message(&self, ctx: Context, msg: Message) {
        let bot_id = self.bot_id.load(Ordering::Relaxed);
        if bot_id == 0 || msg.author.id.get() == bot_id {
            return;
        }
        if msg.author.bot && !self.core.config.allow_bots {
            return;
        }
        let in_thread = match msg.guild_id {
            Some(_) => self.is_thread(&ctx.http, msg.channel_id).await,
            None => false,
        };
        let facts = MessageFacts {
            bot_id,
            in_thread,
            allow_bots: self.core.config.allow_bots,
        };
        let (mut inbound, new_thread) = match route_message(&msg, &facts) {
            MessageRoute::Ignore(why) => {
                tracing::trace!(why, "message ignored");
                return;
            }
            MessageRoute::StartThread(m) => (m, true),
            MessageRoute::InThread(m) | MessageRoute::Direct(m) => (m, false),
        };
        let span = tracing::info_span!(
            "discord_message",
            thread = %inbound.thread_key(),
            message = msg.id.get(),
            user = %inbound.user.id,
        );
        async move {
            if in_thread && !inbound.mentioned {
                let known = self.is_active(msg.channel_id.get())
                    || self.core.handler.knows_thread(&inbound.thread_key()).await;
                if !known {
                    tracing::trace!("message in a thread the bot is not part of");
                    return;
                }
            }
            // Every replica's gateway session sees the message; the first to claim it answers.
            let key = crate::interactions::delivery_key("message", &msg.id.get().to_string());
            if !self.core.handler.claim_delivery(&key).await {
                tracing::debug!("message answered by another replica");
                return;
            }
            if let Err(ex) = self
                .core
                .limiter
                .check(&inbound.user.id, &inbound.workspace)
            {
                tracing::info!("rate limit reached");
                let mut m = OutMessage::text(ex.message());
                m.message_reference = Some(reference(msg.id));
                send_all(&ctx.http, msg.channel_id, vec![m]).await;
                return;
            }
            if inbound.mentioned {
                // "Seen": the answer may take a few seconds of diagnostics.
                let eyes = ReactionType::Unicode(ACK_REACTION.into());
                if let Err(e) = ctx.http.create_reaction(msg.channel_id, msg.id, &eyes).await {
                    tracing::debug!(error = %e, "could not add the acknowledgement reaction");
                }
            }
            let mut reply_to = None;
            let channel = if new_thread {
                let archive = self.core.config.thread_auto_archive_minutes;
                match start_thread(&ctx.http, &msg, &inbound.text, archive).await {
                    Ok(thread) => {
                        self.remember(thread.get(), true);
                        thread
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "no thread (permission?); answering in the channel");
                        let c = msg.channel_id.get().to_string();
                        inbound.channel = c.clone();
                        inbound.thread = c;
                        reply_to = Some(msg.id);
                        msg.channel_id
                    }
                }
            } else {
                msg.channel_id
            };
            if msg.guild_id.is_some() {
                self.activate(channel.get());
            }
            answer(&self.core, &ctx.http, channel, inbound, reply_to).await;
        }
        .instrument(span)
        .await
    }

    async fn on_interaction(&self, interaction: Interaction) {
        match interaction_json(&interaction) {
            Ok(json) => self.on_interaction_json(json).await,
            Err(e) => tracing::warn!(error = %e, "interaction could not be re-encoded"),
        }
    }

    /// Handles an interaction given as Discord's JSON (from serenity's model, or raw when
    /// serenity's model could not read it).
    async fn on_interaction_json(&self, json: serde_json::Value) {
        let incoming = match parse_interaction(&json) {
            Ok(i) => i,
            Err(e) => {
                tracing::warn!(error = %e, "interaction with an unexpected shape");
                return;
            }
        };
        let Some(meta) = incoming.meta().cloned() else {
            return;
        };
        let span = tracing::info_span!(
            "discord_interaction",
            thread = incoming.thread_key().as_deref().unwrap_or("-"),
            interaction = %meta.id,
            transport = "gateway",
        );
        async move {
            let key = crate::interactions::delivery_key("interaction", &meta.id);
            if !self.core.handler.claim_delivery(&key).await {
                tracing::debug!("interaction answered by another replica");
                return;
            }
            let (ack, job) = self.core.respond(incoming);
            if let Err(e) = self
                .core
                .rest
                .interaction_callback(&meta.id, &meta.token, &ack)
                .await
            {
                tracing::warn!(error = %e, "interaction response failed");
                return;
            }
            if let Some(job) = job {
                tokio::spawn(self.core.clone().run(job));
            }
        }
        .instrument(span)
        .await
    }
}

/// Interactions serenity's model cannot read (a newer or sparser payload) arrive as unknown
/// events; this handler passes them to the adapter's own, more lenient parser.
struct RawFallback(Arc<Bot>);

#[async_trait]
impl RawEventHandler for RawFallback {
    async fn raw_event(&self, _ctx: Context, event: Event) {
        if let Event::Unknown(u) = event {
            if u.kind == "INTERACTION_CREATE" {
                tracing::debug!("interaction read by the fallback parser");
                self.0.on_interaction_json(u.value).await;
            }
        }
    }
}

fn reference(id: MessageId) -> MessageReference {
    MessageReference {
        message_id: id.get().to_string(),
        fail_if_not_exists: false,
    }
}

/// Starts a public thread from `msg`, named after the question. Discord gives the thread the
/// message's id.
async fn start_thread(
    http: &Http,
    msg: &Message,
    text: &str,
    archive_minutes: u16,
) -> Result<ChannelId, serenity::Error> {
    let first_line = text.lines().next().unwrap_or("").trim();
    let name = if first_line.is_empty() {
        "dbabot".to_string()
    } else {
        crate::wire::truncate(first_line, 90)
    };
    let body = json!({ "name": name, "auto_archive_duration": archive_minutes });
    let thread = http
        .create_thread_from_message(msg.channel_id, msg.id, &body, Some("dbabot answers here"))
        .await?;
    Ok(thread.id)
}

/// Typing indicator, progress hint, the engine's answer, rendered and sent in `channel`.
async fn answer(
    core: &Arc<Core>,
    http: &Arc<Http>,
    channel: ChannelId,
    inbound: dbabot_chat::InboundMessage,
    reply_to: Option<MessageId>,
) {
    let typing_http = http.clone();
    let typing = tokio::spawn(async move {
        loop {
            if typing_http.broadcast_typing(channel).await.is_err() {
                break;
            }
            tokio::time::sleep(TYPING_EVERY).await;
        }
    });
    if let Some(hint) = core.handler.progress_hint(&inbound).await {
        let mut m = OutMessage::text(hint);
        m.message_reference = reply_to.map(reference);
        send_all(http, channel, vec![m]).await;
    }
    let started = std::time::Instant::now();
    let reply = match core.handler.handle(inbound).await {
        Ok(r) => r,
        Err(e) => {
            tracing::error!(error = %e, "engine turn failed");
            Reply::text(format!("Sorry, that failed: {e}"))
        }
    };
    typing.abort();
    let mut messages = render(
        &reply,
        &RenderOptions {
            max_file_bytes: core.config.max_file_bytes,
        },
    );
    crate::files::load(&mut messages, core.config.max_file_bytes).await;
    if let Some(first) = messages.first_mut() {
        first.message_reference = reply_to.map(reference);
    }
    let n = messages.len();
    send_all(http, channel, messages).await;
    tracing::info!(
        messages = n,
        ms = started.elapsed().as_millis() as u64,
        "message answered"
    );
}

/// Sends messages in order through serenity's ratelimited `Http`; stops at the first failure.
async fn send_all(http: &Http, channel: ChannelId, messages: Vec<OutMessage>) {
    for (i, mut m) in messages.into_iter().enumerate() {
        let files = m
            .file
            .take()
            .map(|f| vec![CreateAttachment::bytes(f.data, f.name)])
            .unwrap_or_default();
        if let Err(e) = http.send_message(channel, files, &m).await {
            tracing::warn!(error = %e, part = i, "sending a message failed");
            break;
        }
    }
}

/// The event handler serenity calls (shares the bot with [`RawFallback`]).
struct Handler(Arc<Bot>);

impl std::ops::Deref for Handler {
    type Target = Bot;
    fn deref(&self) -> &Bot {
        &self.0
    }
}

#[async_trait]
impl EventHandler for Handler {
    async fn ready(&self, _ctx: Context, ready: Ready) {
        self.bot_id.store(ready.user.id.get(), Ordering::Relaxed);
        tracing::info!(
            bot = %ready.user.name,
            guilds = ready.guilds.len(),
            shard = ?ready.shard.map(|s| s.id.0),
            "Discord gateway ready"
        );
        if self.core.config.register_commands && !self.registered.swap(true, Ordering::SeqCst) {
            if let Err(e) = register_with(&self.core.rest, &self.core.config).await {
                tracing::warn!(error = %e, "registering /dba failed");
                self.registered.store(false, Ordering::SeqCst);
            }
        }
    }

    async fn ratelimit(&self, info: RatelimitInfo) {
        tracing::warn!(
            method = ?info.method,
            wait_ms = info.timeout.as_millis() as u64,
            global = info.global,
            "Discord rate limit; serenity waits before retrying"
        );
    }

    async fn resume(&self, _ctx: Context, _event: ResumedEvent) {
        tracing::info!("Discord gateway session resumed");
    }

    async fn shard_stage_update(&self, _ctx: Context, event: ShardStageUpdateEvent) {
        tracing::info!(
            shard = event.shard_id.0,
            from = %event.old,
            to = %event.new,
            "Discord gateway connection stage"
        );
    }

    async fn guild_create(&self, _ctx: Context, guild: Guild, _is_new: Option<bool>) {
        for (id, c) in &guild.channels {
            self.remember(id.get(), is_thread_kind(c.kind));
        }
        for t in &guild.threads {
            self.remember(t.id.get(), true);
        }
    }

    async fn channel_create(&self, _ctx: Context, channel: GuildChannel) {
        self.remember(channel.id.get(), is_thread_kind(channel.kind));
    }

    async fn thread_create(&self, _ctx: Context, thread: GuildChannel) {
        self.remember(thread.id.get(), true);
    }

    async fn thread_list_sync(&self, _ctx: Context, sync: ThreadListSyncEvent) {
        for t in &sync.threads {
            self.remember(t.id.get(), true);
        }
    }

    async fn message(&self, ctx: Context, msg: Message) {
        self.on_message(ctx, msg).await;
    }

    async fn interaction_create(&self, _ctx: Context, interaction: Interaction) {
        self.on_interaction(interaction).await;
    }
}

/// Connects to the Discord gateway and serves until Ctrl-C (or until the gateway fails for
/// good). Registers `/dba` on READY (guild-scoped with `dev_guild_id`, else global). With a
/// non-default `api_base`, serenity's REST calls go there too (its ratelimiter is then off, as
/// serenity requires for a proxy).
///
/// # Errors
/// [`DiscordError::Config`] without a token; [`DiscordError::Gateway`] when the client cannot
/// start or stops with an error.
pub async fn run_gateway(
    handler: Arc<dyn MessageHandler>,
    config: DiscordConfig,
) -> Result<(), DiscordError> {
    let token = config.token.clone().ok_or_else(|| {
        DiscordError::Config("gateway mode needs the bot token (discord.token_env)".into())
    })?;
    if config.application_id == 0 {
        return Err(DiscordError::Config(
            "discord.application_id is required".into(),
        ));
    }
    let mut http =
        HttpBuilder::new(token.expose()).application_id(ApplicationId::new(config.application_id));
    if config.api_base != DEFAULT_API_BASE {
        http = http
            .proxy(config.api_base.clone())
            .ratelimiter_disabled(true);
    }
    let core = Core::new(handler, config)?;
    let bot = Arc::new(Bot {
        core,
        bot_id: AtomicU64::new(0),
        registered: AtomicBool::new(false),
        channels: Mutex::new(HashMap::new()),
        active: Mutex::new(HashSet::new()),
    });
    let mut client = ClientBuilder::new_with_http(http.build(), intents())
        .event_handler(Handler(bot.clone()))
        .raw_event_handler(RawFallback(bot))
        .await
        .map_err(|e| DiscordError::Gateway(e.to_string()))?;
    let shards = client.shard_manager.clone();
    let stop = tokio::spawn(async move {
        if tokio::signal::ctrl_c().await.is_ok() {
            tracing::info!("stopping the Discord gateway");
            shards.shutdown_all().await;
        }
    });
    tracing::info!("connecting to the Discord gateway");
    let result = client.start_autosharded().await;
    stop.abort();
    result.map_err(|e| DiscordError::Gateway(e.to_string()))
}
