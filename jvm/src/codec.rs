//! The bridge's binary encoding, shared with the Java shim (`In.java`,
//! `Out.java`, `Codec.java`, `RecordEncoder.java`): little-endian fixed
//! integers, LEB128 lengths, UTF-8 strings; offset values tagged
//! 0 null, 1 boolean, 2 integer, 3 float, 4 string, 5 list, 6 map.

use std::collections::BTreeMap;
use std::sync::Arc;

use timely_connect::data::{
    Field, Header, OffsetValue, Schema, SchemaRef, SchemaType, SourceOffset, SourcePartition,
    SourceRecord, Struct, Value,
};
use timely_connect::Properties;

/// A malformed message from the shim (a bug, never input).
#[derive(Debug, Clone, thiserror::Error)]
#[error("bridge message: {0}")]
pub struct CodecError(pub String);

fn bad(msg: impl Into<String>) -> CodecError {
    CodecError(msg.into())
}

/// Writes a message for the shim.
#[derive(Default)]
pub struct Writer {
    /// The bytes written.
    pub buf: Vec<u8>,
}

impl Writer {
    /// A byte.
    pub fn u8(&mut self, v: u8) -> &mut Self {
        self.buf.push(v);
        self
    }

    /// A little-endian `i32`.
    pub fn i32(&mut self, v: i32) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// A little-endian `i64`.
    pub fn i64(&mut self, v: i64) -> &mut Self {
        self.buf.extend_from_slice(&v.to_le_bytes());
        self
    }

    /// An unsigned LEB128 integer.
    pub fn varint(&mut self, mut v: u64) -> &mut Self {
        while v >= 0x80 {
            self.buf.push((v as u8) | 0x80);
            v >>= 7;
        }
        self.buf.push(v as u8);
        self
    }

    /// A string.
    pub fn str(&mut self, s: &str) -> &mut Self {
        self.varint(s.len() as u64);
        self.buf.extend_from_slice(s.as_bytes());
        self
    }

    /// A list of strings.
    pub fn strs<'a>(&mut self, items: impl ExactSizeIterator<Item = &'a str>) -> &mut Self {
        self.varint(items.len() as u64);
        for s in items {
            self.str(s);
        }
        self
    }

    /// A string map (Java's `Map<String, String>`).
    pub fn props(&mut self, props: &Properties) -> &mut Self {
        self.varint(props.len() as u64);
        for (k, v) in props.iter() {
            self.str(k).u8(1).str(v);
        }
        self
    }

    /// An offset value, tagged.
    pub fn offset_value(&mut self, v: &OffsetValue) -> &mut Self {
        match v {
            OffsetValue::Null => self.u8(0),
            OffsetValue::Bool(b) => self.u8(1).u8(u8::from(*b)),
            OffsetValue::Int(i) => self.u8(2).i64(*i),
            OffsetValue::Float(f) => self.u8(3).i64(f.to_bits() as i64),
            OffsetValue::String(s) => self.u8(4).str(s),
            OffsetValue::List(l) => {
                self.u8(5).varint(l.len() as u64);
                for i in l {
                    self.offset_value(i);
                }
                self
            }
            OffsetValue::Map(m) => self.u8(6).offset_map(m),
        }
    }

    /// A map of offset values, untagged.
    pub fn offset_map(&mut self, m: &BTreeMap<String, OffsetValue>) -> &mut Self {
        self.varint(m.len() as u64);
        for (k, v) in m {
            self.str(k).offset_value(v);
        }
        self
    }
}

