//! The async-openai client for the three provider shapes, with our own HTTP transport: no
//! automatic retries (the recommender decides), `Retry-After` kept with the error, no empty
//! bearer header for key-less OpenAI-compatible servers, and errors classified for fallback.

use super::config::{LlmConfig, Provider};
use super::redact::Scrubber;
use super::LlmError;
use async_openai::config::{AzureConfig, Config, OpenAIConfig};
use async_openai::error::{ApiError, ApiErrorResponse, OpenAIError, WrappedError};
use async_openai::middleware::HttpRequestFactory;
use async_openai::types::chat::{
    ChatCompletionMessageToolCalls, CreateChatCompletionRequest, FinishReason,
};
use async_openai::Client;
use futures::StreamExt;
use std::time::Duration;

/// A non-success HTTP answer, with the provider's documented error object when it sent one.
#[derive(Debug)]
pub struct HttpFailure {
    pub status: u16,
    /// From `retry-after-ms` or `Retry-After` (seconds).
    pub retry_after: Option<Duration>,
    pub error: ApiError,
}

impl std::fmt::Display for HttpFailure {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "HTTP {}: {}", self.status, self.error)
    }
}

impl std::error::Error for HttpFailure {}

/// The client type for every provider.
pub type LlmClient = Client<Box<dyn Config>>;

/// Builds the client for `cfg`.
///
/// # Errors
/// [`LlmError::Config`] when the HTTP client cannot be built.
pub fn build(cfg: &LlmConfig) -> Result<LlmClient, LlmError> {
    let timeout = Duration::from_millis(cfg.request_timeout_ms);
    let http = reqwest::Client::builder()
        .timeout(timeout)
        .connect_timeout(timeout.min(Duration::from_secs(10)))
        .user_agent(concat!("dbabot/", env!("CARGO_PKG_VERSION")))
        .build()
        .map_err(|e| LlmError::Config(format!("cannot build the HTTP client: {e}")))?;
    let (config, strip_auth): (Box<dyn Config>, bool) = match &cfg.provider {
        Provider::OpenAi { base_url, api_key } => (
            Box::new(
                OpenAIConfig::new()
                    .with_api_base(
                        base_url
                            .clone()
                            .unwrap_or_else(|| async_openai::config::OPENAI_API_BASE.into()),
                    )
                    .with_api_key(api_key.expose())
                    .with_org_id("")
                    .with_project_id(""),
            ),
            false,
        ),
        Provider::Azure {
            endpoint,
            deployment,
            api_version,
            api_key,
        } => (
            Box::new(
                AzureConfig::new()
                    .with_api_base(endpoint.clone())
                    .with_deployment_id(deployment.clone())
                    .with_api_version(api_version.clone())
                    .with_api_key(api_key.expose()),
            ),
            false,
        ),
        Provider::Compatible { base_url, api_key } => (
            Box::new(
                OpenAIConfig::new()
                    .with_api_base(base_url.clone())
                    .with_api_key(api_key.as_ref().map(|k| k.expose()).unwrap_or(""))
                    .with_org_id("")
                    .with_project_id(""),
            ),
            api_key.is_none(),
        ),
    };
    let transport = tower::service_fn(move |factory: HttpRequestFactory| {
        let http = http.clone();
        async move {
            let mut request = factory.build().await?;
            if strip_auth {
                request.headers_mut().remove(reqwest::header::AUTHORIZATION);
            }
            let response = http.execute(request).await.map_err(OpenAIError::Reqwest)?;
            let status = response.status();
            if status.is_success() {
                return Ok(response);
            }
            let retry_after = retry_after(response.headers());
            let body = response.bytes().await.unwrap_or_default();
            let error = match serde_json::from_slice::<WrappedError>(&body) {
                Ok(w) => w.error,
                Err(_) => ApiError {
                    message: String::from_utf8_lossy(&body).chars().take(300).collect(),
                    ..ApiError::default()
                },
            };
            Err(OpenAIError::Boxed(Box::new(HttpFailure {
                status: status.as_u16(),
                retry_after,
                error,
            })))
        }
    });
    Ok(Client::with_config(config).with_http_service(transport))
}

/// `retry-after-ms` (Azure, OpenAI) or `Retry-After` in seconds.
fn retry_after(h: &reqwest::header::HeaderMap) -> Option<Duration> {
    let get = |k: &str| h.get(k).and_then(|v| v.to_str().ok()).map(str::trim);
    if let Some(ms) = get("retry-after-ms").and_then(|v| v.parse::<f64>().ok()) {
        return Some(Duration::from_millis(ms.max(0.0) as u64));
    }
    get("retry-after")
        .and_then(|v| v.parse::<f64>().ok())
        .map(|s| Duration::from_millis((s.max(0.0) * 1000.0) as u64))
}

