//! Connect schemas to Avro schemas (the JSON text Confluent's `AvroData` writes).

use super::*;

pub(super) struct FromConnect {
    pub(super) meta: bool,
    /// Named Avro types written so far, with the Connect schema (made
    /// required) that defined them: a second use writes the name only.
    pub(super) defined: HashMap<String, Schema>,
}

impl FromConnect {
    pub(super) fn err(schema: &Schema, message: impl Into<String>) -> AvroError {
        AvroError::ToAvro {
            schema: describe(schema),
            message: message.into(),
        }
    }

    /// `schema` (with its optionality) inside namespace `ns`.
    pub(super) fn schema(&mut self, schema: &Schema, ns: Option<&str>) -> Result<Json, AvroError> {
        if is_union_struct(schema) {
            let mut members = Vec::new();
            if schema.optional {
                members.push(Json::str("null"));
            }
            for field in &schema.fields {
                members.push(self.base(&field.schema, ns)?);
            }
            return Ok(Json::Arr(members));
        }
        let base = self.base(schema, ns)?;
        if !schema.optional {
            return Ok(base);
        }
        Ok(if schema.default.is_some() {
            Json::Arr(vec![base, Json::str("null")])
        } else {
            Json::Arr(vec![Json::str("null"), base])
        })
    }

    /// A reference to an already written named type, or `None` (and the
    /// name is claimed) if it is new.
    pub(super) fn reference(
        &mut self,
        schema: &Schema,
        full: &str,
        ns: Option<&str>,
    ) -> Result<Option<Json>, AvroError> {
        let mut required = schema.clone();
        required.optional = false;
        match self.defined.get(full) {
            Some(previous) if *previous == required => {
                let (space, name) = split_name(full);
                Ok(Some(if space.is_none() || space == ns {
                    Json::str(name)
                } else {
                    Json::str(full)
                }))
            }
            Some(_) => Err(Self::err(
                schema,
                format!("two different schemas map to the Avro name `{full}`"),
            )),
            None => {
                self.defined.insert(full.to_owned(), required);
                Ok(None)
            }
        }
    }

    /// The `name`/`namespace` attributes of a named type, Avro Java style:
    /// the namespace is written only when it differs from the enclosing one.
    pub(super) fn name_attrs(
        out: &mut Vec<(String, Json)>,
        space: Option<&str>,
        name: &str,
        ns: Option<&str>,
    ) {
        out.push(("name".into(), Json::str(name)));
        match space {
            Some(s) if Some(s) != ns => out.push(("namespace".into(), Json::str(s))),
            None if ns.is_some() => out.push(("namespace".into(), Json::str(""))),
            _ => {}
        }
    }

    pub(super) fn field(
        &mut self,
        name: &str,
        schema: &Schema,
        doc: Option<&str>,
        ns: Option<&str>,
    ) -> Result<Json, AvroError> {
        let mut attrs = vec![
            ("name".to_owned(), Json::str(name)),
            ("type".to_owned(), self.schema(schema, ns)?),
        ];
        if let Some(doc) = doc {
            attrs.push(("doc".into(), Json::str(doc)));
        }
        if let Some(default) = &schema.default {
            attrs.push((
                "default".into(),
                Json::Plain(default_json(schema, default)?),
            ));
        } else if schema.optional {
            attrs.push(("default".into(), Json::Plain(JsonValue::Null)));
        }
        Ok(Json::Obj(attrs))
    }

