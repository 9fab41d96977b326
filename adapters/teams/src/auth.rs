//! Outgoing-webhook authentication: `Authorization: HMAC <base64>`, where the value is
//! HMAC-SHA256 over the raw request body, keyed by the base64-decoded security token that Teams
//! showed when the webhook was created.
//!
//! The scheme has no timestamp or nonce; replay protection is the adapter's job (Activity id
//! deduplication plus a window on the signed `timestamp`, see [`crate::TeamsConfig`]).

use crate::config::SecurityToken;
use crate::error::AuthError;
use base64::Engine as _;
use hmac::{KeyInit, Mac};
use sha2::Sha256;
use subtle::ConstantTimeEq;

type HmacSha256 = hmac::Hmac<Sha256>;

/// Length of an HMAC-SHA256 tag in bytes.
const TAG_LEN: usize = 32;

fn tag(key: &[u8], body: &[u8]) -> [u8; TAG_LEN] {
    // HMAC accepts keys of any length; `new_from_slice` cannot fail for it.
    let mut mac = match HmacSha256::new_from_slice(key) {
        Ok(m) => m,
        Err(_) => return [0; TAG_LEN],
    };
    mac.update(body);
    let out = mac.finalize().into_bytes();
    let mut t = [0u8; TAG_LEN];
    t.copy_from_slice(&out);
    t
}

/// The `Authorization` header value Teams would send for `body` under `token`:
/// `HMAC <base64(HMAC-SHA256(token, body))>`. Useful for tests and for `curl` checks.
pub fn sign(token: &SecurityToken, body: &[u8]) -> String {
    format!(
        "HMAC {}",
        base64::engine::general_purpose::STANDARD.encode(tag(token.key(), body))
    )
}

/// Checks `header` (the raw `Authorization` value, if any) against `body` for every configured
/// token, comparing in constant time.
///
/// # Errors
/// [`AuthError::Missing`] without a header, [`AuthError::Malformed`] when it is not
/// `HMAC <base64 of 32 bytes>`, [`AuthError::Mismatch`] when no token signs this body so.
pub fn verify(
    tokens: &[SecurityToken],
    header: Option<&[u8]>,
    body: &[u8],
) -> Result<(), AuthError> {
    let header = header.ok_or(AuthError::Missing)?;
    let header = std::str::from_utf8(header).map_err(|_| AuthError::Malformed)?;
    let (scheme, value) = header
        .trim()
        .split_once(char::is_whitespace)
        .ok_or(AuthError::Malformed)?;
    if !scheme.eq_ignore_ascii_case("HMAC") {
        return Err(AuthError::Malformed);
    }
    let given = base64::engine::general_purpose::STANDARD
        .decode(value.trim())
        .map_err(|_| AuthError::Malformed)?;
    if given.len() != TAG_LEN {
        return Err(AuthError::Malformed);
    }
    let mut ok = subtle::Choice::from(0u8);
    for t in tokens {
        ok |= tag(t.key(), body).ct_eq(given.as_slice());
    }
    if bool::from(ok) {
        Ok(())
    } else {
        Err(AuthError::Mismatch)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn token(b64: &str) -> SecurityToken {
        SecurityToken::from_base64(b64).expect("token")
    }

    #[test]
    fn rfc4231_case_2_vector() {
        // RFC 4231 test case 2: key "Jefe", data "what do ya want for nothing?".
        let t = token("SmVmZQ==");
        let h = sign(&t, b"what do ya want for nothing?");
        let expected = "5bdcc146bf60754e6a042426089575c75a003f089d2739839dec58b964ec3843";
        let raw = base64::engine::general_purpose::STANDARD
            .decode(h.trim_start_matches("HMAC "))
            .expect("b64");
        let hex: String = raw.iter().map(|b| format!("{b:02x}")).collect();
        assert_eq!(hex, expected);
    }

    #[test]
    fn verifies_and_refuses() {
        let good = token("c2VjcmV0LWtleS1mb3ItdGVzdHM=");
        let other = token("b3RoZXIta2V5");
        let body = br#"{"type":"message","text":"hi"}"#;
        let h = sign(&good, body);
        assert_eq!(
            verify(std::slice::from_ref(&good), Some(h.as_bytes()), body),
            Ok(())
        );
        // Any of several tokens.
        assert_eq!(
            verify(&[other.clone(), good.clone()], Some(h.as_bytes()), body),
            Ok(())
        );
        // Lower-case scheme and extra spaces are tolerated.
        let lower = h.replacen("HMAC ", "hmac   ", 1);
        assert_eq!(
            verify(std::slice::from_ref(&good), Some(lower.as_bytes()), body),
            Ok(())
        );
        assert_eq!(
            verify(std::slice::from_ref(&other), Some(h.as_bytes()), body),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify(
                std::slice::from_ref(&good),
                Some(h.as_bytes()),
                b"{\"type\":\"message\",\"text\":\"hI\"}"
            ),
            Err(AuthError::Mismatch)
        );
        assert_eq!(
            verify(std::slice::from_ref(&good), None, body),
            Err(AuthError::Missing)
        );
        for bad in [
            "HMAC",
            "HMAC !!!notbase64",
            "Bearer abc",
            "HMAC AAAA",
            "",
            "HMAC",
        ] {
            assert_eq!(
                verify(std::slice::from_ref(&good), Some(bad.as_bytes()), body),
                Err(AuthError::Malformed),
                "{bad}"
            );
        }
        assert_eq!(
            verify(&[good], Some(&[0xff, 0xfe][..]), body),
            Err(AuthError::Malformed)
        );
    }
}
