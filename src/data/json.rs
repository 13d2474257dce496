//! Values rendered as JSON text: the output format of the CLI's file sink.
//!
//! The file sink writes one line per record: a STRING value as-is
//! ([`write_text`]), any other value as one line of JSON ([`write_json`]).
//! Rendering follows the value's schema where there is one and the value's
//! own shape where there is none (schemaless):
//!
//! | Value                               | JSON                                                         |
//! |-------------------------------------|--------------------------------------------------------------|
//! | `Null`                              | the schema's default if it has one, else `null`              |
//! | INT8 … INT64                        | number: `-42`                                                |
//! | FLOAT32, FLOAT64, finite            | shortest number that reads back to the same float: `1.5`, `1e-7` |
//! | FLOAT32, FLOAT64, not finite        | string: `"NaN"`, `"Infinity"`, `"-Infinity"`                 |
//! | BOOLEAN                             | `true` / `false`                                             |
//! | STRING                              | string, escaped per RFC 8259 (`"`, `\`, control characters)  |
//! | BYTES                               | string: standard base64 with padding: `"AQID"`               |
//! | ARRAY                               | array, elements rendered with the element schema             |
//! | MAP with STRING keys                | object, entries in map order                                 |
//! | MAP with other keys                 | array of `[key, value]` pairs: `[[1,"a"],[2,"b"]]`           |
//! | STRUCT                              | object, fields in schema order: `{"id":1,"name":"x"}`        |
//! | Decimal (`…connect.data.Decimal`)   | number with the exact digits of the scale: `12.30`           |
//! | Date (`…connect.data.Date`)         | string `"YYYY-MM-DD"`: `"2024-02-29"`                        |
//! | Time (`…connect.data.Time`)         | string `"HH:MM:SS.mmm"`: `"13:05:09.042"`                    |
//! | Timestamp (`…connect.data.Timestamp`) | string `"YYYY-MM-DDTHH:MM:SS.mmmZ"` (UTC)                  |
//!
//! A map is an object when its key schema is STRING (or it has none) and
//! every key is a string; otherwise it is a pair list. A Decimal renders in
//! plain form unless that would take more than 32 padding zeros, then as
//! `digitsE±n` (still an exact JSON number). A logical value that does not
//! fit its logical type (a Time outside the day, a Decimal with no bytes or
//! no `scale`) renders as its primitive encoding. Output never contains a
//! raw newline, so one value is one line.
//!
//! ```
//! use timely_connect::data::json::write_json;
//! use timely_connect::data::{logical, Schema, SchemaBuilder, Struct, Value};
//!
//! let schema = SchemaBuilder::struct_()
//!     .field("id", Schema::int64())
//!     .field("price", logical::decimal_schema(2))
//!     .field("day", logical::date_schema())
//!     .field("note", Schema::optional_string())
//!     .build();
//! let row = Struct::new(schema.clone())
//!     .with("id", 7i64)?
//!     .with("price", logical::Decimal::new(1230, 2).to_value())?
//!     .with("day", Value::Int32(19782))?
//!     .with("note", "tab\there")?;
//! let mut out = Vec::new();
//! write_json(&mut out, &Value::Struct(row), Some(&schema));
//! assert_eq!(
//!     String::from_utf8(out).unwrap(),
//!     r#"{"id":7,"price":12.30,"day":"2024-02-29","note":"tab\there"}"#
//! );
//! # Ok::<(), timely_connect::data::DataError>(())
//! ```

use std::fmt;
use std::sync::Arc;

use super::logical::{self, LogicalType};
use super::schema::{Schema, SchemaRef, SchemaType};
use super::value::{Struct, Value};

/// Appends `value` rendered as JSON (see the module doc) to `out`.
///
/// Writes straight into `out`, with no intermediate tree and no
/// allocation for values without wide (beyond 128-bit) decimals.
///
/// ```
/// use timely_connect::data::json::write_json;
/// use timely_connect::data::Value;
/// let mut out = b"x=".to_vec();
/// write_json(&mut out, &Value::Array(vec![Value::from(1i32), Value::from("a\"b")]), None);
/// assert_eq!(out, br#"x=[1,"a\"b"]"#);
/// ```
pub fn write_json(out: &mut Vec<u8>, value: &Value, schema: Option<&Schema>) {
    write_value(out, value, schema);
}

/// Appends the file sink's line body for `value`: a string as-is, any
/// other value as JSON (see [`write_json`]). The caller adds the newline.
///
/// ```
/// use timely_connect::data::json::write_text;
/// use timely_connect::data::Value;
/// let mut out = Vec::new();
/// write_text(&mut out, &Value::from("plain \"text\""), None);
/// out.push(b'\n');
/// write_text(&mut out, &Value::Boolean(true), None);
/// assert_eq!(out, b"plain \"text\"\ntrue");
/// ```
pub fn write_text(out: &mut Vec<u8>, value: &Value, schema: Option<&Schema>) {
    match resolve_default(value, schema) {
        Value::String(s) => out.extend_from_slice(s.as_bytes()),
        other => write_value(out, other, schema),
    }
}

