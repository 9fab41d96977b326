//! A local stand-in of Slack's file host (`files.slack.com`), serving shared files at
//! `url_private_download` paths (`/files-pri/{team}-{file}/download/{name}`) the way Slack
//! does ("Working with files", api.slack.com): the bytes to `Authorization: Bearer <bot
//! token>`; to a request without the token (or with another) Slack's HTML sign-in page with
//! HTTP 200, which is what a bot without the `files:read` scope gets.

use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// One download request: the path and the `Authorization` header it carried.
#[derive(Debug, Clone)]
pub struct Download {
    pub path: String,
    pub authorization: Option<String>,
}

#[derive(Clone)]
pub struct SlackFiles {
    files: Arc<Mutex<HashMap<String, Bytes>>>,
    downloads: Arc<Mutex<Vec<Download>>>,
    token: String,
    pub base: String,
}

impl SlackFiles {
    /// Starts on 127.0.0.1:<random>; `token` is the bot token it serves files to.
    pub async fn start(token: &str) -> SlackFiles {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let s = SlackFiles {
            files: Arc::default(),
            downloads: Arc::default(),
            token: token.to_string(),
            base: format!("http://{}", listener.local_addr().expect("addr")),
        };
        let app = Router::new()
            .route("/files-pri/{id}/download/{name}", get(download))
            .with_state(s.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        s
    }

    /// Stores `bytes` as file `id` (`F…`) of team T1; returns its `url_private_download`.
    pub fn put(&self, id: &str, name: &str, bytes: Vec<u8>) -> String {
        let key = format!("T1-{id}/{name}");
        self.lock_files().insert(key.clone(), Bytes::from(bytes));
        format!("{}/files-pri/T1-{id}/download/{name}", self.base)
    }

    /// Downloads requested so far.
    pub fn downloads(&self) -> Vec<Download> {
        match self.downloads.lock() {
            Ok(g) => g.clone(),
            Err(p) => p.into_inner().clone(),
        }
    }

    fn lock_files(&self) -> std::sync::MutexGuard<'_, HashMap<String, Bytes>> {
        match self.files.lock() {
            Ok(g) => g,
            Err(p) => p.into_inner(),
        }
    }
}

const SIGN_IN_PAGE: &str =
    "<!DOCTYPE html><html><head><title>Slack</title></head><body>Sign in to continue</body></html>";

async fn download(
    State(s): State<SlackFiles>,
    Path((id, name)): Path<(String, String)>,
    headers: HeaderMap,
) -> Response {
    let authorization = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    if let Ok(mut d) = s.downloads.lock() {
        d.push(Download {
            path: format!("/files-pri/{id}/download/{name}"),
            authorization: authorization.clone(),
        });
    }
    if authorization.as_deref() != Some(&format!("Bearer {}", s.token)) {
        return ([("content-type", "text/html; charset=utf-8")], SIGN_IN_PAGE).into_response();
    }
    match s.lock_files().get(&format!("{id}/{name}")) {
        Some(b) => (
            [
                ("content-type", "application/octet-stream"),
                ("content-disposition", "attachment"),
            ],
            b.clone(),
        )
            .into_response(),
        None => (axum::http::StatusCode::NOT_FOUND, "file_not_found").into_response(),
    }
}
