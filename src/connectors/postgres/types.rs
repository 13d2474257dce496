//! PostgreSQL column types → Connect schemas and values, as Debezium's
//! PostgreSQL connector represents them with its defaults
//! (`decimal.handling.mode=precise`, `time.precision.mode=adaptive`,
//! `binary.handling.mode=bytes`, `interval.handling.mode=numeric`).
//!
//! One decoding path: both pgoutput and the snapshot's queries deliver
//! PostgreSQL's *text* output, and [`decode`] turns that text into a value.
//! The session settings the text depends on (`DateStyle=ISO`,
//! `IntervalStyle=postgres`, `bytea_output=hex`, `extra_float_digits=3`,
//! `TimeZone=UTC` for the snapshot) are PostgreSQL's defaults or are set by
//! the connector; text in another style is a clear error, never a guess.

use std::collections::HashMap;

use crate::data::logical::{civil_from_days, days_from_civil, DECIMAL_NAME, DECIMAL_SCALE};
use crate::data::{Schema, SchemaBuilder, SchemaRef, Struct, Value};

/// `io.debezium.time.Date`: INT32 days since 1970-01-01.
pub const DATE: &str = "io.debezium.time.Date";
/// `io.debezium.time.Time`: INT32 milliseconds past midnight (precision ≤ 3).
pub const TIME: &str = "io.debezium.time.Time";
/// `io.debezium.time.MicroTime`: INT64 microseconds past midnight.
pub const MICRO_TIME: &str = "io.debezium.time.MicroTime";
/// `io.debezium.time.Timestamp`: INT64 milliseconds since the epoch (precision ≤ 3).
pub const TIMESTAMP: &str = "io.debezium.time.Timestamp";
/// `io.debezium.time.MicroTimestamp`: INT64 microseconds since the epoch.
pub const MICRO_TIMESTAMP: &str = "io.debezium.time.MicroTimestamp";
/// `io.debezium.time.ZonedTimestamp`: ISO-8601 STRING in UTC.
pub const ZONED_TIMESTAMP: &str = "io.debezium.time.ZonedTimestamp";
/// `io.debezium.time.ZonedTime`: ISO-8601 time STRING in UTC.
pub const ZONED_TIME: &str = "io.debezium.time.ZonedTime";
/// `io.debezium.time.MicroDuration`: INT64 approximate microseconds.
pub const MICRO_DURATION: &str = "io.debezium.time.MicroDuration";
/// `io.debezium.data.VariableScaleDecimal`: STRUCT {scale INT32, value BYTES}.
pub const VARIABLE_SCALE_DECIMAL: &str = "io.debezium.data.VariableScaleDecimal";
/// `io.debezium.data.Uuid`: STRING.
pub const UUID: &str = "io.debezium.data.Uuid";
/// `io.debezium.data.Json`: STRING.
pub const JSON: &str = "io.debezium.data.Json";
/// `io.debezium.data.Xml`: STRING.
pub const XML: &str = "io.debezium.data.Xml";
/// `io.debezium.data.Enum`: STRING with an `allowed` parameter.
pub const ENUM: &str = "io.debezium.data.Enum";
/// `io.debezium.data.Bits`: BYTES, little-endian bits, `length` parameter.
pub const BITS: &str = "io.debezium.data.Bits";
/// Debezium's Decimal parameter holding the column's precision.
pub const DECIMAL_PRECISION: &str = "connect.decimal.precision";

/// Debezium's MicroTimestamp for `infinity` (the JDBC driver's sentinel).
pub const TIMESTAMP_POS_INFINITY_MICROS: i64 = 9_223_372_036_825_200_000;
/// Debezium's MicroTimestamp for `-infinity`.
pub const TIMESTAMP_NEG_INFINITY_MICROS: i64 = -9_223_372_036_832_400_000;

/// The OIDs of PostgreSQL's built-in types this module knows by number.
#[allow(missing_docs)]
pub mod oid {
    pub const BOOL: u32 = 16;
    pub const BYTEA: u32 = 17;
    pub const CHAR: u32 = 18;
    pub const NAME: u32 = 19;
    pub const INT8: u32 = 20;
    pub const INT2: u32 = 21;
    pub const INT4: u32 = 23;
    pub const TEXT: u32 = 25;
    pub const OID: u32 = 26;
    pub const JSON: u32 = 114;
    pub const XML: u32 = 142;
    pub const FLOAT4: u32 = 700;
    pub const FLOAT8: u32 = 701;
    pub const MONEY: u32 = 790;
    pub const BPCHAR: u32 = 1042;
    pub const VARCHAR: u32 = 1043;
    pub const DATE: u32 = 1082;
    pub const TIME: u32 = 1083;
    pub const TIMESTAMP: u32 = 1114;
    pub const TIMESTAMPTZ: u32 = 1184;
    pub const INTERVAL: u32 = 1186;
    pub const TIMETZ: u32 = 1266;
    pub const BIT: u32 = 1560;
    pub const VARBIT: u32 = 1562;
    pub const NUMERIC: u32 = 1700;
    pub const UUID: u32 = 2950;
    pub const JSONB: u32 = 3802;
    /// Types Debezium maps to a plain STRING of their text form.
    pub const STRING_LIKE: &[u32] = &[
        650,  // cidr
        869,  // inet
        829,  // macaddr
        774,  // macaddr8
        3614, // tsvector
        3904, // int4range
        3906, // numrange
        3908, // tsrange
        3910, // tstzrange
        3912, // daterange
        3926, // int8range
    ];
    /// Built-in array types and their element types.
    pub const ARRAYS: &[(u32, u32)] = &[
        (1000, BOOL),
        (1001, BYTEA),
        (1002, CHAR),
        (1003, NAME),
        (1005, INT2),
        (1007, INT4),
        (1009, TEXT),
        (1014, BPCHAR),
        (1015, VARCHAR),
        (1016, INT8),
        (1021, FLOAT4),
        (1022, FLOAT8),
        (1028, OID),
        (1115, TIMESTAMP),
        (1182, DATE),
        (1183, TIME),
        (1185, TIMESTAMPTZ),
        (1231, NUMERIC),
        (1270, TIMETZ),
        (2951, UUID),
        (199, JSON),
        (3807, JSONB),
        (651, 650),
        (1041, 869),
        (1040, 829),
    ];
}