/// Reads a message from the shim.
pub struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// A reader over `buf`.
    pub fn new(buf: &'a [u8]) -> Self {
        Reader { buf, pos: 0 }
    }

    fn take(&mut self, n: usize) -> Result<&'a [u8], CodecError> {
        let end = self.pos.checked_add(n).filter(|e| *e <= self.buf.len());
        match end {
            Some(end) => {
                let s = &self.buf[self.pos..end];
                self.pos = end;
                Ok(s)
            }
            None => Err(bad("truncated")),
        }
    }

    /// A byte.
    pub fn u8(&mut self) -> Result<u8, CodecError> {
        Ok(self.take(1)?[0])
    }

    /// A little-endian `i32`.
    pub fn i32(&mut self) -> Result<i32, CodecError> {
        let b = self.take(4)?;
        Ok(i32::from_le_bytes([b[0], b[1], b[2], b[3]]))
    }

    /// A little-endian `i64`.
    pub fn i64(&mut self) -> Result<i64, CodecError> {
        let b = self.take(8)?;
        let mut a = [0u8; 8];
        a.copy_from_slice(b);
        Ok(i64::from_le_bytes(a))
    }

    /// An unsigned LEB128 integer.
    pub fn varint(&mut self) -> Result<u64, CodecError> {
        let mut v = 0u64;
        for shift in (0..64).step_by(7) {
            let b = self.u8()?;
            v |= u64::from(b & 0x7F) << shift;
            if b & 0x80 == 0 {
                return Ok(v);
            }
        }
        Err(bad("varint too long"))
    }

    fn len(&mut self) -> Result<usize, CodecError> {
        let n = self.varint()?;
        // No length may exceed what is left: a count is at least a byte each.
        usize::try_from(n)
            .ok()
            .filter(|n| *n <= self.buf.len() - self.pos)
            .ok_or_else(|| bad(format!("length {n} past the end")))
    }

    /// Bytes with a length.
    pub fn bytes(&mut self) -> Result<&'a [u8], CodecError> {
        let n = self.len()?;
        self.take(n)
    }

    /// A string.
    pub fn str(&mut self) -> Result<String, CodecError> {
        let b = self.bytes()?;
        String::from_utf8(b.to_vec()).map_err(|_| bad("string is not UTF-8"))
    }

    /// A string that may be absent.
    pub fn opt_str(&mut self) -> Result<Option<String>, CodecError> {
        match self.u8()? {
            0 => Ok(None),
            _ => self.str().map(Some),
        }
    }

    /// A list of strings.
    pub fn strs(&mut self) -> Result<Vec<String>, CodecError> {
        let n = self.len()?;
        (0..n).map(|_| self.str()).collect()
    }

    /// A string map.
    pub fn props(&mut self) -> Result<Properties, CodecError> {
        let n = self.len()?;
        let mut p = Properties::new();
        for _ in 0..n {
            let k = self.str()?;
            let v = self.opt_str()?.unwrap_or_default();
            p.insert(k, v);
        }
        Ok(p)
    }

    /// A tagged offset value.
    pub fn offset_value(&mut self) -> Result<OffsetValue, CodecError> {
        Ok(match self.u8()? {
            0 => OffsetValue::Null,
            1 => OffsetValue::Bool(self.u8()? != 0),
            2 => OffsetValue::Int(self.i64()?),
            3 => OffsetValue::Float(f64::from_bits(self.i64()? as u64)),
            4 => OffsetValue::String(self.str()?),
            5 => {
                let n = self.len()?;
                OffsetValue::List(
                    (0..n)
                        .map(|_| self.offset_value())
                        .collect::<Result<_, _>>()?,
                )
            }
            6 => OffsetValue::Map(self.offset_map()?),
            t => return Err(bad(format!("offset tag {t}"))),
        })
    }

    /// An untagged map of offset values.
    pub fn offset_map(&mut self) -> Result<BTreeMap<String, OffsetValue>, CodecError> {
        let n = self.len()?;
        let mut m = BTreeMap::new();
        for _ in 0..n {
            let k = self.str()?;
            m.insert(k, self.offset_value()?);
        }
        Ok(m)
    }

    /// Whether everything was read.
    pub fn is_done(&self) -> bool {
        self.pos == self.buf.len()
    }
}

