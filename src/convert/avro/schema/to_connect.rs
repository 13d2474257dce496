//! Avro schemas to Connect schemas, and the decoding plan for the binary codec.

use super::*;

pub(super) struct ToConnect<'a> {
    pub(super) meta: bool,
    /// Named types seen so far: full name → (definition, enclosing namespace).
    pub(super) named: HashMap<String, (&'a JsonValue, Option<String>)>,
    /// Records being converted (a reference to one is a recursive schema).
    pub(super) in_progress: HashSet<String>,
}

pub(super) const PRIMITIVES: [&str; 8] = [
    "null", "boolean", "int", "long", "float", "double", "bytes", "string",
];

pub(super) fn full_name(name: &str, namespace: Option<&str>) -> String {
    match namespace {
        Some(ns) if !name.contains('.') && !ns.is_empty() => format!("{ns}.{name}"),
        _ => name.to_owned(),
    }
}

pub(super) fn is_null_schema(j: &JsonValue) -> bool {
    match j {
        JsonValue::String(s) => s == "null",
        JsonValue::Object(o) => o.get("type").is_some_and(is_null_schema),
        _ => false,
    }
}

pub(super) type Props = serde_json::Map<String, JsonValue>;

impl<'a> ToConnect<'a> {
    pub(super) fn err(message: impl Into<String>) -> AvroError {
        AvroError::ToConnect(message.into())
    }

    /// Converts `j`, found in namespace `ns`. `force_optional`: it is the
    /// non-null branch of a union with null. `field_default`: the default
    /// of the record field whose type it is.
    pub(super) fn convert(
        &mut self,
        j: &'a JsonValue,
        ns: Option<&str>,
        force_optional: bool,
        field_default: Option<&'a JsonValue>,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        static EMPTY: std::sync::OnceLock<Props> = std::sync::OnceLock::new();
        match j {
            JsonValue::String(t) => {
                if PRIMITIVES.contains(&t.as_str()) {
                    let empty = EMPTY.get_or_init(Props::new);
                    self.typed(t, empty, j, ns, force_optional, field_default)
                } else {
                    self.reference(t, ns, force_optional, field_default)
                }
            }
            JsonValue::Array(members) => self.union(members, ns, force_optional, field_default),
            JsonValue::Object(o) => match o.get("type") {
                Some(JsonValue::String(t)) => {
                    if PRIMITIVES.contains(&t.as_str())
                        || ["record", "error", "enum", "fixed", "array", "map"]
                            .contains(&t.as_str())
                    {
                        self.typed(t, o, j, ns, force_optional, field_default)
                    } else {
                        self.reference(t, ns, force_optional, field_default)
                    }
                }
                Some(inner @ (JsonValue::Object(_) | JsonValue::Array(_))) => {
                    self.convert(inner, ns, force_optional, field_default)
                }
                _ => Err(Self::err(format!(
                    "a schema object without a valid `type`: {j}"
                ))),
            },
            other => Err(Self::err(format!("not an Avro schema: {other}"))),
        }
    }

    pub(super) fn reference(
        &mut self,
        name: &str,
        ns: Option<&str>,
        force_optional: bool,
        field_default: Option<&'a JsonValue>,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        let full = full_name(name, ns);
        let (definition, def_ns) = match self.named.get(&full).or_else(|| self.named.get(name)) {
            Some((d, n)) => (*d, n.clone()),
            None => return Err(Self::err(format!("unknown type `{full}`"))),
        };
        if self.in_progress.contains(&full) {
            return Err(Self::err(format!(
                "`{full}` refers to itself; Kafka Connect schemas cannot be recursive"
            )));
        }
        // Convert the definition again (named types are usually small; the
        // result is cached per schema id by the converter).
        match (
            definition.get("type").and_then(JsonValue::as_str),
            definition.as_object(),
        ) {
            (Some(t), Some(o)) => self.typed(
                t,
                o,
                definition,
                def_ns.as_deref(),
                force_optional,
                field_default,
            ),
            _ => Err(Self::err(format!("bad definition of `{full}`"))),
        }
    }

