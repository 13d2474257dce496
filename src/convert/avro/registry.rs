//! Schema registries: the [`SchemaRegistry`] trait, an in-process
//! [`EmbeddedRegistry`] and an [`HttpRegistry`] speaking Confluent Schema
//! Registry's REST API.

use std::collections::HashMap;
use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
use std::time::Duration;

use serde_json::{json, Value as JsonValue};

use crate::convert::ConvertError;

/// A failed registry call.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{message}")]
pub struct RegistryError {
    /// What went wrong, naming the call, the registry and its answer.
    pub message: String,
    /// Whether trying again may succeed (connection problems, 5xx answers).
    pub retriable: bool,
    /// The HTTP status, if the registry answered.
    pub status: Option<u16>,
    /// The registry's `error_code` (e.g. 40403: schema not found), if any.
    pub error_code: Option<i64>,
}

impl RegistryError {
    fn new(message: impl Into<String>, retriable: bool) -> Self {
        RegistryError {
            message: message.into(),
            retriable,
            status: None,
            error_code: None,
        }
    }
}

impl From<RegistryError> for ConvertError {
    fn from(e: RegistryError) -> Self {
        ConvertError::Registry {
            message: e.message,
            retriable: e.retriable,
        }
    }
}

/// A schema registered under a subject.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RegisteredSchema {
    /// The schema's global id.
    pub id: i32,
    /// Its version under the subject (1, 2, …).
    pub version: i32,
    /// The Avro schema, as JSON text.
    pub schema: String,
}

/// A schema registry: schemas (Avro JSON text) under subjects, each with a
/// global id. Implementations are shared between threads; callers cache
/// their answers, so every method may be slow (a network call).
pub trait SchemaRegistry: Send + Sync + fmt::Debug {
    /// Registers `schema` under `subject` (a new version if it is new
    /// there) and returns its id. The same schema always gets the same id.
    fn register(&self, subject: &str, schema: &str) -> Result<i32, RegistryError>;

    /// The id of `schema` if it is registered under `subject`.
    fn lookup(&self, subject: &str, schema: &str) -> Result<Option<i32>, RegistryError>;

    /// The schema with id `id`; an unknown id is an error.
    fn schema_by_id(&self, id: i32) -> Result<Arc<str>, RegistryError>;

    /// The newest schema registered under `subject`, if any.
    fn latest(&self, subject: &str) -> Result<Option<RegisteredSchema>, RegistryError>;
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    // A panic while holding the lock cannot leave the maps half-updated
    // in a way that matters (each update is one insert), so go on.
    m.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Checks that `schema` is an Avro schema; returns a normalized text
/// (compact JSON, object keys sorted) used to compare schemas.
fn normalize(schema: &str) -> Result<String, RegistryError> {
    let json: JsonValue = serde_json::from_str(schema)
        .map_err(|e| RegistryError::new(format!("invalid schema: not JSON: {e}"), false))?;
    apache_avro::Schema::parse_str(schema)
        .map_err(|e| RegistryError::new(format!("invalid Avro schema: {e}"), false))?;
    Ok(json.to_string())
}

// ------------------------------------------------------------------ embedded

/// An in-process schema registry, the default when `schema.registry.url`
/// is unset or `mock://<scope>` (as Confluent's mock registry).
///
/// **Ids are deterministic**: a schema's id is derived from a 64-bit
/// FNV-1a hash of its normalized JSON, folded into `1..=i32::MAX`, so every
/// process of a multi-process job — each with its own embedded registry —
/// gives the same schema the same id, whatever order schemas are
/// registered in. Should two different schemas hash to the same id in one
/// registry, the later one takes the next free id (then ids depend on
/// registration order; with 31-bit ids this needs tens of thousands of
/// schemas to become likely).
///
/// ```
/// use timely_connect::convert::avro::{EmbeddedRegistry, SchemaRegistry};
///
/// let registry = EmbeddedRegistry::scoped("doc-example");
/// let id = registry.register("orders-value", r#""string""#)?;
/// assert_eq!(registry.register("orders-value", r#""string""#)?, id);
/// assert_eq!(&*registry.schema_by_id(id)?, r#""string""#);
/// // The same scope is the same registry, anywhere in the process.
/// assert_eq!(EmbeddedRegistry::scoped("doc-example").lookup("orders-value", r#""string""#)?, Some(id));
/// # Ok::<(), timely_connect::convert::avro::RegistryError>(())
/// ```
#[derive(Debug, Default)]
pub struct EmbeddedRegistry {
    state: Mutex<EmbeddedState>,
}

#[derive(Debug, Default)]
struct EmbeddedState {
    /// id → schema as registered.
    by_id: HashMap<i32, Arc<str>>,
    /// normalized schema → id.
    ids: HashMap<String, i32>,
    /// subject → ids in version order.
    subjects: HashMap<String, Vec<i32>>,
}

impl EmbeddedRegistry {
    /// A new registry of its own (not shared).
    pub fn new() -> Self {
        Self::default()
    }

