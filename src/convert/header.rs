//! [`SimpleHeaderConverter`]: Kafka's default header converter,
//! `org.apache.kafka.connect.storage.SimpleHeaderConverter`.
//!
//! Writing follows Kafka's `Values.convertToString`: a top-level string as
//! it is; numbers as Java prints them (`1.0E7`); booleans `true`/`false`;
//! BYTES as base64; arrays `[1,2]`; maps `{"k":1}`; structs
//! `{"a":1,"b":"x"}` (defaults applied); strings inside arrays, maps and
//! structs quoted, with `\` and `"` backslash-escaped; Decimal as
//! `BigDecimal.toString`; Date / Time / Timestamp chosen by the instant as
//! Kafka does: before one day after the epoch `HH:mm:ss.SSSZ`, at a
//! midnight `yyyy-MM-dd`, otherwise `yyyy-MM-ddTHH:mm:ss.SSSZ` (UTC).
//!
//! Reading follows Kafka's `Values.parseString`, for this subset:
//!
//! - empty → STRING `""`; `true` / `false` → BOOLEAN; `null` → no schema,
//!   `null`;
//! - integers → the smallest of INT8, INT16, INT32, INT64 that holds them
//!   (`1.0` and `1e3` count as integers, as in Kafka);
//! - other numbers → FLOAT32 when finite as a float, else FLOAT64, else a
//!   Decimal (whole numbers beyond INT64 become Decimal with scale 0);
//! - `yyyy-MM-dd`, `HH:mm:ss.SSSZ`, `yyyy-MM-ddTHH:mm:ss.SSSZ` → Date,
//!   Time, Timestamp;
//! - `[…]` → ARRAY and `{k:v,…}` → MAP of the elements' common type
//!   (integers widen, integers and floats become floats), elements parsed
//!   as above, strings in double quotes;
//! - anything else, or a malformed array or map → STRING, the text as is.
//!
//! Gaps: an array or map whose elements have no common type, or only
//! nulls, comes back without a schema (Kafka gives an array/map schema
//! with a null-typed element); arrays/maps are element-wise, not
//! token-wise as Kafka's tokenizer is, so exotic spacing inside unquoted
//! tokens may parse differently.

use super::java_fmt::{write_big_decimal, write_double, write_float, write_i64};
use super::{ConvertError, HeaderConverter, SchemaAndValue};
use crate::config::{ConfigDef, ConfigIssue, Properties};
use crate::data::json::write_base64;
use crate::data::logical::{self, Date, LogicalType, Time, Timestamp};
use crate::data::{Schema, SchemaBuilder, SchemaRef, SchemaType, Value};

const MILLIS_PER_DAY: i64 = 86_400_000;

/// Kafka's `SimpleHeaderConverter`: header values as plain text and back,
/// inferring the type on the way in (see the module doc).
///
/// ```
/// use timely_connect::convert::{HeaderConverter, SimpleHeaderConverter};
/// use timely_connect::data::{Schema, Value};
/// let mut c = SimpleHeaderConverter::new();
/// let mut out = Vec::new();
/// c.from_connect_header("t", "h", None, &Value::Array(vec![Value::from("a"), Value::Int32(1)]), &mut out)?;
/// assert_eq!(out, br#"["a",1]"#);
/// let back = c.to_connect_header("t", "h", Some(b"300"))?;
/// assert_eq!((back.schema, back.value), (Some(Schema::int16()), Value::Int16(300)));
/// # Ok::<(), timely_connect::convert::ConvertError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct SimpleHeaderConverter;

impl SimpleHeaderConverter {
    /// A new converter (it has no options).
    pub fn new() -> Self {
        SimpleHeaderConverter
    }
}

impl HeaderConverter for SimpleHeaderConverter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn configure(&mut self, _configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        Ok(())
    }

    fn from_connect_header(
        &mut self,
        _topic: &str,
        _header_key: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        if value.is_null() {
            return Ok(false);
        }
        write_header_text(out, value, schema, false);
        Ok(true)
    }

    fn to_connect_header(
        &mut self,
        _topic: &str,
        _header_key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        let Some(bytes) = bytes else {
            return Ok(SchemaAndValue {
                schema: None,
                value: Value::Null,
            });
        };
        let text = String::from_utf8_lossy(bytes);
        Ok(parse_string(&text))
    }
}

