//! Writing: Connect values (and their schemas, rendered once and cached)
//! to Kafka's JSON bytes.

use super::*;

/// Serialized schema JSON per schema, keyed on the address of an `Arc`
/// the cache holds (so the address cannot be reused while cached).
#[derive(Debug, Default)]
pub(super) struct SchemaJsonCache {
    pub(super) map: HashMap<usize, (SchemaRef, Arc<[u8]>)>,
    pub(super) last: Option<(SchemaRef, Arc<[u8]>)>,
}

pub(super) fn addr(schema: &Schema) -> usize {
    std::ptr::from_ref(schema) as usize
}

impl SchemaJsonCache {
    /// Writes the top-level schema: from the cache when it holds this
    /// very schema, rendered (and cached, given its `Arc`) otherwise.
    pub(super) fn write_top(
        &mut self,
        s: &Settings,
        out: &mut Vec<u8>,
        schema: &Schema,
        arc: Option<&SchemaRef>,
    ) -> Result<(), ConvertError> {
        if let Some((last, bytes)) = &self.last {
            if std::ptr::eq(&**last, schema) {
                out.extend_from_slice(bytes);
                return Ok(());
            }
        }
        if let Some(entry) = self.map.get(&addr(schema)) {
            out.extend_from_slice(&entry.1);
            self.last = Some(entry.clone());
            return Ok(());
        }
        match arc {
            Some(arc) if s.cache_size > 0 => {
                let bytes = self.render_cached(s, arc)?;
                out.extend_from_slice(&bytes);
                Ok(())
            }
            _ => self.write_schema(s, out, schema),
        }
    }

    /// The JSON of `schema`, from the cache or rendered into it.
    pub(super) fn render_cached(
        &mut self,
        s: &Settings,
        schema: &SchemaRef,
    ) -> Result<Arc<[u8]>, ConvertError> {
        if let Some(entry) = self.map.get(&addr(schema)) {
            return Ok(entry.1.clone());
        }
        let mut buf = Vec::with_capacity(64);
        self.write_schema(s, &mut buf, schema)?;
        let bytes: Arc<[u8]> = buf.into();
        if self.map.len() >= s.cache_size {
            self.map.clear();
        }
        let entry = (schema.clone(), bytes.clone());
        self.map.insert(addr(schema), entry.clone());
        self.last = Some(entry);
        Ok(bytes)
    }

    pub(super) fn write_child(
        &mut self,
        s: &Settings,
        out: &mut Vec<u8>,
        schema: &SchemaRef,
    ) -> Result<(), ConvertError> {
        if s.cache_size > 0 {
            let bytes = self.render_cached(s, schema)?;
            out.extend_from_slice(&bytes);
            Ok(())
        } else {
            self.write_schema(s, out, schema)
        }
    }

    /// Kafka's `asJsonSchema`, written straight to bytes.
    pub(super) fn write_schema(
        &mut self,
        s: &Settings,
        out: &mut Vec<u8>,
        schema: &Schema,
    ) -> Result<(), ConvertError> {
        let missing = |what: &str| {
            ConvertError::Data(DataError::InvalidSchema {
                schema: schema.to_string(),
                message: format!("no {what} schema"),
            })
        };
        out.extend_from_slice(b"{\"type\":\"");
        out.extend_from_slice(json_type_name(schema.schema_type).as_bytes());
        out.push(b'"');
        match schema.schema_type {
            SchemaType::Array => {
                out.extend_from_slice(b",\"items\":");
                let items = schema
                    .value_schema
                    .as_ref()
                    .ok_or_else(|| missing("element"))?;
                self.write_child(s, out, items)?;
            }
            SchemaType::Map => {
                out.extend_from_slice(b",\"keys\":");
                let keys = schema.key_schema.as_ref().ok_or_else(|| missing("key"))?;
                self.write_child(s, out, keys)?;
                out.extend_from_slice(b",\"values\":");
                let values = schema
                    .value_schema
                    .as_ref()
                    .ok_or_else(|| missing("value"))?;
                self.write_child(s, out, values)?;
            }
            SchemaType::Struct => {
                out.extend_from_slice(b",\"fields\":[");
                for (i, field) in schema.fields.iter().enumerate() {
                    if i > 0 {
                        out.push(b',');
                    }
                    self.write_child(s, out, &field.schema)?;
                    // Reopen the field's schema object to add its name last.
                    out.pop();
                    out.extend_from_slice(b",\"field\":");
                    write_json_string(out, &field.name);
                    out.push(b'}');
                }
                out.push(b']');
            }
            _ => {}
        }
        out.extend_from_slice(if schema.optional {
            b",\"optional\":true"
        } else {
            b",\"optional\":false"
        });
        if let Some(name) = &schema.name {
            out.extend_from_slice(b",\"name\":");
            write_json_string(out, name);
        }
        if let Some(version) = schema.version {
            out.extend_from_slice(b",\"version\":");
            write_i64(out, i64::from(version));
        }
        if let Some(doc) = &schema.doc {
            out.extend_from_slice(b",\"doc\":");
            write_json_string(out, doc);
        }
        if !schema.parameters.is_empty() {
            out.extend_from_slice(b",\"parameters\":{");
            for (i, (k, v)) in schema.parameters.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_json_string(out, k);
                out.push(b':');
                write_json_string(out, v);
            }
            out.push(b'}');
        }
        if let Some(default) = &schema.default {
            out.extend_from_slice(b",\"default\":");
            write_value(s, out, Some(schema), default, &Path::Root("default"))?;
        }
        out.push(b'}');
        Ok(())
    }
}

