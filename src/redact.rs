//! Scrubs secrets out of text before it is logged, stored, audited or shown.
//!
//! Covers the shapes secrets take in driver errors and pasted messages: URL credentials
//! (`postgres://user:pw@host`), `password=…`/`pwd=…` key-value pairs, and bearer tokens
//! (`xoxb-…`, `sk-…`). Configured DSNs are additionally removed verbatim by callers that know them.

use regex::Regex;
use std::sync::LazyLock;

static URL_CREDS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b([a-z][a-z0-9+.-]*://)([^/\s:@]+)(:[^@\s/]*)?@").expect("static regex")
});
static KV: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"(?i)\b(password|passwd|pwd|secret|token|api[_-]?key)\s*[=:]\s*('[^']*'|\x22[^\x22]*\x22|[^\s;&]+)")
        .expect("static regex")
});
static TOKENS: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\b(xox[abposr]-[A-Za-z0-9-]{8,}|xapp-[A-Za-z0-9-]{8,}|sk-[A-Za-z0-9_-]{16,})")
        .expect("static regex")
});

/// Returns `text` with credentials replaced by `***`.
pub fn redact(text: &str) -> String {
    let s = URL_CREDS.replace_all(text, "$1***@");
    let s = KV.replace_all(&s, "$1=***");
    TOKENS.replace_all(&s, "***").into_owned()
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn removes_common_secret_shapes() {
        let r = redact("connect postgres://app:s3cret@db:5432/x failed; password=hunter2 token xoxb-123456789-abcdef");
        assert!(!r.contains("s3cret"), "{r}");
        assert!(!r.contains("hunter2"), "{r}");
        assert!(!r.contains("xoxb-123456789"), "{r}");
        assert!(r.contains("postgres://***@db:5432/x"), "{r}");
    }
}
