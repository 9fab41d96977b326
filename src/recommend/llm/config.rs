//! The `[llm]` section: provider shape, model, limits. Keys come from environment variables or
//! files only; an inline `api_key` is rejected.

use super::LlmError;
use crate::config::Secret;
use serde::Deserialize;
use std::path::PathBuf;

/// Where the Chat Completions endpoint lives and how the bot authenticates to it.
#[derive(Debug, Clone)]
pub enum Provider {
    /// api.openai.com (or `base_url`), `Authorization: Bearer <key>`.
    OpenAi {
        /// Overrides `https://api.openai.com/v1` (a proxy or gateway), if set.
        base_url: Option<String>,
        api_key: Secret,
    },
    /// Azure OpenAI: `{endpoint}/openai/deployments/{deployment}/chat/completions?api-version=…`
    /// with an `api-key` header.
    Azure {
        endpoint: String,
        deployment: String,
        api_version: String,
        api_key: Secret,
    },
    /// Any server that speaks the Chat Completions wire format (Ollama, vLLM, llama.cpp server,
    /// Groq…): `{base_url}/chat/completions`, with a bearer key only when one is configured.
    Compatible {
        base_url: String,
        api_key: Option<Secret>,
    },
}

impl Provider {
    /// `openai`, `azure` or `openai-compatible`.
    pub fn kind(&self) -> &'static str {
        match self {
            Provider::OpenAi { .. } => "openai",
            Provider::Azure { .. } => "azure",
            Provider::Compatible { .. } => "openai-compatible",
        }
    }

    /// The endpoint for humans (`check-config`), never the key.
    pub fn endpoint(&self) -> String {
        let s = match self {
            Provider::OpenAi { base_url, .. } => base_url
                .clone()
                .unwrap_or_else(|| async_openai::config::OPENAI_API_BASE.to_string()),
            Provider::Azure {
                endpoint,
                deployment,
                api_version,
                ..
            } => format!("{endpoint}/openai/deployments/{deployment} (api-version {api_version})"),
            Provider::Compatible { base_url, .. } => base_url.clone(),
        };
        crate::redact::redact(&s)
    }

    /// The key, when there is one (used to scrub it from anything outbound).
    pub(super) fn key(&self) -> Option<&Secret> {
        match self {
            Provider::OpenAi { api_key, .. } | Provider::Azure { api_key, .. } => Some(api_key),
            Provider::Compatible { api_key, .. } => api_key.as_ref(),
        }
    }
}

/// What to do with a claim in the model's findings that the diagnostics do not support.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Grounding {
    /// Keep it, marked "unverified", at severity info.
    Mark,
    /// Leave it out.
    Drop,
}

/// The resolved `[llm]` configuration.
#[derive(Debug, Clone)]
pub struct LlmConfig {
    pub provider: Provider,
    /// Model name sent in every request (for Azure it defaults to the deployment name).
    pub model: String,
    /// Sampling temperature, 0–2 (default 0.1).
    pub temperature: f32,
    /// Upper bound on tokens the model may generate per request (default 1200).
    pub max_output_tokens: u32,
    /// Timeout of one HTTP request to the provider, in milliseconds (default 30000).
    pub request_timeout_ms: u64,
    /// Budget for a whole answer (all rounds and retries), in milliseconds (default 90000).
    pub turn_timeout_ms: u64,
    /// Requests per minute the bot may send to the provider (governor quota, default 20).
    pub requests_per_minute: u32,
    /// Tool rounds (model asks for checks, bot runs them) per answer (default 3).
    pub max_tool_rounds: u32,
    /// Tool calls honoured per round; more are refused (default 4).
    pub max_tool_calls_per_round: usize,
    /// Remembered turns of the thread included in the prompt (default 6).
    pub prompt_turns: usize,
    /// Stream responses over SSE (default false).
    pub stream: bool,
    /// Ask for `response_format: json_object` (default true; turn off for servers without it).
    pub json_mode: bool,
    /// Consecutive endpoint failures that open the circuit breaker (default 3).
    pub breaker_failures: u32,
    /// How long an open breaker stops calls, in seconds (default 60).
    pub breaker_cooldown_s: u64,
    /// A 429 whose Retry-After is at most this long is waited out and retried once, in
    /// milliseconds (default 2000); longer ones fall back at once.
    pub max_retry_wait_ms: u64,
    pub grounding: Grounding,
    /// Where the key came from (`env OPENAI_API_KEY`), for `check-config`; never the value.
    pub key_source: Option<String>,
}

impl LlmConfig {
    /// Defaults for everything but the provider and model.
    pub fn new(provider: Provider, model: impl Into<String>) -> Self {
        LlmConfig {
            provider,
            model: model.into(),
            temperature: 0.1,
            max_output_tokens: 1200,
            request_timeout_ms: 30_000,
            turn_timeout_ms: 90_000,
            requests_per_minute: 20,
            max_tool_rounds: 3,
            max_tool_calls_per_round: 4,
            prompt_turns: 6,
            stream: false,
            json_mode: true,
            breaker_failures: 3,
            breaker_cooldown_s: 60,
            max_retry_wait_ms: 2_000,
            grounding: Grounding::Mark,
            key_source: None,
        }
    }

