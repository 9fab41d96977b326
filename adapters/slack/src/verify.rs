//! Slack request signing (<https://api.slack.com/authentication/verifying-requests-from-slack>):
//! `X-Slack-Signature = v0=` + hex(HMAC-SHA256(signing secret, `v0:{timestamp}:{raw body}`)),
//! with `X-Slack-Request-Timestamp` no older than five minutes. Checked on the raw bytes before
//! anything is parsed.

use hmac::{Hmac, KeyInit, Mac};
use sha2::Sha256;

/// Why a request was rejected (each becomes HTTP 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum VerifyError {
    #[error("missing X-Slack-Signature or X-Slack-Request-Timestamp header")]
    MissingHeaders,
    #[error("malformed signature headers")]
    Malformed,
    #[error("request timestamp is more than {0} seconds away from now")]
    Stale(u64),
    #[error("signature does not match")]
    BadSignature,
}

/// Verifies one request at time `now` (Unix seconds).
///
/// # Errors
/// [`VerifyError`] naming the first problem found.
pub fn verify(
    secret: &str,
    timestamp: Option<&str>,
    signature: Option<&str>,
    body: &[u8],
    now: u64,
    max_age_secs: u64,
) -> Result<(), VerifyError> {
    let (Some(ts), Some(sig)) = (timestamp, signature) else {
        return Err(VerifyError::MissingHeaders);
    };
    let ts_num: u64 = ts.trim().parse().map_err(|_| VerifyError::Malformed)?;
    if now.abs_diff(ts_num) > max_age_secs {
        return Err(VerifyError::Stale(max_age_secs));
    }
    let hex_sig = sig
        .trim()
        .strip_prefix("v0=")
        .ok_or(VerifyError::Malformed)?;
    let expected = hex::decode(hex_sig).map_err(|_| VerifyError::Malformed)?;
    let mut mac = <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes())
        .map_err(|_| VerifyError::Malformed)?;
    mac.update(b"v0:");
    mac.update(ts.trim().as_bytes());
    mac.update(b":");
    mac.update(body);
    // Constant-time comparison.
    mac.verify_slice(&expected)
        .map_err(|_| VerifyError::BadSignature)
}

/// Computes the `X-Slack-Signature` value for a body (used by tests and load generators).
pub fn sign(secret: &str, timestamp: &str, body: &[u8]) -> String {
    let mut mac = match <Hmac<Sha256> as KeyInit>::new_from_slice(secret.as_bytes()) {
        Ok(m) => m,
        Err(_) => return String::new(),
    };
    mac.update(b"v0:");
    mac.update(timestamp.as_bytes());
    mac.update(b":");
    mac.update(body);
    format!("v0={}", hex::encode(mac.finalize().into_bytes()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sign_and_verify_round_trip() {
        let body = b"token=x&team_id=T1";
        let sig = sign("s3cr3t", "1000", body);
        assert_eq!(
            verify("s3cr3t", Some("1000"), Some(&sig), body, 1100, 300),
            Ok(())
        );
        assert_eq!(
            verify("wrong", Some("1000"), Some(&sig), body, 1100, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify("s3cr3t", Some("1000"), Some(&sig), b"token=y", 1100, 300),
            Err(VerifyError::BadSignature)
        );
        assert_eq!(
            verify("s3cr3t", Some("1000"), Some(&sig), body, 1400, 300),
            Err(VerifyError::Stale(300))
        );
        assert_eq!(
            verify("s3cr3t", None, Some(&sig), body, 1000, 300),
            Err(VerifyError::MissingHeaders)
        );
        assert_eq!(
            verify("s3cr3t", Some("1000"), Some("v1=00"), body, 1000, 300),
            Err(VerifyError::Malformed)
        );
    }
}