/// `value` rendered as a JSON string (see [`write_json`]).
pub fn to_json_string(value: &Value, schema: Option<&Schema>) -> String {
    let mut out = Vec::new();
    write_value(&mut out, value, schema);
    // Every byte written is ASCII or copied from a `str`, so this is UTF-8.
    String::from_utf8(out).unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned())
}

/// `value` as a `serde_json::Value`, rendered as [`write_json`] does.
///
/// Two limits of `serde_json::Value` apply: a Decimal becomes the nearest
/// `f64` (or an integer), so `12.30` reads back as `12.3`; and object keys
/// are ordered as `serde_json::Map` orders them (sorted, unless serde_json's
/// `preserve_order` feature is on). Use [`write_json`] for exact output.
///
/// ```
/// use timely_connect::data::json::to_json_value;
/// use timely_connect::data::{logical, Value};
/// let v = to_json_value(&Value::Int32(19782), Some(&logical::date_schema()));
/// assert_eq!(v, serde_json::json!("2024-02-29"));
/// assert_eq!(to_json_value(&Value::Float64(f64::NAN), None), serde_json::json!("NaN"));
/// ```
pub fn to_json_value(value: &Value, schema: Option<&Schema>) -> serde_json::Value {
    use serde_json::Value as J;
    let value = resolve_default(value, schema);
    if let Some(j) = schema.and_then(|s| logical_json(value, s)) {
        return j;
    }
    match value {
        Value::Null => J::Null,
        Value::Int8(v) => J::from(*v),
        Value::Int16(v) => J::from(*v),
        Value::Int32(v) => J::from(*v),
        Value::Int64(v) => J::from(*v),
        Value::Float32(v) if v.is_finite() => {
            // Go through the shortest text so 0.1f32 stays 0.1, not 0.100000001…
            let wide = format!("{v:?}").parse::<f64>().unwrap_or(f64::from(*v));
            serde_json::Number::from_f64(wide).map_or(J::Null, J::Number)
        }
        Value::Float32(v) => J::from(non_finite(f64::from(*v))),
        Value::Float64(v) => match serde_json::Number::from_f64(*v) {
            Some(n) => J::Number(n),
            None => J::from(non_finite(*v)),
        },
        Value::Boolean(b) => J::Bool(*b),
        Value::String(s) => J::String(s.clone()),
        Value::Bytes(b) => {
            let mut out = Vec::with_capacity(b.len().div_ceil(3) * 4);
            write_base64(&mut out, b);
            J::String(String::from_utf8_lossy(&out).into_owned())
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.value_schema.as_deref());
            J::Array(
                items
                    .iter()
                    .map(|v| to_json_value(v, item_schema))
                    .collect(),
            )
        }
        Value::Map(entries) => {
            let ks = schema.and_then(|s| s.key_schema.as_deref());
            let vs = schema.and_then(|s| s.value_schema.as_deref());
            if map_as_object(entries, schema) {
                let mut obj = serde_json::Map::new();
                for (k, v) in entries {
                    if let Value::String(k) = k {
                        obj.insert(k.clone(), to_json_value(v, vs));
                    }
                }
                J::Object(obj)
            } else {
                J::Array(
                    entries
                        .iter()
                        .map(|(k, v)| J::Array(vec![to_json_value(k, ks), to_json_value(v, vs)]))
                        .collect(),
                )
            }
        }
        Value::Struct(s) => {
            let mut obj = serde_json::Map::new();
            for (field, v) in s.schema().fields.iter().zip(s.values()) {
                obj.insert(field.name.clone(), to_json_value(v, Some(&field.schema)));
            }
            J::Object(obj)
        }
    }
}

/// Appends standard base64 (RFC 4648, `+/`, `=` padding) of `bytes`.
///
/// ```
/// use timely_connect::data::json::write_base64;
/// let mut out = Vec::new();
/// write_base64(&mut out, b"hello");
/// assert_eq!(out, b"aGVsbG8=");
/// ```
pub fn write_base64(out: &mut Vec<u8>, bytes: &[u8]) {
    use base64::Engine;
    let start = out.len();
    out.resize(start + bytes.len().div_ceil(3) * 4, 0);
    let written = base64::engine::general_purpose::STANDARD
        .encode_slice(bytes, &mut out[start..])
        .unwrap_or(0);
    out.truncate(start + written);
}

