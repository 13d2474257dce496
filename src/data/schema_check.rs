//! Checks a value against a schema, naming the field path on failure.

use super::schema::{Schema, SchemaType};
use super::value::{DataError, Value};

/// Checks `value` against `schema`; `path` names the value in errors.
pub(crate) fn check_value(schema: &Schema, value: &Value, path: &str) -> Result<(), DataError> {
    let actual = match value.schema_type() {
        None => {
            if schema.optional || schema.default.is_some() {
                return Ok(());
            }
            return Err(DataError::NullForRequired {
                field: path.to_owned(),
                expected: schema.schema_type.name().to_owned(),
            });
        }
        Some(t) => t,
    };
    if actual != schema.schema_type {
        return Err(DataError::TypeMismatch {
            field: path.to_owned(),
            expected: schema.schema_type.name().to_owned(),
            actual: actual.name().to_owned(),
        });
    }
    match value {
        Value::Array(items) => {
            if let Some(item_schema) = &schema.value_schema {
                for (i, item) in items.iter().enumerate() {
                    check_value(item_schema, item, &format!("{path}[{i}]"))?;
                }
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(ks) = &schema.key_schema {
                    check_value(ks, k, &format!("{path}.<key>"))?;
                }
                if let Some(vs) = &schema.value_schema {
                    check_value(vs, v, &format!("{path}.<value>"))?;
                }
            }
        }
        Value::Struct(s) => {
            if s.schema().as_ref() != schema {
                return Err(DataError::TypeMismatch {
                    field: path.to_owned(),
                    expected: format!("STRUCT {}", schema.name.as_deref().unwrap_or("")),
                    actual: format!("STRUCT {}", s.schema().name.as_deref().unwrap_or("")),
                });
            }
            for field in &schema.fields {
                check_value(&field.schema, &s.values()[field.index], &format!("{path}.{}", field.name))?;
            }
        }
        _ => {}
    }
    let _ = SchemaType::Int8;
    Ok(())
}
