//! Downloading files shared into a thread (Discord attachments), for log analysis.
//!
//! Only Discord's own CDN hosts are fetched, so a crafted message cannot make the bot request
//! an arbitrary address; the size is checked against the announced size and while streaming.

use async_trait::async_trait;
use dbabot_chat::{Attachment, AttachmentBody, AttachmentFetcher, CappedFile, FetchError};

/// Hosts attachment URLs may point to.
pub const CDN_HOSTS: &[&str] = &["cdn.discordapp.com", "media.discordapp.net"];

/// Fetches Discord attachment URLs (they need no token).
#[derive(Clone, Default)]
pub struct DiscordFetcher {
    client: reqwest::Client,
}

/// True when `url` is an `https://` URL on one of [`CDN_HOSTS`].
pub fn allowed(url: &str) -> bool {
    let Some(rest) = url.strip_prefix("https://") else {
        return false;
    };
    let host = rest.split(['/', '?', '#']).next().unwrap_or("");
    CDN_HOSTS.contains(&host)
}

#[async_trait]
impl AttachmentFetcher for DiscordFetcher {
    async fn fetch(
        &self,
        a: &Attachment,
        dest: &std::path::Path,
        max_bytes: u64,
    ) -> Result<u64, FetchError> {
        let (url, size) = match &a.body {
            AttachmentBody::Remote { url, size } => (url, *size),
            AttachmentBody::Url(url) => (url, None),
            _ => {
                return Err(FetchError::Unsupported {
                    name: a.name.clone(),
                })
            }
        };
        let too_large = || FetchError::TooLarge {
            name: a.name.clone(),
            limit: max_bytes,
        };
        let failed = |message: String| FetchError::Failed {
            name: a.name.clone(),
            message,
        };
        if !allowed(url) {
            return Err(failed("not a Discord CDN URL".into()));
        }
        if size.is_some_and(|s| s > max_bytes) {
            return Err(too_large());
        }
        let mut resp = self
            .client
            .get(url)
            .send()
            .await
            .and_then(|r| r.error_for_status())
            .map_err(|e| failed(e.without_url().to_string()))?;
        let mut file = CappedFile::create(dest, &a.name, max_bytes, resp.content_length()).await?;
        while let Some(chunk) = resp
            .chunk()
            .await
            .map_err(|e| failed(e.without_url().to_string()))?
        {
            file.write(&chunk).await?;
        }
        file.finish().await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_discord_cdn_urls() {
        assert!(allowed("https://cdn.discordapp.com/attachments/1/2/pg.log"));
        assert!(!allowed("http://cdn.discordapp.com/attachments/1/2/pg.log"));
        assert!(!allowed("https://cdn.discordapp.com.evil.example/x"));
        assert!(!allowed("https://127.0.0.1/x"));
    }
}