/// `bytes` as standard, padded base64 text (Java's `Base64.getEncoder()`).
///
/// ```
/// assert_eq!(timely_connect::data::json::base64(b"hello"), "aGVsbG8=");
/// ```
pub fn base64(bytes: &[u8]) -> String {
    use base64::Engine;
    base64::engine::general_purpose::STANDARD.encode(bytes)
}

/// `fmt::Write` into a byte buffer, for the shared text formatters.
struct Bytes<'a>(&'a mut Vec<u8>);

impl fmt::Write for Bytes<'_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        self.0.extend_from_slice(s.as_bytes());
        Ok(())
    }
}

/// A `Null` with a (non-null) default reads as the default.
fn resolve_default<'a>(value: &'a Value, schema: Option<&'a Schema>) -> &'a Value {
    match (value, schema.and_then(|s| s.default.as_ref())) {
        (Value::Null, Some(default)) => default,
        _ => value,
    }
}

fn non_finite(v: f64) -> &'static str {
    if v.is_nan() {
        "NaN"
    } else if v > 0.0 {
        "Infinity"
    } else {
        "-Infinity"
    }
}

fn map_as_object(entries: &[(Value, Value)], schema: Option<&Schema>) -> bool {
    let string_keys = schema
        .and_then(|s| s.key_schema.as_deref())
        .is_none_or(|ks| ks.schema_type == SchemaType::String && ks.name.is_none());
    string_keys && entries.iter().all(|(k, _)| matches!(k, Value::String(_)))
}

/// The decimal scale of a schema named Decimal, if it is well-formed.
fn decimal_scale(schema: &Schema) -> Option<i32> {
    logical::decimal_scale(schema).ok()
}

/// Renders a logical value readably; `false` if `value` does not fit the
/// logical type (then the caller renders the primitive).
fn write_logical(out: &mut Vec<u8>, value: &Value, schema: &Schema) -> bool {
    match LogicalType::of(schema) {
        Some(lt) => write_logical_as(out, value, lt, || decimal_scale(schema)),
        None => false,
    }
}

/// [`write_logical`] for a logical type already known; `scale` gives a
/// Decimal's scale (`None` if the schema has no valid one).
fn write_logical_as(
    out: &mut Vec<u8>,
    value: &Value,
    lt: LogicalType,
    scale: impl FnOnce() -> Option<i32>,
) -> bool {
    let mut w = Bytes(out);
    let res = match (lt, value) {
        (LogicalType::Decimal, Value::Bytes(b)) if !b.is_empty() => match scale() {
            Some(scale) => logical::write_decimal_bytes(&mut w, b, scale),
            None => return false,
        },
        (LogicalType::Date, Value::Int32(d)) => {
            quoted(&mut w, |w| logical::write_date(w, i64::from(*d)))
        }
        (LogicalType::Time, Value::Int32(ms)) if (0..86_400_000).contains(ms) => {
            quoted(&mut w, |w| logical::write_time(w, i64::from(*ms)))
        }
        (LogicalType::Timestamp, Value::Int64(ms)) => {
            quoted(&mut w, |w| logical::write_timestamp(w, *ms))
        }
        _ => return false,
    };
    // Writing into a Vec cannot fail.
    res.is_ok()
}

fn quoted<'a>(w: &mut Bytes<'a>, f: impl FnOnce(&mut Bytes<'a>) -> fmt::Result) -> fmt::Result {
    w.0.push(b'"');
    f(w)?;
    w.0.push(b'"');
    Ok(())
}

fn logical_json(value: &Value, schema: &Schema) -> Option<serde_json::Value> {
    schema.name.as_ref()?;
    let mut out = Vec::new();
    if !write_logical(&mut out, value, schema) {
        return None;
    }
    serde_json::from_slice(&out).ok()
}

fn write_value(out: &mut Vec<u8>, value: &Value, schema: Option<&Schema>) {
    let value = resolve_default(value, schema);
    if let Some(s) = schema {
        if s.name.is_some() && write_logical(out, value, s) {
            return;
        }
    }
    write_plain(out, value, schema);
}