/// The JSON schema's name for a type (`int32`, `float`, `double`, …).
pub(super) fn json_type_name(t: SchemaType) -> &'static str {
    match t {
        SchemaType::Int8 => "int8",
        SchemaType::Int16 => "int16",
        SchemaType::Int32 => "int32",
        SchemaType::Int64 => "int64",
        SchemaType::Float32 => "float",
        SchemaType::Float64 => "double",
        SchemaType::Boolean => "boolean",
        SchemaType::String => "string",
        SchemaType::Bytes => "bytes",
        SchemaType::Array => "array",
        SchemaType::Map => "map",
        SchemaType::Struct => "struct",
    }
}

pub(super) fn schema_type_from_json(name: &str) -> Option<SchemaType> {
    Some(match name {
        "int8" => SchemaType::Int8,
        "int16" => SchemaType::Int16,
        "int32" => SchemaType::Int32,
        "int64" => SchemaType::Int64,
        "float" => SchemaType::Float32,
        "double" => SchemaType::Float64,
        "boolean" => SchemaType::Boolean,
        "string" => SchemaType::String,
        "bytes" => SchemaType::Bytes,
        "array" => SchemaType::Array,
        "map" => SchemaType::Map,
        "struct" => SchemaType::Struct,
        _ => return None,
    })
}

pub(super) fn write_float_json<F: Copy>(
    out: &mut Vec<u8>,
    v: F,
    finite: bool,
    write: fn(&mut Vec<u8>, F),
) {
    // Jackson quotes non-finite numbers by default (QUOTE_NON_NUMERIC_NUMBERS).
    if finite {
        write(out, v);
    } else {
        out.push(b'"');
        write(out, v);
        out.push(b'"');
    }
}

pub(super) fn write_bytes_json(out: &mut Vec<u8>, b: &[u8]) {
    out.push(b'"');
    write_base64(out, b);
    out.push(b'"');
}

/// Kafka's `convertToJson`, written straight to bytes.
pub(super) fn write_value(
    s: &Settings,
    out: &mut Vec<u8>,
    schema: Option<&Schema>,
    value: &Value,
    path: &Path<'_>,
) -> Result<(), ConvertError> {
    let Some(schema) = schema else {
        return write_schemaless(s, out, value, path);
    };
    if value.is_null() {
        if let (Some(default), true) = (&schema.default, s.replace_null_with_default) {
            if !default.is_null() {
                return write_value(s, out, Some(schema), default, path);
            }
        }
        if schema.optional {
            out.extend_from_slice(b"null");
            return Ok(());
        }
        return Err(ConvertError::Data(DataError::NullForRequired {
            field: path.render(),
            expected: expected_name(schema),
        }));
    }
    if value.schema_type() != Some(schema.schema_type) {
        return Err(mismatch(path, expected_name(schema), value.type_name()));
    }
    match value {
        Value::Int8(v) => write_i64(out, i64::from(*v)),
        Value::Int16(v) => write_i64(out, i64::from(*v)),
        Value::Int32(v) => write_i64(out, i64::from(*v)),
        Value::Int64(v) => write_i64(out, *v),
        Value::Float32(v) => write_float_json(out, *v, v.is_finite(), java_fmt::write_float),
        Value::Float64(v) => write_float_json(out, *v, v.is_finite(), java_fmt::write_double),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(v) => write_json_string(out, v),
        Value::Bytes(b) => {
            if s.decimal_format == DecimalFormat::Numeric
                && LogicalType::of(schema) == Some(LogicalType::Decimal)
            {
                let scale = logical::decimal_scale(schema)?;
                if b.is_empty() {
                    return Err(invalid(path, "Decimal value has no bytes".to_owned()));
                }
                java_fmt::write_big_decimal(out, b, scale);
            } else {
                write_bytes_json(out, b);
            }
        }
        Value::Array(items) => {
            let item_schema = schema.value_schema.as_deref();
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_value(s, out, item_schema, item, &Path::Index(path, i))?;
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            let ks = schema.key_schema.as_deref();
            let vs = schema.value_schema.as_deref();
            let object = ks.is_some_and(|k| k.schema_type == SchemaType::String);
            write_map(s, out, entries, ks, vs, object, path)?;
        }
        Value::Struct(st) => {
            if !std::ptr::eq(&**st.schema(), schema) && **st.schema() != *schema {
                return Err(invalid(
                    path,
                    format!(
                        "Mismatching schema: the struct's schema is {}, the field's is {schema}",
                        st.schema()
                    ),
                ));
            }
            write_struct(s, out, st, path)?;
        }
        Value::Null => out.extend_from_slice(b"null"),
    }
    Ok(())
}

