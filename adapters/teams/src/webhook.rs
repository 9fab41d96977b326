//! Outbound: posting cards to a Teams incoming webhook — the Workflows flow "When a Teams
//! webhook request is received" (which replaced the retired Office 365 connectors).
//!
//! The body is a `message` Activity with Adaptive Card attachments ([`crate::card::message`]);
//! the flow answers `202 Accepted`. 429 (honouring `Retry-After`), 5xx and transport errors are
//! retried with exponential backoff and jitter (`backon`, the retry library of every adapter);
//! other statuses fail at once. Failures are
//! logged with the status code; the URL (which embeds a signature) never is.

use crate::card::{self, message_bytes, CardOptions};
use crate::config::{RetryPolicy, TeamsConfig, WebhookUrl};
use crate::error::{TeamsError, WebhookError};
use dbabot_chat::Reply;
use serde_json::Value;
use std::time::Duration;

/// A client for one incoming webhook URL. Cheap to clone.
#[derive(Clone, Debug)]
pub struct IncomingWebhook {
    url: WebhookUrl,
    client: reqwest::Client,
    retry: RetryPolicy,
    max_bytes: usize,
}

/// What a successful delivery took.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Delivery {
    /// The success status (200 or 202).
    pub status: u16,
    /// POSTs made, including the successful one.
    pub attempts: u32,
}