/// [`write_value`] after the default and the logical type are dealt with.
fn write_plain(out: &mut Vec<u8>, value: &Value, schema: Option<&Schema>) {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Int8(v) => write_i64(out, i64::from(*v)),
        Value::Int16(v) => write_i64(out, i64::from(*v)),
        Value::Int32(v) => write_i64(out, i64::from(*v)),
        Value::Int64(v) => write_i64(out, *v),
        Value::Float32(v) => write_float(out, *v, v.is_finite(), f64::from(*v)),
        Value::Float64(v) => write_float(out, *v, v.is_finite(), *v),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(s) => write_str(out, s),
        Value::Bytes(b) => {
            out.push(b'"');
            write_base64(out, b);
            out.push(b'"');
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.value_schema.as_deref());
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(out, item, item_schema);
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            let ks = schema.and_then(|s| s.key_schema.as_deref());
            let vs = schema.and_then(|s| s.value_schema.as_deref());
            if map_as_object(entries, schema) {
                out.push(b'{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    write_value(out, k, None);
                    out.push(b':');
                    write_value(out, v, vs);
                }
                out.push(b'}');
            } else {
                out.push(b'[');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    out.push(b'[');
                    write_value(out, k, ks);
                    out.push(b',');
                    write_value(out, v, vs);
                    out.push(b']');
                }
                out.push(b']');
            }
        }
        Value::Struct(s) if s.is_shared() => write_shared_struct(out, s),
        Value::Struct(s) => write_struct(out, s),
    }
}

fn write_struct(out: &mut Vec<u8>, s: &Struct) {
    if let Some(plan) = StructPlan::cached(s.schema()) {
        plan.write(out, s.values());
        return;
    }
    out.push(b'{');
    for (i, (field, v)) in s.schema().fields.iter().zip(s.values()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_str(out, &field.name);
        out.push(b':');
        write_value(out, v, Some(&field.schema));
    }
    out.push(b'}');
}

/// How one field of a [`StructPlan`] renders.
struct FieldPlan {
    /// Where the field's `"name":` (with its `{` or `,`) ends in
    /// [`StructPlan::names`].
    end: usize,
    /// Its logical type, with a Decimal's scale.
    logical: Option<(LogicalType, Option<i32>)>,
}

/// What rendering a struct of one schema needs, worked out once: its field
/// names as JSON (escaped, with the separators) and each field's logical
/// type. Rows of a table share one schema, so a plan serves many.
struct StructPlan {
    /// The schema planned; held, so its address names it while cached.
    schema: SchemaRef,
    /// `{"a":` `,"b":` … back to back.
    names: Vec<u8>,
    fields: Vec<FieldPlan>,
}

/// Plan slots per thread: a schema's plan goes in the slot its address
/// hashes to.
const PLAN_SLOTS: usize = 64;

#[derive(Default)]
struct PlanCache {
    plans: Vec<Option<std::rc::Rc<StructPlan>>>,
    /// Per slot, the address last seen there without a plan: a schema is
    /// planned the second time it is seen, so one made per record costs
    /// no plan.
    missed: Vec<usize>,
}

thread_local! {
    static STRUCT_PLANS: std::cell::RefCell<PlanCache> =
        std::cell::RefCell::new(PlanCache::default());
}

impl StructPlan {
    fn new(schema: &SchemaRef) -> StructPlan {
        let mut names = Vec::new();
        let fields = schema
            .fields
            .iter()
            .enumerate()
            .map(|(i, f)| {
                names.push(if i == 0 { b'{' } else { b',' });
                write_str(&mut names, &f.name);
                names.push(b':');
                let fs = &f.schema;
                FieldPlan {
                    end: names.len(),
                    logical: fs
                        .name
                        .is_some()
                        .then(|| LogicalType::of(fs))
                        .flatten()
                        .map(|lt| (lt, decimal_scale(fs))),
                }
            })
            .collect();
        StructPlan {
            schema: schema.clone(),
            names,
            fields,
        }
    }

    /// The plan of `schema` on this thread: cached, made now (the second
    /// time this address is seen), or `None`.
    fn cached(schema: &SchemaRef) -> Option<std::rc::Rc<StructPlan>> {
        let addr = Arc::as_ptr(schema) as usize;
        // Schemas are at least 8-byte aligned and some hundred bytes long.
        let slot = (addr >> 3 ^ addr >> 9) % PLAN_SLOTS;
        STRUCT_PLANS.with(|cache| {
            let mut cache = cache.try_borrow_mut().ok()?;
            if cache.plans.is_empty() {
                cache.plans.resize(PLAN_SLOTS, None);
                cache.missed.resize(PLAN_SLOTS, 0);
            }
            if let Some(plan) = &cache.plans[slot] {
                if Arc::as_ptr(&plan.schema) as usize == addr {
                    return Some(plan.clone());
                }
            }
            if cache.missed[slot] != addr {
                cache.missed[slot] = addr;
                return None;
            }
            let plan = std::rc::Rc::new(StructPlan::new(schema));
            cache.plans[slot] = Some(plan.clone());
            Some(plan)
        })
    }

