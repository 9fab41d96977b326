//! Log analysis in a thread: a file shared into it, a path typed in the console, or the log
//! configured for a target (`log_path`) for a time window ("what happened on orders-prod last
//! night between 02:00 and 03:00?").
//!
//! Paths are read only for the console (its user is on the bot's host). On chat platforms the
//! bot reads only files shared into the thread (through the adapter's
//! [`dbabot_chat::AttachmentFetcher`]) and the configured, allow-listed `log_path` of a target
//! the user may run diagnostics on. Analysis runs off the async workers.

use super::Engine;
use crate::logs::{self, Input, Options, Request};
use dbabot_chat::{InboundMessage, Platform, Reply};
use regex::Regex;
use std::path::PathBuf;
use std::sync::LazyLock;

/// Largest file analysed from a chat (after decompression): 2 GiB, twice Slack's 1 GB upload
/// limit for a compressed file's typical ratio, and minutes of work at ≥ 50 MB/s.
pub const CHAT_MAX_BYTES: u64 = 2 * 1024 * 1024 * 1024;
/// Largest download accepted from a platform: Slack's 1 GB file limit.
pub const DOWNLOAD_MAX_BYTES: u64 = 1024 * 1024 * 1024;
/// Statements listed in a chat reply.
const CHAT_TOP: usize = 10;

/// What the user asked for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Ask {
    /// Analyse the files attached to the message.
    Attachments,
    /// Analyse a file on the bot's host (console only).
    Path(PathBuf),
    /// Analyse a target's configured log, optionally for a window (Unix ms, UTC).
    Target {
        alias: String,
        since_ms: Option<i64>,
        until_ms: Option<i64>,
    },
}

static PATH_ASK: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)^\s*(?:/dba\s+)?(?:analy[sz]e|digest)\s+(?:the\s+|this\s+|my\s+)?(?:slow\s+|general\s+|postgres(?:ql)?\s+|mysql\s+|mariadb\s+)?(?:logs?|log\s+file|file)\s+(\S+)\s*$")
        .expect("valid regex")
});
static LOG_WORDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:analy[sz]e|logs?|slow\s*log|pgbadger|digest|what\s+happened|overnight|last\s+night)\b")
        .expect("valid regex")
});
static SHARED_FILE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(?:this|attached|the|my)\s+(?:log|logs|log\s+file|file|slow\s*log)\b")
        .expect("valid regex")
});
static WINDOW: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"(?i)\b(?:between|from)\s+(\d{1,2})(?::(\d{2}))?\s*(?:and|to|-)\s*(\d{1,2})(?::(\d{2}))?",
    )
    .expect("valid regex")
});

/// True when `text` is about a log at all (for attachments and Teams).
pub fn mentions_logs(text: &str) -> bool {
    LOG_WORDS.is_match(text)
}

/// The file path of "analyze log /var/log/postgresql/x.log", if the text is that.
pub fn path_ask(text: &str) -> Option<PathBuf> {
    PATH_ASK
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| PathBuf::from(m.as_str().trim_matches(['`', '"', '\''])))
}

/// The window of "between 02:00 and 03:00" on the day meant ("yesterday", "today", or the
/// latest such window that has ended by `now_ms`; "last night" is the same), UTC.
pub fn window(text: &str, now_ms: i64) -> Option<(i64, i64)> {
    let c = WINDOW.captures(text)?;
    let num = |i: usize| c.get(i).and_then(|m| m.as_str().parse::<i64>().ok());
    let (h1, m1, h2, m2) = (num(1)?, num(2).unwrap_or(0), num(3)?, num(4).unwrap_or(0));
    if h1 > 24 || h2 > 24 || m1 > 59 || m2 > 59 {
        return None;
    }
    let day_ms = 86_400_000;
    let today = now_ms.div_euclid(day_ms) * day_ms;
    let start_of = |day: i64| day + (h1 * 60 + m1) * 60_000;
    let end_of = |day: i64| day + (h2 * 60 + m2) * 60_000;
    let lower = text.to_lowercase();
    let day = if lower.contains("yesterday") {
        today - day_ms
    } else if lower.contains("today") || end_of(today) <= now_ms {
        today
    } else {
        today - day_ms
    };
    let (s, mut e) = (start_of(day), end_of(day));
    if e <= s {
        // "between 23:00 and 01:00" runs past midnight.
        e += day_ms;
    }
    Some((s, e))
}

impl Engine {
    /// What the message asks of the log analyser, if anything.
    pub(super) fn log_ask(&self, msg: &InboundMessage) -> Option<Ask> {
        let text = msg.text.trim();
        if !msg.attachments.is_empty() && (text.is_empty() || mentions_logs(text)) {
            return Some(Ask::Attachments);
        }
        if let Some(p) = path_ask(text) {
            return Some(Ask::Path(p));
        }
        if msg.platform == Platform::Teams && SHARED_FILE.is_match(text) {
            // Teams delivers no files: answered with TEAMS_NO_FILES.
            return Some(Ask::Attachments);
        }
        if !mentions_logs(text) {
            return None;
        }
        let ex = self.extract(text);
        let alias = ex.slots.target?;
        let target = self.target(&alias)?;
        let key = target.alias.to_lowercase();
        self.inner.config.log_paths.get(&key)?;
        let w = window(text, self.now() as i64 * 1000); // the engine clock is in seconds
        Some(Ask::Target {
            alias: target.alias.clone(),
            since_ms: w.map(|w| w.0),
            until_ms: w.map(|w| w.1),
        })
    }