    /// The process-wide registry of `scope`: every caller naming the same
    /// scope gets the same registry (key and value converters, all workers).
    pub fn scoped(scope: &str) -> Arc<EmbeddedRegistry> {
        static SCOPES: OnceLock<Mutex<HashMap<String, Arc<EmbeddedRegistry>>>> = OnceLock::new();
        let scopes = SCOPES.get_or_init(Default::default);
        lock(scopes)
            .entry(scope.to_owned())
            .or_insert_with(|| Arc::new(EmbeddedRegistry::new()))
            .clone()
    }

    /// The id a schema gets when no other schema holds it: FNV-1a (64 bit)
    /// of the normalized schema text, folded into `1..=i32::MAX`.
    pub fn deterministic_id(schema: &str) -> Result<i32, RegistryError> {
        Ok(hash_id(&normalize(schema)?))
    }
}

fn hash_id(normalized: &str) -> i32 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in normalized.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0000_0100_0000_01b3);
    }
    let folded = ((h >> 32) ^ h) & 0x7fff_ffff;
    // In 0..=i32::MAX by the mask; 0 is not a valid id.
    i32::try_from(folded).unwrap_or(1).max(1)
}

impl SchemaRegistry for EmbeddedRegistry {
    fn register(&self, subject: &str, schema: &str) -> Result<i32, RegistryError> {
        let normalized = normalize(schema)?;
        let mut state = lock(&self.state);
        let id = match state.ids.get(&normalized) {
            Some(id) => *id,
            None => {
                let mut id = hash_id(&normalized);
                while state.by_id.contains_key(&id) {
                    id = if id == i32::MAX { 1 } else { id + 1 };
                }
                state.ids.insert(normalized, id);
                state.by_id.insert(id, Arc::from(schema));
                id
            }
        };
        let versions = state.subjects.entry(subject.to_owned()).or_default();
        if !versions.contains(&id) {
            versions.push(id);
        }
        Ok(id)
    }

    fn lookup(&self, subject: &str, schema: &str) -> Result<Option<i32>, RegistryError> {
        let normalized = normalize(schema)?;
        let state = lock(&self.state);
        let Some(id) = state.ids.get(&normalized) else {
            return Ok(None);
        };
        let under_subject = state
            .subjects
            .get(subject)
            .is_some_and(|versions| versions.contains(id));
        Ok(under_subject.then_some(*id))
    }

    fn schema_by_id(&self, id: i32) -> Result<Arc<str>, RegistryError> {
        lock(&self.state)
            .by_id
            .get(&id)
            .cloned()
            .ok_or_else(|| RegistryError {
                message: format!("schema id {id} not found in the embedded registry"),
                retriable: false,
                status: Some(404),
                error_code: Some(40403),
            })
    }

    fn latest(&self, subject: &str) -> Result<Option<RegisteredSchema>, RegistryError> {
        let state = lock(&self.state);
        let Some(versions) = state.subjects.get(subject) else {
            return Ok(None);
        };
        let Some((index, id)) = versions.iter().enumerate().next_back() else {
            return Ok(None);
        };
        let schema = state
            .by_id
            .get(id)
            .map(|s| s.to_string())
            .unwrap_or_default();
        Ok(Some(RegisteredSchema {
            id: *id,
            version: i32::try_from(index + 1).unwrap_or(i32::MAX),
            schema,
        }))
    }
}

