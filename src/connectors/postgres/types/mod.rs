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

/// The Connect schema of a column of kind `kind` with the column's
/// declared constant default, as Debezium puts it into its schemas (left
/// out if it does not fit the schema).
pub fn schema_with_default(kind: &Kind, optional: bool, default: Option<&Value>) -> SchemaRef {
    let Some(default) = default else {
        return schema_of(kind, optional);
    };
    let mut b = builder_of(kind).default_value(default.clone());
    if optional {
        b = b.optional();
    }
    b.try_build().unwrap_or_else(|_| schema_of(kind, optional))
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

mod column;
mod decode;

/// The text of a column default that is a constant, from the expression
/// PostgreSQL reports (`pg_get_expr` on `pg_attrdef`): a quoted literal
/// with or without casts (`'new'::text`, `'2020-01-01'::date`), a number
/// (`0`, `(-1.5)`), `true` / `false` (as `t` / `f`, PostgreSQL's text form).
/// `None` for anything else: a function (`now()`, `nextval(…)`), `NULL`,
/// an expression.
///
/// ```
/// use timely_connect::connectors::postgres::types::default_literal;
/// assert_eq!(default_literal("'it''s'::character varying").as_deref(), Some("it's"));
/// assert_eq!(default_literal("(-1.5)").as_deref(), Some("-1.5"));
/// assert_eq!(default_literal("true").as_deref(), Some("t"));
/// assert_eq!(default_literal("nextval('s'::regclass)"), None);
/// assert_eq!(default_literal("now()"), None);
/// ```
pub fn default_literal(expr: &str) -> Option<String> {
    fn unwrap(mut e: &str) -> &str {
        e = e.trim();
        while e.len() >= 2 && e.starts_with('(') && e.ends_with(')') {
            e = e[1..e.len() - 1].trim();
        }
        e
    }
    let e = unwrap(expr);
    if let Some(rest) = e.strip_prefix('\'') {
        let mut text = String::new();
        let mut chars = rest.char_indices().peekable();
        while let Some((i, c)) = chars.next() {
            if c == '\'' {
                if chars.peek().is_some_and(|(_, n)| *n == '\'') {
                    chars.next();
                    text.push('\'');
                    continue;
                }
                // After the literal: nothing, or casts only.
                let tail = rest[i + 1..].trim();
                return (tail.is_empty() || tail.starts_with("::")).then_some(text);
            }
            text.push(c);
        }
        return None;
    }
    let lit = unwrap(e.split("::").next().unwrap_or(""));
    match lit {
        "true" => Some("t".to_owned()),
        "false" => Some("f".to_owned()),
        _ if !lit.is_empty()
            && lit
                .trim_start_matches('-')
                .chars()
                .all(|c| c.is_ascii_digit() || c == '.')
            && lit
                .trim_start_matches('-')
                .starts_with(|c: char| c.is_ascii_digit()) =>
        {
            Some(lit.to_owned())
        }
        _ => None,
    }
}

pub use column::*;
pub use decode::*;

#[cfg(test)]
mod tests;