    /// Answers a log-analysis request.
    #[tracing::instrument(skip_all, fields(ask = ?ask))]
    pub(super) async fn log_answer(&self, ask: Ask, msg: &InboundMessage) -> Reply {
        let mut reply = match self.log_reply(ask, msg).await {
            Ok(r) => r,
            Err(text) => Reply::text(crate::redact::redact(&text)),
        };
        reply.intent = Some("log_analysis".into());
        reply
    }

    async fn log_reply(&self, ask: Ask, msg: &InboundMessage) -> Result<Reply, String> {
        let data_dir = self.inner.config.data_dir.clone();
        let thread = msg.thread_key().to_string();
        let slug: String = {
            use sha2::Digest as _;
            hex::encode(&sha2::Sha256::digest(thread.as_bytes())[..8])
        };
        let report_dir = data_dir.join("log-reports").join(&slug);
        let mut options = Options {
            max_bytes: CHAT_MAX_BYTES,
            timezone: zone_named(&msg.text),
            thresholds: self.inner.catalog.thresholds.clone(),
            ..Options::default()
        };
        let mut downloads: Vec<PathBuf> = Vec::new();
        let mut heading = None;
        let inputs: Vec<Input> = match ask {
            Ask::Path(p) => {
                if msg.platform != Platform::Console {
                    return Err("I read files by path only in the console. Share the log file in this thread, or ask a DBA to set `log_path` for the target in dbabot.toml.".into());
                }
                vec![Input::Path(p)]
            }
            Ask::Attachments => {
                if msg.platform == Platform::Teams {
                    return Err(TEAMS_NO_FILES.into());
                }
                let fetcher = self.fetcher(msg.platform).ok_or_else(|| {
                    format!(
                        "I cannot download files shared on {}; run `dbabot logs analyze FILE` on a host with the log instead.",
                        msg.platform
                    )
                })?;
                let dir = data_dir.join("log-uploads").join(&slug);
                tokio::fs::create_dir_all(&dir)
                    .await
                    .map_err(|e| format!("cannot store the upload: {e}"))?;
                let mut inputs = Vec::new();
                for (i, a) in msg.attachments.iter().enumerate().take(8) {
                    let dest = dir.join(format!("{i}.log"));
                    fetcher
                        .fetch(a, &dest, DOWNLOAD_MAX_BYTES)
                        .await
                        .map_err(|e| e.to_string())?;
                    downloads.push(dest.clone());
                    inputs.push(Input::File {
                        name: a.name.clone(),
                        path: dest,
                    });
                }
                inputs
            }
            Ask::Target {
                alias,
                since_ms,
                until_ms,
            } => {
                let target = self
                    .target(&alias)
                    .ok_or_else(|| format!("unknown target {alias}"))?;
                if let Err(d) = self.inner.policy.check(
                    msg,
                    Some(target),
                    crate::policy::Action::Diagnostic {
                        check: "log_analysis",
                    },
                ) {
                    return Err(format!("I can't {}: {}. {}", d.what, d.why, d.grant));
                }
                let path = self
                    .inner
                    .config
                    .log_paths
                    .get(&alias.to_lowercase())
                    .cloned()
                    .ok_or_else(|| format!("no log_path is configured for {alias}"))?;
                options.since_ms = since_ms;
                options.until_ms = until_ms;
                heading = Some(match (since_ms, until_ms) {
                    (Some(s), Some(u)) => format!(
                        "{alias}: {} – {} UTC",
                        logs::time::format_ms(s),
                        logs::time::format_ms(u)
                    ),
                    _ => alias.clone(),
                });
                vec![Input::Path(path)]
            }
        };
        let what = format!("Analysing {}", input_names(&inputs));
        let req = Request {
            inputs,
            options,
            // CSV files carry the statements' literals: written only when asked for.
            csv_dir: wants_csv(&msg.text).then(|| report_dir.clone()),
            charts_dir: Some(report_dir),
            top: CHAT_TOP,
        };
        let reporter = dbabot_chat::progress::current();
        let result = tokio::task::spawn_blocking(move || {
            let progress = |done: u64, total: u64| {
                if let (Some(r), true) = (&reporter, total > 0) {
                    r.report(percent(done, total), &what);
                }
            };
            logs::run(req, Some(&progress))
        })
        .await
        .map_err(|e| format!("the analysis stopped: {e}"))?;
        for d in downloads {
            let _ = tokio::fs::remove_file(d).await;
        }
        let (_, mut reply) = result.map_err(|e| e.to_string())?;
        if let (Some(h), Some(dbabot_chat::Part::Heading { text, .. })) =
            (heading, reply.parts.first_mut())
        {
            *text = format!("{text} — {h}");
        }
        Ok(reply)
    }
}