// ---------------------------------------------------------------------- HTTP

const CONTENT_TYPE: &str = "application/vnd.schemaregistry.v1+json";
const ACCEPT: &str =
    "application/vnd.schemaregistry.v1+json, application/vnd.schemaregistry+json; q=0.9, application/json; q=0.5";

/// How to reach a Confluent-compatible schema registry over HTTP.
#[derive(Clone, PartialEq, Eq)]
pub struct HttpRegistryConfig {
    /// Base URLs (`http://host:8081`); the first reachable one is used.
    pub urls: Vec<String>,
    /// `user:password` for HTTP Basic authentication.
    pub user_info: Option<String>,
    /// Time allowed to connect.
    pub connect_timeout: Duration,
    /// Time allowed for an answer.
    pub read_timeout: Duration,
}

impl fmt::Debug for HttpRegistryConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRegistryConfig")
            .field("urls", &self.urls)
            .field(
                "user_info",
                &self.user_info.as_ref().map(|_| crate::config::HIDDEN),
            )
            .field("connect_timeout", &self.connect_timeout)
            .field("read_timeout", &self.read_timeout)
            .finish()
    }
}

/// A client of Confluent Schema Registry's REST API: `POST
/// /subjects/{subject}/versions` to register, `POST /subjects/{subject}` to
/// look up, `GET /schemas/ids/{id}` and `GET
/// /subjects/{subject}/versions/latest` to read. Answers are cached, so a
/// converter's hot path makes no HTTP call. Errors name the call, the URL,
/// the HTTP status and the registry's `error_code` and message; connection
/// problems and 5xx answers are retriable, 4xx answers are not.
pub struct HttpRegistry {
    urls: Vec<String>,
    authorization: Option<String>,
    agent: ureq::Agent,
    /// Index of the URL that answered last.
    preferred: AtomicUsize,
    ids: Mutex<HashMap<(String, String), i32>>,
    schemas: Mutex<HashMap<i32, Arc<str>>>,
}

impl fmt::Debug for HttpRegistry {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("HttpRegistry")
            .field("urls", &self.urls)
            .field("authenticated", &self.authorization.is_some())
            .finish()
    }
}

impl HttpRegistry {
    /// A client for `config`. User info in a URL (`http://user:pw@host`)
    /// is used when `config.user_info` is `None`.
    pub fn new(config: &HttpRegistryConfig) -> Result<Self, RegistryError> {
        if config.urls.is_empty() {
            return Err(RegistryError::new("no schema registry URL given", false));
        }
        let mut urls = Vec::with_capacity(config.urls.len());
        let mut url_user_info = None;
        for url in &config.urls {
            let (clean, user_info) = split_user_info(url)?;
            url_user_info = url_user_info.or(user_info);
            urls.push(clean.trim_end_matches('/').to_owned());
        }
        let user_info = config.user_info.clone().or(url_user_info);
        let agent_config = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_connect(Some(config.connect_timeout))
            .timeout_recv_response(Some(config.read_timeout))
            .timeout_recv_body(Some(config.read_timeout))
            .build();
        Ok(HttpRegistry {
            urls,
            authorization: user_info
                .map(|u| format!("Basic {}", crate::data::json::base64(u.as_bytes()))),
            agent: agent_config.into(),
            preferred: AtomicUsize::new(0),
            ids: Mutex::default(),
            schemas: Mutex::default(),
        })
    }

    /// The process-wide client for `config` (one connection pool and one
    /// cache for all converters and workers that use the same registry).
    pub fn shared(config: &HttpRegistryConfig) -> Result<Arc<HttpRegistry>, RegistryError> {
        type Clients = Mutex<Vec<(HttpRegistryConfig, Arc<HttpRegistry>)>>;
        static CLIENTS: OnceLock<Clients> = OnceLock::new();
        let clients = CLIENTS.get_or_init(Default::default);
        let mut clients = lock(clients);
        if let Some((_, client)) = clients.iter().find(|(c, _)| c == config) {
            return Ok(client.clone());
        }
        let client = Arc::new(HttpRegistry::new(config)?);
        clients.push((config.clone(), client.clone()));
        Ok(client)
    }

