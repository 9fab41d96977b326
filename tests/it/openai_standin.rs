//! A local stand-in for the OpenAI Chat Completions API (and Azure OpenAI's URL/header shape) on
//! loopback, for the LLM recommender's tests.
//!
//! * Requests are validated like the real service does: the JSON body against
//!   `CreateChatCompletionRequest` from OpenAI's own OpenAPI description
//!   (`tests/fixtures/specs/openai.openapi.yaml`, copied from shared/), plus the rules the schema cannot express and
//!   the API enforces (unrecognized arguments, `tool_choice` without `tools` or naming a missing
//!   function, every `tool_calls` id answered by a `tool` message and every `tool` message
//!   answering one, `stream_options` only with `stream`, `json_object` needs the word "json" in
//!   the messages). Invalid requests get HTTP 400 with the documented error object, and are
//!   recorded as problems for the test to assert on.
//! * Authentication: `Authorization: Bearer <key>` (OpenAI, or none for a key-less compatible
//!   server), or Azure's `/openai/deployments/{deployment}/chat/completions?api-version=…` with an
//!   `api-key` header.
//! * Answers come from a script: plain content, `tool_calls`, refusals, `finish_reason:
//!   content_filter`, documented error bodies and status codes (429 with `Retry-After`, 500,
//!   400 `content_filter`, 400 tools not supported), delays for timeouts, or a function of the
//!   request. With `"stream": true` the same answers go out as SSE `chat.completion.chunk`s
//!   ending in `data: [DONE]`. The stand-in validates its own answers against
//!   `CreateChatCompletionResponse` / `CreateChatCompletionStreamResponse` too.
//! * Every request body is recorded verbatim, so tests can assert on what left the bot.

use axum::body::{Body, Bytes};
use axum::extract::{Path, RawQuery, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde_json::{json, Value};
use std::collections::{BTreeSet, HashMap, VecDeque};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::Duration;

// ------------------------------------------------------------------------------------------------
// OpenAI's OpenAPI description

fn spec() -> &'static Value {
    static DOC: OnceLock<Value> = OnceLock::new();
    DOC.get_or_init(|| {
        let path = concat!(
            env!("CARGO_MANIFEST_DIR"),
            "/tests/fixtures/specs/openai.openapi.yaml"
        );
        let text = std::fs::read_to_string(path).expect("OpenAI OpenAPI spec in tests/fixtures");
        // Integer bounds beyond 64 bits (`seed`) do not fit a YAML integer: read them as floats.
        let text = regex::Regex::new(r"(?m)(:\s*-?\d{19,})\s*$")
            .expect("regex")
            .replace_all(&text, "${1}.0");
        let y: serde_norway::Value = serde_norway::from_str(&text).expect("spec is YAML");
        yaml_to_json(y)
    })
}

/// YAML → JSON; integers beyond 64 bits (the spec's `seed` bounds) become floats.
fn yaml_to_json(y: serde_norway::Value) -> Value {
    use serde_norway::Value as Y;
    match y {
        Y::Null => Value::Null,
        Y::Bool(b) => Value::Bool(b),
        Y::Number(n) => n
            .as_i64()
            .map(Value::from)
            .or_else(|| n.as_u64().map(Value::from))
            .or_else(|| {
                n.as_f64()
                    .and_then(serde_json::Number::from_f64)
                    .map(Value::Number)
            })
            .unwrap_or(Value::Null),
        Y::String(s) => Value::String(s),
        Y::Sequence(v) => Value::Array(v.into_iter().map(yaml_to_json).collect()),
        Y::Mapping(m) => {
            let mut o: serde_json::Map<String, Value> = m
                .into_iter()
                .map(|(k, v)| {
                    let k = match k {
                        Y::String(s) => s,
                        other => serde_norway::to_string(&other)
                            .unwrap_or_default()
                            .trim()
                            .to_string(),
                    };
                    (k, yaml_to_json(v))
                })
                .collect();
            // OpenAPI 3.0's `nullable: true` (still used in parts of this 3.1 document) as JSON
            // Schema: null is allowed too.
            if o.get("nullable") == Some(&Value::Bool(true)) {
                o.remove("nullable");
                if let Some(Value::Array(e)) = o.get_mut("enum") {
                    e.push(Value::Null);
                }
                match o.get("type").cloned() {
                    Some(Value::String(t)) => {
                        o.insert("type".into(), json!([t, "null"]));
                    }
                    Some(_) => {}
                    None => return json!({"anyOf": [Value::Object(o), {"type": "null"}]}),
                }
            }
            Value::Object(o)
        }
        Y::Tagged(t) => yaml_to_json(t.value),
    }
}

