//! Checks a value against a schema, naming the field path on failure, and
//! the checking entry points of the data types (`Schema::validate_value`,
//! `SchemaBuilder::try_build`, `Struct::put`, `Struct::validate`), so the
//! data types themselves (`schema`, `value`) depend on no check.
//!
//! The path (`value.items[3].price`) is built only when a check fails, so a
//! value that fits its schema is checked without allocating.

use std::fmt::Write as _;
use std::sync::Arc;

use super::logical::LogicalType;
use super::schema::{Schema, SchemaBuilder, SchemaRef, SchemaType};
use super::value::{DataError, Struct, Value};

/// Where a value sits inside the value being checked; rendered on error.
#[derive(Clone, Copy)]
pub(crate) enum Path<'a> {
    /// The top: `key`, `value`, a field name given to `Struct::put`, or
    /// empty for the fields of `Struct::validate`.
    Root(&'a str),
    /// A struct field.
    Field(&'a Path<'a>, &'a str),
    /// An array element.
    Index(&'a Path<'a>, usize),
    /// A map key.
    MapKey(&'a Path<'a>),
    /// A map value, under its key.
    MapValue(&'a Path<'a>, &'a Value),
}

impl Path<'_> {
    /// The path as text (`value.items[3].price`).
    pub(crate) fn render(&self) -> String {
        let mut out = String::new();
        self.render_into(&mut out);
        out
    }

    fn render_into(&self, out: &mut String) {
        match *self {
            Path::Root(name) => out.push_str(name),
            Path::Field(parent, name) => {
                parent.render_into(out);
                if !out.is_empty() {
                    out.push('.');
                }
                out.push_str(name);
            }
            Path::Index(parent, i) => {
                parent.render_into(out);
                let _ = write!(out, "[{i}]");
            }
            Path::MapKey(parent) => {
                parent.render_into(out);
                out.push_str("[<key>]");
            }
            Path::MapValue(parent, key) => {
                parent.render_into(out);
                match key {
                    Value::String(k) => {
                        let _ = write!(out, "[{k:?}]");
                    }
                    k => match k.as_i64() {
                        Some(i) => {
                            let _ = write!(out, "[{i}]");
                        }
                        None => out.push_str("[<value>]"),
                    },
                }
            }
        }
    }
}

/// Checks `value` against `schema`; `path` names the value in errors.
pub(crate) fn check_value(schema: &Schema, value: &Value, path: &str) -> Result<(), DataError> {
    check(schema, value, &Path::Root(path))
}

/// Checks every field of `s` against its schema; errors name the field.
pub(crate) fn check_struct(s: &Struct) -> Result<(), DataError> {
    check_fields(s, &Path::Root(""))
}

/// What a schema asks for, as errors name it: `INT32`, or
/// `BYTES (org.apache.kafka.connect.data.Decimal)` for a logical type.
pub(crate) fn expected_name(schema: &Schema) -> String {
    match schema.name.as_deref() {
        Some(name) if LogicalType::from_name(name).is_some() => {
            format!("{} ({name})", schema.schema_type)
        }
        _ => schema.schema_type.name().to_owned(),
    }
}

fn check(schema: &Schema, value: &Value, path: &Path<'_>) -> Result<(), DataError> {
    let Some(actual) = value.schema_type() else {
        if schema.optional || schema.default.is_some() {
            return Ok(());
        }
        return Err(DataError::NullForRequired {
            field: path.render(),
            expected: expected_name(schema),
        });
    };
    if actual != schema.schema_type {
        return Err(DataError::TypeMismatch {
            field: path.render(),
            expected: expected_name(schema),
            actual: actual.name().to_owned(),
        });
    }
    match value {
        Value::Array(items) => {
            if let Some(item_schema) = &schema.value_schema {
                for (i, item) in items.iter().enumerate() {
                    check(item_schema, item, &Path::Index(path, i))?;
                }
            }
        }
        Value::Map(entries) => {
            for (k, v) in entries {
                if let Some(ks) = &schema.key_schema {
                    check(ks, k, &Path::MapKey(path))?;
                }
                if let Some(vs) = &schema.value_schema {
                    check(vs, v, &Path::MapValue(path, k))?;
                }
            }
        }
        Value::Struct(s) => {
            let same = std::ptr::eq(Arc::as_ptr(s.schema()), schema) || **s.schema() == *schema;
            if !same {
                return Err(DataError::TypeMismatch {
                    field: path.render(),
                    expected: struct_name(schema),
                    actual: struct_name(s.schema()),
                });
            }
            check_fields(s, path)?;
        }
        _ => {}
    }
    if let Some(name) = &schema.name {
        if let Some(logical) = LogicalType::from_name(name) {
            logical
                .check_value(schema, value)
                .map_err(|message| DataError::Invalid {
                    field: path.render(),
                    message,
                })?;
        }
    }
    Ok(())
}

fn struct_name(schema: &Schema) -> String {
    match &schema.name {
        Some(n) => format!("STRUCT {n}"),
        None => schema.to_string(),
    }
}

fn check_fields(s: &Struct, path: &Path<'_>) -> Result<(), DataError> {
    let values = s.values();
    for field in &s.schema().fields {
        let value = values.get(field.index).unwrap_or(&Value::Null);
        check(&field.schema, value, &Path::Field(path, &field.name))?;
    }
    Ok(())
}

// The checking entry points of the data types live here, with the checks
// they run, so that `schema` and `value` do not depend on this module.

impl Schema {
    /// Checks `value` against this schema (type, optionality, nested
    /// fields and logical-type rules); `path` names the value in errors.
    ///
    /// ```
    /// use timely_connect::data::{Schema, Value};
    /// assert!(Schema::int32().validate_value(&Value::Int32(1), "n").is_ok());
    /// let err = Schema::int32().validate_value(&Value::from("x"), "n").unwrap_err();
    /// assert_eq!(err.to_string(), "field `n`: expected INT32, got STRING");
    /// ```
    pub fn validate_value(&self, value: &Value, path: &str) -> Result<(), DataError> {
        check_value(self, value, path)
    }
}

impl SchemaBuilder {
    /// Finishes the schema after checking it: field names are unique and
    /// only STRUCT has fields, ARRAY has a value schema, MAP has key and
    /// value schemas, a logical-type name sits on the right type (Decimal
    /// on BYTES with an integer `scale`), and the default value fits.
    pub fn try_build(self) -> Result<SchemaRef, DataError> {
        if let Some(e) = self.error {
            return Err(e);
        }
        let s = &self.schema;
        let missing = match s.schema_type {
            SchemaType::Array if s.value_schema.is_none() => Some("an ARRAY needs a value schema"),
            SchemaType::Map if s.key_schema.is_none() || s.value_schema.is_none() => {
                Some("a MAP needs a key schema and a value schema")
            }
            _ => None,
        };
        if let Some(message) = missing {
            return Err(DataError::InvalidSchema {
                schema: self.describe(),
                message: message.to_owned(),
            });
        }
        super::logical::check_schema(s)?;
        if let Some(default) = &s.default {
            check_value(s, default, "default")?;
        }
        Ok(Arc::new(self.schema))
    }
}

impl Struct {
    /// Sets field `name`, checking the value against the field's schema.
    pub fn put(&mut self, name: &str, value: Value) -> Result<&mut Struct, DataError> {
        let unknown = || DataError::UnknownField {
            field: name.to_owned(),
            schema: super::value::describe(&self.schema),
        };
        let field = self.schema.field(name).ok_or_else(unknown)?;
        check_value(&field.schema, &value, name)?;
        let index = field.index;
        match self.values.as_mut_slice().get_mut(index) {
            Some(slot) => *slot = value,
            None => return Err(unknown()),
        }
        Ok(self)
    }

    /// Checks every field against its schema (required fields must be set
    /// or have a default).
    pub fn validate(&self) -> Result<(), DataError> {
        check_struct(self)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::logical::{date_schema, decimal_schema, time_schema};
    use crate::data::SchemaBuilder;

    fn row() -> Arc<Schema> {
        let inner = SchemaBuilder::struct_()
            .name("Inner")
            .field("n", Schema::int32())
            .build();
        SchemaBuilder::struct_()
            .name("Row")
            .field("id", Schema::int64())
            .field("inner", inner)
            .field(
                "list",
                SchemaBuilder::array(Schema::string()).optional().build(),
            )
            .field(
                "m",
                SchemaBuilder::map(Schema::string(), Schema::int32())
                    .optional()
                    .build(),
            )
            .field(
                "d",
                SchemaBuilder::int32()
                    .default_value(Value::Int32(5))
                    .build(),
            )
            .build()
    }

    #[test]
    fn struct_put_rejects_wrong_type_naming_field() {
        let mut s = Struct::new(row());
        let err = s.put("id", Value::from("nope")).unwrap_err();
        assert_eq!(
            err,
            DataError::TypeMismatch {
                field: "id".into(),
                expected: "INT64".into(),
                actual: "STRING".into()
            }
        );
    }

    #[test]
    fn struct_put_rejects_unknown_field() {
        let mut s = Struct::new(row());
        let err = s.put("nope", Value::Int64(1)).unwrap_err();
        assert_eq!(err.to_string(), "no field `nope` in Row");
    }

    #[test]
    fn struct_put_rejects_null_for_required_field() {
        let mut s = Struct::new(row());
        let err = s.put("id", Value::Null).unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `id`: null value for field that is required and has no default value (INT64)"
        );
    }

    #[test]
    fn default_counts_for_null() {
        let mut s = Struct::new(row());
        s.put("d", Value::Null).unwrap();
        assert_eq!(s.get("d"), Some(&Value::Int32(5)));
        assert_eq!(s.get_without_default("d"), Some(&Value::Null));
    }

    #[test]
    fn validate_names_nested_field_path() {
        let schema = row();
        let inner_schema = schema.field("inner").unwrap().schema.clone();
        let mut s = Struct::new(schema);
        s.put("id", Value::Int64(1)).unwrap();
        // An inner struct with its required field unset.
        s.put("inner", Value::Struct(Struct::new(inner_schema)))
            .unwrap_err();
        let err = s.validate().unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `inner`: null value for field that is required and has no default value (STRUCT)"
        );
    }

    #[test]
    fn nested_struct_error_names_full_path() {
        let schema = row();
        let inner_schema = schema.field("inner").unwrap().schema.clone();
        let mut s = Struct::new(schema.clone());
        let err = s
            .put("inner", Value::Struct(Struct::new(inner_schema)))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `inner.n`: null value for field that is required and has no default value (INT32)"
        );
        let err = check_value(&schema, &Value::Struct(s), "value").unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value.id`: null value for field that is required and has no default value (INT64)"
        );
    }

    #[test]
    fn array_and_map_errors_name_element() {
        let mut s = Struct::new(row());
        let err = s
            .put(
                "list",
                Value::Array(vec![Value::from("a"), Value::Int32(1)]),
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `list[1]`: expected STRING, got INT32"
        );
        let err = s
            .put("m", Value::Map(vec![(Value::from("k"), Value::from("v"))]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `m[\"k\"]`: expected INT32, got STRING"
        );
        let err = s
            .put("m", Value::Map(vec![(Value::Int32(1), Value::Int32(1))]))
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `m[<key>]`: expected STRING, got INT32"
        );
    }

    #[test]
    fn struct_of_other_schema_is_a_mismatch() {
        let other = SchemaBuilder::struct_().name("Other").build();
        let err = check_value(&row(), &Value::Struct(Struct::new(other)), "value").unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `value`: expected STRUCT Row, got STRUCT Other"
        );
    }

    #[test]
    fn equal_but_distinct_struct_schemas_match() {
        let a = SchemaBuilder::struct_().field("x", Schema::int8()).build();
        let b = Arc::new((*a).clone());
        let s = Struct::new(b).with("x", 1i8).unwrap();
        check_value(&a, &Value::Struct(s), "value").unwrap();
    }

    #[test]
    fn date_value_of_wrong_type_is_rejected() {
        let err = check_value(&date_schema(), &Value::Int64(3), "when").unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `when`: expected INT32 (org.apache.kafka.connect.data.Date), got INT64"
        );
    }

    #[test]
    fn time_value_out_of_day_is_rejected() {
        let err = check_value(&time_schema(), &Value::Int32(86_400_000), "t").unwrap_err();
        assert!(
            matches!(err, DataError::Invalid { ref field, .. } if field == "t"),
            "{err}"
        );
        check_value(&time_schema(), &Value::Int32(86_399_999), "t").unwrap();
    }

    #[test]
    fn decimal_value_must_have_bytes() {
        let err = check_value(&decimal_schema(2), &Value::Bytes(vec![]), "price").unwrap_err();
        assert!(matches!(err, DataError::Invalid { .. }), "{err}");
        check_value(&decimal_schema(2), &Value::Bytes(vec![0x04, 0xce]), "price").unwrap();
    }

    #[test]
    fn schemaless_record_parts_are_not_checked() {
        use crate::data::{SourceOffset, SourcePartition, SourceRecord};
        let r = SourceRecord::new(
            SourcePartition::single("f", "x"),
            SourceOffset::int(&SourceOffset::key("p"), 1),
            Arc::from("t"),
            None,
            Value::Array(vec![Value::Null, Value::from(1i64), Value::from("x")]),
        );
        r.validate().unwrap();
    }
}