    /// Sends one request, trying the URLs in turn (starting with the one
    /// that answered last) until one answers. `Ok((status, body))` for any
    /// answer; `Err` (retriable) when none could be reached.
    fn send(
        &self,
        what: &str,
        path: &str,
        body: Option<&JsonValue>,
    ) -> Result<(u16, String, String), RegistryError> {
        let start = self.preferred.load(Ordering::Relaxed);
        let mut failures = Vec::new();
        for i in 0..self.urls.len() {
            let index = (start + i) % self.urls.len();
            let url = format!("{}{path}", self.urls[index]);
            let result = match body {
                Some(body) => {
                    let mut request = self
                        .agent
                        .post(&url)
                        .header("Content-Type", CONTENT_TYPE)
                        .header("Accept", ACCEPT);
                    if let Some(auth) = &self.authorization {
                        request = request.header("Authorization", auth);
                    }
                    request.send(body.to_string())
                }
                None => {
                    let mut request = self.agent.get(&url).header("Accept", ACCEPT);
                    if let Some(auth) = &self.authorization {
                        request = request.header("Authorization", auth);
                    }
                    request.call()
                }
            };
            let answer = result.and_then(|mut response| {
                let status = response.status().as_u16();
                let text = response.body_mut().read_to_string()?;
                Ok((status, text))
            });
            match answer {
                Ok((status, text)) => {
                    self.preferred.store(index, Ordering::Relaxed);
                    return Ok((status, text, url));
                }
                Err(e) => failures.push(format!("{url}: {e}")),
            }
        }
        Err(RegistryError::new(
            format!(
                "{what}: cannot reach the schema registry ({})",
                failures.join("; ")
            ),
            true,
        ))
    }

    /// Sends a request and returns the JSON answer of a 2xx status; `Ok(None)`
    /// for a 404 when `missing_ok`.
    fn call(
        &self,
        what: &str,
        path: &str,
        body: Option<&JsonValue>,
        missing_ok: bool,
    ) -> Result<Option<JsonValue>, RegistryError> {
        let (status, text, url) = self.send(what, path, body)?;
        if (200..300).contains(&status) {
            return serde_json::from_str(&text).map(Some).map_err(|e| {
                RegistryError::new(
                    format!("{what}: unreadable answer from {url}: {e}: {text:.200}"),
                    false,
                )
            });
        }
        if status == 404 && missing_ok {
            return Ok(None);
        }
        let parsed: Option<JsonValue> = serde_json::from_str(&text).ok();
        let error_code = parsed
            .as_ref()
            .and_then(|j| j.get("error_code"))
            .and_then(JsonValue::as_i64);
        let message = parsed
            .as_ref()
            .and_then(|j| j.get("message"))
            .and_then(JsonValue::as_str)
            .map_or_else(|| format!("{text:.200}"), str::to_owned);
        let hint = match status {
            401 | 403 => {
                " (check basic.auth.credentials.source and basic.auth.user.info)".to_owned()
            }
            _ => String::new(),
        };
        let code = error_code.map_or_else(String::new, |c| format!(", error code {c}"));
        Err(RegistryError {
            message: format!("{what}: HTTP {status} from {url}{code}: {message}{hint}"),
            retriable: status >= 500 || status == 408 || status == 429,
            status: Some(status),
            error_code,
        })
    }

    fn id_of(what: &str, answer: &JsonValue) -> Result<i32, RegistryError> {
        answer
            .get("id")
            .and_then(JsonValue::as_i64)
            .and_then(|id| i32::try_from(id).ok())
            .ok_or_else(|| {
                RegistryError::new(format!("{what}: answer without an id: {answer}"), false)
            })
    }
}