    /// Renders `values` (of a struct of this plan's schema) as
    /// [`write_struct`] does.
    fn write(&self, out: &mut Vec<u8>, values: &[Value]) {
        if self.fields.is_empty() {
            out.extend_from_slice(b"{}");
            return;
        }
        let mut start = 0;
        for ((plan, field), value) in self.fields.iter().zip(&self.schema.fields).zip(values) {
            out.extend_from_slice(&self.names[start..plan.end]);
            start = plan.end;
            let schema = &*field.schema;
            let value = resolve_default(value, Some(schema));
            match plan.logical {
                Some((lt, scale)) if write_logical_as(out, value, lt, || scale) => {}
                _ => write_plain(out, value, Some(schema)),
            }
        }
        out.push(b'}');
    }
}

thread_local! {
    /// The last shared struct rendered on this thread and its JSON. Records
    /// of a batch often carry clones of one struct (a connector's `source`
    /// block); each is rendered once. The entry holds a clone, so its
    /// values cannot be freed and their address reused by another struct.
    static LAST_SHARED: std::cell::RefCell<Option<(Struct, Vec<u8>)>> =
        const { std::cell::RefCell::new(None) };
}

/// Renders a struct whose values other clones share: from the last such
/// rendering when it is of the same values (a struct's JSON depends on
/// nothing but its schema and values), else afresh, kept for the next.
fn write_shared_struct(out: &mut Vec<u8>, s: &Struct) {
    let hit = LAST_SHARED.with(|last| match &*last.borrow() {
        Some((seen, json)) if seen.shares_values(s) => {
            out.extend_from_slice(json);
            true
        }
        _ => false,
    });
    if hit {
        return;
    }
    let start = out.len();
    write_struct(out, s);
    let json = out[start..].to_vec();
    LAST_SHARED.with(|last| *last.borrow_mut() = Some((s.clone(), json)));
}

fn write_i64(out: &mut Vec<u8>, v: i64) {
    /// "00" to "99", two digits per step.
    const PAIRS: &[u8; 200] = b"0001020304050607080910111213141516171819\
2021222324252627282930313233343536373839\
4041424344454647484950515253545556575859\
6061626364656667686970717273747576777879\
8081828384858687888990919293949596979899";
    let mut buf = [0u8; 20];
    let mut i = buf.len();
    let mut n = v.unsigned_abs();
    while n >= 100 {
        // `n % 100` is below 100, so the pair is in the table.
        let pair = (n % 100) as usize * 2;
        n /= 100;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    }
    if n >= 10 {
        let pair = n as usize * 2;
        i -= 2;
        buf[i..i + 2].copy_from_slice(&PAIRS[pair..pair + 2]);
    } else {
        i -= 1;
        // `n` is below 10.
        buf[i] = b'0' + n as u8;
    }
    if v < 0 {
        out.push(b'-');
    }
    out.extend_from_slice(&buf[i..]);
}

/// Finite floats in their shortest round-trip form (Rust's `{:?}`, which
/// is valid JSON: `1.0`, `0.1`, `1e-7`, `-0.0`); others as strings.
fn write_float<F: fmt::Debug>(out: &mut Vec<u8>, v: F, finite: bool, wide: f64) {
    if finite {
        let _ = fmt::Write::write_fmt(&mut Bytes(out), format_args!("{v:?}"));
    } else {
        out.push(b'"');
        out.extend_from_slice(non_finite(wide).as_bytes());
        out.push(b'"');
    }
}