/// What the catalog says about a type that is not built in.
#[derive(Clone, Debug, PartialEq)]
pub struct TypeInfo {
    /// `pg_type.typname`.
    pub name: String,
    /// `pg_type.typtype`: `b` base, `e` enum, `d` domain, `c` composite, `r` range, …
    pub typtype: char,
    /// `pg_type.typelem` for arrays (0 otherwise).
    pub elem: u32,
    /// `pg_type.typbasetype` for domains (0 otherwise).
    pub base: u32,
    /// `pg_type.typtypmod` for domains (-1 otherwise).
    pub base_typmod: i32,
    /// `pg_type.typcategory`: `A` for arrays.
    pub category: char,
    /// An enum's labels in sort order.
    pub labels: Vec<String>,
}

/// Types looked up in the catalog: enums, domains, arrays of them.
#[derive(Clone, Debug, Default)]
pub struct TypeRegistry {
    types: HashMap<u32, TypeInfo>,
}

impl TypeRegistry {
    /// An empty registry (built-in types only).
    pub fn new() -> Self {
        Self::default()
    }

    /// Adds or replaces a type.
    pub fn insert(&mut self, oid: u32, info: TypeInfo) {
        self.types.insert(oid, info);
    }

    /// The catalog entry of `oid`, if loaded.
    pub fn get(&self, oid: u32) -> Option<&TypeInfo> {
        self.types.get(&oid)
    }
}

/// How a column is represented.
#[derive(Clone, Debug, PartialEq)]
pub enum Kind {
    /// `smallint` → INT16.
    Int16,
    /// `integer` → INT32.
    Int32,
    /// `bigint`, `oid` → INT64.
    Int64,
    /// `real` → FLOAT32.
    Float32,
    /// `double precision` → FLOAT64.
    Float64,
    /// `boolean`, `bit(1)` → BOOLEAN.
    Boolean,
    /// Text types and every type Debezium shows as its text → STRING.
    Text,
    /// `bytea` → BYTES.
    Bytes,
    /// `numeric(p,s)` → Decimal with scale `s`.
    Decimal {
        /// Declared precision.
        precision: i32,
        /// Declared scale.
        scale: i32,
    },
    /// `money` → Decimal with scale 2.
    Money,
    /// `numeric` without a declared scale → VariableScaleDecimal.
    VariableDecimal,
    /// `date` → io.debezium.time.Date.
    Date,
    /// `time(p)` → Time (p ≤ 3) or MicroTime.
    Time {
        /// Fractional digits (6 when undeclared).
        precision: i32,
    },
    /// `timestamp(p)` → Timestamp (p ≤ 3) or MicroTimestamp.
    Timestamp {
        /// Fractional digits (6 when undeclared).
        precision: i32,
    },
    /// `timestamptz(p)` → ZonedTimestamp with exactly `p` fractional digits.
    TimestampTz {
        /// Fractional digits (6 when undeclared).
        precision: i32,
    },
    /// `timetz` → ZonedTime.
    TimeTz,
    /// `interval` → MicroDuration.
    Interval,
    /// `uuid` → io.debezium.data.Uuid.
    Uuid,
    /// `json`, `jsonb` → io.debezium.data.Json.
    Json,
    /// `xml` → io.debezium.data.Xml.
    Xml,
    /// An enum → io.debezium.data.Enum.
    Enum {
        /// Labels in sort order.
        allowed: Vec<String>,
    },
    /// `bit(n > 1)`, `bit varying` → io.debezium.data.Bits.
    Bits {
        /// Declared length (`i32::MAX` when undeclared).
        length: i32,
    },
    /// A one-dimensional array of a mapped element type → ARRAY.
    Array(Box<Kind>),
    /// A type with no mapping: the text form as a STRING (documented
    /// fallback; Debezium leaves such columns out).
    Fallback {
        /// The type's name, for messages.
        type_name: String,
    },
}

/// A value that does not decode, with what was expected.
#[derive(Clone, Debug, PartialEq, thiserror::Error)]
#[error("cannot read `{text}` as {expected}")]
pub struct DecodeError {
    /// The text received (truncated).
    pub text: String,
    /// What it should have been.
    pub expected: String,
}

fn bad(text: &str, expected: &str) -> DecodeError {
    let mut t: String = text.chars().take(80).collect();
    if t.len() < text.len() {
        t.push('…');
    }
    DecodeError {
        text: t,
        expected: expected.to_owned(),
    }
}

/// Precision of `time`/`timestamp` from its typmod (6 when undeclared).
fn time_precision(typmod: i32) -> i32 {
    if (0..=6).contains(&typmod) {
        typmod
    } else {
        6
    }
}