fn validator(component: &str) -> Arc<jsonschema::Validator> {
    type Cache = Mutex<HashMap<String, Arc<jsonschema::Validator>>>;
    static CACHE: OnceLock<Cache> = OnceLock::new();
    let cache = CACHE.get_or_init(Default::default);
    if let Some(v) = cache.lock().expect("cache").get(component) {
        return v.clone();
    }
    let root = json!({
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$ref": format!("#/components/schemas/{component}"),
        "components": { "schemas": spec()["components"]["schemas"].clone() },
    });
    let v = Arc::new(jsonschema::draft202012::new(&root).expect("spec schema compiles"));
    cache
        .lock()
        .expect("cache")
        .insert(component.to_string(), v.clone());
    v
}

/// Errors of `instance` against the spec's `component` schema.
pub fn spec_errors(component: &str, instance: &Value) -> Vec<String> {
    validator(component)
        .iter_errors(instance)
        .map(|e| format!("{e} at {}", e.instance_path()))
        .take(5)
        .collect()
}

/// Every property name `CreateChatCompletionRequest` declares (through `allOf` and `$ref`).
fn known_request_fields() -> &'static BTreeSet<String> {
    static FIELDS: OnceLock<BTreeSet<String>> = OnceLock::new();
    FIELDS.get_or_init(|| {
        fn walk(v: &Value, out: &mut BTreeSet<String>, depth: usize) {
            if depth > 6 {
                return;
            }
            if let Some(r) = v.get("$ref").and_then(Value::as_str) {
                let name = r.rsplit('/').next().unwrap_or("");
                walk(&spec()["components"]["schemas"][name], out, depth + 1);
            }
            if let Some(p) = v.get("properties").and_then(Value::as_object) {
                out.extend(p.keys().cloned());
            }
            for k in ["allOf", "anyOf", "oneOf"] {
                for s in v.get(k).and_then(Value::as_array).into_iter().flatten() {
                    walk(s, out, depth + 1);
                }
            }
        }
        let mut out = BTreeSet::new();
        walk(
            &spec()["components"]["schemas"]["CreateChatCompletionRequest"],
            &mut out,
            0,
        );
        out
    })
}

// ------------------------------------------------------------------------------------------------
// Scripted answers

/// What the stand-in answers to one request.
#[derive(Clone)]
pub enum Answer {
    /// An assistant message with this content, `finish_reason: stop`.
    Content(String),
    /// Tool calls: (function name, arguments as JSON), `finish_reason: tool_calls`.
    ToolCalls(Vec<(String, Value)>),
    /// Tool calls whose arguments string is sent verbatim (may be invalid JSON).
    RawToolCalls(Vec<(String, String)>),
    /// An assistant refusal (`message.refusal`).
    Refusal(String),
    /// Empty content with `finish_reason: content_filter` (output filtered).
    ContentFiltered,
    /// An HTTP error with the documented error object.
    Error {
        status: u16,
        body: Value,
        retry_after_s: Option<u64>,
    },
    /// Waits, then answers (timeouts).
    Delay(Duration, Box<Answer>),
    /// Decides from the request body.
    Dynamic(Arc<dyn Fn(&Value) -> Answer + Send + Sync>),
}

impl Answer {
    /// The JSON answer shape the bot asks for, as content.
    pub fn json(v: Value) -> Answer {
        Answer::Content(v.to_string())
    }

    pub fn tool(name: &str, args: Value) -> Answer {
        Answer::ToolCalls(vec![(name.to_string(), args)])
    }