    pub(super) fn union(
        &mut self,
        members: &'a [JsonValue],
        ns: Option<&str>,
        force_optional: bool,
        field_default: Option<&'a JsonValue>,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        if members.len() == 2 {
            if let Some(null_index) = members.iter().position(is_null_schema) {
                let other = &members[1 - null_index];
                // An Avro default belongs to the first member.
                let default = if null_index == 1 {
                    field_default.filter(|d| !d.is_null())
                } else {
                    None
                };
                let (schema, dec) = self.convert(other, ns, true, default)?;
                return Ok((
                    schema,
                    Dec::Optional {
                        null_index: null_index as i64,
                        inner: Box::new(dec),
                    },
                ));
            }
        }
        let mut schema = Schema::of(SchemaType::Struct);
        schema.name = Some(AVRO_TYPE_UNION.to_owned());
        schema.optional = force_optional;
        let mut branches = Vec::with_capacity(members.len());
        for member in members {
            if is_null_schema(member) {
                schema.optional = true;
                branches.push(None);
                continue;
            }
            let (member_schema, dec) = self.convert(member, ns, true, None)?;
            let field_name = match (&member_schema.schema_type, member_schema.name.as_deref()) {
                (SchemaType::Struct, Some(n)) => split_name(n).1.to_owned(),
                (SchemaType::Struct, None) => DEFAULT_SCHEMA_NAME.to_owned(),
                (SchemaType::String, _)
                    if member_schema.parameters.contains_key(AVRO_TYPE_ENUM) =>
                {
                    let full = &member_schema.parameters[AVRO_TYPE_ENUM];
                    split_name(full).1.to_owned()
                }
                _ => avro_type_name(member).to_owned(),
            };
            if schema.field(&field_name).is_some() {
                return Err(Self::err(format!(
                    "two union members map to the Connect union field `{field_name}`"
                )));
            }
            let index = schema.fields.len();
            schema.fields.push(Field {
                name: field_name.clone(),
                index,
                schema: member_schema,
            });
            branches.push(Some((field_name, dec)));
        }
        let schema = Arc::new(schema);
        Ok((schema.clone(), Dec::Union(schema, branches)))
    }

    #[allow(clippy::too_many_arguments)]
    pub(super) fn typed(
        &mut self,
        t: &str,
        o: &'a Props,
        whole: &'a JsonValue,
        ns: Option<&str>,
        force_optional: bool,
        field_default: Option<&'a JsonValue>,
    ) -> Result<(SchemaRef, Dec), AvroError> {
        let prop_str = |k: &str| o.get(k).and_then(JsonValue::as_str);
        let logical_type = prop_str("logicalType");
        let mut record_name: Option<String> = None;
        let mut schema;
        let dec;
        match t {
            "null" => {
                return Err(Self::err(
                    "a standalone null schema has no Kafka Connect equivalent",
                ))
            }
            "boolean" => {
                schema = Schema::of(SchemaType::Boolean);
                dec = Dec::Boolean;
            }
            "int" => {
                let connect_type = prop_str(CONNECT_TYPE_PROP);
                schema = match (logical_type, connect_type) {
                    (Some(lt), _) if lt.eq_ignore_ascii_case("date") => {
                        (*logical::date_schema()).clone()
                    }
                    (Some(lt), _) if lt.eq_ignore_ascii_case("time-millis") => {
                        (*logical::time_schema()).clone()
                    }
                    (Some(_), _) | (None, None) => Schema::of(SchemaType::Int32),
                    (None, Some("int8")) => Schema::of(SchemaType::Int8),
                    (None, Some("int16")) => Schema::of(SchemaType::Int16),
                    (None, Some(other)) => {
                        return Err(Self::err(format!(
                            "unknown {CONNECT_TYPE_PROP} `{other}` on an Avro int"
                        )))
                    }
                };
                dec = Dec::Int(schema.schema_type);
            }
            "long" => {
                schema = match logical_type {
                    Some(lt) if lt.eq_ignore_ascii_case("timestamp-millis") => {
                        (*logical::timestamp_schema()).clone()
                    }
                    _ => Schema::of(SchemaType::Int64),
                };
                dec = Dec::Long;
            }
            "float" => {
                schema = Schema::of(SchemaType::Float32);
                dec = Dec::Float;
            }
            "double" => {
                schema = Schema::of(SchemaType::Float64);
                dec = Dec::Double;
            }
            "string" => {
                schema = Schema::of(SchemaType::String);
                dec = Dec::String;
            }
            "bytes" | "fixed" => {
                if t == "fixed" {
                    let name =
                        prop_str("name").ok_or_else(|| Self::err("a fixed without a name"))?;
                    let full = full_name(name, prop_str("namespace").or(ns));
                    self.named.insert(full, (whole, ns.map(str::to_owned)));
                    let size = o
                        .get("size")
                        .and_then(JsonValue::as_u64)
                        .and_then(|s| usize::try_from(s).ok())
                        .ok_or_else(|| Self::err(format!("fixed `{name}` without a valid size")))?;
                    dec = Dec::Fixed(size);
                } else {
                    dec = Dec::Bytes;
                }
                schema = if logical_type.is_some_and(|lt| lt.eq_ignore_ascii_case("decimal")) {
                    let scale = o
                        .get("scale")
                        .and_then(JsonValue::as_i64)
                        .and_then(|s| i32::try_from(s).ok())
                        .ok_or_else(|| {
                            Self::err("a decimal needs an integer `scale` (Confluent's rule)")
                        })?;
                    let mut s = (*logical::decimal_schema(scale)).clone();
                    if let Some(p) = o.get("precision") {
                        let p = p.as_i64().ok_or_else(|| {
                            Self::err("a decimal `precision` must be a JSON integer")
                        })?;
                        if p != CONNECT_AVRO_DECIMAL_PRECISION_DEFAULT {
                            s.parameters
                                .insert(CONNECT_AVRO_DECIMAL_PRECISION_PROP.into(), p.to_string());
                        }
                    }
                    s
                } else {
                    Schema::of(SchemaType::Bytes)
                };
            }
            "array" => {
                let items = o
                    .get("items")
                    .ok_or_else(|| Self::err("an array without `items`"))?;
                if let Some((entry, entry_ns)) = self.map_entry(items, ns) {
                    let fields = entry
                        .get("fields")
                        .and_then(JsonValue::as_array)
                        .filter(|f| f.len() == 2)
                        .ok_or_else(|| {
                            Self::err("a map encoded as key/value records needs exactly two fields")
                        })?;
                    let field_type = |name: &str| {
                        fields
                            .iter()
                            .find(|f| f.get("name").and_then(JsonValue::as_str) == Some(name))
                            .and_then(|f| f.get("type"))
                    };
                    let (Some(kt), Some(vt)) = (field_type(KEY_FIELD), field_type(VALUE_FIELD))
                    else {
                        return Err(Self::err(
                            "a map encoded as records needs fields `key` and `value`",
                        ));
                    };
                    let key_first =
                        fields[0].get("name").and_then(JsonValue::as_str) == Some(KEY_FIELD);
                    let (ks, kd) = self.convert(kt, entry_ns.as_deref(), false, None)?;
                    let (vs, vd) = self.convert(vt, entry_ns.as_deref(), false, None)?;
                    schema = Schema::of(SchemaType::Map);
                    schema.key_schema = Some(ks);
                    schema.value_schema = Some(vs);
                    dec = Dec::EntryArray {
                        key: Box::new(kd),
                        value: Box::new(vd),
                        key_first,
                    };
                } else {
                    let (items_schema, items_dec) = self.convert(items, ns, false, None)?;
                    schema = Schema::of(SchemaType::Array);
                    schema.value_schema = Some(items_schema);
                    dec = Dec::Array(Box::new(items_dec));
                }
            }
            "map" => {
                let values = o
                    .get("values")
                    .ok_or_else(|| Self::err("a map without `values`"))?;
                let (values_schema, values_dec) = self.convert(values, ns, false, None)?;
                schema = Schema::of(SchemaType::Map);
                schema.key_schema = Some(Schema::string());
                schema.value_schema = Some(values_schema);
                dec = Dec::Map(Box::new(values_dec));
            }
            "enum" => {
                let name = prop_str("name").ok_or_else(|| Self::err("an enum without a name"))?;
                let full = full_name(name, prop_str("namespace").or(ns));
                self.named
                    .insert(full.clone(), (whole, ns.map(str::to_owned)));
                let symbols: Vec<String> = o
                    .get("symbols")
                    .and_then(JsonValue::as_array)
                    .map(|s| {
                        s.iter()
                            .filter_map(|x| x.as_str().map(str::to_owned))
                            .collect()
                    })
                    .ok_or_else(|| Self::err(format!("enum `{full}` without symbols")))?;
                schema = Schema::of(SchemaType::String);
                let short = split_name(&full).1.to_owned();
                if self.meta {
                    if let Some(doc) = prop_str("doc") {
                        schema
                            .parameters
                            .insert(format!("{AVRO_ENUM_DOC_PREFIX_PROP}{short}"), doc.into());
                    }
                    if let Some(d) = prop_str("default") {
                        schema
                            .parameters
                            .insert(format!("{AVRO_ENUM_DEFAULT_PREFIX_PROP}{short}"), d.into());
                    }
                }
                schema
                    .parameters
                    .insert(AVRO_TYPE_ENUM.into(), full.clone());
                for symbol in &symbols {
                    schema
                        .parameters
                        .insert(format!("{AVRO_TYPE_ENUM}.{symbol}"), symbol.clone());
                }
                record_name = Some(full);
                dec = Dec::Enum(symbols.into());
            }
            "record" | "error" => {
                let name = prop_str("name").ok_or_else(|| Self::err("a record without a name"))?;
                let full = full_name(name, prop_str("namespace").or(ns));
                let record_ns = split_name(&full).0.map(str::to_owned);
                self.named
                    .insert(full.clone(), (whole, ns.map(str::to_owned)));
                self.in_progress.insert(full.clone());
                schema = Schema::of(SchemaType::Struct);
                if self.meta {
                    if let Some(doc) = prop_str("doc") {
                        schema
                            .parameters
                            .insert(AVRO_RECORD_DOC_PROP.into(), doc.into());
                    }
                }
                let fields = o
                    .get("fields")
                    .and_then(JsonValue::as_array)
                    .ok_or_else(|| Self::err(format!("record `{full}` without fields")))?;
                let mut decs = Vec::with_capacity(fields.len());
                for f in fields {
                    let fname = f
                        .get("name")
                        .and_then(JsonValue::as_str)
                        .ok_or_else(|| Self::err(format!("a field of `{full}` without a name")))?;
                    let ftype = f.get("type").ok_or_else(|| {
                        Self::err(format!("field `{full}.{fname}` without a type"))
                    })?;
                    if schema.field(fname).is_some() {
                        return Err(Self::err(format!("field `{fname}` twice in `{full}`")));
                    }
                    if self.meta {
                        if let Some(doc) = f.get("doc").and_then(JsonValue::as_str) {
                            schema
                                .parameters
                                .insert(format!("{AVRO_FIELD_DOC_PREFIX_PROP}{fname}"), doc.into());
                        }
                    }
                    let (fs, fd) =
                        self.convert(ftype, record_ns.as_deref(), false, f.get("default"))?;
                    let index = schema.fields.len();
                    schema.fields.push(Field {
                        name: fname.to_owned(),
                        index,
                        schema: fs,
                    });
                    decs.push(fd);
                }
                self.in_progress.remove(&full);
                record_name = Some(full);
                // The schema reference is filled in once the schema is final.
                dec = Dec::Record(Arc::new(Schema::of(SchemaType::Struct)), decs);
            }
            other => return Err(Self::err(format!("unknown Avro type `{other}`"))),
        }

        // connect.* properties.
        if self.meta {
            if let Some(doc) = prop_str(CONNECT_DOC_PROP) {
                schema.doc = Some(doc.to_owned());
            }
        }
        if let Some(v) = o.get(CONNECT_VERSION_PROP) {
            let v = v
                .as_i64()
                .and_then(|v| i32::try_from(v).ok())
                .ok_or_else(|| Self::err(format!("invalid {CONNECT_VERSION_PROP}: {v}")))?;
            match schema.version {
                Some(existing) if existing != v => {
                    return Err(Self::err(format!(
                        "mismatched versions: {existing} from the logical type, {v} in the schema"
                    )))
                }
                _ => schema.version = Some(v),
            }
        }
        if self.meta {
            if let Some(params) = o.get(CONNECT_PARAMETERS_PROP) {
                let params = params.as_object().ok_or_else(|| {
                    Self::err(format!("{CONNECT_PARAMETERS_PROP} must be a JSON object"))
                })?;
                for (k, v) in params {
                    let v = v.as_str().ok_or_else(|| {
                        Self::err(format!("{CONNECT_PARAMETERS_PROP} `{k}` must be a string"))
                    })?;
                    schema.parameters.insert(k.clone(), v.to_owned());
                }
            }
        }
        for (k, v) in o {
            if k.starts_with(AVRO_PROP_PREFIX) {
                let text = v.as_str().map_or_else(|| v.to_string(), str::to_owned);
                schema.parameters.insert(k.clone(), text);
            }
        }
        let connect_default = o.get(CONNECT_DEFAULT_VALUE_PROP);
        let default_json = match field_default.filter(|d| !d.is_null()) {
            Some(d) => {
                if connect_default.is_none() {
                    schema
                        .parameters
                        .insert(AVRO_FIELD_DEFAULT_FLAG_PROP.into(), "true".into());
                }
                Some(d)
            }
            None => connect_default.filter(|d| !d.is_null()),
        };
        let name = match prop_str(CONNECT_NAME_PROP) {
            Some(n) => Some(n.to_owned()),
            None if o.contains_key(CONNECT_NAME_PROP) => {
                return Err(Self::err(format!("{CONNECT_NAME_PROP} must be a string")))
            }
            None => record_name,
        };
        if let Some(name) = name.filter(|n| n != DEFAULT_SCHEMA_FULL_NAME) {
            match &schema.name {
                Some(existing) if *existing != name => {
                    return Err(Self::err(format!(
                        "mismatched names: `{existing}` from the Avro type, `{name}` in {CONNECT_NAME_PROP}"
                    )))
                }
                _ => schema.name = Some(name),
            }
        }
        if force_optional {
            schema.optional = true;
        }
        if let Some(d) = default_json {
            let value = default_from_json(&schema, d)?;
            schema.default = Some(value);
        }
        let schema = Arc::new(schema);
        let dec = match dec {
            Dec::Record(_, decs) => Dec::Record(schema.clone(), decs),
            other => other,
        };
        Ok((schema, dec))
    }

    /// The record definition (and the namespace its fields resolve in) if
    /// `items` is Confluent's `MapEntry` record (by name or by
    /// `connect.internal.type`).
    pub(super) fn map_entry(
        &mut self,
        items: &'a JsonValue,
        ns: Option<&str>,
    ) -> Option<(&'a Props, Option<String>)> {
        let (o, full) = match items {
            JsonValue::Object(o) => {
                let name = o.get("name")?.as_str()?;
                let namespace = o.get("namespace").and_then(JsonValue::as_str);
                (o, full_name(name, namespace.or(ns)))
            }
            JsonValue::String(name) => {
                let full = full_name(name, ns);
                let (d, _) = self.named.get(&full)?;
                (d.as_object()?, full)
            }
            _ => return None,
        };
        if o.get("type").and_then(JsonValue::as_str) != Some("record") {
            return None;
        }
        let tagged = o
            .get(CONNECT_INTERNAL_TYPE_NAME)
            .and_then(JsonValue::as_str)
            == Some(MAP_ENTRY_TYPE_NAME);
        let (space, short) = split_name(&full);
        if !(tagged || (space == Some(NAMESPACE) && short == MAP_ENTRY_TYPE_NAME)) {
            return None;
        }
        let space = space.map(str::to_owned);
        self.named
            .entry(full)
            .or_insert((items, ns.map(str::to_owned)));
        Some((o, space))
    }
}

