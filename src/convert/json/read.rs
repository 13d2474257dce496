//! Reading: Kafka's JSON (envelope or plain) to Connect schemas and values.

use super::*;

/// Kafka's `asConnectSchema`.
pub(super) fn to_schema(
    s: &Settings,
    node: &Node<'_>,
    path: &Path<'_>,
) -> Result<SchemaRef, ConvertError> {
    let bad = |message: String| {
        ConvertError::Data(DataError::InvalidSchema {
            schema: path.render(),
            message,
        })
    };
    if !matches!(node, Node::Obj(_)) {
        return Err(bad(format!(
            "a schema must be a JSON object, got {}",
            node.kind()
        )));
    }
    let type_name = node
        .get("type")
        .and_then(Node::as_str)
        .ok_or_else(|| bad("Schema must contain 'type' field".to_owned()))?;
    let schema_type = schema_type_from_json(type_name)
        .ok_or_else(|| bad(format!("Unknown schema type: {type_name}")))?;
    let mut b = match schema_type {
        SchemaType::Array => {
            let items = node
                .get("items")
                .filter(|n| !matches!(n, Node::Null))
                .ok_or_else(|| bad("Array schema did not specify the element type".to_owned()))?;
            SchemaBuilder::array(to_schema(s, items, &Path::Field(path, "items"))?)
        }
        SchemaType::Map => {
            let keys = node
                .get("keys")
                .ok_or_else(|| bad("Map schema did not specify the key type".to_owned()))?;
            let values = node
                .get("values")
                .ok_or_else(|| bad("Map schema did not specify the value type".to_owned()))?;
            SchemaBuilder::map(
                to_schema(s, keys, &Path::Field(path, "keys"))?,
                to_schema(s, values, &Path::Field(path, "values"))?,
            )
        }
        SchemaType::Struct => {
            let Some(Node::Arr(fields)) = node.get("fields") else {
                return Err(bad(
                    "Struct schema's \"fields\" argument is not an array.".to_owned()
                ));
            };
            let mut b = SchemaBuilder::struct_();
            for field in fields {
                let name = field.get("field").and_then(Node::as_str).ok_or_else(|| {
                    bad("Struct schema's field name not specified properly".to_owned())
                })?;
                b = b.field(name, to_schema(s, field, &Path::Field(path, name))?);
            }
            b
        }
        t => SchemaBuilder::new(t),
    };
    if let Some(Node::Bool(true)) = node.get("optional") {
        b = b.optional();
    }
    if let Some(name) = node.get("name").and_then(Node::as_str) {
        b = b.name(name);
    }
    if let Some(Node::Num(v)) = node.get("version") {
        if let Ok(v) = v.parse::<i32>() {
            b = b.version(v);
        }
    }
    if let Some(doc) = node.get("doc").and_then(Node::as_str) {
        b = b.doc(doc);
    }
    if let Some(Node::Obj(params)) = node.get("parameters") {
        for (k, v) in params {
            let v = v
                .as_str()
                .ok_or_else(|| bad("Schema parameters must have string values.".to_owned()))?;
            b = b.parameter(k, v);
        }
    }
    if let Some(default) = node.get("default") {
        let without = b.clone().try_build()?;
        let value = to_value(
            s,
            Some(&without),
            Some(default),
            &Path::Field(path, "default"),
        )?;
        b = b.default_value(value);
    }
    Ok(b.try_build()?)
}

pub(super) fn parse_int<T: std::str::FromStr>(
    schema: &Schema,
    node: &Node<'_>,
    path: &Path<'_>,
) -> Result<T, ConvertError> {
    match node {
        Node::Num(t) if !t.contains(['.', 'e', 'E']) => t.parse::<T>().map_err(|_| {
            invalid(
                path,
                format!("{t} is out of range for {}", expected_name(schema)),
            )
        }),
        other => Err(mismatch(path, expected_name(schema), describe_node(other))),
    }
}

pub(super) fn describe_node(node: &Node<'_>) -> String {
    match node {
        Node::Num(t) => format!("JSON number {t}"),
        other => other.kind().to_owned(),
    }
}

pub(super) fn parse_float<T: std::str::FromStr>(
    schema: &Schema,
    node: &Node<'_>,
    path: &Path<'_>,
) -> Result<T, ConvertError> {
    let text = match node {
        Node::Num(t) => *t,
        Node::Str(t) if matches!(&**t, "NaN" | "Infinity" | "-Infinity") => {
            // `str::parse` spells these `NaN`, `inf`, `-inf`.
            match &**t {
                "NaN" => "NaN",
                "Infinity" => "inf",
                _ => "-inf",
            }
        }
        other => return Err(mismatch(path, expected_name(schema), other.kind())),
    };
    text.parse::<T>()
        .map_err(|_| invalid(path, format!("{text} is not a number")))
}