/// Maps a client error to the recommender's error kinds; messages are scrubbed.
pub fn classify(e: OpenAIError, timeout_ms: u64, s: &Scrubber) -> LlmError {
    match e {
        OpenAIError::Reqwest(r) if r.is_timeout() => LlmError::Timeout(timeout_ms),
        OpenAIError::Reqwest(r) if r.is_connect() => {
            LlmError::Connect(s.text(&without_url(&r.to_string())))
        }
        OpenAIError::Reqwest(r) => LlmError::Transport(s.text(&without_url(&r.to_string()))),
        OpenAIError::Boxed(b) => match b.downcast::<HttpFailure>() {
            Ok(f) => from_http(*f, s),
            Err(other) => LlmError::Transport(s.text(&other.to_string())),
        },
        OpenAIError::ApiError(ApiErrorResponse {
            status_code,
            api_error,
        }) => from_http(
            HttpFailure {
                status: status_code.as_u16(),
                retry_after: None,
                error: api_error,
            },
            s,
        ),
        OpenAIError::JSONDeserialize(err, _) => {
            LlmError::Protocol(format!("the response is not a chat completion: {err}"))
        }
        OpenAIError::StreamError(e) => LlmError::Transport(s.text(&e.to_string())),
        other => LlmError::Transport(s.text(&other.to_string())),
    }
}

fn without_url(msg: &str) -> String {
    // reqwest errors end with "(url)"; the endpoint is configuration, not needed in the reason.
    match msg.find(" for url (") {
        Some(i) => msg[..i].to_string(),
        None => msg.to_string(),
    }
}

fn from_http(f: HttpFailure, s: &Scrubber) -> LlmError {
    let message = s.text(&f.error.message.chars().take(300).collect::<String>());
    let code = f.error.code.clone().unwrap_or_default();
    let lower = format!("{} {}", message.to_lowercase(), code.to_lowercase());
    match f.status {
        429 => LlmError::RateLimited {
            retry_after_ms: f.retry_after.map(|d| d.as_millis() as u64),
            message,
        },
        500..=599 => LlmError::Server {
            status: f.status,
            message,
        },
        _ if code == "content_filter"
            || lower.contains("content_filter")
            || lower.contains("content management policy") =>
        {
            LlmError::ContentFilter(message)
        }
        400 | 404 | 422
            if lower.contains("tool")
                && (lower.contains("support") || lower.contains("not allowed")) =>
        {
            LlmError::NoToolSupport(message)
        }
        _ => LlmError::Rejected {
            status: f.status,
            message,
        },
    }
}

/// One tool call the model asked for.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ToolCall {
    pub id: String,
    pub name: String,
    pub arguments: String,
}

/// One completion, streamed or not.
#[derive(Debug, Clone, Default)]
pub struct Completion {
    pub content: Option<String>,
    pub refusal: Option<String>,
    pub tool_calls: Vec<ToolCall>,
    pub finish: Option<FinishReason>,
    pub prompt_tokens: Option<u32>,
    pub completion_tokens: Option<u32>,
}

/// Sends one request and collects the first choice.
///
/// # Errors
/// The client error, unclassified.
pub async fn complete(
    client: &LlmClient,
    mut request: CreateChatCompletionRequest,
    stream: bool,
) -> Result<Completion, OpenAIError> {
    if !stream {
        request.stream = None;
        let r = client.chat().create(request).await?;
        let mut c = Completion {
            prompt_tokens: r.usage.as_ref().map(|u| u.prompt_tokens),
            completion_tokens: r.usage.as_ref().map(|u| u.completion_tokens),
            ..Completion::default()
        };
        if let Some(choice) = r.choices.into_iter().next() {
            c.finish = choice.finish_reason;
            c.content = choice.message.content;
            c.refusal = choice.message.refusal;
            for t in choice.message.tool_calls.unwrap_or_default() {
                match t {
                    ChatCompletionMessageToolCalls::Function(f) => c.tool_calls.push(ToolCall {
                        id: f.id,
                        name: f.function.name,
                        arguments: f.function.arguments,
                    }),
                    ChatCompletionMessageToolCalls::Custom(x) => c.tool_calls.push(ToolCall {
                        id: x.id,
                        name: x.custom_tool.name,
                        arguments: x.custom_tool.input,
                    }),
                }
            }
        }
        return Ok(c);
    }
    request.stream = Some(true);
    let mut s = client.chat().create_stream(request).await?;
    let mut c = Completion::default();
    let mut content = String::new();
    let mut refusal = String::new();
    // Tool calls arrive in pieces keyed by index.
    let mut calls: Vec<(u32, ToolCall)> = Vec::new();
    while let Some(chunk) = s.next().await {
        let chunk = chunk?;
        if let Some(u) = chunk.usage {
            c.prompt_tokens = Some(u.prompt_tokens);
            c.completion_tokens = Some(u.completion_tokens);
        }
        for choice in chunk.choices.into_iter().filter(|ch| ch.index == 0) {
            if let Some(t) = choice.delta.content {
                content.push_str(&t);
            }
            if let Some(t) = choice.delta.refusal {
                refusal.push_str(&t);
            }
            for d in choice.delta.tool_calls.unwrap_or_default() {
                let pos = match calls.iter().position(|(i, _)| *i == d.index) {
                    Some(p) => p,
                    None => {
                        calls.push((d.index, ToolCall::default()));
                        calls.len() - 1
                    }
                };
                let call = &mut calls[pos].1;
                if let Some(id) = d.id {
                    call.id = id;
                }
                if let Some(f) = d.function {
                    if let Some(n) = f.name {
                        call.name.push_str(&n);
                    }
                    if let Some(a) = f.arguments {
                        call.arguments.push_str(&a);
                    }
                }
            }
            if choice.finish_reason.is_some() {
                c.finish = choice.finish_reason;
            }
        }
    }
    c.content = (!content.is_empty()).then_some(content);
    c.refusal = (!refusal.is_empty()).then_some(refusal);
    c.tool_calls = calls.into_iter().map(|(_, t)| t).collect();
    Ok(c)
}