/// The Avro type name of a union member (`int`, `string`, `array`, …).
pub(super) fn avro_type_name(j: &JsonValue) -> &str {
    match j {
        JsonValue::String(s) => s,
        JsonValue::Object(o) => o.get("type").map_or("unknown", avro_type_name),
        JsonValue::Array(_) => "union",
        _ => "unknown",
    }
}

/// A JSON default as a Connect value of `schema` (Confluent's
/// `defaultValueFromAvro`); logical types keep their Connect encodings.
pub(super) fn default_from_json(schema: &Schema, j: &JsonValue) -> Result<Value, AvroError> {
    let bad = || {
        AvroError::ToConnect(format!(
            "default value {j} does not fit {}",
            describe(schema)
        ))
    };
    if j.is_null() {
        return Ok(Value::Null);
    }
    let int = || j.as_i64().ok_or_else(bad);
    Ok(match schema.schema_type {
        SchemaType::Int8 => Value::Int8(i8::try_from(int()?).map_err(|_| bad())?),
        SchemaType::Int16 => Value::Int16(i16::try_from(int()?).map_err(|_| bad())?),
        SchemaType::Int32 => Value::Int32(i32::try_from(int()?).map_err(|_| bad())?),
        SchemaType::Int64 => Value::Int64(int()?),
        // Narrowing to f32 is what a FLOAT32 default means.
        SchemaType::Float32 => Value::Float32(j.as_f64().ok_or_else(bad)? as f32),
        SchemaType::Float64 => Value::Float64(j.as_f64().ok_or_else(bad)?),
        SchemaType::Boolean => Value::Boolean(j.as_bool().ok_or_else(bad)?),
        SchemaType::String => Value::String(j.as_str().ok_or_else(bad)?.to_owned()),
        SchemaType::Bytes => {
            let text = j.as_str().ok_or_else(bad)?;
            let bytes: Option<Vec<u8>> = text.chars().map(|c| u8::try_from(c).ok()).collect();
            Value::Bytes(bytes.ok_or_else(bad)?)
        }
        SchemaType::Array => {
            let items = schema.value_schema.as_deref().ok_or_else(bad)?;
            let list = j.as_array().ok_or_else(bad)?;
            Value::Array(
                list.iter()
                    .map(|i| default_from_json(items, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        SchemaType::Map => {
            let (Some(ks), Some(vs)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(bad());
            };
            match j {
                JsonValue::Object(o) => o
                    .iter()
                    .map(|(k, v)| Ok((Value::String(k.clone()), default_from_json(vs, v)?)))
                    .collect::<Result<Vec<_>, AvroError>>()
                    .map(Value::Map)?,
                JsonValue::Array(entries) => {
                    let mut out = Vec::with_capacity(entries.len());
                    for e in entries {
                        let (k, v) = match e {
                            JsonValue::Object(o) => (o.get(KEY_FIELD), o.get(VALUE_FIELD)),
                            // Confluent writes `[key, value]` pairs.
                            JsonValue::Array(pair) if pair.len() == 2 => {
                                (pair.first(), pair.get(1))
                            }
                            _ => return Err(bad()),
                        };
                        let null = JsonValue::Null;
                        out.push((
                            default_from_json(ks, k.unwrap_or(&null))?,
                            default_from_json(vs, v.unwrap_or(&null))?,
                        ));
                    }
                    Value::Map(out)
                }
                _ => return Err(bad()),
            }
        }
        SchemaType::Struct => {
            if is_union_struct(schema) {
                return Ok(Value::Null);
            }
            let o = j.as_object().ok_or_else(bad)?;
            let mut plain = schema.clone();
            plain.default = None;
            let mut s = Struct::new(Arc::new(plain));
            for field in &schema.fields {
                let v = match o.get(&field.name) {
                    Some(fj) => default_from_json(&field.schema, fj)?,
                    None => Value::Null,
                };
                s.put(&field.name, v)?;
            }
            Value::Struct(s)
        }
    })
}