/// A JSON number, read exactly and rescaled to `scale`, as Decimal bytes.
pub(super) fn decimal_from_text(
    text: &str,
    scale: i32,
    path: &Path<'_>,
) -> Result<Vec<u8>, ConvertError> {
    let fail = |why: &str| invalid(path, format!("Decimal {text}: {why}"));
    let (mantissa, exp) = match text.find(['e', 'E']) {
        Some(i) => (
            &text[..i],
            text[i + 1..]
                .parse::<i64>()
                .map_err(|_| fail("exponent out of range"))?,
        ),
        None => (text, 0),
    };
    let negative = mantissa.starts_with('-');
    let mantissa = mantissa.trim_start_matches('-');
    let (int, frac) = mantissa.split_once('.').unwrap_or((mantissa, ""));
    let mut digits: Vec<u8> = int.bytes().chain(frac.bytes()).collect();
    // Scale of the number as written.
    let mut own_scale = i64::try_from(frac.len()).unwrap_or(i64::MAX) - exp;
    let target = i64::from(scale);
    while own_scale > target {
        match digits.last() {
            Some(b'0') => {
                digits.pop();
                own_scale -= 1;
            }
            Some(_) => return Err(fail(&format!("more fraction digits than scale {scale}"))),
            None => break,
        }
    }
    let pad = usize::try_from(target - own_scale).map_err(|_| fail("out of range"))?;
    if pad > 40 {
        return Err(fail("does not fit a 128-bit unscaled value"));
    }
    digits.extend(std::iter::repeat_n(b'0', pad));
    let mut unscaled: i128 = 0;
    for d in digits {
        unscaled = unscaled
            .checked_mul(10)
            .and_then(|v| v.checked_add(i128::from(d - b'0')))
            .ok_or_else(|| fail("does not fit a 128-bit unscaled value"))?;
    }
    if negative {
        unscaled = -unscaled;
    }
    Ok(logical::Decimal::new(unscaled, scale).to_bytes())
}

/// Kafka's `convertToConnect`.
pub(super) fn to_value(
    s: &Settings,
    schema: Option<&SchemaRef>,
    node: Option<&Node<'_>>,
    path: &Path<'_>,
) -> Result<Value, ConvertError> {
    let Some(schema) = schema else {
        return Ok(match node {
            None => Value::Null,
            Some(n) => schemaless_value(n, path)?,
        });
    };
    let node = match node {
        None | Some(Node::Null) => {
            if let (Some(default), true) = (&schema.default, s.replace_null_with_default) {
                return Ok(default.clone());
            }
            if schema.optional {
                return Ok(Value::Null);
            }
            return Err(ConvertError::Data(DataError::NullForRequired {
                field: path.render(),
                expected: expected_name(schema),
            }));
        }
        Some(n) => n,
    };
    match LogicalType::of(schema) {
        Some(LogicalType::Decimal) => {
            let scale = logical::decimal_scale(schema)?;
            return match node {
                Node::Num(t) => Ok(Value::Bytes(decimal_from_text(t, scale, path)?)),
                Node::Str(t) => match decimal_bytes(t) {
                    Some(b) => Ok(Value::Bytes(b)),
                    None => Err(invalid(path, "Invalid bytes for Decimal field".to_owned())),
                },
                other => Err(mismatch(path, expected_name(schema), other.kind())),
            };
        }
        Some(LogicalType::Date | LogicalType::Time) if schema.schema_type == SchemaType::Int32 => {
            return Ok(Value::Int32(parse_int(schema, node, path)?));
        }
        Some(LogicalType::Timestamp) if schema.schema_type == SchemaType::Int64 => {
            return Ok(Value::Int64(parse_int(schema, node, path)?));
        }
        _ => {}
    }
    Ok(match schema.schema_type {
        SchemaType::Int8 => Value::Int8(parse_int(schema, node, path)?),
        SchemaType::Int16 => Value::Int16(parse_int(schema, node, path)?),
        SchemaType::Int32 => Value::Int32(parse_int(schema, node, path)?),
        SchemaType::Int64 => Value::Int64(parse_int(schema, node, path)?),
        SchemaType::Float32 => Value::Float32(parse_float(schema, node, path)?),
        SchemaType::Float64 => Value::Float64(parse_float(schema, node, path)?),
        SchemaType::Boolean => match node {
            Node::Bool(b) => Value::Boolean(*b),
            other => return Err(mismatch(path, expected_name(schema), other.kind())),
        },
        SchemaType::String => match node {
            Node::Str(t) => Value::String(t.to_string()),
            other => return Err(mismatch(path, expected_name(schema), describe_node(other))),
        },
        SchemaType::Bytes => match node {
            Node::Str(t) => Value::Bytes(
                decode_base64(t)
                    .ok_or_else(|| invalid(path, "Invalid bytes field: not base64".to_owned()))?,
            ),
            other => return Err(mismatch(path, expected_name(schema), describe_node(other))),
        },
        SchemaType::Array => match node {
            Node::Arr(items) => Value::Array(
                items
                    .iter()
                    .enumerate()
                    .map(|(i, item)| {
                        to_value(
                            s,
                            schema.value_schema.as_ref(),
                            Some(item),
                            &Path::Index(path, i),
                        )
                    })
                    .collect::<Result<_, _>>()?,
            ),
            other => return Err(mismatch(path, expected_name(schema), describe_node(other))),
        },
        SchemaType::Map => map_value(s, schema, node, path)?,
        SchemaType::Struct => {
            let Node::Obj(_) = node else {
                return Err(mismatch(path, expected_name(schema), describe_node(node)));
            };
            let mut st = Struct::new(schema.clone());
            for field in &schema.fields {
                let v = to_value(
                    s,
                    Some(&field.schema),
                    node.get(&field.name),
                    &Path::Field(path, &field.name),
                )?;
                if !v.is_null() {
                    st.put(&field.name, v)?;
                }
            }
            Value::Struct(st)
        }
    })
}