static ZONE_NAME: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b((?:Africa|America|Antarctica|Asia|Atlantic|Australia|Europe|Indian|Pacific|Etc)/[A-Za-z_]+(?:/[A-Za-z_]+)?)\b")
        .expect("valid regex")
});

/// The IANA zone named in the message ("the server's log_timezone is Europe/Berlin"), used to
/// read the zone abbreviations of the log's timestamps.
pub fn zone_named(text: &str) -> Option<String> {
    ZONE_NAME
        .captures(text)
        .and_then(|c| c.get(1))
        .map(|m| m.as_str().to_string())
}

static CSV_ASK: LazyLock<Regex> =
    LazyLock::new(|| Regex::new(r"(?i)\b(?:csv|export|spreadsheet)\b").expect("valid regex"));

/// True when the message asks for the CSV exports ("analyze this log and attach the CSV").
pub fn wants_csv(text: &str) -> bool {
    CSV_ASK.is_match(text)
}

/// Whole percent of `done` out of `total` (bytes), at most 100; `total` must be non-zero.
fn percent(done: u64, total: u64) -> u8 {
    u8::try_from((u128::from(done) * 100 / u128::from(total.max(1))).min(100)).unwrap_or(100)
}

/// The inputs' names for the progress line: one name, or the first and how many more.
fn input_names(inputs: &[Input]) -> String {
    let name = |i: &Input| match i {
        Input::Path(p) => p
            .file_name()
            .map_or_else(|| p.display().to_string(), |n| n.to_string_lossy().into()),
        Input::File { name, .. } | Input::Reader { name, .. } => name.clone(),
        Input::Stdin => "stdin".into(),
    };
    match inputs {
        [] => "the log".into(),
        [one] => name(one),
        [first, rest @ ..] => format!("{} and {} more", name(first), rest.len()),
    }
}

impl Engine {
    /// The "working on it" line of a log-analysis request (so adapters post a placeholder that
    /// the analysis then edits with its percentage), or `None` when `msg` is not one.
    pub(super) fn log_hint(&self, msg: &InboundMessage) -> Option<String> {
        match self.log_ask(msg)? {
            Ask::Attachments if msg.platform == Platform::Teams => None,
            Ask::Attachments => Some("Downloading and analysing the shared log…".into()),
            Ask::Path(p) => Some(format!("Analysing {}…", p.display())),
            Ask::Target { alias, .. } => Some(format!("Reading the log of {alias}…")),
        }
    }
}

/// What the bot says on Teams when a log is asked about: outgoing webhooks carry no files.
pub const TEAMS_NO_FILES: &str = "Teams outgoing webhooks do not deliver files to the bot, so I cannot read a log shared here. Ask a DBA to set `log_path` for the target in dbabot.toml (then ask \"what happened on <target> between 02:00 and 03:00?\"), or run `dbabot logs analyze FILE` where the log is.";

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn asks_are_recognised() {
        assert_eq!(
            path_ask("analyze log /var/log/postgresql/pg.log"),
            Some(PathBuf::from("/var/log/postgresql/pg.log"))
        );
        assert_eq!(
            path_ask("analyse the slow log `/tmp/slow.log.gz`"),
            Some(PathBuf::from("/tmp/slow.log.gz"))
        );
        assert_eq!(path_ask("analyze why orders is slow"), None);
        assert!(mentions_logs("what happened on orders-prod last night?"));
        assert!(!mentions_logs("orders-prod is slow"));
        assert!(wants_csv("analyze this log and attach the CSV"));
        assert!(!wants_csv("analyze this log"));
        assert_eq!(
            zone_named("analyze this log, log_timezone is America/Argentina/Buenos_Aires"),
            Some("America/Argentina/Buenos_Aires".into())
        );
        assert_eq!(zone_named("analyze this log"), None);
    }

    #[test]
    fn percentages_are_bounded() {
        assert_eq!(percent(0, 10), 0);
        assert_eq!(percent(5, 10), 50);
        assert_eq!(percent(15, 10), 100);
        assert_eq!(percent(u64::MAX, u64::MAX), 100);
    }

    #[test]
    fn windows_pick_the_day_meant() {
        let day = 86_400_000i64;
        let base = logs::time::parse_iso("2024-01-31 00:00:00").unwrap();
        let morning = base + 9 * 3_600_000;
        assert_eq!(
            window("last night between 02:00 and 03:00", morning),
            Some((base + 2 * 3_600_000, base + 3 * 3_600_000))
        );
        // At 01:00 the 02:00–03:00 window has not happened today: yesterday's.
        assert_eq!(
            window("between 2 and 3", base + 3_600_000),
            Some((base - day + 2 * 3_600_000, base - day + 3 * 3_600_000))
        );
        assert_eq!(
            window("yesterday from 23:30 to 00:30", morning),
            Some((base - day + 23 * 3_600_000 + 1_800_000, base + 1_800_000))
        );
        assert_eq!(window("no window here", morning), None);
    }
}