impl IncomingWebhook {
    /// A client posting to `url`; each POST times out after `timeout`; messages larger than
    /// `max_bytes` (serialized) are refused before sending.
    ///
    /// # Errors
    /// [`TeamsError::Config`] when the HTTP client cannot be built (no TLS roots).
    pub fn new(
        url: WebhookUrl,
        retry: RetryPolicy,
        timeout: Duration,
        max_bytes: usize,
    ) -> Result<Self, TeamsError> {
        let client = reqwest::Client::builder()
            .timeout(timeout)
            .user_agent(concat!("dbabot-teams/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| TeamsError::Config(format!("HTTP client: {}", e.without_url())))?;
        Ok(IncomingWebhook {
            url,
            client,
            retry,
            max_bytes,
        })
    }

    /// The client for `channel`'s webhook from `config` (the channel's own, else the default;
    /// `None` for the default only), with the configured retry policy and timeout. The size
    /// limit is `max_card_bytes` plus 1 KiB for a `text` note.
    ///
    /// # Errors
    /// [`TeamsError::Config`] when the HTTP client cannot be built. `Ok(None)` when no webhook
    /// is configured for it.
    pub fn for_channel(
        config: &TeamsConfig,
        channel: Option<&str>,
    ) -> Result<Option<Self>, TeamsError> {
        let url = match channel {
            Some(c) => config.webhook_for(c),
            None => config.incoming_webhook.as_ref(),
        };
        url.map(|u| {
            Self::new(
                u.clone(),
                config.retry,
                config.webhook_timeout,
                config.max_card_bytes.saturating_add(1_024),
            )
        })
        .transpose()
    }

    /// The webhook's host, for logs (`https://prod-12.westeurope.logic.azure.com`).
    pub fn host(&self) -> String {
        self.url.redacted()
    }

    /// Posts one `message` Activity `payload` (see [`card::message`]), retrying on 429/5xx.
    ///
    /// # Errors
    /// [`WebhookError`] when the payload is too large, or the webhook kept failing.
    pub async fn post_message(&self, payload: &Value) -> Result<Delivery, WebhookError> {
        let body = serde_json::to_vec(payload).map_err(|e| WebhookError::Transport {
            attempts: 0,
            message: format!("serializing the message: {e}"),
        })?;
        if body.len() > self.max_bytes {
            return Err(WebhookError::TooLarge {
                bytes: body.len(),
                limit: self.max_bytes,
            });
        }
        use backon::{ExponentialBuilder, Retryable};
        let max = self.retry.max_attempts.max(1);
        let attempts = std::sync::atomic::AtomicU32::new(0);
        let backoff = ExponentialBuilder::default()
            .with_min_delay(self.retry.initial_backoff)
            .with_max_delay(self.retry.max_backoff)
            .with_max_times(max.saturating_sub(1) as usize)
            .with_jitter();
        let once = || async {
            let attempt = attempts.fetch_add(1, std::sync::atomic::Ordering::SeqCst) + 1;
            self.post_once(&body, attempt, max).await
        };
        let max_retry_after = self.retry.max_retry_after;
        once.retry(backoff)
            .sleep(tokio::time::sleep)
            .when(|f: &Failed| {
                f.retryable
                    && match f.retry_after {
                        Some(d) if d > max_retry_after => {
                            tracing::warn!(
                                retry_after_ms = d.as_millis() as u64,
                                "Retry-After exceeds max_retry_after; giving up"
                            );
                            false
                        }
                        _ => true,
                    }
            })
            .adjust(|f: &Failed, planned| planned.map(|d| f.retry_after.unwrap_or(d)))
            .await
            .map_err(|f| f.error)
    }

    /// One POST of `body` (attempt `attempt` of `max`, for the logs).
    async fn post_once(&self, body: &[u8], attempt: u32, max: u32) -> Result<Delivery, Failed> {
        let sent = self
            .client
            .post(self.url.expose().clone())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .body(body.to_vec())
            .send()
            .await;
        match sent {
            Ok(resp) => {
                let status = resp.status();
                if status.is_success() {
                    tracing::debug!(status = status.as_u16(), attempt, "card delivered");
                    return Ok(Delivery {
                        status: status.as_u16(),
                        attempts: attempt,
                    });
                }
                let retry_after = resp
                    .headers()
                    .get(reqwest::header::RETRY_AFTER)
                    .and_then(|v| v.to_str().ok())
                    .and_then(parse_retry_after);
                let text = resp.text().await.unwrap_or_default();
                let retryable = status.as_u16() == 429 || status.is_server_error();
                tracing::warn!(
                    status = status.as_u16(),
                    attempt,
                    max_attempts = max,
                    retryable,
                    webhook = %self.url.redacted(),
                    "incoming webhook refused the message"
                );
                Err(Failed {
                    error: WebhookError::Status {
                        status: status.as_u16(),
                        attempts: attempt,
                        body: text.chars().take(300).collect(),
                    },
                    retryable,
                    retry_after,
                })
            }
            Err(e) => {
                let message = e.without_url().to_string();
                tracing::warn!(
                    error = %message,
                    attempt,
                    max_attempts = max,
                    webhook = %self.url.redacted(),
                    "incoming webhook unreachable"
                );
                Err(Failed {
                    error: WebhookError::Transport {
                        attempts: attempt,
                        message,
                    },
                    retryable: true,
                    retry_after: None,
                })
            }
        }
    }

    /// Posts each card as its own message, in order; stops at the first failure.
    ///
    /// # Errors
    /// The first [`WebhookError`]; cards before it were delivered.
    pub async fn post_cards(&self, cards: &[Value]) -> Result<usize, WebhookError> {
        for c in cards {
            self.post_message(&card::message(std::slice::from_ref(c)))
                .await?;
        }
        Ok(cards.len())
    }

    /// Renders `reply` with `opts` (the byte limit is this client's) and posts every card, e.g.
    /// an escalation handoff to the DBA channel.
    ///
    /// # Errors
    /// The first [`WebhookError`].
    pub async fn post_reply(
        &self,
        reply: &Reply,
        opts: &CardOptions,
    ) -> Result<usize, WebhookError> {
        let mut o = opts.clone();
        o.max_card_bytes = o.max_card_bytes.min(self.max_bytes);
        let cards = card::render_cards(reply, &o);
        debug_assert!(cards.iter().all(|c| message_bytes(c) <= o.max_card_bytes));
        self.post_cards(&cards).await
    }
}

/// One failed POST and whether another may help.
struct Failed {
    error: WebhookError,
    retryable: bool,
    /// The webhook's `Retry-After` (429).
    retry_after: Option<Duration>,
}

/// Posts escalation handoffs and case updates to Teams channels through their Workflows
/// incoming webhooks (the only outbound path this adapter models: it has no Bot Framework
/// registration, so it cannot reply inside a reply chain).
///
/// A [`dbabot_chat::Destination`]'s `channel` is a Teams channel id (`19:…@thread.tacv2`, the
/// key of `[teams.channel_webhooks]`) or `default`/empty for `incoming_webhook_url_env`; a
/// channel without its own flow uses the default one. A requester's thread is a channel id plus
/// the root message id: the update is posted as a new card in that channel (a Workflows flow
/// cannot answer in a reply chain) and opens with a link to the thread it is about.
#[derive(Clone, Debug)]
pub struct TeamsOutbox {
    config: TeamsConfig,
}

impl TeamsOutbox {
    /// An outbox using `config`'s webhooks, retry policy, timeout and card limits.
    pub fn new(config: TeamsConfig) -> Self {
        TeamsOutbox { config }
    }

    /// The webhook client for `channel`, if one is configured.
    ///
    /// # Errors
    /// [`TeamsError::Config`] when the HTTP client cannot be built.
    pub fn hook_for(&self, channel: &str) -> Result<Option<IncomingWebhook>, TeamsError> {
        let c = channel.trim();
        if c.is_empty() || c == "default" {
            IncomingWebhook::for_channel(&self.config, None)
        } else {
            IncomingWebhook::for_channel(&self.config, Some(c))
        }
    }
}

#[async_trait::async_trait]
impl dbabot_chat::Outbox for TeamsOutbox {
    async fn post(
        &self,
        destination: &dbabot_chat::Destination,
        reply: &Reply,
    ) -> Result<Option<String>, dbabot_chat::OutboxError> {
        let err = |message: String| dbabot_chat::OutboxError::at(destination, message);
        let hook = self
            .hook_for(&destination.channel)
            .map_err(|e| err(e.to_string()))?
            .ok_or_else(|| {
                err("no Workflows webhook is configured for this channel (teams.channel_webhooks or teams.incoming_webhook_url_env)".into())
            })?;
        let opts = CardOptions {
            max_card_bytes: self.config.max_card_bytes,
            csv_preview_rows: self.config.csv_preview_rows,
            bot_name: self.config.bot_name.clone(),
            requester: None,
        };
        let mut reply = reply.clone();
        if let Some(root) = destination.thread.as_deref().filter(|t| !t.is_empty()) {
            // A case update for the requester: the flow posts a new card in the channel, so
            // link the thread it is about.
            let link = crate::activity::deep_link(
                &destination.channel,
                root,
                root,
                &destination.workspace,
            );
            reply.parts.insert(
                0,
                dbabot_chat::Part::Context {
                    text: format!("Update on [this question]({link})"),
                },
            );
        }
        hook.post_reply(&reply, &opts)
            .await
            .map(|_| None)
            .map_err(|e| err(e.to_string()))
    }
}

/// `Retry-After` as delay-seconds (an HTTP-date is not interpreted: the caller's backoff
/// applies).
pub fn parse_retry_after(v: &str) -> Option<Duration> {
    v.trim().parse::<u64>().ok().map(Duration::from_secs)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retry_after_is_delay_seconds() {
        assert_eq!(parse_retry_after(" 3 "), Some(Duration::from_secs(3)));
        assert_eq!(parse_retry_after("Wed, 21 Oct 2015 07:28:00 GMT"), None);
        let hook = IncomingWebhook::new(
            WebhookUrl::parse("http://127.0.0.1:9/x").expect("url"),
            RetryPolicy::default(),
            Duration::from_secs(1),
            28_000,
        )
        .expect("client");
        assert!(!format!("{hook:?}").contains("/x"));
    }

    /// A loopback endpoint answering with `statuses` in turn (then 202); returns its URL and
    /// the number of requests it saw.
    async fn endpoint(
        statuses: Vec<u16>,
    ) -> (String, std::sync::Arc<std::sync::atomic::AtomicU32>) {
        use std::sync::atomic::{AtomicU32, Ordering};
        use std::sync::Arc;
        let seen = Arc::new(AtomicU32::new(0));
        let counter = seen.clone();
        let app = axum::Router::new().route(
            "/hook",
            axum::routing::post(move || {
                let n = counter.fetch_add(1, Ordering::SeqCst) as usize;
                let status = statuses.get(n).copied().unwrap_or(202);
                async move {
                    axum::http::StatusCode::from_u16(status)
                        .unwrap_or(axum::http::StatusCode::ACCEPTED)
                }
            }),
        );
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        (format!("http://{addr}/hook?sig=secret"), seen)
    }

    fn client(url: &str, max_bytes: usize) -> IncomingWebhook {
        IncomingWebhook::new(
            WebhookUrl::parse(url).expect("url"),
            RetryPolicy {
                max_attempts: 3,
                initial_backoff: Duration::from_millis(20),
                max_backoff: Duration::from_millis(50),
                max_retry_after: Duration::from_secs(1),
            },
            Duration::from_secs(2),
            max_bytes,
        )
        .expect("client")
    }

    #[tokio::test]
    async fn server_errors_are_retried_client_errors_are_not() {
        use std::sync::atomic::Ordering;
        let msg = card::message(&[card::card(vec![])]);
        let (url, seen) = endpoint(vec![503, 500]).await;
        let d = client(&url, 28_000)
            .post_message(&msg)
            .await
            .expect("delivered");
        assert_eq!(
            d,
            Delivery {
                status: 202,
                attempts: 3
            }
        );
        assert_eq!(seen.load(Ordering::SeqCst), 3);

        let (url, seen) = endpoint(vec![502, 502, 502, 502]).await;
        match client(&url, 28_000).post_message(&msg).await {
            Err(WebhookError::Status {
                status: 502,
                attempts: 3,
                ..
            }) => {}
            other => panic!("{other:?}"),
        }
        assert_eq!(seen.load(Ordering::SeqCst), 3);

        let (url, seen) = endpoint(vec![400]).await;
        let e = client(&url, 28_000)
            .post_message(&msg)
            .await
            .expect_err("400");
        assert!(e.to_string().contains("HTTP 400 after 1 attempt"), "{e}");
        assert!(!e.to_string().contains("secret"), "{e}");
        assert_eq!(seen.load(Ordering::SeqCst), 1);

        let (url, seen) = endpoint(vec![]).await;
        let e = client(&url, 50)
            .post_message(&msg)
            .await
            .expect_err("too large");
        assert!(matches!(e, WebhookError::TooLarge { limit: 50, .. }), "{e}");
        assert_eq!(seen.load(Ordering::SeqCst), 0);

        // Nobody listening: transport errors are retried, then reported without the URL.
        let e = client("http://127.0.0.1:9/hook?sig=secret", 28_000)
            .post_message(&msg)
            .await
            .expect_err("refused");
        assert!(
            matches!(e, WebhookError::Transport { attempts: 3, .. }),
            "{e}"
        );
        assert!(!e.to_string().contains("secret"), "{e}");
    }
}
