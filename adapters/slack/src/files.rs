//! Files in Slack threads, for log analysis: downloading a file shared into a thread with the
//! bot token, uploading the charts and CSV exports of an answer into the thread, and showing a
//! long analysis's progress in the placeholder message.
//!
//! * **Download** ([`SlackFetcher`]): a `file_share` message (or an `app_mention` with `files`)
//!   carries `url_private_download`; Slack serves it to `Authorization: Bearer <bot token>`
//!   when the app has the `files:read` scope ("Working with files", api.slack.com). The token is
//!   only ever sent to Slack's file host (or to the configured API URL's own origin, which is a
//!   loopback stand-in in tests), the announced size is checked before and the streamed size
//!   while downloading.
//! * **Upload** ([`upload_reply_files`]): every [`AttachmentBody::File`] of a reply (PNG charts,
//!   CSV exports the user asked for) goes into the thread through `files.getUploadURLExternal`
//!   → the upload URL → `files.completeUploadExternal` ([`SlackApi::upload`]).
//! * **Progress** ([`with_progress`]): the turn runs inside a [`dbabot_chat::progress`] scope
//!   and each new percentage edits the placeholder (`chat.update`), at most once per
//!   [`PROGRESS_EDIT_INTERVAL`].

use crate::api::SlackApi;
use crate::blocks::{self, SlackMessage};
use crate::config::SlackConfig;
use async_trait::async_trait;
use dbabot_chat::{
    progress, Attachment, AttachmentBody, AttachmentFetcher, CappedFile, FetchError, Part, Reply,
};
use std::future::Future;
use std::time::{Duration, Instant};

/// The host of Slack's `url_private` / `url_private_download` links.
pub const FILE_HOSTS: &[&str] = &["files.slack.com"];

/// Largest file uploaded into a thread, in bytes: 50 MiB. A chart PNG is about 50 KB; the CSV
/// of the largest analysis (20,000 fingerprints, `dbabot::logs::aggregate::MAX_FINGERPRINTS`)
/// a few MB; Slack itself accepts up to 1 GB per file ("files.getUploadURLExternal").
pub const MAX_UPLOAD_BYTES: u64 = 50 * 1024 * 1024;

/// Least time between two progress edits of one placeholder: 2 s. `chat.update` is a Tier 3
/// method (about 50 calls per minute per workspace, api.slack.com/methods/chat.update), shared
/// by every thread, so one analysis uses at most 30 of them a minute.
pub const PROGRESS_EDIT_INTERVAL: Duration = Duration::from_secs(2);

/// Downloads files shared in Slack with the bot token. Cheap to clone.
#[derive(Clone)]
pub struct SlackFetcher {
    client: reqwest::Client,
    token: crate::config::Secret,
    /// Extra `scheme://host:port` origins the token may be sent to (the API URL's own origin
    /// when it is plain-HTTP loopback, i.e. a test stand-in).
    origins: Vec<String>,
}

/// `scheme://host[:port]` of `url`, or `None` when it does not parse or has no host.
fn origin(url: &str) -> Option<String> {
    let u = url::Url::parse(url).ok()?;
    let host = u.host_str()?;
    Some(match u.port() {
        Some(p) => format!("{}://{host}:{p}", u.scheme()),
        None => format!("{}://{host}", u.scheme()),
    })
}

/// True when `url` is plain HTTP on a loopback address.
fn is_loopback_http(url: &str) -> bool {
    url::Url::parse(url).is_ok_and(|u| {
        u.scheme() == "http"
            && match u.host() {
                Some(url::Host::Ipv4(a)) => a.is_loopback(),
                Some(url::Host::Ipv6(a)) => a.is_loopback(),
                Some(url::Host::Domain(d)) => d == "localhost",
                None => false,
            }
    })
}