impl SchemaRegistry for HttpRegistry {
    fn register(&self, subject: &str, schema: &str) -> Result<i32, RegistryError> {
        let key = (subject.to_owned(), schema.to_owned());
        if let Some(id) = lock(&self.ids).get(&key) {
            return Ok(*id);
        }
        let what = format!("registering a schema under subject `{subject}`");
        let path = format!("/subjects/{}/versions", percent_encode(subject));
        let answer = self
            .call(&what, &path, Some(&json!({ "schema": schema })), false)?
            .unwrap_or_default();
        let id = Self::id_of(&what, &answer)?;
        lock(&self.ids).insert(key, id);
        lock(&self.schemas)
            .entry(id)
            .or_insert_with(|| Arc::from(schema));
        Ok(id)
    }

    fn lookup(&self, subject: &str, schema: &str) -> Result<Option<i32>, RegistryError> {
        let key = (subject.to_owned(), schema.to_owned());
        if let Some(id) = lock(&self.ids).get(&key) {
            return Ok(Some(*id));
        }
        let what = format!("looking up a schema under subject `{subject}`");
        let path = format!("/subjects/{}", percent_encode(subject));
        let Some(answer) = self.call(&what, &path, Some(&json!({ "schema": schema })), true)?
        else {
            return Ok(None);
        };
        let id = Self::id_of(&what, &answer)?;
        lock(&self.ids).insert(key, id);
        Ok(Some(id))
    }

    fn schema_by_id(&self, id: i32) -> Result<Arc<str>, RegistryError> {
        if let Some(schema) = lock(&self.schemas).get(&id) {
            return Ok(schema.clone());
        }
        let what = format!("fetching schema id {id}");
        let answer = self
            .call(&what, &format!("/schemas/ids/{id}"), None, false)?
            .unwrap_or_default();
        if let Some(t) = answer.get("schemaType").and_then(JsonValue::as_str) {
            if t != "AVRO" {
                return Err(RegistryError::new(
                    format!("{what}: schema id {id} is a {t} schema, not Avro"),
                    false,
                ));
            }
        }
        let schema: Arc<str> = answer
            .get("schema")
            .and_then(JsonValue::as_str)
            .map(Arc::from)
            .ok_or_else(|| RegistryError::new(format!("{what}: answer without a schema"), false))?;
        lock(&self.schemas).insert(id, schema.clone());
        Ok(schema)
    }

    fn latest(&self, subject: &str) -> Result<Option<RegisteredSchema>, RegistryError> {
        let what = format!("fetching the latest schema of subject `{subject}`");
        let path = format!("/subjects/{}/versions/latest", percent_encode(subject));
        let Some(answer) = self.call(&what, &path, None, true)? else {
            return Ok(None);
        };
        let id = Self::id_of(&what, &answer)?;
        let version = answer
            .get("version")
            .and_then(JsonValue::as_i64)
            .and_then(|v| i32::try_from(v).ok())
            .unwrap_or(0);
        let schema = answer
            .get("schema")
            .and_then(JsonValue::as_str)
            .ok_or_else(|| RegistryError::new(format!("{what}: answer without a schema"), false))?
            .to_owned();
        lock(&self.schemas)
            .entry(id)
            .or_insert_with(|| Arc::from(schema.as_str()));
        Ok(Some(RegisteredSchema {
            id,
            version,
            schema,
        }))
    }
}

/// Splits `http://user:pw@host/…` into the URL without user info and the
/// user info.
fn split_user_info(url: &str) -> Result<(String, Option<String>), RegistryError> {
    let Some(scheme_end) = url.find("://") else {
        return Err(RegistryError::new(
            format!("schema registry URL `{url}` has no scheme (http:// or https://)"),
            false,
        ));
    };
    let rest = &url[scheme_end + 3..];
    let authority_end = rest.find('/').unwrap_or(rest.len());
    match rest[..authority_end].rfind('@') {
        Some(at) => {
            let user_info = &rest[..at];
            let clean = format!("{}{}", &url[..scheme_end + 3], &rest[at + 1..]);
            Ok((clean, Some(user_info.to_owned())))
        }
        None => Ok((url.to_owned(), None)),
    }
}

/// Percent-encodes everything but RFC 3986 unreserved characters.
fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.' | b'~') {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}

#[cfg(test)]
#[path = "registry_tests.rs"]
mod tests;