    /// The type without optionality, with its `connect.*` properties.
    pub(super) fn base(&mut self, schema: &Schema, ns: Option<&str>) -> Result<Json, AvroError> {
        let (space, name) = match &schema.name {
            Some(full) => split_name(full),
            None => (Some(NAMESPACE), DEFAULT_SCHEMA_NAME),
        };
        let logical = schema.name.as_deref().and_then(|n| {
            [DECIMAL_NAME, DATE_NAME, TIME_NAME, TIMESTAMP_NAME]
                .into_iter()
                .find(|l| l.eq_ignore_ascii_case(n))
                .and_then(LogicalType::from_name)
        });
        let mut connect_type = None;
        let mut attrs: Vec<(String, Json)>;
        let primitive = |t: &str| vec![("type".to_owned(), Json::str(t))];
        match schema.schema_type {
            SchemaType::Int8 => {
                connect_type = Some("int8");
                attrs = primitive("int");
            }
            SchemaType::Int16 => {
                connect_type = Some("int16");
                attrs = primitive("int");
            }
            SchemaType::Int32 => attrs = primitive("int"),
            SchemaType::Int64 => attrs = primitive("long"),
            SchemaType::Float32 => attrs = primitive("float"),
            SchemaType::Float64 => attrs = primitive("double"),
            SchemaType::Boolean => attrs = primitive("boolean"),
            SchemaType::String => attrs = primitive("string"),
            SchemaType::Bytes => {
                attrs = primitive("bytes");
                if logical == Some(LogicalType::Decimal) {
                    let scale = logical::decimal_scale(schema)?;
                    let precision = match schema.parameters.get(CONNECT_AVRO_DECIMAL_PRECISION_PROP)
                    {
                        Some(p) => p.trim().parse::<i64>().map_err(|_| {
                            Self::err(
                                schema,
                                format!(
                                    "{CONNECT_AVRO_DECIMAL_PRECISION_PROP} `{p}` is not an integer"
                                ),
                            )
                        })?,
                        None => CONNECT_AVRO_DECIMAL_PRECISION_DEFAULT,
                    };
                    attrs.push(("scale".into(), Json::Plain(scale.into())));
                    attrs.push(("precision".into(), Json::Plain(precision.into())));
                }
            }
            SchemaType::Array => {
                let items = schema
                    .value_schema
                    .as_deref()
                    .ok_or_else(|| Self::err(schema, "ARRAY without a value schema"))?;
                attrs = primitive("array");
                attrs.push(("items".into(), self.schema(items, ns)?));
            }
            SchemaType::Map => {
                let (Some(key), Some(value)) =
                    (schema.key_schema.as_deref(), schema.value_schema.as_deref())
                else {
                    return Err(Self::err(schema, "MAP without key and value schemas"));
                };
                attrs = primitive(if is_string_map_key(key) {
                    "map"
                } else {
                    "array"
                });
                if is_string_map_key(key) {
                    attrs.push(("values".into(), self.schema(value, ns)?));
                } else {
                    let (entry_space, entry_name) = match &schema.name {
                        None => (Some(NAMESPACE), MAP_ENTRY_TYPE_NAME),
                        Some(_) => (space, name),
                    };
                    let full = match entry_space {
                        Some(s) => format!("{s}.{entry_name}"),
                        None => entry_name.to_owned(),
                    };
                    let items = match self.reference(schema, &full, ns)? {
                        Some(reference) => reference,
                        None => {
                            let mut record = primitive("record");
                            Self::name_attrs(&mut record, entry_space, entry_name, ns);
                            let fields = vec![
                                self.field(KEY_FIELD, key, None, entry_space)?,
                                self.field(VALUE_FIELD, value, None, entry_space)?,
                            ];
                            record.push(("fields".into(), Json::Arr(fields)));
                            if schema.name.is_some() {
                                record.push((
                                    CONNECT_INTERNAL_TYPE_NAME.into(),
                                    Json::str(MAP_ENTRY_TYPE_NAME),
                                ));
                            }
                            Json::Obj(record)
                        }
                    };
                    attrs.push(("items".into(), items));
                }
            }
            SchemaType::Struct => {
                let full = match space {
                    Some(s) => format!("{s}.{name}"),
                    None => name.to_owned(),
                };
                if let Some(reference) = self.reference(schema, &full, ns)? {
                    return Ok(reference);
                }
                attrs = primitive("record");
                Self::name_attrs(&mut attrs, space, name, ns);
                if let Some(doc) = schema.parameters.get(AVRO_RECORD_DOC_PROP) {
                    attrs.push(("doc".into(), Json::str(doc)));
                }
                let mut fields = Vec::with_capacity(schema.fields.len());
                for field in &schema.fields {
                    let doc = schema
                        .parameters
                        .get(&format!("{AVRO_FIELD_DOC_PREFIX_PROP}{}", field.name));
                    fields.push(self.field(
                        &field.name,
                        &field.schema,
                        doc.map(String::as_str),
                        space,
                    )?);
                }
                attrs.push(("fields".into(), Json::Arr(fields)));
            }
        }

        let attrs_before_props = attrs.len();
        if self.meta {
            if let Some(doc) = &schema.doc {
                attrs.push((CONNECT_DOC_PROP.into(), Json::str(doc)));
            }
            if let Some(version) = schema.version {
                attrs.push((CONNECT_VERSION_PROP.into(), Json::Plain(version.into())));
            }
            let params: Vec<(String, Json)> = schema
                .parameters
                .iter()
                .filter(|(k, _)| k.as_str() != AVRO_FIELD_DEFAULT_FLAG_PROP)
                .map(|(k, v)| (k.clone(), Json::str(v)))
                .collect();
            if !params.is_empty() {
                attrs.push((CONNECT_PARAMETERS_PROP.into(), Json::Obj(params)));
            }
            if let Some(default) = &schema.default {
                if !schema.parameters.contains_key(AVRO_FIELD_DEFAULT_FLAG_PROP) {
                    attrs.push((
                        CONNECT_DEFAULT_VALUE_PROP.into(),
                        Json::Plain(default_json(schema, default)?),
                    ));
                }
            }
            if let Some(name) = &schema.name {
                attrs.push((CONNECT_NAME_PROP.into(), Json::str(name)));
            }
            if let Some(t) = connect_type {
                attrs.push((CONNECT_TYPE_PROP.into(), Json::str(t)));
            }
        }
        let logical_type = match logical {
            Some(LogicalType::Decimal) if schema.schema_type == SchemaType::Bytes => {
                Some("decimal")
            }
            Some(LogicalType::Date) if schema.schema_type == SchemaType::Int32 => Some("date"),
            Some(LogicalType::Time) if schema.schema_type == SchemaType::Int32 => {
                Some("time-millis")
            }
            Some(LogicalType::Timestamp) if schema.schema_type == SchemaType::Int64 => {
                Some("timestamp-millis")
            }
            _ => None,
        };
        if let Some(lt) = logical_type {
            attrs.push(("logicalType".into(), Json::str(lt)));
        }
        for (k, v) in &schema.parameters {
            if k.starts_with(AVRO_PROP_PREFIX) {
                attrs.push((k.clone(), Json::str(v)));
            }
        }
        // A primitive without properties is written as its bare name.
        if attrs.len() == 1 && attrs_before_props == 1 {
            if let Some((_, t)) = attrs.pop() {
                return Ok(t);
            }
        }
        Ok(Json::Obj(attrs))
    }
}

