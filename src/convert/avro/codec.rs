//! Avro binary encoding of Connect values, and decoding back.
//!
//! The encoder walks the Connect schema (which fixes the Avro schema, see
//! [`super::schema`]) and writes straight into the output buffer; the
//! decoder follows a [`Dec`] plan built once per writer schema. Neither
//! builds an intermediate Avro value, and maps keep their entry order
//! (the `apache-avro` generic value reads a map into a `HashMap`). Tests
//! check both directions against `apache-avro`'s own encoder and decoder.

use super::schema::{optional_indexes, Dec, AVRO_TYPE_UNION};
use crate::data::{DataError, Schema, SchemaType, Struct, Value};

/// Most items a block of zero-byte values (nulls, empty records) may claim.
const MAX_EMPTY_ITEMS: usize = 1 << 20;

/// A value that does not fit its schema, with the path to it.
#[derive(Debug)]
pub(crate) struct EncodeError {
    /// Path components, innermost first.
    path: Vec<String>,
    kind: EncodeErrorKind,
}

#[derive(Debug)]
enum EncodeErrorKind {
    Mismatch { expected: String, actual: String },
    NullForRequired { expected: String },
    Invalid(String),
}

impl EncodeError {
    fn new(kind: EncodeErrorKind) -> Self {
        EncodeError {
            path: Vec::new(),
            kind,
        }
    }

    fn at(mut self, segment: impl Into<String>) -> Self {
        self.path.push(segment.into());
        self
    }

    /// The error as a [`DataError`] naming the field path under `root`.
    pub(crate) fn into_data_error(self, root: &str) -> DataError {
        let mut field = root.to_owned();
        for segment in self.path.iter().rev() {
            if !segment.starts_with('[') {
                field.push('.');
            }
            field.push_str(segment);
        }
        match self.kind {
            EncodeErrorKind::Mismatch { expected, actual } => DataError::TypeMismatch {
                field,
                expected,
                actual,
            },
            EncodeErrorKind::NullForRequired { expected } => {
                DataError::NullForRequired { field, expected }
            }
            EncodeErrorKind::Invalid(message) => DataError::Invalid { field, message },
        }
    }
}

fn mismatch(schema: &Schema, value: &Value) -> EncodeError {
    EncodeError::new(EncodeErrorKind::Mismatch {
        expected: schema.schema_type.name().to_owned(),
        actual: value.type_name().to_owned(),
    })
}

/// Avro's variable-length zig-zag `long`.
pub(crate) fn write_long(out: &mut Vec<u8>, v: i64) {
    let mut n = ((v << 1) ^ (v >> 63)) as u64;
    while n >= 0x80 {
        out.push((n as u8) | 0x80);
        n >>= 7;
    }
    out.push(n as u8);
}

fn write_bytes(out: &mut Vec<u8>, b: &[u8]) {
    // A slice never exceeds isize::MAX bytes, so the length fits an i64.
    write_long(out, b.len() as i64);
    out.extend_from_slice(b);
}

/// Appends the Avro binary form of `value` (of Connect schema `schema`).
pub(crate) fn encode(schema: &Schema, value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    if schema.schema_type == SchemaType::Struct && schema.name.as_deref() == Some(AVRO_TYPE_UNION) {
        return encode_union(schema, value, out);
    }
    let value = match (value, &schema.default) {
        (Value::Null, _) if schema.optional => {
            write_long(out, optional_indexes(schema).0);
            return Ok(());
        }
        (Value::Null, Some(default)) => default,
        (Value::Null, None) => {
            return Err(EncodeError::new(EncodeErrorKind::NullForRequired {
                expected: schema.schema_type.name().to_owned(),
            }))
        }
        (v, _) => v,
    };
    if schema.optional {
        write_long(out, optional_indexes(schema).1);
    }
    encode_base(schema, value, out)
}