impl SlackFetcher {
    /// A fetcher for the bot token of `config`. Files are fetched from [`FILE_HOSTS`] over
    /// HTTPS, and from the API URL's origin when that is a loopback stand-in.
    ///
    /// # Errors
    /// [`crate::api::ApiError::Client`] when the HTTP client cannot be built.
    pub fn new(config: &SlackConfig) -> Result<Self, crate::api::ApiError> {
        let client = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::limited(3))
            .connect_timeout(Duration::from_secs(10))
            .build()
            .map_err(|e| crate::api::ApiError::Client(e.to_string()))?;
        let origins = if is_loopback_http(&config.api_url) {
            origin(&config.api_url).into_iter().collect()
        } else {
            Vec::new()
        };
        Ok(SlackFetcher {
            client,
            token: config.bot_token.clone(),
            origins,
        })
    }

    /// Also sends the token to `origin` (`http://127.0.0.1:PORT`), when it is plain-HTTP
    /// loopback: a file-host stand-in in tests. Other origins are ignored.
    pub fn allow_loopback_origin(mut self, origin_url: &str) -> Self {
        if is_loopback_http(origin_url) {
            if let Some(o) = origin(origin_url) {
                self.origins.push(o);
            }
        }
        self
    }

    /// True when the bot token may be sent to `url`.
    pub fn allowed(&self, url: &str) -> bool {
        let Ok(u) = url::Url::parse(url) else {
            return false;
        };
        let on_file_host = u.scheme() == "https"
            && u.port().is_none()
            && u.host_str().is_some_and(|h| FILE_HOSTS.contains(&h));
        on_file_host || origin(url).is_some_and(|o| self.origins.contains(&o))
    }
}

#[async_trait]
impl AttachmentFetcher for SlackFetcher {
    async fn fetch(
        &self,
        a: &Attachment,
        dest: &std::path::Path,
        max_bytes: u64,
    ) -> Result<u64, FetchError> {
        let failed = |message: String| FetchError::Failed {
            name: a.name.clone(),
            message,
        };
        let too_large = || FetchError::TooLarge {
            name: a.name.clone(),
            limit: max_bytes,
        };
        let AttachmentBody::Remote { url, size } = &a.body else {
            return Err(FetchError::Unsupported {
                name: a.name.clone(),
            });
        };
        if !self.allowed(url) {
            return Err(failed("not a Slack file URL".into()));
        }
        if size.is_some_and(|s| s > max_bytes) {
            return Err(too_large());
        }
        let mut resp = self
            .client
            .get(url.as_str())
            .bearer_auth(self.token.expose())
            .send()
            .await
            .and_then(reqwest::Response::error_for_status)
            .map_err(|e| failed(e.without_url().to_string()))?;
        // Without `files:read` (or for a file the bot cannot see) Slack answers 200 with its
        // sign-in page instead of the file.
        let html = resp
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("text/html"));
        if html {
            return Err(failed(
                "Slack sent a sign-in page instead of the file; the app needs the files:read scope"
                    .into(),
            ));
        }
        let mut file = CappedFile::create(dest, &a.name, max_bytes, resp.content_length()).await?;
        while let Some(bytes) = resp
            .chunk()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?
        {
            file.write(&bytes).await?;
        }
        file.finish().await
    }
}

/// Uploads every file the reply points to on the bot's host (charts, CSV exports) into the
/// thread; returns how many were uploaded. Files over [`MAX_UPLOAD_BYTES`] or that fail are
/// logged and skipped (the reply's text already says what they are).
pub async fn upload_reply_files(
    api: &SlackApi,
    channel: &str,
    thread_ts: &str,
    reply: &Reply,
) -> usize {
    let mut uploaded = 0;
    for p in &reply.parts {
        let Part::Attachment(a) = p else { continue };
        let AttachmentBody::File(path) = &a.body else {
            continue;
        };
        let bytes = match tokio::fs::metadata(path).await {
            Ok(m) if m.len() > MAX_UPLOAD_BYTES => {
                tracing::warn!(file = %a.name, bytes = m.len(), "file too large to upload");
                continue;
            }
            Ok(_) => match tokio::fs::read(path).await {
                Ok(b) => b,
                Err(e) => {
                    tracing::warn!(file = %a.name, error = %e, "cannot read a file to upload");
                    continue;
                }
            },
            Err(e) => {
                tracing::warn!(file = %a.name, error = %e, "cannot read a file to upload");
                continue;
            }
        };
        match api
            .upload(channel, Some(thread_ts), &a.name, &a.content_type, bytes)
            .await
        {
            Ok(()) => uploaded += 1,
            Err(e) => tracing::warn!(error = %e, file = %a.name, "file upload failed"),
        }
    }
    uploaded
}