pub(super) fn write_struct(
    s: &Settings,
    out: &mut Vec<u8>,
    st: &Struct,
    path: &Path<'_>,
) -> Result<(), ConvertError> {
    out.push(b'{');
    for (i, (field, v)) in st.schema().fields.iter().zip(st.values()).enumerate() {
        if i > 0 {
            out.push(b',');
        }
        write_json_string(out, &field.name);
        out.push(b':');
        write_value(
            s,
            out,
            Some(&field.schema),
            v,
            &Path::Field(path, &field.name),
        )?;
    }
    out.push(b'}');
    Ok(())
}

pub(super) fn write_map(
    s: &Settings,
    out: &mut Vec<u8>,
    entries: &[(Value, Value)],
    ks: Option<&Schema>,
    vs: Option<&Schema>,
    object: bool,
    path: &Path<'_>,
) -> Result<(), ConvertError> {
    out.push(if object { b'{' } else { b'[' });
    for (i, (k, v)) in entries.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        if object {
            match k {
                Value::String(k) => write_json_string(out, k),
                other => {
                    // Kafka writes the key's JSON text as the name; only a
                    // null under an optional key schema gets here legally.
                    let mut key = Vec::new();
                    write_value(s, &mut key, ks, other, &Path::MapKey(path))?;
                    let text = String::from_utf8_lossy(&key);
                    write_json_string(out, text.trim_matches('"'));
                }
            }
            out.push(b':');
            write_value(s, out, vs, v, &Path::MapValue(path, k))?;
        } else {
            out.push(b'[');
            write_value(s, out, ks, k, &Path::MapKey(path))?;
            out.push(b',');
            write_value(s, out, vs, v, &Path::MapValue(path, k))?;
            out.push(b']');
        }
    }
    out.push(if object { b'}' } else { b']' });
    Ok(())
}

/// A value without a schema: its type decides (Kafka's
/// `ConnectSchema.schemaType(value.getClass())`).
pub(super) fn write_schemaless(
    s: &Settings,
    out: &mut Vec<u8>,
    value: &Value,
    path: &Path<'_>,
) -> Result<(), ConvertError> {
    match value {
        Value::Null => out.extend_from_slice(b"null"),
        Value::Int8(v) => write_i64(out, i64::from(*v)),
        Value::Int16(v) => write_i64(out, i64::from(*v)),
        Value::Int32(v) => write_i64(out, i64::from(*v)),
        Value::Int64(v) => write_i64(out, *v),
        Value::Float32(v) => write_float_json(out, *v, v.is_finite(), java_fmt::write_float),
        Value::Float64(v) => write_float_json(out, *v, v.is_finite(), java_fmt::write_double),
        Value::Boolean(true) => out.extend_from_slice(b"true"),
        Value::Boolean(false) => out.extend_from_slice(b"false"),
        Value::String(v) => write_json_string(out, v),
        Value::Bytes(b) => write_bytes_json(out, b),
        Value::Array(items) => {
            out.push(b'[');
            for (i, item) in items.iter().enumerate() {
                if i > 0 {
                    out.push(b',');
                }
                write_schemaless(s, out, item, &Path::Index(path, i))?;
            }
            out.push(b']');
        }
        Value::Map(entries) => {
            let object = entries.iter().all(|(k, _)| matches!(k, Value::String(_)));
            write_map(s, out, entries, None, None, object, path)?;
        }
        Value::Struct(st) => write_struct(s, out, st, path)?,
    }
    Ok(())
}
