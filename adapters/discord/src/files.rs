//! Files the bot wrote on its host (log-analysis charts and CSV exports) attached to the
//! Discord messages of a reply.
//!
//! [`crate::render::render`] stays synchronous: it turns an [`AttachmentBody::File`] into an
//! [`OutFile`] that names its path and has no bytes yet; [`load`] reads those files (async,
//! off the render path) just before the messages are sent, as the multipart `files[0]` of their
//! message. A file that is over the size limit or cannot be read is replaced by a line saying so.
//!
//! [`AttachmentBody::File`]: dbabot_chat::AttachmentBody::File

use crate::wire::{OutFile, OutMessage};

/// Reads the bytes of every [`OutFile`] that only names a path, at most `max_bytes` each
/// (Discord's upload limit for the channel, see `max_file_bytes`); files that cannot be sent
/// are dropped from their message with a note in its content.
pub async fn load(messages: &mut [OutMessage], max_bytes: u64) {
    for m in messages.iter_mut() {
        let Some(OutFile {
            path: Some(path),
            name,
            ..
        }) = &m.file
        else {
            continue;
        };
        let (path, name) = (path.clone(), name.clone());
        let read = match tokio::fs::metadata(&path).await {
            Ok(meta) if meta.len() > max_bytes => Err(format!(
                "*`{name}` is {} KiB, over the {} KiB upload limit, so it is not attached.*",
                meta.len() / 1024,
                max_bytes / 1024
            )),
            Ok(_) => tokio::fs::read(&path).await.map_err(|e| {
                tracing::warn!(file = %name, error = %e, "cannot read a file to attach");
                format!("*`{name}` could not be read, so it is not attached.*")
            }),
            Err(e) => {
                tracing::warn!(file = %name, error = %e, "cannot read a file to attach");
                Err(format!(
                    "*`{name}` could not be read, so it is not attached.*"
                ))
            }
        };
        match read {
            Ok(data) => {
                if let Some(f) = m.file.as_mut() {
                    f.data = data;
                    f.path = None;
                }
            }
            Err(note) => {
                m.file = None;
                m.attachments.clear();
                let content = m.content.get_or_insert_with(String::new);
                if !content.is_empty() {
                    content.push('\n');
                }
                content.push_str(&note);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::render::{render, RenderOptions};
    use dbabot_chat::{Attachment, AttachmentBody, Part, Reply};

    fn chart(path: &str) -> Part {
        Part::Attachment(Attachment {
            name: "timeline.png".into(),
            content_type: "image/png".into(),
            body: AttachmentBody::File(path.into()),
        })
    }

    #[tokio::test]
    async fn files_on_the_host_are_attached_or_explained() {
        let dir = std::env::temp_dir().join(format!("dbabot-discord-files-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let png = dir.join("timeline.png");
        std::fs::write(&png, b"\x89PNG\r\n\x1a\nrest").expect("write");
        let reply = Reply::text("Log analysis")
            .with(chart(&png.display().to_string()))
            .with(chart(&dir.join("missing.png").display().to_string()));
        let mut messages = render(
            &reply,
            &RenderOptions {
                max_file_bytes: 1024,
            },
        );
        load(&mut messages, 1024).await;
        let with_file: Vec<_> = messages.iter().filter_map(|m| m.file.as_ref()).collect();
        assert_eq!(with_file.len(), 1, "{messages:#?}");
        assert_eq!(with_file[0].data, b"\x89PNG\r\n\x1a\nrest");
        assert_eq!(with_file[0].name, "timeline.png");
        let text: String = messages.iter().filter_map(|m| m.content.clone()).collect();
        assert!(text.contains("could not be read"), "{text}");
        assert!(
            !text.contains(&dir.display().to_string()),
            "no host path in chat: {text}"
        );
        let mut tiny = render(&reply, &RenderOptions { max_file_bytes: 4 });
        load(&mut tiny, 4).await;
        assert!(tiny.iter().all(|m| m.file.is_none()));
        let _ = std::fs::remove_dir_all(&dir);
    }
}