/// Appends `s` as a JSON string literal.
fn write_str(out: &mut Vec<u8>, s: &str) {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    out.reserve(s.len() + 2);
    out.push(b'"');
    let bytes = s.as_bytes();
    // Most strings need no escape: one scan (which the compiler
    // vectorizes) and one copy.
    if !bytes.iter().any(|&b| b < 0x20 || b == b'"' || b == b'\\') {
        out.extend_from_slice(bytes);
        out.push(b'"');
        return;
    }
    let mut start = 0;
    for (i, &b) in bytes.iter().enumerate() {
        let short: &[u8] = match b {
            b'"' => b"\\\"",
            b'\\' => b"\\\\",
            b'\n' => b"\\n",
            b'\r' => b"\\r",
            b'\t' => b"\\t",
            0x08 => b"\\b",
            0x0c => b"\\f",
            0x00..=0x1f => &[],
            _ => continue,
        };
        out.extend_from_slice(&bytes[start..i]);
        if short.is_empty() {
            out.extend_from_slice(b"\\u00");
            out.push(HEX[usize::from(b >> 4)]);
            out.push(HEX[usize::from(b & 0xf)]);
        } else {
            out.extend_from_slice(short);
        }
        start = i + 1;
    }
    out.extend_from_slice(&bytes[start..]);
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::logical::{
        date_schema, decimal_schema, time_schema, timestamp_schema, Decimal,
    };
    use crate::data::{SchemaBuilder, Struct};

    fn json(value: &Value, schema: Option<&Schema>) -> String {
        to_json_string(value, schema)
    }

    #[test]
    fn json_escapes_control_characters() {
        let s = "q\"b\\n\n r\r t\t b\u{8} f\u{c} nul\u{0} us\u{1f} é ☃";
        let out = json(&Value::from(s), None);
        assert_eq!(out, r#""q\"b\\n\n r\r t\t b\b f\f nul\u0000 us\u001f é ☃""#);
        let back: String = serde_json::from_str(&out).unwrap();
        assert_eq!(back, s);
    }

    #[test]
    fn json_output_is_one_line() {
        let v = Value::Array(vec![Value::from("a\nb"), Value::from("\r\n")]);
        assert!(!json(&v, None).contains('\n'));
    }

    #[test]
    fn json_renders_primitives() {
        assert_eq!(json(&Value::Null, None), "null");
        assert_eq!(json(&Value::Int8(-128), None), "-128");
        assert_eq!(json(&Value::Int64(i64::MIN), None), "-9223372036854775808");
        assert_eq!(json(&Value::Int64(0), None), "0");
        assert_eq!(json(&Value::Boolean(false), None), "false");
        assert_eq!(json(&Value::Float64(1.5), None), "1.5");
        assert_eq!(json(&Value::Float64(1.0), None), "1.0");
        assert_eq!(json(&Value::Float32(0.1), None), "0.1");
        assert_eq!(json(&Value::Float64(1e-7), None), "1e-7");
    }

    #[test]
    fn json_renders_non_finite_floats_as_strings() {
        assert_eq!(json(&Value::Float64(f64::NAN), None), r#""NaN""#);
        assert_eq!(json(&Value::Float64(f64::INFINITY), None), r#""Infinity""#);
        assert_eq!(
            json(&Value::Float32(f32::NEG_INFINITY), None),
            r#""-Infinity""#
        );
    }

    #[test]
    fn json_floats_read_back_exactly() {
        for v in [0.1, -2.5e300, 5e-324, f64::MAX, 123456.789, -0.0] {
            let out = json(&Value::Float64(v), None);
            let back: f64 = serde_json::from_str(&out).unwrap();
            assert_eq!(back.to_bits(), v.to_bits(), "{out}");
        }
    }

    #[test]
    fn json_encodes_bytes_as_base64() {
        let cases: [(&[u8], &str); 5] = [
            (b"", ""),
            (b"f", "Zg=="),
            (b"fo", "Zm8="),
            (b"foo", "Zm9v"),
            (&[0xfb, 0xff], "+/8="),
        ];
        for (input, expected) in cases {
            assert_eq!(
                json(&Value::Bytes(input.to_vec()), None),
                format!("\"{expected}\"")
            );
        }
    }

    #[test]
    fn json_renders_string_keyed_maps_as_objects_and_others_as_pairs() {
        let m = Value::Map(vec![
            (Value::from("a"), Value::Int32(1)),
            (Value::from("b"), Value::Null),
        ]);
        assert_eq!(json(&m, None), r#"{"a":1,"b":null}"#);
        let m = Value::Map(vec![(Value::Int32(1), Value::from("x"))]);
        assert_eq!(json(&m, None), r#"[[1,"x"]]"#);
        let schema = SchemaBuilder::map(date_schema(), Schema::string()).build();
        let m = Value::Map(vec![(Value::Int32(0), Value::from("epoch"))]);
        assert_eq!(json(&m, Some(&schema)), r#"[["1970-01-01","epoch"]]"#);
        let empty = SchemaBuilder::map(Schema::int32(), Schema::string()).build();
        assert_eq!(json(&Value::Map(vec![]), Some(&empty)), "[]");
        assert_eq!(json(&Value::Map(vec![]), None), "{}");
    }

    #[test]
    fn shared_structs_render_their_own_values_after_any_change() {
        use crate::data::Struct;
        let schema = SchemaBuilder::struct_()
            .field("name", Schema::string())
            .field("n", Schema::int64())
            .build();
        let source = Struct::new(schema.clone())
            .with("name", "a")
            .unwrap()
            .with("n", 1i64)
            .unwrap()
            .into_shared();
        let wrap = |s: &Struct| Value::Array(vec![Value::Struct(s.clone()), Value::Int8(0)]);
        let first = source.clone();
        assert!(first.is_shared() && first.shares_values(&source));
        assert_eq!(json(&wrap(&first), None), r#"[{"name":"a","n":1},0]"#);
        assert_eq!(json(&wrap(&source), None), r#"[{"name":"a","n":1},0]"#);
        // A changed clone gets values of its own: rendered afresh, and the
        // struct it was cloned from is unchanged.
        let mut changed = source.clone();
        changed.put("n", Value::Int64(2)).unwrap();
        assert!(!changed.shares_values(&source));
        assert_eq!(json(&wrap(&changed), None), r#"[{"name":"a","n":2},0]"#);
        assert_eq!(json(&wrap(&source), None), r#"[{"name":"a","n":1},0]"#);
        // Equal schema, equal-looking struct, other values: not taken for it.
        let other = Struct::new(schema)
            .with("name", "b")
            .unwrap()
            .with("n", 1i64)
            .unwrap()
            .into_shared();
        let _keep = other.clone();
        assert_eq!(json(&wrap(&other), None), r#"[{"name":"b","n":1},0]"#);
        assert_eq!(json(&wrap(&source), None), r#"[{"name":"a","n":1},0]"#);
        // values_mut on a shared struct copies too.
        let mut masked = source.clone();
        masked.values_mut()[0] = Value::from("*");
        assert_eq!(json(&wrap(&masked), None), r#"[{"name":"*","n":1},0]"#);
        assert_eq!(json(&wrap(&source), None), r#"[{"name":"a","n":1},0]"#);
    }

    #[test]
    fn json_renders_structs_in_field_order_with_nested_schemas() {
        let inner = SchemaBuilder::struct_()
            .field("z", Schema::int8())
            .field("a", time_schema())
            .build();
        let schema = SchemaBuilder::struct_()
            .field("zeta", Schema::string())
            .field("alpha", SchemaBuilder::array(inner.clone()).build())
            .field("when", timestamp_schema())
            .field(
                "dflt",
                SchemaBuilder::int32()
                    .optional()
                    .default_value(Value::Int32(9))
                    .build(),
            )
            .build();
        let i = Struct::new(inner)
            .with("z", 1i8)
            .unwrap()
            .with("a", 3_723_004i32)
            .unwrap();
        let s = Struct::new(schema.clone())
            .with("zeta", "z")
            .unwrap()
            .with("alpha", vec![Value::Struct(i)])
            .unwrap()
            .with("when", 0i64)
            .unwrap();
        assert_eq!(
            json(&Value::Struct(s), Some(&schema)),
            r#"{"zeta":"z","alpha":[{"z":1,"a":"01:02:03.004"}],"when":"1970-01-01T00:00:00.000Z","dflt":9}"#
        );
    }

    #[test]
    fn json_renders_decimals_with_exact_digits() {
        let schema = decimal_schema(2);
        let v = Decimal::new(1230, 2).to_value();
        assert_eq!(json(&v, Some(&schema)), "12.30");
        let v = Decimal::new(-5, 2).to_value();
        assert_eq!(json(&v, Some(&schema)), "-0.05");
        assert_eq!(
            json(&Decimal::new(7, 0).to_value(), Some(&decimal_schema(-3))),
            "7000"
        );
        // Without a schema the same bytes are just bytes.
        assert_eq!(json(&Decimal::new(1230, 2).to_value(), None), r#""BM4=""#);
    }

    #[test]
    fn json_falls_back_to_primitive_for_bad_logical_values() {
        assert_eq!(json(&Value::Int32(-1), Some(&time_schema())), "-1");
        assert_eq!(
            json(&Value::Bytes(vec![]), Some(&decimal_schema(2))),
            r#""""#
        );
        assert_eq!(json(&Value::Int64(5), Some(&date_schema())), "5");
    }

    #[test]
    fn json_renders_dates_before_epoch() {
        assert_eq!(
            json(&Value::Int32(-1), Some(&date_schema())),
            r#""1969-12-31""#
        );
        assert_eq!(
            json(&Value::Int64(-1), Some(&timestamp_schema())),
            r#""1969-12-31T23:59:59.999Z""#
        );
    }

    #[test]
    fn write_text_passes_strings_through_and_renders_others_as_json() {
        let mut out = Vec::new();
        write_text(
            &mut out,
            &Value::from("a \"raw\" line"),
            Some(&Schema::optional_string()),
        );
        assert_eq!(out, b"a \"raw\" line");
        out.clear();
        let dflt = SchemaBuilder::string()
            .optional()
            .default_value(Value::from("d"))
            .build();
        write_text(&mut out, &Value::Null, Some(&dflt));
        assert_eq!(out, b"d");
        out.clear();
        write_text(&mut out, &Value::Null, Some(&Schema::optional_string()));
        assert_eq!(out, b"null");
    }

    #[test]
    fn write_json_appends_without_clearing() {
        let mut out = b"prefix ".to_vec();
        write_json(&mut out, &Value::Int32(1), None);
        assert_eq!(out, b"prefix 1");
    }

    #[test]
    fn to_json_value_agrees_with_write_json() {
        let inner = SchemaBuilder::struct_().field("b", Schema::bytes()).build();
        let schema = SchemaBuilder::struct_()
            .field("d", decimal_schema(3))
            .field("day", date_schema())
            .field(
                "m",
                SchemaBuilder::map(Schema::int64(), Schema::float32()).build(),
            )
            .field(
                "s",
                SchemaBuilder::map(Schema::string(), inner.clone()).build(),
            )
            .field("f", Schema::float64())
            .field("txt", Schema::string())
            .build();
        let s = Struct::new(schema.clone())
            .with("d", Decimal::new(-123_456, 3).to_value())
            .unwrap()
            .with("day", 1i32)
            .unwrap()
            .with(
                "m",
                Value::Map(vec![(Value::Int64(1), Value::Float32(0.1))]),
            )
            .unwrap()
            .with(
                "s",
                Value::Map(vec![(
                    Value::from("k"),
                    Value::Struct(Struct::new(inner).with("b", vec![1u8, 2, 3]).unwrap()),
                )]),
            )
            .unwrap()
            .with("f", f64::NEG_INFINITY)
            .unwrap()
            .with("txt", "x\u{1}y")
            .unwrap();
        let v = Value::Struct(s);
        let text = json(&v, Some(&schema));
        let parsed: serde_json::Value = serde_json::from_str(&text).unwrap();
        assert_eq!(parsed, to_json_value(&v, Some(&schema)));
        assert_eq!(
            parsed,
            serde_json::json!({
                "d": -123.456, "day": "1970-01-02", "m": [[1, 0.1]],
                "s": {"k": {"b": "AQID"}}, "f": "-Infinity", "txt": "x\u{1}y"
            })
        );
    }

    #[test]
    fn integers_render_as_their_decimal_digits() {
        let mut cases = vec![i64::MIN, i64::MAX, 0, -1, 9, 10, 99, 100, 101, -999, 1000];
        cases.extend((0..19).map(|e| 10i64.pow(e)));
        cases.extend((1..19).map(|e| 10i64.pow(e) - 1));
        for v in cases {
            assert_eq!(json(&Value::Int64(v), None), v.to_string());
            assert_eq!(
                json(&Value::Int64(-v.saturating_abs()), None),
                (-v.saturating_abs()).to_string()
            );
        }
    }

    /// A struct schema's field names and logical types are worked out once
    /// per thread and reused: the rendering from a plan must equal the one
    /// without (the first sighting renders without a plan, the second makes
    /// it, later ones reuse it), for names that need escaping, defaults,
    /// Decimals, nested and empty structs.
    #[test]
    fn planned_structs_render_as_unplanned_ones() {
        use crate::data::SchemaRef;
        let inner = SchemaBuilder::struct_()
            .optional()
            .field("day", date_schema())
            .field("empty", SchemaBuilder::struct_().optional().build())
            .build();
        let schema: SchemaRef = SchemaBuilder::struct_()
            .field("id", Schema::int64())
            .field("quo\"te\n", Schema::optional_string())
            .field("price", decimal_schema(2))
            .field(
                "status",
                SchemaBuilder::string()
                    .optional()
                    .default_value(Value::from("new"))
                    .build(),
            )
            .field("inner", inner.clone())
            .build();
        let row = |id: i64, status: Option<&str>| {
            let mut s = Struct::new(schema.clone())
                .with("id", id)
                .unwrap()
                .with("quo\"te\n", "a\"b")
                .unwrap()
                .with("price", Decimal::new(-1230, 2).to_value())
                .unwrap()
                .with(
                    "inner",
                    Value::Struct(
                        Struct::new(inner.clone())
                            .with("day", Value::Int32(19782))
                            .unwrap()
                            .with(
                                "empty",
                                Value::Struct(Struct::new(inner.fields[1].schema.clone())),
                            )
                            .unwrap(),
                    ),
                )
                .unwrap();
            if let Some(st) = status {
                s = s.with("status", st).unwrap();
            }
            Value::Struct(s)
        };
        let expected = |id: i64, status: &str| {
            format!(
                r#"{{"id":{id},"quo\"te\n":"a\"b","price":-12.30,"status":"{status}","inner":{{"day":"2024-02-29","empty":{{}}}}}}"#
            )
        };
        for id in 0..4 {
            assert_eq!(json(&row(id, None), Some(&schema)), expected(id, "new"));
            assert_eq!(
                json(&row(id, Some("paid")), Some(&schema)),
                expected(id, "paid")
            );
        }
        assert!(
            STRUCT_PLANS.with(|c| c
                .borrow()
                .plans
                .iter()
                .flatten()
                .any(|p| Arc::ptr_eq(&p.schema, &schema))),
            "the schema seen repeatedly has a plan"
        );
    }
}