    /// 429 as OpenAI documents it, with `Retry-After` in seconds.
    pub fn rate_limited(retry_after_s: u64) -> Answer {
        Answer::Error {
            status: 429,
            body: json!({"error": {
                "message": "Rate limit reached for requests. Please try again later.",
                "type": "requests", "param": null, "code": "rate_limit_exceeded"}}),
            retry_after_s: Some(retry_after_s),
        }
    }

    /// 500 as OpenAI documents it.
    pub fn server_error() -> Answer {
        Answer::Error {
            status: 500,
            body: json!({"error": {
                "message": "The server had an error while processing your request. Sorry about that!",
                "type": "server_error", "param": null, "code": null}}),
            retry_after_s: None,
        }
    }

    /// 503 (overloaded).
    pub fn overloaded() -> Answer {
        Answer::Error {
            status: 503,
            body: json!({"error": {
                "message": "The engine is currently overloaded, please try again later",
                "type": "server_error", "param": null, "code": null}}),
            retry_after_s: None,
        }
    }

    /// Azure OpenAI's prompt filter: 400 with `code: content_filter`.
    pub fn prompt_filtered() -> Answer {
        Answer::Error {
            status: 400,
            body: json!({"error": {
                "message": "The response was filtered due to the prompt triggering Azure OpenAI's content management policy. Please modify your prompt and retry.",
                "type": null, "param": "prompt", "code": "content_filter", "status": 400,
                "innererror": {"code": "ResponsibleAIPolicyViolation",
                    "content_filter_result": {"hate": {"filtered": true, "severity": "high"}}}}}),
            retry_after_s: None,
        }
    }

    /// A server whose model has no tool support (as Ollama and vLLM report it).
    pub fn tools_unsupported() -> Answer {
        Answer::Error {
            status: 400,
            body: json!({"error": {
                "message": "registry.local/tiny-model does not support tools",
                "type": "invalid_request_error", "param": "tools", "code": null}}),
            retry_after_s: None,
        }
    }
}

/// Who may call, and where.
#[derive(Clone, Debug)]
pub enum Auth {
    /// `/v1/chat/completions`; `Some(key)` requires `Authorization: Bearer key`, `None` accepts
    /// requests without a key (and rejects requests that send an empty bearer).
    Bearer(Option<String>),
    /// `/openai/deployments/{deployment}/chat/completions?api-version={api_version}` with an
    /// `api-key` header; no `Authorization` header.
    Azure {
        deployment: String,
        api_version: String,
        key: String,
    },
}

/// One request as received.
#[derive(Clone, Debug)]
pub struct Received {
    pub path: String,
    pub query: Option<String>,
    pub headers: HashMap<String, String>,
    pub raw: String,
    pub body: Value,
}

impl Received {
    pub fn messages(&self) -> Vec<Value> {
        self.body["messages"]
            .as_array()
            .cloned()
            .unwrap_or_default()
    }

    pub fn tool_names(&self) -> Vec<String> {
        self.body["tools"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|t| t["function"]["name"].as_str().map(str::to_string))
            .collect()
    }
}

struct Inner {
    auth: Auth,
    script: VecDeque<Answer>,
    /// Answer when the script is empty.
    fallback: Answer,
    received: Vec<Received>,
    problems: Vec<String>,
    seq: u64,
}

/// The running stand-in. Cheap to clone.
#[derive(Clone)]
pub struct OpenAiStandIn {
    inner: Arc<Mutex<Inner>>,
    /// `http://127.0.0.1:PORT` (no path).
    pub origin: String,
}