/// The representation of a column of type `type_oid` with `typmod`.
pub fn kind_of(type_oid: u32, typmod: i32, registry: &TypeRegistry) -> Kind {
    match type_oid {
        oid::INT2 => Kind::Int16,
        oid::INT4 => Kind::Int32,
        oid::INT8 | oid::OID => Kind::Int64,
        oid::FLOAT4 => Kind::Float32,
        oid::FLOAT8 => Kind::Float64,
        oid::BOOL => Kind::Boolean,
        oid::TEXT | oid::VARCHAR | oid::BPCHAR | oid::CHAR | oid::NAME => Kind::Text,
        oid::BYTEA => Kind::Bytes,
        oid::NUMERIC if typmod >= 4 => {
            let t = typmod - 4;
            Kind::Decimal {
                precision: (t >> 16) & 0xffff,
                // The scale is a signed 11-bit field since PostgreSQL 15.
                scale: ((t & 0x7ff) ^ 1024) - 1024,
            }
        }
        oid::NUMERIC => Kind::VariableDecimal,
        oid::MONEY => Kind::Money,
        oid::DATE => Kind::Date,
        oid::TIME => Kind::Time {
            precision: time_precision(typmod),
        },
        oid::TIMESTAMP => Kind::Timestamp {
            precision: time_precision(typmod),
        },
        oid::TIMESTAMPTZ => Kind::TimestampTz {
            precision: time_precision(typmod),
        },
        oid::TIMETZ => Kind::TimeTz,
        oid::INTERVAL => Kind::Interval,
        oid::UUID => Kind::Uuid,
        oid::JSON | oid::JSONB => Kind::Json,
        oid::XML => Kind::Xml,
        oid::BIT if typmod == 1 => Kind::Boolean,
        oid::BIT => Kind::Bits {
            length: if typmod > 0 { typmod } else { 1 },
        },
        oid::VARBIT => Kind::Bits {
            length: if typmod > 0 { typmod } else { i32::MAX },
        },
        o if oid::STRING_LIKE.contains(&o) => Kind::Text,
        o => {
            if let Some((_, elem)) = oid::ARRAYS.iter().find(|(a, _)| *a == o) {
                return array_of(kind_of(*elem, typmod, registry));
            }
            match registry.get(o) {
                Some(info) if info.typtype == 'e' => Kind::Enum {
                    allowed: info.labels.clone(),
                },
                Some(info) if info.typtype == 'd' && info.base != 0 => {
                    kind_of(info.base, info.base_typmod, registry)
                }
                Some(info) if info.category == 'A' && info.elem != 0 => {
                    array_of(kind_of(info.elem, typmod, registry))
                }
                Some(info) if info.name == "citext" || info.name == "ltree" => Kind::Text,
                Some(info) => Kind::Fallback {
                    type_name: info.name.clone(),
                },
                None => Kind::Fallback {
                    type_name: format!("oid {o}"),
                },
            }
        }
    }
}

fn array_of(elem: Kind) -> Kind {
    match elem {
        Kind::Fallback { type_name } => Kind::Fallback {
            type_name: format!("{type_name}[]"),
        },
        Kind::Array(_) => Kind::Fallback {
            type_name: "nested array".to_owned(),
        },
        other => Kind::Array(Box::new(other)),
    }
}

/// The Connect schema of a column of kind `kind`.
pub fn schema_of(kind: &Kind, optional: bool) -> SchemaRef {
    let b = builder_of(kind);
    if optional {
        b.optional().build()
    } else {
        b.build()
    }
}

fn builder_of(kind: &Kind) -> SchemaBuilder {
    match kind {
        Kind::Int16 => SchemaBuilder::int16(),
        Kind::Int32 => SchemaBuilder::int32(),
        Kind::Int64 => SchemaBuilder::int64(),
        Kind::Float32 => SchemaBuilder::float32(),
        Kind::Float64 => SchemaBuilder::float64(),
        Kind::Boolean => SchemaBuilder::boolean(),
        Kind::Text | Kind::Fallback { .. } => SchemaBuilder::string(),
        Kind::Bytes => SchemaBuilder::bytes(),
        Kind::Decimal { precision, scale } => SchemaBuilder::bytes()
            .name(DECIMAL_NAME)
            .version(1)
            .parameter(DECIMAL_SCALE, &scale.to_string())
            .parameter(DECIMAL_PRECISION, &precision.to_string()),
        Kind::Money => SchemaBuilder::bytes()
            .name(DECIMAL_NAME)
            .version(1)
            .parameter(DECIMAL_SCALE, "2"),
        Kind::VariableDecimal => SchemaBuilder::struct_()
            .name(VARIABLE_SCALE_DECIMAL)
            .version(1)
            .doc("Variable scaled decimal")
            .field("scale", Schema::int32())
            .field("value", Schema::bytes()),
        Kind::Date => SchemaBuilder::int32().name(DATE).version(1),
        Kind::Time { precision } if *precision <= 3 => SchemaBuilder::int32().name(TIME).version(1),
        Kind::Time { .. } => SchemaBuilder::int64().name(MICRO_TIME).version(1),
        Kind::Timestamp { precision } if *precision <= 3 => {
            SchemaBuilder::int64().name(TIMESTAMP).version(1)
        }
        Kind::Timestamp { .. } => SchemaBuilder::int64().name(MICRO_TIMESTAMP).version(1),
        Kind::TimestampTz { .. } => SchemaBuilder::string().name(ZONED_TIMESTAMP).version(1),
        Kind::TimeTz => SchemaBuilder::string().name(ZONED_TIME).version(1),
        Kind::Interval => SchemaBuilder::int64().name(MICRO_DURATION).version(1),
        Kind::Uuid => SchemaBuilder::string().name(UUID).version(1),
        Kind::Json => SchemaBuilder::string().name(JSON).version(1),
        Kind::Xml => SchemaBuilder::string().name(XML).version(1),
        Kind::Enum { allowed } => SchemaBuilder::string()
            .name(ENUM)
            .version(1)
            .parameter("allowed", &allowed.join(",")),
        Kind::Bits { length } => SchemaBuilder::bytes()
            .name(BITS)
            .version(1)
            .parameter("length", &length.to_string()),
        Kind::Array(elem) => SchemaBuilder::array(schema_of(elem, true)),
    }
}

/// Decodes PostgreSQL's text output of a non-null value of kind `kind`.
///
/// Special values are explicit: `NaN`/`Infinity` of `real`/`double` become
/// the float values; `NaN`/`±Infinity` of `numeric` become `Value::Null`
/// (Debezium's precise mode has no encoding for them); `±infinity`
/// timestamps become Debezium's sentinels, dates `i32::MAX`/`i32::MIN`,
/// and `timestamptz` the strings `infinity`/`-infinity`.
pub fn decode(kind: &Kind, text: &str) -> Result<Value, DecodeError> {
    decode_as(kind, text, false)
}

