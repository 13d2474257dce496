//! A tiny Confluent-style schema registry over real HTTP/1.1 sockets, for
//! tests: register, look up, fetch by id, latest; optional Basic auth.

use std::collections::HashMap;
use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use serde_json::{json, Value as JsonValue};

#[derive(Default)]
struct Store {
    /// Schema texts; id = index + 1, as a fresh Confluent registry counts.
    schemas: Vec<String>,
    subjects: HashMap<String, Vec<i32>>,
}

/// A running test registry; it serves until the test process ends.
pub(crate) struct TestRegistry {
    /// `http://127.0.0.1:<port>`.
    pub(crate) url: String,
    /// Requests answered so far.
    pub(crate) requests: Arc<AtomicUsize>,
    /// While set, every request gets a 500.
    pub(crate) failing: Arc<AtomicBool>,
}

impl TestRegistry {
    /// Starts a registry; with `auth`, requests need `Basic <auth>`.
    pub(crate) fn start(auth: Option<&str>) -> TestRegistry {
        let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
        let url = format!("http://{}", listener.local_addr().expect("addr"));
        let store = Arc::new(Mutex::new(Store::default()));
        let requests = Arc::new(AtomicUsize::new(0));
        let failing = Arc::new(AtomicBool::new(false));
        let expected_auth =
            auth.map(|a| format!("Basic {}", crate::data::json::base64(a.as_bytes())));
        let (r, f) = (requests.clone(), failing.clone());
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let (store, r, f, auth) =
                    (store.clone(), r.clone(), f.clone(), expected_auth.clone());
                std::thread::spawn(move || serve(stream, &store, &r, &f, auth.as_deref()));
            }
        });
        TestRegistry {
            url,
            requests,
            failing,
        }
    }
}

fn serve(
    stream: TcpStream,
    store: &Mutex<Store>,
    requests: &AtomicUsize,
    failing: &AtomicBool,
    auth: Option<&str>,
) {
    let Ok(write_half) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    let mut writer = write_half;
    loop {
        let mut request_line = String::new();
        if reader.read_line(&mut request_line).unwrap_or(0) == 0 {
            return;
        }
        let mut parts = request_line.split_whitespace();
        let method = parts.next().unwrap_or_default().to_owned();
        let path = parts.next().unwrap_or_default().to_owned();
        let mut content_length = 0;
        let mut authorization = None;
        loop {
            let mut line = String::new();
            if reader.read_line(&mut line).unwrap_or(0) == 0 {
                return;
            }
            let line = line.trim_end();
            if line.is_empty() {
                break;
            }
            if let Some((name, value)) = line.split_once(':') {
                let value = value.trim();
                match name.to_ascii_lowercase().as_str() {
                    "content-length" => content_length = value.parse().unwrap_or(0),
                    "authorization" => authorization = Some(value.to_owned()),
                    _ => {}
                }
            }
        }
        let mut body = vec![0; content_length];
        if reader.read_exact(&mut body).is_err() {
            return;
        }
        requests.fetch_add(1, Ordering::SeqCst);
        let (status, answer) = if failing.load(Ordering::SeqCst) {
            (
                500,
                json!({"error_code": 50001, "message": "Error in the backend data store"}),
            )
        } else if auth.is_some() && authorization.as_deref() != auth {
            (401, json!({"error_code": 401, "message": "Unauthorized"}))
        } else {
            let body: JsonValue = serde_json::from_slice(&body).unwrap_or(JsonValue::Null);
            route(&method, &path, &body, store)
        };
        let text = answer.to_string();
        let reason = match status {
            200 => "OK",
            401 => "Unauthorized",
            404 => "Not Found",
            _ => "Error",
        };
        let response = format!(
            "HTTP/1.1 {status} {reason}\r\nContent-Type: application/vnd.schemaregistry.v1+json\r\nContent-Length: {}\r\n\r\n{text}",
            text.len()
        );
        if writer.write_all(response.as_bytes()).is_err() {
            return;
        }
    }
}

fn decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::new();
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%' && i + 2 < bytes.len() {
            if let Ok(b) = u8::from_str_radix(&s[i + 1..i + 3], 16) {
                out.push(b);
                i += 3;
                continue;
            }
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8_lossy(&out).into_owned()
}

fn route(method: &str, path: &str, body: &JsonValue, store: &Mutex<Store>) -> (u16, JsonValue) {
    let mut store = store.lock().expect("store");
    let segments: Vec<String> = path
        .trim_start_matches('/')
        .split('/')
        .map(decode)
        .collect();
    let segments: Vec<&str> = segments.iter().map(String::as_str).collect();
    let schema = body
        .get("schema")
        .and_then(JsonValue::as_str)
        .map(str::to_owned);
    let not_found_subject = || {
        (
            404,
            json!({"error_code": 40401, "message": "Subject not found."}),
        )
    };
    match (method, segments.as_slice()) {
        ("POST", ["subjects", subject, "versions"]) => {
            let Some(schema) = schema else {
                return (
                    422,
                    json!({"error_code": 42201, "message": "Invalid schema"}),
                );
            };
            let id = match store.schemas.iter().position(|s| *s == schema) {
                Some(i) => i as i32 + 1,
                None => {
                    store.schemas.push(schema);
                    store.schemas.len() as i32
                }
            };
            let versions = store.subjects.entry((*subject).to_owned()).or_default();
            if !versions.contains(&id) {
                versions.push(id);
            }
            (200, json!({ "id": id }))
        }
        ("POST", ["subjects", subject]) => {
            let Some(versions) = store.subjects.get(*subject) else {
                return not_found_subject();
            };
            let found = versions.iter().enumerate().find(|(_, id)| {
                schema.as_deref() == store.schemas.get(**id as usize - 1).map(String::as_str)
            });
            match found {
                Some((v, id)) => (
                    200,
                    json!({"subject": subject, "version": v + 1, "id": id, "schema": schema}),
                ),
                None => (
                    404,
                    json!({"error_code": 40403, "message": "Schema not found"}),
                ),
            }
        }
        ("GET", ["schemas", "ids", id]) => {
            let schema = id
                .parse::<usize>()
                .ok()
                .and_then(|i| i.checked_sub(1))
                .and_then(|i| store.schemas.get(i));
            match schema {
                Some(s) => (200, json!({ "schema": s })),
                None => (
                    404,
                    json!({"error_code": 40403, "message": format!("Schema {id} not found")}),
                ),
            }
        }
        ("GET", ["subjects", subject, "versions", "latest"]) => {
            let Some(versions) = store.subjects.get(*subject) else {
                return not_found_subject();
            };
            let Some(id) = versions.last() else {
                return not_found_subject();
            };
            let schema = store.schemas.get(*id as usize - 1).cloned();
            (
                200,
                json!({"subject": subject, "version": versions.len(), "id": id, "schema": schema}),
            )
        }
        _ => (
            404,
            json!({"error_code": 404, "message": "HTTP 404 Not Found"}),
        ),
    }
}