impl OpenAiStandIn {
    /// Starts on 127.0.0.1:<random>.
    pub async fn start(auth: Auth) -> OpenAiStandIn {
        // Load and compile the spec before serving, outside the request path.
        tokio::task::spawn_blocking(|| {
            let _ = validator("CreateChatCompletionRequest");
            let _ = validator("CreateChatCompletionResponse");
            let _ = validator("CreateChatCompletionStreamResponse");
            let _ = validator("ErrorResponse");
            let _ = known_request_fields();
        })
        .await
        .expect("spec loads");
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("addr");
        let s = OpenAiStandIn {
            inner: Arc::new(Mutex::new(Inner {
                auth,
                script: VecDeque::new(),
                fallback: Answer::Content("I have no scripted answer for this.".into()),
                received: Vec::new(),
                problems: Vec::new(),
                seq: 0,
            })),
            origin: format!("http://{addr}"),
        };
        let app = Router::new()
            .route("/v1/chat/completions", post(openai))
            .route(
                "/openai/deployments/{deployment}/chat/completions",
                post(azure),
            )
            .route("/v1/models", get(models))
            .with_state(s.clone());
        tokio::spawn(async move {
            let _ = axum::serve(listener, app).await;
        });
        s
    }

    /// `http://127.0.0.1:PORT/v1`, the OpenAI-style base URL.
    pub fn base_url(&self) -> String {
        format!("{}/v1", self.origin)
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Queues answers, in order.
    pub fn script(&self, answers: impl IntoIterator<Item = Answer>) {
        self.lock().script.extend(answers);
    }

    /// The answer once the script is used up.
    pub fn otherwise(&self, a: Answer) {
        self.lock().fallback = a;
    }

    pub fn received(&self) -> Vec<Received> {
        self.lock().received.clone()
    }

    /// Requests that failed validation (and the stand-in's own invalid answers, if any).
    pub fn problems(&self) -> Vec<String> {
        self.lock().problems.clone()
    }
}

fn error(status: u16, message: &str, param: Option<&str>, code: Option<&str>) -> Response {
    let body = json!({"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}});
    (
        StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST),
        Json(body),
    )
        .into_response()
}

async fn models() -> Response {
    Json(json!({"object": "list", "data": [{"id": "stand-in", "object": "model", "created": 0, "owned_by": "dbabot-tests"}]})).into_response()
}

async fn openai(
    State(s): State<OpenAiStandIn>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = s.lock().auth.clone();
    let Auth::Bearer(key) = auth else {
        return error(404, "Resource not found", None, Some("404"));
    };
    let bearer = headers
        .get("authorization")
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    match (&key, &bearer) {
        (Some(k), Some(b)) if *b == format!("Bearer {k}") => {}
        (None, None) => {}
        _ => {
            s.lock()
                .problems
                .push(format!("authentication: got {bearer:?}"));
            return error(
                401,
                "Incorrect API key provided. You can find your API key at https://platform.openai.com/account/api-keys.",
                None,
                Some("invalid_api_key"),
            );
        }
    }
    handle(
        s,
        "/v1/chat/completions".into(),
        query,
        headers,
        body,
        false,
    )
    .await
}

async fn azure(
    State(s): State<OpenAiStandIn>,
    Path(deployment): Path<String>,
    RawQuery(query): RawQuery,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let auth = s.lock().auth.clone();
    let Auth::Azure {
        deployment: want,
        api_version,
        key,
    } = auth
    else {
        return error(404, "Resource not found", None, Some("404"));
    };
    let version = query.as_deref().and_then(|q| {
        serde_urlencoded::from_str::<Vec<(String, String)>>(q)
            .ok()?
            .into_iter()
            .find(|(k, _)| k == "api-version")
            .map(|(_, v)| v)
    });
    let problem = if headers.get("authorization").is_some() {
        Some((401, "Azure takes the key in `api-key`, not Authorization"))
    } else if headers.get("api-key").and_then(|v| v.to_str().ok()) != Some(key.as_str()) {
        Some((401, "Access denied due to invalid subscription key or wrong API endpoint. Make sure to provide a valid key for an active subscription and use a correct regional API endpoint for your resource."))
    } else if version.as_deref() != Some(api_version.as_str()) {
        Some((
            404,
            "Resource not found (api-version missing or unsupported)",
        ))
    } else if deployment != want {
        Some((404, "The API deployment for this resource does not exist. If you created the deployment within the last 5 minutes, please wait a moment and try again."))
    } else {
        None
    };
    if let Some((status, message)) = problem {
        s.lock().problems.push(format!("azure: {message}"));
        let code = if status == 401 {
            "401"
        } else {
            "DeploymentNotFound"
        };
        return (
            StatusCode::from_u16(status).unwrap_or(StatusCode::NOT_FOUND),
            Json(json!({"error": {"code": code, "message": message}})),
        )
            .into_response();
    }
    handle(
        s,
        format!("/openai/deployments/{deployment}/chat/completions"),
        query,
        headers,
        body,
        true,
    )
    .await
}

/// What the API enforces beyond the schema.
fn semantic_problems(body: &Value, azure: bool) -> Vec<String> {
    let mut p = Vec::new();
    let Some(obj) = body.as_object() else {
        return vec!["the body is not a JSON object".into()];
    };
    for k in obj.keys() {
        if !known_request_fields().contains(k) {
            p.push(format!("Unrecognized request argument supplied: {k}"));
        }
    }
    if !azure && !obj.get("model").is_some_and(Value::is_string) {
        p.push("you must provide a model parameter".into());
    }
    let tools: Vec<&str> = obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .filter_map(|t| t["function"]["name"].as_str())
        .collect();
    let mut seen = BTreeSet::new();
    for (i, t) in obj
        .get("tools")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        .enumerate()
    {
        let name = t["function"]["name"].as_str().unwrap_or("");
        let ok_name = !name.is_empty()
            && name.len() <= 64
            && name
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-');
        if !ok_name {
            p.push(format!("Invalid 'tools[{i}].function.name': '{name}'"));
        }
        if !seen.insert(name) {
            p.push(format!("Duplicate tool name '{name}'"));
        }
        let params = &t["function"]["parameters"];
        if !params.is_null() && params["type"] != "object" {
            p.push(format!(
                "Invalid schema for function '{name}': schema must be a JSON Schema of 'type: \"object\"'"
            ));
        }
    }
    match obj.get("tool_choice") {
        None => {}
        Some(_) if tools.is_empty() => {
            p.push("'tool_choice' is only allowed when 'tools' are specified".into())
        }
        Some(Value::Object(o)) => {
            let name = o
                .get("function")
                .and_then(|f| f.get("name"))
                .and_then(Value::as_str)
                .unwrap_or("");
            if !tools.contains(&name) {
                p.push(format!(
                    "tool_choice names a function that is not in tools: '{name}'"
                ));
            }
        }
        Some(_) => {}
    }
    if obj.contains_key("stream_options") && obj.get("stream") != Some(&Value::Bool(true)) {
        p.push("The 'stream_options' parameter is only allowed when 'stream' is enabled.".into());
    }
    let messages = obj
        .get("messages")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default();
    if obj.get("response_format").and_then(|r| r.get("type")) == Some(&json!("json_object"))
        && !messages
            .iter()
            .any(|m| m.to_string().to_lowercase().contains("json"))
    {
        p.push("'messages' must contain the word 'json' in some form, to use 'response_format' of type 'json_object'.".into());
    }
    // Tool-call bookkeeping.
    let mut open: Vec<String> = Vec::new();
    for (i, m) in messages.iter().enumerate() {
        let role = m["role"].as_str().unwrap_or("");
        if role == "tool" {
            let id = m["tool_call_id"].as_str().unwrap_or("");
            match open.iter().position(|o| o == id) {
                Some(pos) => {
                    open.remove(pos);
                }
                None => p.push(format!(
                    "Invalid parameter: messages[{i}] with role 'tool' must be a response to a preceeding message with 'tool_calls' (id '{id}')."
                )),
            }
            continue;
        }
        if !open.is_empty() {
            p.push(format!(
                "An assistant message with 'tool_calls' must be followed by tool messages responding to each 'tool_call_id'. The following tool_call_ids did not have response messages: {}",
                open.join(", ")
            ));
            open.clear();
        }
        if role == "assistant" {
            for c in m["tool_calls"].as_array().into_iter().flatten() {
                if let Some(id) = c["id"].as_str() {
                    open.push(id.to_string());
                }
                let args = c["function"]["arguments"].as_str().unwrap_or("");
                if c["type"] != "function" || c["function"]["name"].as_str().is_none() {
                    p.push(format!(
                        "messages[{i}].tool_calls: each needs type function and a name"
                    ));
                }
                let _ = args;
            }
        }
    }
    if !open.is_empty() {
        p.push(format!(
            "tool_call_ids without responses at the end of messages: {}",
            open.join(", ")
        ));
    }
    p
}

async fn handle(
    s: OpenAiStandIn,
    path: String,
    query: Option<String>,
    headers: HeaderMap,
    body: Bytes,
    azure: bool,
) -> Response {
    let raw = String::from_utf8_lossy(&body).into_owned();
    let json_ct = headers
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    let parsed: Option<Value> = serde_json::from_slice(&body).ok();
    let mut received = Received {
        path,
        query,
        headers: headers
            .iter()
            .filter_map(|(k, v)| Some((k.as_str().to_string(), v.to_str().ok()?.to_string())))
            .collect(),
        raw,
        body: parsed.clone().unwrap_or(Value::Null),
    };
    let Some(body) = parsed.filter(|_| json_ct) else {
        received.body = Value::Null;
        let mut g = s.lock();
        g.received.push(received);
        g.problems
            .push("body is not JSON or Content-Type is not application/json".into());
        return error(400, "We could not parse the JSON body of your request. (HINT: This likely means you aren't using your HTTP library correctly. The OpenAI API expects a JSON payload, but what was sent was not valid JSON.)", None, None);
    };
    let mut problems = spec_errors("CreateChatCompletionRequest", &body);
    problems.extend(semantic_problems(&body, azure));
    let answer = {
        let mut g = s.lock();
        g.received.push(received);
        if !problems.is_empty() {
            g.problems.extend(problems.iter().cloned());
            None
        } else {
            g.seq += 1;
            Some(g.script.pop_front().unwrap_or_else(|| g.fallback.clone()))
        }
    };
    let Some(mut answer) = answer else {
        return error(400, &problems.join("; "), None, None);
    };
    loop {
        match answer {
            Answer::Delay(d, next) => {
                tokio::time::sleep(d).await;
                answer = *next;
            }
            Answer::Dynamic(f) => answer = f(&body),
            _ => break,
        }
    }
    let seq = s.lock().seq;
    let model = body["model"]
        .as_str()
        .unwrap_or("azure-deployment")
        .to_string();
    let stream = body["stream"] == json!(true);
    let usage_in_stream = body["stream_options"]["include_usage"] == json!(true);
    let prompt_tokens = (body.to_string().len() / 4) as u64;
    let (message, finish) = match answer {
        Answer::Error {
            status,
            body,
            retry_after_s,
        } => {
            let errs = spec_errors("ErrorResponse", &body);
            if !errs.is_empty() && status != 400 {
                s.lock()
                    .problems
                    .push(format!("stand-in: invalid error body: {errs:?}"));
            }
            let mut r = (
                StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR),
                Json(body),
            )
                .into_response();
            if let Some(secs) = retry_after_s {
                r.headers_mut()
                    .insert("retry-after", secs.to_string().parse().expect("header"));
                r.headers_mut().insert(
                    "x-ratelimit-remaining-requests",
                    "0".parse().expect("header"),
                );
            }
            return r;
        }
        Answer::Content(c) => (
            json!({"role": "assistant", "content": c, "refusal": null, "annotations": []}),
            "stop",
        ),
        Answer::Refusal(r) => (
            json!({"role": "assistant", "content": null, "refusal": r, "annotations": []}),
            "stop",
        ),
        Answer::ContentFiltered => (
            json!({"role": "assistant", "content": null, "refusal": null, "annotations": []}),
            "content_filter",
        ),
        Answer::ToolCalls(calls) => tool_message(
            seq,
            calls.into_iter().map(|(n, a)| (n, a.to_string())).collect(),
        ),
        Answer::RawToolCalls(calls) => tool_message(seq, calls),
        Answer::Delay(..) | Answer::Dynamic(_) => unreachable!("resolved above"),
    };
    let completion_tokens = (message.to_string().len() / 4) as u64;
    let usage = json!({"prompt_tokens": prompt_tokens, "completion_tokens": completion_tokens,
        "total_tokens": prompt_tokens + completion_tokens});
    let id = format!("chatcmpl-standin{seq}");
    let created = 1_760_000_000 + seq;
    if !stream {
        let r = json!({
            "id": id, "object": "chat.completion", "created": created, "model": model,
            "choices": [{"index": 0, "message": message, "logprobs": null, "finish_reason": finish}],
            "usage": usage, "service_tier": "default", "system_fingerprint": "fp_standin",
        });
        let errs = spec_errors("CreateChatCompletionResponse", &r);
        if !errs.is_empty() {
            s.lock()
                .problems
                .push(format!("stand-in: invalid response: {errs:?}"));
        }
        return Json(r).into_response();
    }
    // SSE: role first, then content in pieces / tool calls in pieces, then finish, then usage.
    let chunk = |delta: Value, finish: Value, usage: Option<&Value>| {
        let mut c = json!({
            "id": id, "object": "chat.completion.chunk", "created": created, "model": model,
            "system_fingerprint": "fp_standin",
            "choices": [{"index": 0, "delta": delta, "logprobs": null, "finish_reason": finish}],
        });
        if let Some(u) = usage {
            c["choices"] = json!([]);
            c["usage"] = u.clone();
        }
        c
    };
    let mut chunks = vec![chunk(
        json!({"role": "assistant", "content": ""}),
        Value::Null,
        None,
    )];
    if let Some(text) = message["content"].as_str() {
        let chars: Vec<char> = text.chars().collect();
        for piece in chars.chunks(40) {
            chunks.push(chunk(
                json!({"content": piece.iter().collect::<String>()}),
                Value::Null,
                None,
            ));
        }
    }
    if let Some(r) = message["refusal"].as_str() {
        chunks.push(chunk(json!({"refusal": r}), Value::Null, None));
    }
    for (i, call) in message["tool_calls"]
        .as_array()
        .into_iter()
        .flatten()
        .enumerate()
    {
        chunks.push(chunk(
            json!({"tool_calls": [{"index": i, "id": call["id"], "type": "function",
                "function": {"name": call["function"]["name"], "arguments": ""}}]}),
            Value::Null,
            None,
        ));
        let args: Vec<char> = call["function"]["arguments"]
            .as_str()
            .unwrap_or("")
            .chars()
            .collect();
        for piece in args.chunks(16) {
            chunks.push(chunk(
                json!({"tool_calls": [{"index": i, "function": {"arguments": piece.iter().collect::<String>()}}]}),
                Value::Null,
                None,
            ));
        }
    }
    chunks.push(chunk(json!({}), json!(finish), None));
    if usage_in_stream {
        chunks.push(chunk(json!({}), Value::Null, Some(&usage)));
    }
    let mut sse = String::new();
    for c in &chunks {
        let errs = spec_errors("CreateChatCompletionStreamResponse", c);
        if !errs.is_empty() {
            s.lock()
                .problems
                .push(format!("stand-in: invalid chunk: {errs:?}"));
        }
        sse.push_str(&format!("data: {c}\n\n"));
    }
    sse.push_str("data: [DONE]\n\n");
    Response::builder()
        .status(200)
        .header("content-type", "text/event-stream")
        .header("cache-control", "no-cache")
        .body(Body::from(sse))
        .unwrap_or_else(|_| StatusCode::INTERNAL_SERVER_ERROR.into_response())
}

fn tool_message(seq: u64, calls: Vec<(String, String)>) -> (Value, &'static str) {
    let calls: Vec<Value> = calls
        .into_iter()
        .enumerate()
        .map(|(i, (name, args))| {
            json!({"id": format!("call_{seq}_{i}"), "type": "function",
                "function": {"name": name, "arguments": args}})
        })
        .collect();
    (
        json!({"role": "assistant", "content": null, "refusal": null, "tool_calls": calls, "annotations": []}),
        "tool_calls",
    )
}