/// Kafka's `Values.append(sb, value, embedded)`.
fn write_header_text(out: &mut Vec<u8>, value: &Value, schema: Option<&Schema>, embedded: bool) {
    let value = match (value, schema.and_then(|s| s.default.as_ref())) {
        (Value::Null, Some(default)) => default,
        _ => value,
    };
    if let Some(s) = schema.filter(|_| !value.is_null()) {
        match (LogicalType::of(s), value) {
            (Some(LogicalType::Decimal), Value::Bytes(b)) if !b.is_empty() => {
                if let Ok(scale) = logical::decimal_scale(s) {
                    return write_big_decimal(out, b, scale);
                }
            }
            (Some(LogicalType::Date), Value::Int32(d)) => {
                return write_instant(out, i64::from(*d) * MILLIS_PER_DAY)
            }
            (Some(LogicalType::Time), Value::Int32(ms)) => {
                return write_instant(out, i64::from(*ms))
            }
            (Some(LogicalType::Timestamp), Value::Int64(ms)) => return write_instant(out, *ms),
            _ => {}
        }
    }
    let quote = |out: &mut Vec<u8>| {
        if embedded {
            out.push(b'"');
        }
    };
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Int8(v) => write_i64(out, i64::from(*v)),
        Value::Int16(v) => write_i64(out, i64::from(*v)),
        Value::Int32(v) => write_i64(out, i64::from(*v)),
        Value::Int64(v) => write_i64(out, *v),
        Value::Float32(v) => write_float(out, *v),
        Value::Float64(v) => write_double(out, *v),
        Value::Boolean(b) => out.extend_from_slice(if *b { b"true" } else { b"false" }),
        Value::String(s) => {
            quote(out);
            if embedded {
                for c in s.bytes() {
                    if c == b'\\' || c == b'"' {
                        out.push(b'\\');
                    }
                    out.push(c);
                }
            } else {
                out.extend_from_slice(s.as_bytes());
            }
            quote(out);
        }
        Value::Bytes(b) => {
            quote(out);
            write_base64(out, b);
            quote(out);
        }
        Value::Array(items) => {
            let item_schema = schema.and_then(|s| s.value_schema.as_deref());
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_header_text(out, item, item_schema, true);
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            let ks = schema.and_then(|s| s.key_schema.as_deref());
            let vs = schema.and_then(|s| s.value_schema.as_deref());
            out.push(b'{');
            for (i, (k, v)) in entries.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_header_text(out, k, ks, true);
                out.push(b':');
                write_header_text(out, v, vs, true);
            }
            out.push(b'}');
        }
        Value::Struct(st) => {
            out.push(b'{');
            for (i, (field, v)) in st.schema().fields.iter().zip(st.values()).enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_header_text(out, &Value::String(field.name.clone()), None, true);
                out.push(b':');
                write_header_text(out, v, Some(&field.schema), true);
            }
            out.push(b'}');
        }
    }
}

/// A `java.util.Date` as Kafka's `Values.dateFormatFor` formats it (UTC).
fn write_instant(out: &mut Vec<u8>, millis: i64) {
    let mut text = String::new();
    let days = millis.div_euclid(MILLIS_PER_DAY);
    let of_day = millis.rem_euclid(MILLIS_PER_DAY);
    let res = if millis < MILLIS_PER_DAY {
        logical::write_time(&mut text, of_day).map(|()| text.push('Z'))
    } else if of_day == 0 {
        logical::write_date(&mut text, days)
    } else {
        logical::write_timestamp(&mut text, millis)
    };
    if res.is_ok() {
        out.extend_from_slice(text.as_bytes());
    }
}

/// Kafka's `Values.parseString`, for the subset in the module doc.
pub fn parse_string(text: &str) -> SchemaAndValue {
    let string = || SchemaAndValue {
        schema: Some(Schema::string()),
        value: Value::String(text.to_owned()),
    };
    if text.is_empty() {
        return string();
    }
    let trimmed = text.trim();
    match trimmed {
        "true" => return typed(Schema::boolean(), Value::Boolean(true)),
        "false" => return typed(Schema::boolean(), Value::Boolean(false)),
        "null" => {
            return SchemaAndValue {
                schema: None,
                value: Value::Null,
            }
        }
        _ => {}
    }
    if trimmed.starts_with('[') || trimmed.starts_with('{') {
        let mut p = ValueParser {
            s: trimmed.as_bytes(),
            text: trimmed,
            pos: 0,
        };
        if let Some(Some(parsed)) = p.parse_embedded(0) {
            p.skip_ws();
            if p.pos == trimmed.len() {
                return parsed;
            }
        }
        return string();
    }
    parse_token(trimmed).unwrap_or_else(string)
}

