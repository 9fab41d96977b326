//! Discord's request signature: Ed25519 over `X-Signature-Timestamp` ‖ raw body, checked with the
//! application's public key before the body is parsed.

use ed25519_dalek::{Signature, VerifyingKey};

/// Header carrying the hex-encoded 64-byte Ed25519 signature.
pub const SIGNATURE_HEADER: &str = "x-signature-ed25519";
/// Header carrying the timestamp (Unix seconds, as text) that was signed with the body.
pub const TIMESTAMP_HEADER: &str = "x-signature-timestamp";

/// Why a request was refused (logged at debug level; the client only sees 401).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SignatureError {
    #[error("missing {0} header")]
    MissingHeader(&'static str),
    #[error("signature is not 64 bytes of hex")]
    MalformedSignature,
    #[error("timestamp is not Unix seconds")]
    MalformedTimestamp,
    #[error("timestamp is {age_secs} s away from now (limit {max_secs} s)")]
    Stale { age_secs: u64, max_secs: u64 },
    #[error("signature does not match")]
    Mismatch,
    #[error("no public key configured")]
    NoKey,
}

/// Checks Discord's signature on one request.
#[derive(Clone)]
pub struct Verifier {
    key: Option<VerifyingKey>,
    /// Largest accepted distance between the signed timestamp and now, in seconds; 0 = unchecked.
    max_age_secs: u64,
}

impl Verifier {
    /// `public_key` as configured (already validated by [`crate::config::parse_public_key`]);
    /// `None` makes every request fail with [`SignatureError::NoKey`].
    pub fn new(public_key: Option<[u8; 32]>, max_age_secs: u64) -> Self {
        Verifier {
            key: public_key.and_then(|k| VerifyingKey::from_bytes(&k).ok()),
            max_age_secs,
        }
    }

    /// Verifies `signature_hex` over `timestamp ‖ body` at wall-clock time `now_secs`
    /// (Unix seconds).
    ///
    /// # Errors
    /// [`SignatureError`] saying which check failed.
    pub fn verify(
        &self,
        signature_hex: Option<&str>,
        timestamp: Option<&str>,
        body: &[u8],
        now_secs: u64,
    ) -> Result<(), SignatureError> {
        let key = self.key.as_ref().ok_or(SignatureError::NoKey)?;
        let sig_hex = signature_hex.ok_or(SignatureError::MissingHeader(SIGNATURE_HEADER))?;
        let ts = timestamp.ok_or(SignatureError::MissingHeader(TIMESTAMP_HEADER))?;
        let sig_bytes =
            hex::decode(sig_hex.trim()).map_err(|_| SignatureError::MalformedSignature)?;
        let sig =
            Signature::from_slice(&sig_bytes).map_err(|_| SignatureError::MalformedSignature)?;
        let mut signed = Vec::with_capacity(ts.len() + body.len());
        signed.extend_from_slice(ts.as_bytes());
        signed.extend_from_slice(body);
        key.verify_strict(&signed, &sig)
            .map_err(|_| SignatureError::Mismatch)?;
        if self.max_age_secs > 0 {
            let t: u64 = ts
                .trim()
                .parse()
                .map_err(|_| SignatureError::MalformedTimestamp)?;
            let age = now_secs.abs_diff(t);
            if age > self.max_age_secs {
                return Err(SignatureError::Stale {
                    age_secs: age,
                    max_secs: self.max_age_secs,
                });
            }
        }
        Ok(())
    }
}

/// Current Unix time in seconds (0 if the clock is before 1970).
pub fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use ed25519_dalek::{Signer, SigningKey};

    fn pair(seed: u8) -> (SigningKey, [u8; 32]) {
        let sk = SigningKey::from_bytes(&[seed; 32]);
        let pk = sk.verifying_key().to_bytes();
        (sk, pk)
    }

    fn sign(sk: &SigningKey, ts: &str, body: &[u8]) -> String {
        let mut m = ts.as_bytes().to_vec();
        m.extend_from_slice(body);
        hex::encode(sk.sign(&m).to_bytes())
    }

    #[test]
    fn accepts_good_and_rejects_bad() {
        let (sk, pk) = pair(1);
        let (other, _) = pair(2);
        let v = Verifier::new(Some(pk), 300);
        let body = br#"{"type":1}"#;
        let ts = "1700000000";
        let good = sign(&sk, ts, body);
        assert_eq!(v.verify(Some(&good), Some(ts), body, 1_700_000_010), Ok(()));
        assert_eq!(
            v.verify(Some(&sign(&other, ts, body)), Some(ts), body, 1_700_000_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(Some(&good), Some(ts), br#"{"type":2}"#, 1_700_000_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(Some(&good), Some("1700000001"), body, 1_700_000_010),
            Err(SignatureError::Mismatch)
        );
        assert_eq!(
            v.verify(None, Some(ts), body, 1_700_000_010),
            Err(SignatureError::MissingHeader(SIGNATURE_HEADER))
        );
        assert_eq!(
            v.verify(Some(&good), None, body, 1_700_000_010),
            Err(SignatureError::MissingHeader(TIMESTAMP_HEADER))
        );
        assert_eq!(
            v.verify(Some("zz"), Some(ts), body, 1_700_000_010),
            Err(SignatureError::MalformedSignature)
        );
        assert!(matches!(
            v.verify(Some(&good), Some(ts), body, 1_700_001_000),
            Err(SignatureError::Stale { .. })
        ));
        assert_eq!(
            Verifier::new(Some(pk), 0).verify(Some(&good), Some(ts), body, 0),
            Ok(())
        );
        assert_eq!(
            Verifier::new(None, 0).verify(Some(&good), Some(ts), body, 0),
            Err(SignatureError::NoKey)
        );
    }
}