/// [`decode`], with structs built for the optional (`optional`) or
/// required schema of `kind`.
pub fn decode_as(kind: &Kind, text: &str, optional: bool) -> Result<Value, DecodeError> {
    Ok(match kind {
        Kind::Int16 => Value::Int16(text.parse().map_err(|_| bad(text, "smallint"))?),
        Kind::Int32 => Value::Int32(text.parse().map_err(|_| bad(text, "integer"))?),
        Kind::Int64 => Value::Int64(text.parse().map_err(|_| bad(text, "bigint"))?),
        Kind::Float32 => Value::Float32(parse_float(text).ok_or_else(|| bad(text, "real"))? as f32),
        Kind::Float64 => Value::Float64(parse_float(text).ok_or_else(|| bad(text, "double"))?),
        Kind::Boolean => match text {
            "t" | "true" | "1" => Value::Boolean(true),
            "f" | "false" | "0" => Value::Boolean(false),
            _ => return Err(bad(text, "boolean")),
        },
        Kind::Text
        | Kind::Fallback { .. }
        | Kind::Uuid
        | Kind::Json
        | Kind::Xml
        | Kind::Enum { .. } => Value::String(text.to_owned()),
        Kind::Bytes => Value::Bytes(decode_bytea(text).ok_or_else(|| bad(text, "bytea"))?),
        Kind::Decimal { scale, .. } => match parse_numeric(text) {
            Some(Numeric::Special) => Value::Null,
            Some(Numeric::Finite(n)) => {
                Value::Bytes(n.rescale(*scale).ok_or_else(|| bad(text, "numeric"))?)
            }
            None => return Err(bad(text, "numeric")),
        },
        Kind::Money => {
            let cleaned: String = text
                .chars()
                .filter(|c| c.is_ascii_digit() || *c == '.' || *c == '-')
                .collect();
            let negative = text.contains('-') || text.starts_with('(');
            let cleaned = cleaned.trim_start_matches('-');
            let signed = if negative {
                format!("-{cleaned}")
            } else {
                cleaned.to_owned()
            };
            match parse_numeric(&signed) {
                Some(Numeric::Finite(n)) => {
                    Value::Bytes(n.rescale(2).ok_or_else(|| bad(text, "money"))?)
                }
                _ => return Err(bad(text, "money")),
            }
        }
        Kind::VariableDecimal => match parse_numeric(text) {
            Some(Numeric::Special) => Value::Null,
            Some(Numeric::Finite(n)) => {
                let (digits, scale) = n.stripped();
                let schema = schema_of(kind, optional);
                let s = Struct::new(schema)
                    .with("scale", Value::Int32(scale))
                    .and_then(|s| {
                        s.with(
                            "value",
                            Value::Bytes(to_twos_complement(n.negative, &digits)),
                        )
                    })
                    .map_err(|_| bad(text, "numeric"))?;
                Value::Struct(s)
            }
            None => return Err(bad(text, "numeric")),
        },
        Kind::Date => match text {
            "infinity" => Value::Int32(i32::MAX),
            "-infinity" => Value::Int32(i32::MIN),
            _ => {
                let (days, rest) = parse_date(text).ok_or_else(|| bad(text, "ISO date"))?;
                if !rest.is_empty() {
                    return Err(bad(text, "ISO date"));
                }
                Value::Int32(i32::try_from(days).map_err(|_| bad(text, "date in range"))?)
            }
        },
        Kind::Time { precision } => {
            let micros = parse_time(text).ok_or_else(|| bad(text, "time"))?;
            if *precision <= 3 {
                Value::Int32((micros / 1000) as i32)
            } else {
                Value::Int64(micros)
            }
        }
        Kind::Timestamp { precision } => {
            let micros = match text {
                "infinity" => TIMESTAMP_POS_INFINITY_MICROS,
                "-infinity" => TIMESTAMP_NEG_INFINITY_MICROS,
                _ => parse_timestamp(text)
                    .filter(|(_, offset)| offset.is_none())
                    .map(|(m, _)| m)
                    .ok_or_else(|| bad(text, "ISO timestamp"))?,
            };
            if *precision <= 3 {
                Value::Int64(micros.div_euclid(1000))
            } else {
                Value::Int64(micros)
            }
        }
        Kind::TimestampTz { precision } => match text {
            "infinity" | "-infinity" => Value::String(text.to_owned()),
            _ => {
                let (local, offset) = parse_timestamp(text)
                    .ok_or_else(|| bad(text, "ISO timestamp with time zone"))?;
                let offset = offset.ok_or_else(|| bad(text, "timestamp with a UTC offset"))?;
                let utc = local - i64::from(offset) * 1_000_000;
                Value::String(format_zoned_timestamp(utc, *precision))
            }
        },
        Kind::TimeTz => {
            let (time, offset) = split_time_offset(text).ok_or_else(|| bad(text, "timetz"))?;
            let micros = parse_time(time).ok_or_else(|| bad(text, "timetz"))?;
            let utc = (micros - i64::from(offset) * 1_000_000).rem_euclid(86_400_000_000);
            Value::String(format!("{}Z", format_time_of_day(utc, None)))
        }
        Kind::Interval => Value::Int64(parse_interval(text).ok_or_else(|| bad(text, "interval"))?),
        Kind::Bits { .. } => {
            if !text.bytes().all(|b| b == b'0' || b == b'1') {
                return Err(bad(text, "bit string"));
            }
            let n = text.len();
            let mut bytes = vec![0u8; n.div_ceil(8)];
            for (i, b) in text.bytes().rev().enumerate() {
                if b == b'1' {
                    bytes[i / 8] |= 1 << (i % 8);
                }
            }
            Value::Bytes(bytes)
        }
        Kind::Array(elem) => {
            let items = parse_array(text).ok_or_else(|| bad(text, "one-dimensional array"))?;
            let mut out = Vec::with_capacity(items.len());
            for item in items {
                out.push(match item {
                    None => Value::Null,
                    Some(t) => decode_as(elem, &t, true)?,
                });
            }
            Value::Array(out)
        }
    })
}