    /// Parses and validates the raw `[llm]` table, resolving the key through `env` or a file.
    ///
    /// # Errors
    /// [`LlmError::Config`] naming the offending key.
    pub fn from_section(
        section: &toml::Value,
        env: &dyn Fn(&str) -> Option<String>,
    ) -> Result<Self, LlmError> {
        let bad = |m: String| LlmError::Config(m);
        let table = section
            .as_table()
            .ok_or_else(|| bad("[llm] must be a table".into()))?;
        if table.contains_key("api_key") {
            return Err(bad(
                "llm.api_key: keys are never written in the file; set api_key_env (an environment variable's name) or api_key_file".into(),
            ));
        }
        let raw: RawLlm = section
            .clone()
            .try_into()
            .map_err(|e: toml::de::Error| bad(e.message().trim().to_string()))?;
        let (key, key_source) = resolve_key(&raw, env)?;
        let need = |v: &Option<String>, name: &str| -> Result<String, LlmError> {
            v.clone()
                .map(|s| s.trim().trim_end_matches('/').to_string())
                .filter(|s| !s.is_empty())
                .ok_or_else(|| {
                    bad(format!(
                        "llm.{name} is required for provider `{}`",
                        raw.provider
                    ))
                })
        };
        let need_key = |k: Option<Secret>| {
            k.ok_or_else(|| {
                bad(format!(
                    "provider `{}` needs a key: set llm.api_key_env or llm.api_key_file",
                    raw.provider
                ))
            })
        };
        let provider = match raw.provider.as_str() {
            "openai" => Provider::OpenAi {
                base_url: raw
                    .base_url
                    .clone()
                    .map(|s| s.trim().trim_end_matches('/').to_string()),
                api_key: need_key(key)?,
            },
            "azure" => Provider::Azure {
                endpoint: need(&raw.endpoint, "endpoint")?,
                deployment: need(&raw.deployment, "deployment")?,
                api_version: need(&raw.api_version, "api_version")?,
                api_key: need_key(key)?,
            },
            "openai-compatible" | "openai_compatible" | "compatible" => Provider::Compatible {
                base_url: need(&raw.base_url, "base_url")?,
                api_key: key,
            },
            other => {
                return Err(bad(format!(
                    "llm.provider must be `openai`, `azure` or `openai-compatible`, not `{other}`"
                )))
            }
        };
        for (url, name) in [(&raw.base_url, "base_url"), (&raw.endpoint, "endpoint")] {
            if let Some(u) = url {
                if !(u.starts_with("http://") || u.starts_with("https://")) {
                    return Err(bad(format!(
                        "llm.{name} must start with http:// or https://"
                    )));
                }
            }
        }
        let model = match (&raw.model, &provider) {
            (Some(m), _) if !m.trim().is_empty() => m.trim().to_string(),
            (_, Provider::Azure { deployment, .. }) => deployment.clone(),
            _ => return Err(bad("llm.model is required".into())),
        };
        let mut cfg = LlmConfig::new(provider, model);
        cfg.key_source = key_source;
        if let Some(v) = raw.temperature {
            if !(0.0..=2.0).contains(&v) {
                return Err(bad("llm.temperature must be between 0 and 2".into()));
            }
            cfg.temperature = v;
        }
        macro_rules! positive {
            ($field:ident, $max:expr) => {
                if let Some(v) = raw.$field {
                    if v == 0 || v > $max {
                        return Err(bad(format!(
                            "llm.{} must be between 1 and {}",
                            stringify!($field),
                            $max
                        )));
                    }
                    cfg.$field = v;
                }
            };
        }
        positive!(max_output_tokens, 128_000);
        positive!(request_timeout_ms, 600_000);
        positive!(turn_timeout_ms, 1_800_000);
        positive!(requests_per_minute, 100_000);
        positive!(breaker_failures, 1_000);
        if let Some(v) = raw.max_tool_rounds {
            if v > 10 {
                return Err(bad("llm.max_tool_rounds must be between 0 and 10".into()));
            }
            cfg.max_tool_rounds = v;
        }
        if let Some(v) = raw.max_tool_calls_per_round {
            if v == 0 || v > 16 {
                return Err(bad(
                    "llm.max_tool_calls_per_round must be between 1 and 16".into()
                ));
            }
            cfg.max_tool_calls_per_round = v;
        }
        if let Some(v) = raw.prompt_turns {
            cfg.prompt_turns = v.min(50);
        }
        if let Some(v) = raw.stream {
            cfg.stream = v;
        }
        if let Some(v) = raw.json_mode {
            cfg.json_mode = v;
        }
        if let Some(v) = raw.breaker_cooldown_s {
            cfg.breaker_cooldown_s = v;
        }
        if let Some(v) = raw.max_retry_wait_ms {
            cfg.max_retry_wait_ms = v;
        }
        if let Some(g) = &raw.grounding {
            cfg.grounding = match g.as_str() {
                "mark" => Grounding::Mark,
                "drop" => Grounding::Drop,
                other => {
                    return Err(bad(format!(
                        "llm.grounding must be `mark` or `drop`, not `{other}`"
                    )))
                }
            };
        }
        Ok(cfg)
    }
}