/// A Connect value as an Avro JSON default (Confluent's
/// `defaultValueFromConnect`): BYTES as ISO-8859-1 text, a MAP with
/// non-string keys as a list of `{"key", "value"}` objects.
pub(super) fn default_json(schema: &Schema, value: &Value) -> Result<JsonValue, AvroError> {
    let bad = |what: &str| AvroError::ToAvro {
        schema: describe(schema),
        message: format!("default value: {what}"),
    };
    let float = |f: f64, text: String| {
        // Shortest text that reads back to the same value.
        let parsed: f64 = text.parse().unwrap_or(f);
        serde_json::Number::from_f64(parsed)
            .map(JsonValue::Number)
            .ok_or_else(|| bad("NaN and infinity cannot be written as JSON"))
    };
    Ok(match value {
        Value::Null => JsonValue::Null,
        Value::Int8(v) => (*v).into(),
        Value::Int16(v) => (*v).into(),
        Value::Int32(v) => (*v).into(),
        Value::Int64(v) => (*v).into(),
        Value::Float32(v) => float(f64::from(*v), v.to_string())?,
        Value::Float64(v) => float(*v, v.to_string())?,
        Value::Boolean(v) => (*v).into(),
        Value::String(v) => v.clone().into(),
        Value::Bytes(v) => JsonValue::String(v.iter().map(|&b| char::from(b)).collect()),
        Value::Array(items) => {
            let item_schema = schema
                .value_schema
                .as_deref()
                .ok_or_else(|| bad("ARRAY without a value schema"))?;
            JsonValue::Array(
                items
                    .iter()
                    .map(|i| default_json(item_schema, i))
                    .collect::<Result<_, _>>()?,
            )
        }
        Value::Map(entries) => {
            let (Some(ks), Some(vs)) =
                (schema.key_schema.as_deref(), schema.value_schema.as_deref())
            else {
                return Err(bad("MAP without key and value schemas"));
            };
            if is_string_map_key(ks) {
                let mut object = serde_json::Map::new();
                for (k, v) in entries {
                    let Value::String(k) = k else {
                        return Err(bad("a MAP key that is not a STRING"));
                    };
                    object.insert(k.clone(), default_json(vs, v)?);
                }
                JsonValue::Object(object)
            } else {
                let mut list = Vec::with_capacity(entries.len());
                for (k, v) in entries {
                    let mut entry = serde_json::Map::new();
                    entry.insert(KEY_FIELD.into(), default_json(ks, k)?);
                    entry.insert(VALUE_FIELD.into(), default_json(vs, v)?);
                    list.push(JsonValue::Object(entry));
                }
                JsonValue::Array(list)
            }
        }
        Value::Struct(s) => {
            let mut object = serde_json::Map::new();
            for field in &schema.fields {
                let v = s.get(&field.name).unwrap_or(&Value::Null);
                object.insert(field.name.clone(), default_json(&field.schema, v)?);
            }
            JsonValue::Object(object)
        }
    })
}