fn parse_float(text: &str) -> Option<f64> {
    match text {
        "NaN" => Some(f64::NAN),
        "Infinity" => Some(f64::INFINITY),
        "-Infinity" => Some(f64::NEG_INFINITY),
        _ => text.parse::<f64>().ok().filter(|f| f.is_finite()),
    }
}

/// `\x` hex (PostgreSQL's default `bytea_output`) or the escape format.
fn decode_bytea(text: &str) -> Option<Vec<u8>> {
    if let Some(hex) = text.strip_prefix("\\x") {
        if hex.len() % 2 != 0 {
            return None;
        }
        return (0..hex.len())
            .step_by(2)
            .map(|i| u8::from_str_radix(hex.get(i..i + 2)?, 16).ok())
            .collect();
    }
    let b = text.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        if b[i] == b'\\' {
            if b.get(i + 1) == Some(&b'\\') {
                out.push(b'\\');
                i += 2;
            } else {
                let oct = text.get(i + 1..i + 4)?;
                out.push(u8::from_str_radix(oct, 8).ok()?);
                i += 4;
            }
        } else {
            out.push(b[i]);
            i += 1;
        }
    }
    Some(out)
}

/// A parsed `numeric`.
enum Numeric {
    /// `NaN`, `Infinity`, `-Infinity`.
    Special,
    Finite(FiniteNumeric),
}

/// Decimal digits with a scale.
struct FiniteNumeric {
    negative: bool,
    /// All digits, integer part then fraction, as ASCII.
    digits: Vec<u8>,
    scale: i32,
}

impl FiniteNumeric {
    /// Unscaled bytes at `scale` (fraction digits padded; never rounded).
    fn rescale(&self, scale: i32) -> Option<Vec<u8>> {
        let mut digits = self.digits.clone();
        if scale >= self.scale {
            digits.extend(std::iter::repeat_n(b'0', (scale - self.scale) as usize));
        } else {
            let drop = (self.scale - scale) as usize;
            let keep = digits.len().checked_sub(drop)?;
            if digits[keep..].iter().any(|d| *d != b'0') {
                return None;
            }
            digits.truncate(keep);
        }
        Some(to_twos_complement(self.negative, &digits))
    }

    /// Digits and scale with trailing fraction zeros removed (scale ≥ 0).
    fn stripped(&self) -> (Vec<u8>, i32) {
        let mut digits = self.digits.clone();
        let mut scale = self.scale;
        while scale > 0 && digits.last() == Some(&b'0') {
            digits.pop();
            scale -= 1;
        }
        (digits, scale)
    }
}

fn parse_numeric(text: &str) -> Option<Numeric> {
    if matches!(text, "NaN" | "Infinity" | "-Infinity") {
        return Some(Numeric::Special);
    }
    let (negative, body) = match text.strip_prefix('-') {
        Some(rest) => (true, rest),
        None => (false, text.strip_prefix('+').unwrap_or(text)),
    };
    let (int, frac) = body.split_once('.').unwrap_or((body, ""));
    if int.is_empty() && frac.is_empty() {
        return None;
    }
    if !int.bytes().chain(frac.bytes()).all(|b| b.is_ascii_digit()) {
        return None;
    }
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    if digits.is_empty() {
        digits.push(b'0');
    }
    Some(Numeric::Finite(FiniteNumeric {
        negative,
        digits,
        scale: i32::try_from(frac.len()).ok()?,
    }))
}