/// Decodes a task's batches (`RecordEncoder.java`), keeping the interned
/// source partitions, topics and schemas across polls as the shim does.
#[derive(Default)]
pub struct BatchDecoder {
    partitions: Vec<SourcePartition>,
    topics: Vec<Arc<str>>,
    schemas: Vec<SchemaRef>,
    offset_keys: BTreeMap<String, Arc<str>>,
}

const SCHEMA_TYPES: [SchemaType; 12] = [
    SchemaType::Int8,
    SchemaType::Int16,
    SchemaType::Int32,
    SchemaType::Int64,
    SchemaType::Float32,
    SchemaType::Float64,
    SchemaType::Boolean,
    SchemaType::String,
    SchemaType::Bytes,
    SchemaType::Array,
    SchemaType::Map,
    SchemaType::Struct,
];

impl BatchDecoder {
    /// The records of one poll.
    pub fn decode(&mut self, batch: &[u8]) -> Result<Vec<SourceRecord>, CodecError> {
        let mut r = Reader::new(batch);
        if r.u8()? != 0 {
            self.partitions.clear();
            self.topics.clear();
            self.schemas.clear();
        }
        let n = r.len()?;
        let mut records = Vec::with_capacity(n);
        for _ in 0..n {
            records.push(self.record(&mut r)?);
        }
        if !r.is_done() {
            return Err(bad("bytes after the last record"));
        }
        Ok(records)
    }

    fn record(&mut self, r: &mut Reader) -> Result<SourceRecord, CodecError> {
        let partition = match r.varint()? {
            0 => SourcePartition::new(BTreeMap::new()),
            1 => {
                let p = SourcePartition::new(r.offset_map()?);
                self.partitions.push(p.clone());
                p
            }
            k => self
                .partitions
                .get((k - 2) as usize)
                .cloned()
                .ok_or_else(|| bad("partition reference"))?,
        };
        let offset = self.offset(r)?;
        let topic: Arc<str> = match r.varint()? {
            0 => Arc::from(""),
            1 => {
                let t: Arc<str> = Arc::from(r.str()?);
                self.topics.push(t.clone());
                t
            }
            k => self
                .topics
                .get((k - 2) as usize)
                .cloned()
                .ok_or_else(|| bad("topic reference"))?,
        };
        let kafka_partition = match r.u8()? {
            0 => None,
            _ => Some(r.i32()?),
        };
        let key_schema = self.schema_ref(r)?;
        let key = self.value(r)?;
        let value_schema = self.schema_ref(r)?;
        let value = self.value(r)?;
        let timestamp = match r.u8()? {
            0 => None,
            _ => Some(r.i64()?),
        };
        let n = r.len()?;
        let mut headers = Vec::with_capacity(n);
        for _ in 0..n {
            let key = r.str()?;
            let schema = self.schema_ref(r)?;
            let value = self.value(r)?;
            headers.push(Header { key, schema, value });
        }
        Ok(SourceRecord {
            source_partition: partition,
            source_offset: offset,
            topic,
            kafka_partition,
            key_schema,
            key,
            value_schema,
            value,
            timestamp,
            headers,
        })
    }

    /// A record's offset; the common shape, one integer under one key
    /// (`{"position": 42}`), without allocating: the key is interned.
    fn offset(&mut self, r: &mut Reader) -> Result<SourceOffset, CodecError> {
        match r.u8()? {
            0 => Ok(SourceOffset::from_map(BTreeMap::new())),
            6 => {
                let n = r.len()?;
                if n == 1 {
                    let mark = r.pos;
                    let key = r.bytes()?;
                    if r.u8()? == 2 {
                        let value = r.i64()?;
                        let key = std::str::from_utf8(key).map_err(|_| bad("key is not UTF-8"))?;
                        let interned = match self.offset_keys.get(key) {
                            Some(k) => k.clone(),
                            None => {
                                let k = SourceOffset::key(key);
                                self.offset_keys.insert(key.to_owned(), k.clone());
                                k
                            }
                        };
                        return Ok(SourceOffset::int(&interned, value));
                    }
                    r.pos = mark;
                }
                let mut m = BTreeMap::new();
                for _ in 0..n {
                    let k = r.str()?;
                    m.insert(k, r.offset_value()?);
                }
                Ok(SourceOffset::from_map(m))
            }
            _ => Err(bad("offset is not a map")),
        }
    }