fn typed(schema: SchemaRef, value: Value) -> SchemaAndValue {
    SchemaAndValue {
        schema: Some(schema),
        value,
    }
}

/// A temporal literal or a number.
fn parse_token(token: &str) -> Option<SchemaAndValue> {
    let first = token.chars().next()?;
    if first.is_ascii_digit() {
        if let Some(t) = parse_temporal(token) {
            return Some(t);
        }
    }
    if first.is_ascii_digit() || first == '+' || first == '-' {
        return parse_number(token);
    }
    None
}

fn parse_temporal(token: &str) -> Option<SchemaAndValue> {
    match token.len() {
        10 => {
            let d: Date = token.parse().ok()?;
            Some(typed(
                logical::date_schema(),
                Value::Int32(d.to_days().ok()?),
            ))
        }
        13 if token.ends_with('Z') && token.as_bytes().get(8) == Some(&b'.') => {
            let t: Time = token[..12].parse().ok()?;
            Some(typed(
                logical::time_schema(),
                Value::Int32(t.to_millis_of_day().ok()?),
            ))
        }
        24 if token.ends_with('Z') && token.as_bytes().get(10) == Some(&b'T') => {
            let t: Timestamp = token.parse().ok()?;
            Some(typed(logical::timestamp_schema(), Value::Int64(t.millis)))
        }
        _ => None,
    }
}

/// Kafka's `parseAsNumber`.
fn parse_number(token: &str) -> Option<SchemaAndValue> {
    // BigDecimal syntax: sign, digits with an optional point, optional exponent.
    let (mantissa, exp) = match token.find(['e', 'E']) {
        Some(i) => (&token[..i], token[i + 1..].parse::<i32>().ok()?),
        None => (token, 0),
    };
    let body = mantissa.trim_start_matches(['+', '-']);
    if mantissa.len() - body.len() > 1
        || body.is_empty()
        || body == "."
        || !body.bytes().all(|c| c.is_ascii_digit() || c == b'.')
        || body.matches('.').count() > 1
    {
        return None;
    }
    let negative = mantissa.starts_with('-');
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    let digits: String = int.chars().chain(frac.chars()).collect();
    let significant = digits.trim_start_matches('0');
    let scale = i64::try_from(frac.len()).ok()? - i64::from(exp);
    // Whole numbers within INT64 (and zero): the smallest integer type.
    let stripped = significant.trim_end_matches('0');
    let trailing = i64::try_from(significant.len() - stripped.len()).ok()?;
    let whole = significant.is_empty() || scale - trailing <= 0;
    if whole {
        let int_digits = if significant.is_empty() {
            "0".to_owned()
        } else if scale >= 0 {
            significant[..significant.len() - usize::try_from(scale).ok()?].to_owned()
        } else if -scale <= 19 {
            format!("{significant}{}", "0".repeat(usize::try_from(-scale).ok()?))
        } else {
            String::new()
        };
        let n = if int_digits.len() <= 20 {
            format!("{}{int_digits}", if negative { "-" } else { "" })
                .parse::<i64>()
                .ok()
        } else {
            None
        };
        if let Some(n) = n {
            return Some(if let Ok(v) = i8::try_from(n) {
                typed(Schema::int8(), Value::Int8(v))
            } else if let Ok(v) = i16::try_from(n) {
                typed(Schema::int16(), Value::Int16(v))
            } else if let Ok(v) = i32::try_from(n) {
                typed(Schema::int32(), Value::Int32(v))
            } else {
                typed(Schema::int64(), Value::Int64(n))
            });
        }
    }
    if scale != 0 {
        let text = token.trim_start_matches('+');
        if let Ok(f) = text.parse::<f32>() {
            if f.is_finite() {
                return Some(typed(Schema::float32(), Value::Float32(f)));
            }
        }
        if let Ok(d) = text.parse::<f64>() {
            if d.is_finite() {
                return Some(typed(Schema::float64(), Value::Float64(d)));
            }
        }
    }
    let scale = i32::try_from(scale).ok()?;
    let unscaled: i128 = if significant.is_empty() {
        0
    } else {
        significant.parse().ok()?
    };
    let unscaled = if negative { -unscaled } else { unscaled };
    Some(typed(
        logical::decimal_schema(scale),
        logical::Decimal::new(unscaled, scale).to_value(),
    ))
}