/// A one-line context message ("Analysing postgresql.log… 42%").
fn progress_message(line: &str) -> SlackMessage {
    SlackMessage {
        text: line.to_string(),
        blocks: vec![
            serde_json::json!({"type": "context", "elements": [{"type": "mrkdwn", "text": blocks::escape(line)}]}),
        ],
    }
}

/// Runs `turn` with a progress reporter. Each new percentage replaces the text of the
/// `placeholder` message (its `ts`), at most once per [`PROGRESS_EDIT_INTERVAL`]; a note
/// ("busy, queued") is shown there too, or posted into `thread_ts` when there is no
/// placeholder. Returns the turn's output and the `ts` of a message posted for a note (for the
/// answer to replace).
pub async fn with_progress<F: Future>(
    api: &SlackApi,
    channel: &str,
    thread_ts: &str,
    placeholder: Option<&str>,
    turn: F,
) -> (F::Output, Option<String>) {
    let (reporter, mut rx) = progress::channel();
    let work = progress::scope(reporter, turn);
    tokio::pin!(work);
    let mut last: Option<Instant> = None;
    let mut posted: Option<String> = None;
    loop {
        tokio::select! {
            out = &mut work => return (out, posted),
            changed = rx.changed() => {
                if changed.is_err() {
                    return (work.await, posted);
                }
                let Some(u) = rx.borrow_and_update().clone() else { continue };
                let msg = progress_message(&u.line());
                match placeholder.or(posted.as_deref()) {
                    Some(ts) => {
                        let due = u.percent.is_none()
                            || last.is_none_or(|t| t.elapsed() >= PROGRESS_EDIT_INTERVAL);
                        if due {
                            last = Some(Instant::now());
                            if let Err(e) = api.update(channel, ts, &msg).await {
                                tracing::debug!(error = %e, "progress edit failed");
                            }
                        }
                    }
                    None if u.percent.is_none() => match api.post(channel, Some(thread_ts), &msg).await {
                        Ok(ts) => posted = Some(ts),
                        Err(e) => tracing::debug!(error = %e, "progress note failed"),
                    },
                    None => {}
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn fetcher(api_url: &str) -> SlackFetcher {
        SlackFetcher::new(&SlackConfig::http("xoxb-t", "s", api_url)).expect("client")
    }

    #[test]
    fn the_token_goes_only_to_slacks_file_host() {
        let f = fetcher("https://slack.com/api");
        assert!(f.allowed("https://files.slack.com/files-pri/T1-F1/download/pg.log"));
        assert!(!f.allowed("http://files.slack.com/files-pri/T1-F1/download/pg.log"));
        assert!(!f.allowed("https://files.slack.com.evil.example/x"));
        assert!(!f.allowed("https://files.slack.com:8443/x"));
        assert!(!f.allowed("https://127.0.0.1/x"));
        assert!(!f.allowed("not a url"));
        // A public API URL adds no origin; a loopback stand-in adds its own.
        assert!(!fetcher("https://slack.com/api").allowed("https://slack.com/x"));
        let t = fetcher("http://127.0.0.1:4000/api");
        assert!(t.allowed("http://127.0.0.1:4000/files-pri/x"));
        assert!(!t.allowed("http://127.0.0.1:4001/files-pri/x"));
        let t = t.allow_loopback_origin("http://127.0.0.1:4001");
        assert!(t.allowed("http://127.0.0.1:4001/files-pri/x"));
        let t = t.allow_loopback_origin("http://10.0.0.1:80");
        assert!(!t.allowed("http://10.0.0.1/x"));
    }
}