    fn schema_ref(&mut self, r: &mut Reader) -> Result<Option<SchemaRef>, CodecError> {
        match r.varint()? {
            0 => Ok(None),
            1 => {
                let s = self.schema_body(r)?;
                self.schemas.push(s.clone());
                Ok(Some(s))
            }
            k => self
                .schemas
                .get((k - 2) as usize)
                .cloned()
                .map(Some)
                .ok_or_else(|| bad("schema reference")),
        }
    }

    fn schema_body(&mut self, r: &mut Reader) -> Result<SchemaRef, CodecError> {
        let ty = *SCHEMA_TYPES
            .get(r.u8()? as usize)
            .ok_or_else(|| bad("schema type"))?;
        let mut s = Schema::of(ty);
        s.optional = r.u8()? != 0;
        s.name = r.opt_str()?;
        s.version = match r.u8()? {
            0 => None,
            _ => Some(r.i32()?),
        };
        s.doc = r.opt_str()?;
        let n = r.len()?;
        for _ in 0..n {
            let k = r.str()?;
            let v = r.str()?;
            s.parameters.insert(k, v);
        }
        match ty {
            SchemaType::Struct => {
                let n = r.len()?;
                for index in 0..n {
                    let name = r.str()?;
                    let schema = self.schema_ref(r)?.ok_or_else(|| bad("field schema"))?;
                    s.fields.push(Field {
                        name,
                        index,
                        schema,
                    });
                }
            }
            SchemaType::Array => s.value_schema = self.schema_ref(r)?,
            SchemaType::Map => {
                s.key_schema = self.schema_ref(r)?;
                s.value_schema = self.schema_ref(r)?;
            }
            _ => {}
        }
        if r.u8()? != 0 {
            s.default = Some(self.value(r)?);
        }
        Ok(Arc::new(s))
    }

    fn value(&mut self, r: &mut Reader) -> Result<Value, CodecError> {
        Ok(match r.u8()? {
            0 => Value::Null,
            1 => Value::Int8(r.i32()? as i8),
            2 => Value::Int16(r.i32()? as i16),
            3 => Value::Int32(r.i32()?),
            4 => Value::Int64(r.i64()?),
            5 => Value::Float32(f32::from_bits(r.i32()? as u32)),
            6 => Value::Float64(f64::from_bits(r.i64()? as u64)),
            7 => Value::Boolean(r.u8()? != 0),
            8 => Value::String(r.str()?),
            9 => Value::Bytes(r.bytes()?.to_vec()),
            10 => {
                let n = r.len()?;
                Value::Array((0..n).map(|_| self.value(r)).collect::<Result<_, _>>()?)
            }
            11 => {
                let n = r.len()?;
                let mut m = Vec::with_capacity(n);
                for _ in 0..n {
                    let k = self.value(r)?;
                    let v = self.value(r)?;
                    m.push((k, v));
                }
                Value::Map(m)
            }
            12 => {
                let schema = self.schema_ref(r)?.ok_or_else(|| bad("struct schema"))?;
                let values = (0..schema.fields.len())
                    .map(|_| self.value(r))
                    .collect::<Result<Vec<_>, _>>()?;
                Value::Struct(Struct::from_parts(schema, values).map_err(|e| bad(e.to_string()))?)
            }
            t => return Err(bad(format!("value tag {t}"))),
        })
    }
}