/// Java's `BigInteger.toByteArray()` of the decimal digits: minimal
/// big-endian two's complement.
pub fn to_twos_complement(negative: bool, digits: &[u8]) -> Vec<u8> {
    // Magnitude in base 256, little-endian while building.
    let mut mag: Vec<u8> = Vec::new();
    for d in digits {
        let mut carry = u32::from(d - b'0');
        for byte in mag.iter_mut() {
            let v = u32::from(*byte) * 10 + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
        while carry > 0 {
            mag.push((carry & 0xff) as u8);
            carry >>= 8;
        }
    }
    while mag.last() == Some(&0) {
        mag.pop();
    }
    if mag.is_empty() {
        return vec![0];
    }
    mag.push(0); // room for the sign bit
    if negative {
        let mut carry = 1u16;
        for byte in mag.iter_mut() {
            let v = u16::from(!*byte) + carry;
            *byte = (v & 0xff) as u8;
            carry = v >> 8;
        }
    }
    mag.reverse();
    // Drop redundant sign bytes.
    let sign = if negative { 0xff } else { 0x00 };
    let mut start = 0;
    while start + 1 < mag.len() && mag[start] == sign && (mag[start + 1] & 0x80 == 0x80) == negative
    {
        start += 1;
    }
    mag.split_off(start)
}

/// `YYYY-MM-DD[ BC]` at the start of `text`: days since the epoch and the rest.
fn parse_date(text: &str) -> Option<(i64, &str)> {
    let (ymd, rest) = match text.find([' ', 'T']) {
        Some(i) => (&text[..i], &text[i..]),
        None => (text, ""),
    };
    let mut parts = ymd.splitn(3, '-');
    let year: i64 = parts.next()?.parse().ok()?;
    let month: u32 = parts.next()?.parse().ok()?;
    let day: u32 = parts.next()?.parse().ok()?;
    if !(1..=12).contains(&month) || !(1..=31).contains(&day) {
        return None;
    }
    let (year, rest) = match rest.strip_suffix(" BC") {
        Some(r) => (1 - year, r),
        None => (year, rest),
    };
    Some((days_from_civil(year, month, day), rest))
}

/// `HH:MM:SS[.ffffff]` (hour up to 24) → microseconds past midnight.
fn parse_time(text: &str) -> Option<i64> {
    let mut parts = text.splitn(3, ':');
    let h: i64 = parts.next()?.parse().ok()?;
    let m: i64 = parts.next()?.parse().ok()?;
    let sec = parts.next()?;
    let (s, frac) = sec.split_once('.').unwrap_or((sec, ""));
    let s: i64 = s.parse().ok()?;
    if !(0..=24).contains(&h) || !(0..60).contains(&m) || !(0..=60).contains(&s) {
        return None;
    }
    Some(((h * 60 + m) * 60 + s) * 1_000_000 + parse_fraction_micros(frac)?)
}

fn parse_fraction_micros(frac: &str) -> Option<i64> {
    if frac.is_empty() {
        return Some(0);
    }
    if frac.len() > 6 || !frac.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let padded = format!("{frac:0<6}");
    padded.parse().ok()
}

/// Splits `12:00:00+05:30` into the time and the offset in seconds.
fn split_time_offset(text: &str) -> Option<(&str, i32)> {
    let i = text.rfind(['+', '-'])?;
    let (time, off) = text.split_at(i);
    let sign = if off.starts_with('-') { -1 } else { 1 };
    let mut parts = off[1..].split(':');
    let h: i32 = parts.next()?.parse().ok()?;
    let m: i32 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    let s: i32 = parts.next().map_or(Some(0), |p| p.parse().ok())?;
    Some((time, sign * (h * 3600 + m * 60 + s)))
}

/// `YYYY-MM-DD HH:MM:SS[.f][±HH[:MM[:SS]]][ BC]` → local microseconds since
/// the epoch and the offset in seconds, if any.
fn parse_timestamp(text: &str) -> Option<(i64, Option<i32>)> {
    let (text, bc) = match text.strip_suffix(" BC") {
        Some(t) => (t, true),
        None => (text, false),
    };
    let (date, time) = text.split_once([' ', 'T'])?;
    let (days, _) = parse_date(date)?;
    let days = if bc {
        // parse_date did not see the suffix; redo the year.
        let (y, rest) = date.split_once('-')?;
        let year: i64 = y.parse().ok()?;
        let (m, d) = rest.split_once('-')?;
        days_from_civil(1 - year, m.parse().ok()?, d.parse().ok()?)
    } else {
        days
    };
    let (time, offset) = match time.rfind(['+', '-']) {
        Some(_) => {
            let (t, o) = split_time_offset(time)?;
            (t, Some(o))
        }
        None => (time, None),
    };
    let micros = parse_time(time)?;
    Some((
        days.checked_mul(86_400_000_000)?.checked_add(micros)?,
        offset,
    ))
}

/// `HH:MM:SS` plus `.` and exactly `width` fraction digits, or (with
/// `None`) the fewest digits that keep the value (none for whole seconds),
/// as Java's ISO formatter prints.
fn format_time_of_day(micros: i64, width: Option<i32>) -> String {
    let secs = micros / 1_000_000;
    let frac = micros % 1_000_000;
    let mut out = format!(
        "{:02}:{:02}:{:02}",
        secs / 3600,
        (secs / 60) % 60,
        secs % 60
    );
    match width {
        Some(w) if w > 0 => {
            let digits = format!("{frac:06}000");
            out.push('.');
            out.push_str(&digits[..w.min(9) as usize]);
        }
        _ => {
            if frac != 0 {
                let digits = format!("{frac:06}");
                out.push('.');
                out.push_str(digits.trim_end_matches('0'));
            }
        }
    }
    out
}

/// Debezium's ZonedTimestamp text of `utc_micros`: ISO-8601 in UTC with
/// exactly `precision` fraction digits (1–6), or the fewest needed when the
/// precision is 0.
pub fn format_zoned_timestamp(utc_micros: i64, precision: i32) -> String {
    let days = utc_micros.div_euclid(86_400_000_000);
    let tod = utc_micros.rem_euclid(86_400_000_000);
    let (y, m, d) = civil_from_days(days);
    let year = if (0..=9999).contains(&y) {
        format!("{y:04}")
    } else if y > 9999 {
        format!("+{y}")
    } else {
        format!("-{:04}", -y)
    };
    let width = (precision > 0).then_some(precision);
    format!("{year}-{m:02}-{d:02}T{}Z", format_time_of_day(tod, width))
}

/// PostgreSQL's `postgres` IntervalStyle (`1 year 2 mons -3 days 04:05:06.5`)
/// → microseconds, months counted as 365.25 / 12 days (Debezium's MicroDuration).
fn parse_interval(text: &str) -> Option<i64> {
    let mut months = 0f64;
    let mut days = 0f64;
    let mut micros = 0f64;
    let mut tokens = text.split_whitespace().peekable();
    let mut ago = false;
    while let Some(tok) = tokens.next() {
        if tok == "ago" {
            ago = true;
            continue;
        }
        if tok.contains(':') {
            let (neg, t) = match tok.strip_prefix('-') {
                Some(t) => (true, t),
                None => (false, tok.strip_prefix('+').unwrap_or(tok)),
            };
            let mut parts = t.splitn(3, ':');
            let h: f64 = parts.next()?.parse().ok()?;
            let m: f64 = parts.next()?.parse().ok()?;
            let s: f64 = parts.next().map_or(Some(0.0), |p| p.parse().ok())?;
            let v = ((h * 60.0 + m) * 60.0 + s) * 1e6;
            micros += if neg { -v } else { v };
            continue;
        }
        let n: f64 = tok.parse().ok()?;
        let unit = tokens.next()?;
        match unit.trim_end_matches('s') {
            "year" => months += n * 12.0,
            "mon" => months += n,
            "day" => days += n,
            "hour" => micros += n * 3_600e6,
            "min" => micros += n * 60e6,
            "sec" => micros += n * 1e6,
            _ => return None,
        }
    }
    let total = (months * (365.25 / 12.0) + days) * 86_400e6 + micros;
    let total = if ago { -total } else { total };
    Some(total.round() as i64)
}

/// A one-dimensional array literal `{a,"b c",NULL}` → its items (`None` for NULL).
fn parse_array(text: &str) -> Option<Vec<Option<String>>> {
    // A leading dimension decoration `[0:1]=` is allowed.
    let text = match text.find('=') {
        Some(i) if text.starts_with('[') => &text[i + 1..],
        _ => text,
    };
    let inner = text.strip_prefix('{')?.strip_suffix('}')?;
    let mut items = Vec::new();
    if inner.is_empty() {
        return Some(items);
    }
    let mut chars = inner.chars().peekable();
    loop {
        match chars.peek() {
            Some('{') => return None, // more than one dimension
            Some('"') => {
                chars.next();
                let mut s = String::new();
                loop {
                    match chars.next()? {
                        '\\' => s.push(chars.next()?),
                        '"' => break,
                        c => s.push(c),
                    }
                }
                items.push(Some(s));
            }
            _ => {
                let mut s = String::new();
                while let Some(&c) = chars.peek() {
                    if c == ',' {
                        break;
                    }
                    s.push(c);
                    chars.next();
                }
                let s = s.trim().to_owned();
                items.push(if s.eq_ignore_ascii_case("NULL") {
                    None
                } else {
                    Some(s)
                });
            }
        }
        match chars.next() {
            None => return Some(items),
            Some(',') => continue,
            Some(_) => return None,
        }
    }
}

/// One column of a table as captured: name, kind and schema.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnType {
    /// Column name.
    pub name: String,
    /// PostgreSQL type OID.
    pub type_oid: u32,
    /// PostgreSQL type modifier.
    pub typmod: i32,
    /// The representation.
    pub kind: Kind,
    /// Whether the column accepts NULL.
    pub nullable: bool,
    /// The Connect schema of its values.
    pub schema: SchemaRef,
}