fn resolve_key(
    raw: &RawLlm,
    env: &dyn Fn(&str) -> Option<String>,
) -> Result<(Option<Secret>, Option<String>), LlmError> {
    match (&raw.api_key_env, &raw.api_key_file) {
        (Some(_), Some(_)) => Err(LlmError::Config(
            "set either llm.api_key_env or llm.api_key_file, not both".into(),
        )),
        (Some(var), None) => {
            let v = env(var).filter(|v| !v.trim().is_empty()).ok_or_else(|| {
                LlmError::Config(format!(
                    "environment variable {var} (llm.api_key_env) is not set"
                ))
            })?;
            Ok((Some(Secret::new(v.trim())), Some(format!("env {var}"))))
        }
        (None, Some(path)) => {
            let v = std::fs::read_to_string(path).map_err(|e| {
                LlmError::Config(format!("llm.api_key_file {}: {e}", path.display()))
            })?;
            let v = v.trim();
            if v.is_empty() {
                return Err(LlmError::Config(format!(
                    "llm.api_key_file {} is empty",
                    path.display()
                )));
            }
            Ok((
                Some(Secret::new(v)),
                Some(format!("file {}", path.display())),
            ))
        }
        (None, None) => Ok((None, None)),
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawLlm {
    provider: String,
    model: Option<String>,
    base_url: Option<String>,
    endpoint: Option<String>,
    deployment: Option<String>,
    api_version: Option<String>,
    api_key_env: Option<String>,
    api_key_file: Option<PathBuf>,
    temperature: Option<f32>,
    max_output_tokens: Option<u32>,
    request_timeout_ms: Option<u64>,
    turn_timeout_ms: Option<u64>,
    requests_per_minute: Option<u32>,
    max_tool_rounds: Option<u32>,
    max_tool_calls_per_round: Option<usize>,
    prompt_turns: Option<usize>,
    stream: Option<bool>,
    json_mode: Option<bool>,
    breaker_failures: Option<u32>,
    breaker_cooldown_s: Option<u64>,
    max_retry_wait_ms: Option<u64>,
    grounding: Option<String>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env(k: &str) -> Option<String> {
        (k == "LLM_KEY").then(|| "sk-test-0123456789abcdefghij".to_string())
    }

    fn parse(text: &str) -> Result<LlmConfig, LlmError> {
        let v: toml::Value = toml::from_str(text).expect("toml");
        LlmConfig::from_section(&v, &env)
    }

    #[test]
    fn three_provider_shapes() {
        let c = parse("provider = \"openai\"\nmodel = \"gpt-4o-mini\"\napi_key_env = \"LLM_KEY\"")
            .expect("openai");
        assert_eq!(c.provider.kind(), "openai");
        assert_eq!(c.max_tool_rounds, 3);
        assert_eq!(c.key_source.as_deref(), Some("env LLM_KEY"));
        let c = parse("provider = \"azure\"\nendpoint = \"https://r.openai.azure.com/\"\ndeployment = \"gpt4o\"\napi_version = \"2024-10-21\"\napi_key_env = \"LLM_KEY\"").expect("azure");
        assert_eq!(c.model, "gpt4o");
        assert!(c.provider.endpoint().contains("/openai/deployments/gpt4o"));
        let c = parse("provider = \"openai-compatible\"\nbase_url = \"http://127.0.0.1:11434/v1\"\nmodel = \"llama3.1\"\nmax_tool_rounds = 1\nstream = true").expect("compat");
        assert!(c.provider.key().is_none());
        assert_eq!(c.max_tool_rounds, 1);
        assert!(c.stream);
    }

    #[test]
    fn rejects_inline_keys_and_missing_parts() {
        let e =
            parse("provider = \"openai\"\nmodel = \"m\"\napi_key = \"sk-x\"").expect_err("inline");
        assert!(e.to_string().contains("api_key_env"), "{e}");
        assert!(!e.to_string().contains("sk-x"), "{e}");
        let e = parse("provider = \"openai\"\nmodel = \"m\"").expect_err("no key");
        assert!(e.to_string().contains("needs a key"), "{e}");
        let e = parse("provider = \"azure\"\napi_key_env = \"LLM_KEY\"\nendpoint = \"https://x\"")
            .expect_err("azure parts");
        assert!(e.to_string().contains("deployment"), "{e}");
        let e = parse("provider = \"openai\"\nmodel = \"m\"\napi_key_env = \"NOPE\"")
            .expect_err("unset env");
        assert!(e.to_string().contains("NOPE"), "{e}");
        let e = parse("provider = \"openai-compatible\"\nbase_url = \"http://x/v1\"\nmodel = \"m\"\ntemprature = 1").expect_err("typo");
        assert!(e.to_string().contains("temprature"), "{e}");
    }
}