/// Decimal bytes from base64; empty is not a number.
pub(super) fn decimal_bytes(text: &str) -> Option<Vec<u8>> {
    decode_base64(text).filter(|b| !b.is_empty())
}

pub(super) fn map_value(
    s: &Settings,
    schema: &Schema,
    node: &Node<'_>,
    path: &Path<'_>,
) -> Result<Value, ConvertError> {
    let ks = schema.key_schema.as_ref();
    let vs = schema.value_schema.as_ref();
    if ks.is_none_or(|k| k.schema_type == SchemaType::String) {
        let Node::Obj(members) = node else {
            return Err(mismatch(
                path,
                format!(
                    "{} (a JSON object, as its keys are strings)",
                    expected_name(schema)
                ),
                describe_node(node),
            ));
        };
        let mut entries = Vec::with_capacity(members.len());
        for (k, v) in members {
            entries.push((
                Value::String(k.to_string()),
                to_value(s, vs, Some(v), &Path::Field(path, k))?,
            ));
        }
        return Ok(Value::Map(entries));
    }
    let Node::Arr(pairs) = node else {
        return Err(mismatch(
            path,
            format!(
                "{} (a JSON array of [key, value] pairs)",
                expected_name(schema)
            ),
            describe_node(node),
        ));
    };
    let mut entries = Vec::with_capacity(pairs.len());
    for (i, pair) in pairs.iter().enumerate() {
        let at = Path::Index(path, i);
        match pair {
            Node::Arr(kv) if kv.len() == 2 => entries.push((
                to_value(s, ks, kv.first(), &Path::MapKey(&at))?,
                to_value(s, vs, kv.get(1), &at)?,
            )),
            other => {
                return Err(mismatch(
                    &at,
                    "a [key, value] pair".to_owned(),
                    describe_node(other),
                ));
            }
        }
    }
    Ok(Value::Map(entries))
}

/// A value without a schema, inferred as Kafka infers it.
pub(super) fn schemaless_value(node: &Node<'_>, path: &Path<'_>) -> Result<Value, ConvertError> {
    Ok(match node {
        Node::Null => Value::Null,
        Node::Bool(b) => Value::Boolean(*b),
        Node::Num(t) if !t.contains(['.', 'e', 'E']) => Value::Int64(
            t.parse()
                .map_err(|_| invalid(path, format!("{t} is out of range for INT64")))?,
        ),
        Node::Num(t) => Value::Float64(
            t.parse()
                .map_err(|_| invalid(path, format!("{t} is not a number")))?,
        ),
        Node::Str(t) => Value::String(t.to_string()),
        Node::Arr(items) => Value::Array(
            items
                .iter()
                .enumerate()
                .map(|(i, item)| schemaless_value(item, &Path::Index(path, i)))
                .collect::<Result<_, _>>()?,
        ),
        Node::Obj(members) => Value::Map(
            members
                .iter()
                .map(|(k, v)| {
                    Ok((
                        Value::String(k.to_string()),
                        schemaless_value(v, &Path::Field(path, k))?,
                    ))
                })
                .collect::<Result<_, ConvertError>>()?,
        ),
    })
}