impl ColumnType {
    /// A column of `type_oid`/`typmod`, resolved through `registry`.
    pub fn new(
        name: &str,
        type_oid: u32,
        typmod: i32,
        nullable: bool,
        registry: &TypeRegistry,
    ) -> ColumnType {
        let kind = kind_of(type_oid, typmod, registry);
        let schema = schema_of(&kind, nullable);
        ColumnType {
            name: name.to_owned(),
            type_oid,
            typmod,
            kind,
            nullable,
            schema,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::Decimal;

    fn k(oid: u32, typmod: i32) -> Kind {
        kind_of(oid, typmod, &TypeRegistry::new())
    }

    fn dec(kind: &Kind, text: &str) -> Value {
        decode(kind, text).unwrap()
    }

    #[test]
    fn pg_integers_and_floats() {
        assert_eq!(dec(&k(oid::INT2, -1), "-32768"), Value::Int16(-32768));
        assert_eq!(dec(&k(oid::INT4, -1), "42"), Value::Int32(42));
        assert_eq!(
            dec(&k(oid::INT8, -1), "9223372036854775807"),
            Value::Int64(i64::MAX)
        );
        assert_eq!(dec(&k(oid::FLOAT4, -1), "1.5"), Value::Float32(1.5));
        assert!(matches!(dec(&k(oid::FLOAT8, -1), "NaN"), Value::Float64(f) if f.is_nan()));
        assert_eq!(
            dec(&k(oid::FLOAT8, -1), "-Infinity"),
            Value::Float64(f64::NEG_INFINITY)
        );
        assert!(decode(&k(oid::INT4, -1), "4x").is_err());
        assert_eq!(dec(&k(oid::BOOL, -1), "t"), Value::Boolean(true));
    }

    #[test]
    fn pg_numeric_with_scale_is_kafka_decimal() {
        // numeric(10,2): typmod = (10 << 16 | 2) + 4
        let kind = k(oid::NUMERIC, (10 << 16 | 2) + 4);
        assert_eq!(
            kind,
            Kind::Decimal {
                precision: 10,
                scale: 2
            }
        );
        let schema = schema_of(&kind, true);
        assert_eq!(schema.name.as_deref(), Some(DECIMAL_NAME));
        assert_eq!(schema.parameters["scale"], "2");
        assert_eq!(schema.parameters[DECIMAL_PRECISION], "10");
        let v = dec(&kind, "-1234.50");
        assert_eq!(
            Decimal::from_bytes(v.as_bytes().unwrap(), 2).unwrap(),
            Decimal::new(-123450, 2)
        );
        assert_eq!(dec(&kind, "NaN"), Value::Null);
    }

    #[test]
    fn pg_numeric_bytes_match_java_biginteger() {
        assert_eq!(to_twos_complement(false, b"0"), vec![0]);
        assert_eq!(to_twos_complement(false, b"127"), vec![0x7f]);
        assert_eq!(to_twos_complement(false, b"128"), vec![0x00, 0x80]);
        assert_eq!(to_twos_complement(true, b"128"), vec![0x80]);
        assert_eq!(to_twos_complement(true, b"129"), vec![0xff, 0x7f]);
        assert_eq!(to_twos_complement(true, b"1"), vec![0xff]);
        assert_eq!(to_twos_complement(false, b"65535"), vec![0x00, 0xff, 0xff]);
        // Beyond i128: 10^40.
        let big = format!("1{}", "0".repeat(40));
        let bytes = to_twos_complement(false, big.as_bytes());
        assert_eq!(bytes.len(), 17);
    }

    #[test]
    fn pg_numeric_without_scale_is_variable_scale_decimal() {
        let kind = k(oid::NUMERIC, -1);
        let v = dec(&kind, "12.3400");
        let s = v.as_struct().unwrap();
        assert_eq!(s.get("scale"), Some(&Value::Int32(2)));
        assert_eq!(s.get("value"), Some(&Value::Bytes(vec![0x04, 0xd2])));
        let v = dec(&kind, "100");
        assert_eq!(v.as_struct().unwrap().get("scale"), Some(&Value::Int32(0)));
        assert_eq!(dec(&kind, "Infinity"), Value::Null);
        let schema = schema_of(&kind, true);
        assert_eq!(schema.name.as_deref(), Some(VARIABLE_SCALE_DECIMAL));
        assert!(schema.optional);
    }

    #[test]
    fn pg_temporal_types_follow_adaptive_mode() {
        assert_eq!(dec(&k(oid::DATE, -1), "2024-02-29"), Value::Int32(19782));
        assert_eq!(dec(&k(oid::DATE, -1), "infinity"), Value::Int32(i32::MAX));
        assert_eq!(
            dec(&k(oid::DATE, -1), "0001-01-01 BC"),
            Value::Int32(days_from_civil(0, 1, 1) as i32)
        );
        let t6 = k(oid::TIME, -1);
        assert_eq!(schema_of(&t6, false).name.as_deref(), Some(MICRO_TIME));
        assert_eq!(dec(&t6, "13:45:00.25"), Value::Int64(49_500_250_000));
        assert_eq!(dec(&t6, "24:00:00"), Value::Int64(86_400_000_000));
        let t3 = k(oid::TIME, 3);
        assert_eq!(schema_of(&t3, false).name.as_deref(), Some(TIME));
        assert_eq!(dec(&t3, "00:00:01.5"), Value::Int32(1500));
        let ts = k(oid::TIMESTAMP, -1);
        assert_eq!(schema_of(&ts, false).name.as_deref(), Some(MICRO_TIMESTAMP));
        assert_eq!(
            dec(&ts, "1970-01-02 00:00:00.000001"),
            Value::Int64(86_400_000_001)
        );
        assert_eq!(
            dec(&ts, "infinity"),
            Value::Int64(TIMESTAMP_POS_INFINITY_MICROS)
        );
        let ts3 = k(oid::TIMESTAMP, 3);
        assert_eq!(schema_of(&ts3, false).name.as_deref(), Some(TIMESTAMP));
        assert_eq!(dec(&ts3, "1970-01-01 00:00:01.5"), Value::Int64(1500));
    }

    #[test]
    fn pg_timestamptz_is_utc_iso_with_column_precision() {
        let tz = k(oid::TIMESTAMPTZ, -1);
        assert_eq!(
            dec(&tz, "2024-01-31 15:45:00.25+02"),
            Value::String("2024-01-31T13:45:00.250000Z".into())
        );
        assert_eq!(
            dec(&tz, "2024-01-01 00:30:00-05:30"),
            Value::String("2024-01-01T06:00:00.000000Z".into())
        );
        let tz0 = k(oid::TIMESTAMPTZ, 0);
        assert_eq!(
            dec(&tz0, "2024-01-31 13:45:00+00"),
            Value::String("2024-01-31T13:45:00Z".into())
        );
        assert_eq!(dec(&tz, "-infinity"), Value::String("-infinity".into()));
        assert_eq!(
            dec(&k(oid::TIMETZ, -1), "10:15:30.5+01"),
            Value::String("09:15:30.5Z".into())
        );
    }

    #[test]
    fn pg_strings_uuid_json_enum_bytes_bits() {
        let u = k(oid::UUID, -1);
        assert_eq!(schema_of(&u, false).name.as_deref(), Some(UUID));
        assert_eq!(
            schema_of(&k(oid::JSONB, -1), false).name.as_deref(),
            Some(JSON)
        );
        assert_eq!(
            dec(&k(oid::BYTEA, -1), "\\x00ff10"),
            Value::Bytes(vec![0, 255, 16])
        );
        assert_eq!(
            dec(&k(oid::BYTEA, -1), "a\\\\b\\001"),
            Value::Bytes(vec![b'a', b'\\', b'b', 1])
        );
        assert_eq!(k(oid::BIT, 1), Kind::Boolean);
        assert_eq!(
            dec(&k(oid::BIT, 10), "1000000001"),
            Value::Bytes(vec![1, 2])
        );
        let mut reg = TypeRegistry::new();
        reg.insert(
            90001,
            TypeInfo {
                name: "mood".into(),
                typtype: 'e',
                elem: 0,
                base: 0,
                base_typmod: -1,
                category: 'E',
                labels: vec!["sad".into(), "ok".into(), "happy".into()],
            },
        );
        let e = kind_of(90001, -1, &reg);
        let schema = schema_of(&e, true);
        assert_eq!(schema.name.as_deref(), Some(ENUM));
        assert_eq!(schema.parameters["allowed"], "sad,ok,happy");
        assert_eq!(
            kind_of(90002, -1, &reg),
            Kind::Fallback {
                type_name: "oid 90002".into()
            }
        );
    }

    #[test]
    fn pg_arrays_and_interval() {
        let a = k(1007, -1);
        assert_eq!(
            dec(&a, "{1,NULL,3}"),
            Value::Array(vec![Value::Int32(1), Value::Null, Value::Int32(3)])
        );
        assert_eq!(
            dec(&k(1009, -1), r#"{plain,"with \"quote\"","a,b"}"#),
            Value::Array(vec![
                Value::String("plain".into()),
                Value::String("with \"quote\"".into()),
                Value::String("a,b".into())
            ])
        );
        assert_eq!(dec(&a, "{}"), Value::Array(vec![]));
        assert!(decode(&a, "{{1,2},{3,4}}").is_err());
        let i = k(oid::INTERVAL, -1);
        assert_eq!(dec(&i, "01:00:00"), Value::Int64(3_600_000_000));
        assert_eq!(dec(&i, "1 day -00:00:01"), Value::Int64(86_399_000_000));
        assert_eq!(
            dec(&i, "1 mon"),
            Value::Int64((30.4375f64 * 86_400e6).round() as i64)
        );
    }
}
