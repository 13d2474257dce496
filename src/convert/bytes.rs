//! [`ByteArrayConverter`]: Kafka's
//! `org.apache.kafka.connect.converters.ByteArrayConverter`: BYTES values
//! pass through unchanged.

use super::{ConvertError, Converter, HeaderConverter, SchemaAndValue};
use crate::config::{ConfigDef, ConfigIssue, Properties};
use crate::data::{DataError, Schema, SchemaType, Value};

/// Kafka's `ByteArrayConverter`: a BYTES value is written as its bytes;
/// bytes read back as an optional BYTES value. Any other schema or value
/// is a [`ConvertError::Data`] naming its type.
///
/// ```
/// use timely_connect::convert::{ByteArrayConverter, Converter};
/// use timely_connect::data::{Schema, Value};
/// let mut c = ByteArrayConverter::new();
/// let mut out = Vec::new();
/// c.from_connect("t", Some(&Schema::bytes()), &Value::Bytes(vec![1, 2]), &mut out)?;
/// assert_eq!(out, [1, 2]);
/// assert!(c.from_connect("t", None, &Value::from("no"), &mut out).is_err());
/// # Ok::<(), timely_connect::convert::ConvertError>(())
/// ```
#[derive(Clone, Copy, Debug, Default)]
pub struct ByteArrayConverter {
    root: &'static str,
}

impl ByteArrayConverter {
    /// A new converter (it has no options).
    pub fn new() -> Self {
        ByteArrayConverter { root: "value" }
    }

    fn write(
        &self,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        let root = if self.root.is_empty() {
            "value"
        } else {
            self.root
        };
        if let Some(s) = schema {
            if s.schema_type != SchemaType::Bytes {
                return Err(ConvertError::Data(DataError::TypeMismatch {
                    field: root.to_owned(),
                    expected: "a BYTES schema (ByteArrayConverter)".to_owned(),
                    actual: format!("a {} schema", s.schema_type),
                }));
            }
        }
        match value {
            Value::Null => Ok(false),
            Value::Bytes(b) => {
                out.extend_from_slice(b);
                Ok(true)
            }
            other => Err(ConvertError::Data(DataError::TypeMismatch {
                field: root.to_owned(),
                expected: "BYTES (ByteArrayConverter)".to_owned(),
                actual: other.type_name().to_owned(),
            })),
        }
    }

    fn read(bytes: Option<&[u8]>) -> SchemaAndValue {
        SchemaAndValue {
            schema: Some(Schema::optional_bytes()),
            value: bytes.map_or(Value::Null, |b| Value::Bytes(b.to_vec())),
        }
    }
}

impl Converter for ByteArrayConverter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn configure(&mut self, _configs: &Properties, is_key: bool) -> Result<(), Vec<ConfigIssue>> {
        self.root = if is_key { "key" } else { "value" };
        Ok(())
    }

    fn from_connect(
        &mut self,
        _topic: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        self.write(schema, value, out)
    }

    fn to_connect(
        &mut self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        Ok(Self::read(bytes))
    }
}

impl HeaderConverter for ByteArrayConverter {
    fn config_def(&self) -> ConfigDef {
        ConfigDef::new()
    }

    fn configure(&mut self, _configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        self.root = "header";
        Ok(())
    }

    fn from_connect_header(
        &mut self,
        _topic: &str,
        _header_key: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        self.write(schema, value, out)
    }

    fn to_connect_header(
        &mut self,
        _topic: &str,
        _header_key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        Ok(Self::read(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bytes_pass_through_both_ways() {
        let mut c = ByteArrayConverter::new();
        let mut out = vec![9];
        assert!(c
            .from_connect(
                "t",
                Some(&Schema::optional_bytes()),
                &Value::Bytes(vec![0, 255]),
                &mut out
            )
            .unwrap());
        assert_eq!(out, [9, 0, 255]);
        assert!(!c.from_connect("t", None, &Value::Null, &mut out).unwrap());
        let back = c.to_connect("t", Some(&[1, 2])).unwrap();
        assert_eq!(
            back,
            SchemaAndValue {
                schema: Some(Schema::optional_bytes()),
                value: Value::Bytes(vec![1, 2])
            }
        );
        assert_eq!(c.to_connect("t", None).unwrap().value, Value::Null);
    }

    #[test]
    fn non_bytes_value_or_schema_is_a_data_error_naming_the_type() {
        let mut c = ByteArrayConverter::new();
        Converter::configure(&mut c, &Properties::new(), true).unwrap();
        let err = c
            .from_connect("t", None, &Value::Int32(1), &mut Vec::new())
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "field `key`: expected BYTES (ByteArrayConverter), got INT32"
        );
        let err = c
            .from_connect(
                "t",
                Some(&Schema::string()),
                &Value::from("x"),
                &mut Vec::new(),
            )
            .unwrap_err();
        assert!(err.to_string().contains("STRING schema"), "{err}");
        assert_eq!(
            err.exception_class(),
            "org.apache.kafka.connect.errors.DataException"
        );
    }
}