fn encode_base(schema: &Schema, value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    match (schema.schema_type, value) {
        (SchemaType::Int8, Value::Int8(v)) => write_long(out, i64::from(*v)),
        (SchemaType::Int16, Value::Int16(v)) => write_long(out, i64::from(*v)),
        (SchemaType::Int32, Value::Int32(v)) => write_long(out, i64::from(*v)),
        (SchemaType::Int64, Value::Int64(v)) => write_long(out, *v),
        (SchemaType::Float32, Value::Float32(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (SchemaType::Float64, Value::Float64(v)) => out.extend_from_slice(&v.to_le_bytes()),
        (SchemaType::Boolean, Value::Boolean(v)) => out.push(u8::from(*v)),
        (SchemaType::String, Value::String(v)) => write_bytes(out, v.as_bytes()),
        (SchemaType::Bytes, Value::Bytes(v)) => write_bytes(out, v),
        (SchemaType::Array, Value::Array(items)) => {
            let item_schema = schema.value_schema.as_deref().ok_or_else(|| {
                EncodeError::new(EncodeErrorKind::Invalid(
                    "ARRAY without a value schema".into(),
                ))
            })?;
            if !items.is_empty() {
                write_long(out, items.len() as i64);
                for (i, item) in items.iter().enumerate() {
                    encode(item_schema, item, out).map_err(|e| e.at(format!("[{i}]")))?;
                }
            }
            out.push(0);
        }
        (SchemaType::Map, Value::Map(entries)) => {
            let (Some(ks), Some(vs)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(EncodeError::new(EncodeErrorKind::Invalid(
                    "MAP without key and value schemas".into(),
                )));
            };
            let string_keys = ks.schema_type == SchemaType::String && !ks.optional;
            if !entries.is_empty() {
                write_long(out, entries.len() as i64);
                for (k, v) in entries {
                    if string_keys {
                        match k {
                            Value::String(k) => write_bytes(out, k.as_bytes()),
                            other => return Err(mismatch(ks, other).at("[<key>]")),
                        }
                    } else {
                        encode(ks, k, out).map_err(|e| e.at("[<key>]"))?;
                    }
                    encode(vs, v, out).map_err(|e| e.at(key_segment(k)))?;
                }
            }
            out.push(0);
        }
        (SchemaType::Struct, Value::Struct(s)) => encode_struct(schema, s, out)?,
        _ => return Err(mismatch(schema, value)),
    }
    Ok(())
}

fn key_segment(k: &Value) -> String {
    match k {
        Value::String(s) => format!("[{s:?}]"),
        other => match other.as_i64() {
            Some(i) => format!("[{i}]"),
            None => "[<value>]".to_owned(),
        },
    }
}

fn encode_struct(schema: &Schema, s: &Struct, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let values = s.values();
    if values.len() != schema.fields.len() {
        return Err(EncodeError::new(EncodeErrorKind::Mismatch {
            expected: format!("STRUCT with {} fields", schema.fields.len()),
            actual: format!("STRUCT with {} fields", values.len()),
        }));
    }
    for (field, value) in schema.fields.iter().zip(values) {
        // As Kafka's `Struct.get`: an unset field reads as its default.
        let value = match (value, &field.schema.default) {
            (Value::Null, Some(default)) => default,
            (v, _) => v,
        };
        encode(&field.schema, value, out).map_err(|e| e.at(field.name.clone()))?;
    }
    Ok(())
}

/// A `io.confluent.connect.avro.Union` struct: the first set field picks
/// the union member.
fn encode_union(schema: &Schema, value: &Value, out: &mut Vec<u8>) -> Result<(), EncodeError> {
    let offset = i64::from(schema.optional);
    let s = match value {
        Value::Null if schema.optional => {
            write_long(out, 0);
            return Ok(());
        }
        Value::Struct(s) => s,
        other => return Err(mismatch(schema, other)),
    };
    for (i, (field, v)) in schema.fields.iter().zip(s.values()).enumerate() {
        if !v.is_null() {
            write_long(out, i as i64 + offset);
            return encode_base(&field.schema, v, out).map_err(|e| e.at(field.name.clone()));
        }
    }
    if schema.optional {
        write_long(out, 0);
        Ok(())
    } else {
        Err(EncodeError::new(EncodeErrorKind::NullForRequired {
            expected: AVRO_TYPE_UNION.to_owned(),
        }))
    }
}

// ------------------------------------------------------------------ decoding

/// Why bytes could not be read.
#[derive(Debug, thiserror::Error)]
pub(crate) enum DecodeError {
    /// The bytes end early or hold an impossible value.
    #[error("{0}")]
    Malformed(String),
    /// The decoded value does not fit the Connect schema.
    #[error(transparent)]
    Data(#[from] DataError),
}

fn malformed(message: impl Into<String>) -> DecodeError {
    DecodeError::Malformed(message.into())
}

/// Reads Avro binary data from a byte slice.
pub(crate) struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader at the start of `buf`.
    pub(crate) fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    /// Bytes not yet read.
    pub(crate) fn remaining(&self) -> usize {
        self.buf.len() - self.pos
    }

    fn byte(&mut self) -> Result<u8, DecodeError> {
        let b = *self
            .buf
            .get(self.pos)
            .ok_or_else(|| malformed(format!("data ends early, at byte {}", self.pos)))?;
        self.pos += 1;
        Ok(b)
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], DecodeError> {
        if n > self.remaining() {
            return Err(malformed(format!(
                "data ends early: {n} bytes wanted at byte {}, {} left",
                self.pos,
                self.remaining()
            )));
        }
        let s = &self.buf[self.pos..self.pos + n];
        self.pos += n;
        Ok(s)
    }

    /// A zig-zag varint `long`.
    pub(crate) fn long(&mut self) -> Result<i64, DecodeError> {
        let mut n: u64 = 0;
        for shift in (0..64).step_by(7) {
            let b = self.byte()?;
            n |= u64::from(b & 0x7f) << shift;
            if b & 0x80 == 0 {
                return Ok(((n >> 1) as i64) ^ -((n & 1) as i64));
            }
        }
        Err(malformed("a varint longer than 10 bytes"))
    }

    fn int(&mut self) -> Result<i32, DecodeError> {
        let v = self.long()?;
        i32::try_from(v).map_err(|_| malformed(format!("int out of range: {v}")))
    }

    fn len(&mut self) -> Result<usize, DecodeError> {
        let v = self.long()?;
        usize::try_from(v)
            .ok()
            .filter(|n| *n <= self.remaining())
            .ok_or_else(|| {
                malformed(format!(
                    "bad length {v} with {} bytes left",
                    self.remaining()
                ))
            })
    }

    /// The item count of the next block of an array or map (0: the end).
    fn block(&mut self, may_be_empty: bool) -> Result<usize, DecodeError> {
        let n = self.long()?;
        let count = if n < 0 {
            self.long()?; // the block's size in bytes
            n.checked_neg()
                .ok_or_else(|| malformed("bad block count"))?
        } else {
            n
        };
        let limit = if may_be_empty {
            MAX_EMPTY_ITEMS
        } else {
            self.remaining()
        };
        usize::try_from(count)
            .ok()
            .filter(|c| *c <= limit)
            .ok_or_else(|| malformed(format!("bad block count {count}")))
    }

    /// Reads one value following `dec`.
    pub(crate) fn value(&mut self, dec: &Dec) -> Result<Value, DecodeError> {
        Ok(match dec {
            Dec::Boolean => match self.byte()? {
                0 => Value::Boolean(false),
                1 => Value::Boolean(true),
                b => return Err(malformed(format!("bad boolean byte {b}"))),
            },
            Dec::Int(t) => {
                let v = self.int()?;
                let range = || malformed(format!("{v} is out of range for {t}"));
                match t {
                    SchemaType::Int8 => Value::Int8(i8::try_from(v).map_err(|_| range())?),
                    SchemaType::Int16 => Value::Int16(i16::try_from(v).map_err(|_| range())?),
                    _ => Value::Int32(v),
                }
            }
            Dec::Long => Value::Int64(self.long()?),
            Dec::Float => {
                let b = self.take(4)?;
                Value::Float32(f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
            }
            Dec::Double => {
                let b = self.take(8)?;
                let mut a = [0u8; 8];
                a.copy_from_slice(b);
                Value::Float64(f64::from_le_bytes(a))
            }
            Dec::Bytes => {
                let n = self.len()?;
                Value::Bytes(self.take(n)?.to_vec())
            }
            Dec::String => {
                let n = self.len()?;
                let b = self.take(n)?;
                Value::String(
                    std::str::from_utf8(b)
                        .map_err(|e| malformed(format!("string is not UTF-8: {e}")))?
                        .to_owned(),
                )
            }
            Dec::Enum(symbols) => {
                let i = self.int()?;
                let symbol = usize::try_from(i)
                    .ok()
                    .and_then(|i| symbols.get(i))
                    .ok_or_else(|| malformed(format!("enum index {i} out of range")))?;
                Value::String(symbol.clone())
            }
            Dec::Fixed(n) => Value::Bytes(self.take(*n)?.to_vec()),
            Dec::Array(item) => {
                let mut items = Vec::new();
                loop {
                    let count = self.block(item.may_be_empty())?;
                    if count == 0 {
                        break;
                    }
                    items.reserve(count.min(self.remaining() + 1));
                    for _ in 0..count {
                        items.push(self.value(item)?);
                    }
                }
                Value::Array(items)
            }
            Dec::Map(value) => {
                let mut entries = Vec::new();
                loop {
                    let count = self.block(false)?;
                    if count == 0 {
                        break;
                    }
                    entries.reserve(count);
                    for _ in 0..count {
                        let k = self.value(&Dec::String)?;
                        let v = self.value(value)?;
                        entries.push((k, v));
                    }
                }
                Value::Map(entries)
            }
            Dec::EntryArray {
                key,
                value,
                key_first,
            } => {
                let mut entries = Vec::new();
                let empty = key.may_be_empty() && value.may_be_empty();
                loop {
                    let count = self.block(empty)?;
                    if count == 0 {
                        break;
                    }
                    entries.reserve(count.min(self.remaining() + 1));
                    for _ in 0..count {
                        let (k, v) = if *key_first {
                            let k = self.value(key)?;
                            (k, self.value(value)?)
                        } else {
                            let v = self.value(value)?;
                            (self.value(key)?, v)
                        };
                        entries.push((k, v));
                    }
                }
                Value::Map(entries)
            }
            Dec::Record(schema, fields) => {
                let mut s = Struct::new(schema.clone());
                for (field, dec) in schema.fields.iter().zip(fields) {
                    let v = self.value(dec)?;
                    s.put(&field.name, v)?;
                }
                Value::Struct(s)
            }
            Dec::Optional { null_index, inner } => {
                let i = self.long()?;
                if i == *null_index {
                    Value::Null
                } else if i == 1 - *null_index {
                    self.value(inner)?
                } else {
                    return Err(malformed(format!("union index {i} out of range")));
                }
            }
            Dec::Union(schema, branches) => {
                let i = self.long()?;
                let branch = usize::try_from(i)
                    .ok()
                    .and_then(|i| branches.get(i))
                    .ok_or_else(|| malformed(format!("union index {i} out of range")))?;
                match branch {
                    None => Value::Null,
                    Some((name, dec)) => {
                        let v = self.value(dec)?;
                        let mut s = Struct::new(schema.clone());
                        s.put(name, v)?;
                        Value::Struct(s)
                    }
                }
            }
        })
    }
}

#[cfg(test)]
#[path = "codec_tests.rs"]
mod tests;