/// Arrays, maps and their elements (Kafka's embedded values).
struct ValueParser<'a> {
    s: &'a [u8],
    text: &'a str,
    pos: usize,
}

const MAX_DEPTH: usize = 100;

impl ValueParser<'_> {
    fn skip_ws(&mut self) {
        while self.s.get(self.pos).is_some_and(u8::is_ascii_whitespace) {
            self.pos += 1;
        }
    }

    fn eat(&mut self, c: u8) -> bool {
        self.skip_ws();
        if self.s.get(self.pos) == Some(&c) {
            self.pos += 1;
            true
        } else {
            false
        }
    }

    /// `None`: malformed; `Some(None)`: null.
    fn parse_embedded(&mut self, depth: usize) -> Option<Option<SchemaAndValue>> {
        if depth > MAX_DEPTH {
            return None;
        }
        self.skip_ws();
        match self.s.get(self.pos)? {
            b'"' => {
                self.pos += 1;
                let mut out = String::new();
                loop {
                    let c = *self.s.get(self.pos)?;
                    self.pos += 1;
                    match c {
                        b'"' => break,
                        b'\\' => {
                            let n = self.text[self.pos..].chars().next()?;
                            out.push(n);
                            self.pos += n.len_utf8();
                        }
                        _ => {
                            let start = self.pos - 1;
                            let n = self.text[start..].chars().next()?;
                            out.push(n);
                            self.pos = start + n.len_utf8();
                        }
                    }
                }
                Some(Some(parse_temporal(&out).unwrap_or_else(|| {
                    typed(Schema::string(), Value::String(out))
                })))
            }
            b'[' => {
                self.pos += 1;
                let mut items = Vec::new();
                if !self.eat(b']') {
                    loop {
                        items.push(self.parse_embedded(depth + 1)?);
                        if self.eat(b']') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                let (schema, values) = common(items)?;
                Some(Some(match schema {
                    Some(s) => typed(SchemaBuilder::array(s).build(), Value::Array(values)),
                    None => SchemaAndValue {
                        schema: None,
                        value: Value::Array(values),
                    },
                }))
            }
            b'{' => {
                self.pos += 1;
                let mut keys = Vec::new();
                let mut values = Vec::new();
                if !self.eat(b'}') {
                    loop {
                        let key = self.parse_embedded(depth + 1)??;
                        if !self.eat(b':') {
                            return None;
                        }
                        keys.push(Some(key));
                        values.push(self.parse_embedded(depth + 1)?);
                        if self.eat(b'}') {
                            break;
                        }
                        if !self.eat(b',') {
                            return None;
                        }
                    }
                }
                let (ks, keys) = common(keys)?;
                let (vs, values) = common(values)?;
                let entries = keys.into_iter().zip(values).collect();
                Some(Some(match (ks, vs) {
                    (Some(k), Some(v)) => {
                        typed(SchemaBuilder::map(k, v).build(), Value::Map(entries))
                    }
                    _ => SchemaAndValue {
                        schema: None,
                        value: Value::Map(entries),
                    },
                }))
            }
            _ => {
                let start = self.pos;
                while let Some(&c) = self.s.get(self.pos) {
                    if matches!(c, b',' | b']' | b'}') || c.is_ascii_whitespace() {
                        break;
                    }
                    self.pos += 1;
                }
                let mut token = &self.text[start..self.pos];
                // A map key ends at ':'; times and timestamps contain ':'.
                if let Some(colon) = token.find(':') {
                    if parse_temporal(token).is_none() {
                        self.pos = start + colon;
                        token = &token[..colon];
                    }
                }
                match token {
                    "null" => Some(None),
                    "true" => Some(Some(typed(Schema::boolean(), Value::Boolean(true)))),
                    "false" => Some(Some(typed(Schema::boolean(), Value::Boolean(false)))),
                    _ => parse_token(token).map(Some),
                }
            }
        }
    }
}

/// Numeric rank for widening: ints by width, then floats.
fn rank(t: SchemaType) -> Option<u8> {
    Some(match t {
        SchemaType::Int8 => 0,
        SchemaType::Int16 => 1,
        SchemaType::Int32 => 2,
        SchemaType::Int64 => 3,
        SchemaType::Float32 => 4,
        SchemaType::Float64 => 5,
        _ => return None,
    })
}

/// The elements' common schema (optional if any is null) and the values
/// cast to it; `Some((None, values))` when there is none. `None` if an
/// element failed to parse.
fn common(items: Vec<Option<SchemaAndValue>>) -> Option<(Option<SchemaRef>, Vec<Value>)> {
    let mut schema: Option<SchemaRef> = None;
    let mut mixed = false;
    let mut any_null = false;
    for item in items.iter() {
        let Some(SchemaAndValue {
            schema: Some(s), ..
        }) = item
        else {
            any_null |= item.as_ref().is_none_or(|i| i.value.is_null());
            if item.as_ref().is_some_and(|i| !i.value.is_null()) {
                mixed = true;
            }
            continue;
        };
        schema = match schema {
            None => Some(s.clone()),
            Some(prev) if *prev == **s => Some(prev),
            Some(prev) => match (rank(prev.schema_type), rank(s.schema_type)) {
                (Some(a), Some(b)) if prev.name.is_none() && s.name.is_none() => {
                    Some(if a >= b { prev } else { s.clone() })
                }
                _ => {
                    mixed = true;
                    Some(prev)
                }
            },
        };
    }
    let values: Vec<Value> = items
        .into_iter()
        .map(|i| i.map_or(Value::Null, |i| i.value))
        .collect();
    let Some(schema) = schema.filter(|_| !mixed) else {
        return Some((None, values));
    };
    let values = values
        .into_iter()
        .map(|v| cast(v, schema.schema_type))
        .collect();
    let schema = if any_null && !schema.optional {
        let mut s = (*schema).clone();
        s.optional = true;
        std::sync::Arc::new(s)
    } else {
        schema
    };
    Some((Some(schema), values))
}

/// Widens a number to `t` (other values unchanged).
fn cast(v: Value, t: SchemaType) -> Value {
    let i = v.as_i64();
    let f = v.as_f64();
    match (t, i, f) {
        (SchemaType::Int16, Some(i), _) => i16::try_from(i).map_or(v, Value::Int16),
        (SchemaType::Int32, Some(i), _) => i32::try_from(i).map_or(v, Value::Int32),
        (SchemaType::Int64, Some(i), _) => Value::Int64(i),
        // Kafka widens integers to float as Java's casts do.
        (SchemaType::Float32, Some(i), _) => Value::Float32(i as f32),
        (SchemaType::Float64, Some(i), _) => Value::Float64(i as f64),
        (SchemaType::Float64, None, Some(f)) => Value::Float64(f),
        _ => v,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Struct;

    fn write(value: Value, schema: Option<&Schema>) -> String {
        let mut out = Vec::new();
        assert!(SimpleHeaderConverter
            .from_connect_header("t", "h", schema, &value, &mut out)
            .unwrap());
        String::from_utf8(out).unwrap()
    }

    fn read(text: &str) -> SchemaAndValue {
        SimpleHeaderConverter
            .to_connect_header("t", "h", Some(text.as_bytes()))
            .unwrap()
    }

    #[test]
    fn writes_values_as_kafka_values_to_string() {
        assert_eq!(write(Value::from("plain \"s\""), None), "plain \"s\"");
        assert_eq!(write(Value::Float64(1.0e7), None), "1.0E7");
        assert_eq!(write(Value::Bytes(b"hi".to_vec()), None), "aGk=");
        assert_eq!(
            write(
                Value::Array(vec![Value::from("a\"b\\"), Value::Null, Value::Int8(1)]),
                None
            ),
            r#"["a\"b\\",null,1]"#
        );
        assert_eq!(
            write(
                Value::Map(vec![(Value::from("k"), Value::Boolean(true))]),
                None
            ),
            r#"{"k":true}"#
        );
        let schema = SchemaBuilder::struct_()
            .field("a", Schema::int32())
            .field(
                "b",
                SchemaBuilder::string()
                    .optional()
                    .default_value(Value::from("d"))
                    .build(),
            )
            .build();
        let st = Struct::new(schema.clone()).with("a", 1i32).unwrap();
        assert_eq!(
            write(Value::Struct(st), Some(&schema)),
            r#"{"a":1,"b":"d"}"#
        );
    }

    #[test]
    fn writes_temporal_values_chosen_by_instant() {
        assert_eq!(
            write(Value::Int32(19782), Some(&logical::date_schema())),
            "2024-02-29"
        );
        assert_eq!(
            write(Value::Int32(3_723_004), Some(&logical::time_schema())),
            "01:02:03.004Z"
        );
        assert_eq!(
            write(
                Value::Int64(1_700_000_000_123),
                Some(&logical::timestamp_schema())
            ),
            "2023-11-14T22:13:20.123Z"
        );
        // Kafka's quirk: the epoch day itself prints as a time.
        assert_eq!(
            write(Value::Int32(0), Some(&logical::date_schema())),
            "00:00:00.000Z"
        );
        assert_eq!(
            write(
                logical::Decimal::new(1230, 2).to_value(),
                Some(&logical::decimal_schema(2))
            ),
            "12.30"
        );
    }

    #[test]
    fn null_is_no_bytes_and_reads_back_as_null() {
        let mut out = Vec::new();
        assert!(!SimpleHeaderConverter
            .from_connect_header("t", "h", None, &Value::Null, &mut out)
            .unwrap());
        let v = SimpleHeaderConverter
            .to_connect_header("t", "h", None)
            .unwrap();
        assert_eq!(
            v,
            SchemaAndValue {
                schema: None,
                value: Value::Null
            }
        );
    }

    #[test]
    fn parses_booleans_and_smallest_integer_types() {
        assert_eq!(read("true").value, Value::Boolean(true));
        assert_eq!(read("127").schema, Some(Schema::int8()));
        assert_eq!(read("-129").value, Value::Int16(-129));
        assert_eq!(read("40000").value, Value::Int32(40000));
        assert_eq!(read("5000000000").value, Value::Int64(5_000_000_000));
        assert_eq!(read("1.0").value, Value::Int8(1));
        assert_eq!(read("1e3").value, Value::Int16(1000));
        assert_eq!(read("0").value, Value::Int8(0));
    }

    #[test]
    fn parses_fractions_as_float32_then_float64_then_decimal() {
        assert_eq!(read("3.25").value, Value::Float32(3.25));
        assert_eq!(read("1e300").value, Value::Float64(1e300));
        let big = read("123456789012345678901234567890");
        assert_eq!(big.schema, Some(logical::decimal_schema(0)));
    }

    #[test]
    fn parses_temporal_literals() {
        assert_eq!(read("2024-02-29").value, Value::Int32(19782));
        assert_eq!(read("2024-02-29").schema, Some(logical::date_schema()));
        assert_eq!(read("01:02:03.004Z").value, Value::Int32(3_723_004));
        assert_eq!(
            read("2023-11-14T22:13:20.123Z").value,
            Value::Int64(1_700_000_000_123)
        );
    }

    #[test]
    fn parses_arrays_and_maps_with_common_types() {
        let v = read("[1, 300, 2]");
        assert_eq!(
            v.schema,
            Some(SchemaBuilder::array(Schema::int16()).build())
        );
        assert_eq!(
            v.value,
            Value::Array(vec![Value::Int16(1), Value::Int16(300), Value::Int16(2)])
        );
        let v = read(r#"{"a":1,"b":2.5}"#);
        assert_eq!(
            v.schema,
            Some(SchemaBuilder::map(Schema::string(), Schema::float32()).build())
        );
        assert_eq!(
            v.value,
            Value::Map(vec![
                (Value::from("a"), Value::Float32(1.0)),
                (Value::from("b"), Value::Float32(2.5))
            ])
        );
        let v = read(r#"["x\"y", null]"#);
        assert_eq!(
            v.value,
            Value::Array(vec![Value::from("x\"y"), Value::Null])
        );
        assert!(v.schema.unwrap().value_schema.as_ref().unwrap().optional);
        assert_eq!(read("[1, \"a\"]").schema, None);
    }

    #[test]
    fn anything_else_is_the_string_as_is() {
        for text in [
            "hello world",
            "[1, 2",
            "{a}",
            "true}",
            "1 2",
            " ",
            "-",
            "12abc",
            "[x]",
        ] {
            assert_eq!(
                read(text),
                SchemaAndValue {
                    schema: Some(Schema::string()),
                    value: Value::from(text)
                },
                "{text}"
            );
        }
        assert_eq!(read("").value, Value::from(""));
    }

    #[test]
    fn round_trips_common_values() {
        let cases = vec![
            (Schema::int32(), Value::Int32(70000)),
            (Schema::boolean(), Value::Boolean(false)),
            (Schema::string(), Value::from("some text")),
            (
                SchemaBuilder::array(Schema::string()).build(),
                Value::Array(vec![Value::from("a"), Value::from("b,c")]),
            ),
            (logical::timestamp_schema(), Value::Int64(1_700_000_000_123)),
        ];
        for (schema, value) in cases {
            let text = write(value.clone(), Some(&schema));
            let back = read(&text);
            assert_eq!((back.schema, back.value), (Some(schema), value), "{text}");
        }
    }
}
