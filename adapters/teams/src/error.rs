//! Errors of the Teams adapter. None of them carries a secret (token, webhook URL).

/// Why a request was refused before its body was even parsed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    /// No `Authorization` header at all.
    #[error("missing Authorization header (expected `HMAC <base64>`)")]
    Missing,
    /// The header is not `HMAC <base64 of 32 bytes>`.
    #[error("malformed Authorization header (expected `HMAC <base64>`)")]
    Malformed,
    /// Well-formed, but no configured security token produces this signature for this body.
    #[error("HMAC signature does not match the request body")]
    Mismatch,
}

/// A delivery through the incoming (Workflows) webhook failed for good.
#[derive(Debug, thiserror::Error)]
pub enum WebhookError {
    /// The webhook answered with a non-success status (after retries when it was 429/5xx).
    #[error("incoming webhook answered HTTP {status} after {attempts} attempt(s): {body}")]
    Status {
        /// The last HTTP status code.
        status: u16,
        /// How many POSTs were made.
        attempts: u32,
        /// The start of the response body (at most 300 characters), for the log.
        body: String,
    },
    /// The request could not be sent or no response arrived (after retries).
    #[error("incoming webhook unreachable after {attempts} attempt(s): {message}")]
    Transport {
        /// How many POSTs were attempted.
        attempts: u32,
        /// The transport error, with the URL removed.
        message: String,
    },
    /// The payload is larger than the configured limit; nothing was sent.
    #[error("message of {bytes} bytes exceeds the {limit}-byte limit for a Teams webhook")]
    TooLarge {
        /// Serialized payload size in bytes.
        bytes: usize,
        /// The configured limit in bytes.
        limit: usize,
    },
}

/// Everything else that can go wrong in the adapter.
#[derive(Debug, thiserror::Error)]
pub enum TeamsError {
    /// The `[teams]` section or the environment it names is invalid.
    #[error("[teams] configuration: {0}")]
    Config(String),
    /// The request is not authentic.
    #[error("unauthorized: {0}")]
    Unauthorized(#[from] AuthError),
    /// The body is authentic but not an Activity this adapter can handle.
    #[error("invalid activity: {0}")]
    Activity(String),
    /// The outbound webhook failed.
    #[error(transparent)]
    Webhook(#[from] WebhookError),
}
