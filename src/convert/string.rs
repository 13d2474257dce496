//! [`StringConverter`]: Kafka's `org.apache.kafka.connect.storage.StringConverter`.
//!
//! `from_connect` writes the value's Java `toString()` in the configured
//! encoding (a string as it is; other values as Java prints them:
//! `1.0E7`, `[1, 2]`, `{k=v}`, `Struct{a=1}`, a Decimal as
//! `BigDecimal.toString`, a Date/Time/Timestamp as `java.util.Date` in UTC;
//! BYTES as base64 where Java prints an identity hash); `null` is Kafka's
//! `null`. `to_connect` always
//! gives an optional STRING schema; `null` bytes give a `null` value.
//! Bytes that are not valid in the encoding are replaced with U+FFFD, as
//! Java's `new String(bytes, charset)` does, so reading never fails.

use super::java_fmt::write_java_to_string;
use super::{ConvertError, Converter, HeaderConverter, SchemaAndValue};
use crate::config::{ConfigDef, ConfigIssue, ConfigKey, ConfigType, Importance, Properties};
use crate::data::{Schema, Value};

/// `converter.encoding`: the character set, `UTF-8` by default.
pub const ENCODING_CONFIG: &str = "converter.encoding";

/// The character sets [`StringConverter`] supports, by Java's names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Default)]
pub enum Encoding {
    /// `UTF-8` (also `UTF8`).
    #[default]
    Utf8,
    /// `ISO-8859-1` (also `ISO8859_1`, `latin1`): one byte per character;
    /// characters above U+00FF are written as `?`, as Java does.
    Latin1,
    /// `US-ASCII` (also `ASCII`): characters above U+007F are written as
    /// `?`; bytes above 0x7F read as U+FFFD.
    Ascii,
}

impl Encoding {
    /// The encoding named `name` (Java's canonical names and common
    /// aliases, case-insensitive).
    pub fn from_name(name: &str) -> Option<Encoding> {
        let n = name.trim().to_ascii_uppercase().replace('_', "-");
        match n.as_str() {
            "UTF-8" | "UTF8" => Some(Encoding::Utf8),
            "ISO-8859-1" | "ISO8859-1" | "LATIN1" | "ISO-LATIN-1" => Some(Encoding::Latin1),
            "US-ASCII" | "ASCII" => Some(Encoding::Ascii),
            _ => None,
        }
    }

    fn encode(self, text: &[u8], out: &mut Vec<u8>) {
        match self {
            Encoding::Utf8 => out.extend_from_slice(text),
            Encoding::Latin1 | Encoding::Ascii => {
                let max = if self == Encoding::Latin1 { 0xff } else { 0x7f };
                // `text` is UTF-8 written by this module.
                for c in String::from_utf8_lossy(text).chars() {
                    out.push(
                        u8::try_from(u32::from(c))
                            .ok()
                            .filter(|&b| u32::from(b) <= max)
                            .unwrap_or(b'?'),
                    );
                }
            }
        }
    }

    fn decode(self, bytes: &[u8]) -> String {
        match self {
            Encoding::Utf8 => String::from_utf8_lossy(bytes).into_owned(),
            Encoding::Latin1 => bytes.iter().map(|&b| char::from(b)).collect(),
            Encoding::Ascii => bytes
                .iter()
                .map(|&b| if b < 0x80 { char::from(b) } else { '\u{fffd}' })
                .collect(),
        }
    }
}

/// Kafka's `StringConverter`: values as text and text as optional STRING
/// values.
///
/// ```
/// use timely_connect::convert::{Converter, StringConverter};
/// use timely_connect::data::{Schema, Value};
/// let mut c = StringConverter::new();
/// let mut out = Vec::new();
/// c.from_connect("t", None, &Value::Float64(1.0e7), &mut out)?;
/// assert_eq!(out, b"1.0E7");
/// let back = c.to_connect("t", Some(b"hello"))?;
/// assert_eq!(back.value, Value::from("hello"));
/// assert_eq!(back.schema, Some(Schema::optional_string()));
/// # Ok::<(), timely_connect::convert::ConvertError>(())
/// ```
#[derive(Clone, Debug, Default)]
pub struct StringConverter {
    encoding: Encoding,
    scratch: Vec<u8>,
}

impl StringConverter {
    /// A UTF-8 converter.
    pub fn new() -> Self {
        Self::default()
    }

    /// The encoding in effect.
    pub fn encoding(&self) -> Encoding {
        self.encoding
    }

    /// Kafka's `StringConverterConfig` keys.
    pub fn string_config_def() -> ConfigDef {
        ConfigDef::new()
            .define(
                ConfigKey::new(
                    ENCODING_CONFIG,
                    ConfigType::String,
                    Importance::High,
                    "The name of the Java character set to use for encoding strings: UTF-8 \
                     (default), ISO-8859-1 or US-ASCII.",
                )
                .default_value("UTF-8"),
            )
            .define(
                ConfigKey::new(
                    super::json::CONVERTER_TYPE_CONFIG,
                    ConfigType::String,
                    Importance::Low,
                    "How this converter will be used: key, value or header. Set by the framework.",
                )
                .optional()
                .validator(crate::config::Validator::one_of(&[
                    "key", "value", "header",
                ])),
            )
    }

    fn apply(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        let parsed = Self::string_config_def().parse(configs)?;
        let name = parsed.string(ENCODING_CONFIG).unwrap_or("UTF-8");
        self.encoding = Encoding::from_name(name).ok_or_else(|| {
            vec![ConfigIssue::new(
                ENCODING_CONFIG,
                format!(
                    "unsupported character set `{name}`; supported: UTF-8, ISO-8859-1, US-ASCII"
                ),
            )]
        })?;
        Ok(())
    }

    fn write(&mut self, schema: Option<&Schema>, value: &Value, out: &mut Vec<u8>) -> bool {
        match value {
            Value::Null => false,
            Value::String(s) if self.encoding == Encoding::Utf8 => {
                out.extend_from_slice(s.as_bytes());
                true
            }
            _ => {
                self.scratch.clear();
                write_java_to_string(&mut self.scratch, value, schema);
                self.encoding.encode(&self.scratch, out);
                true
            }
        }
    }

    fn read(&self, bytes: Option<&[u8]>) -> SchemaAndValue {
        SchemaAndValue {
            schema: Some(Schema::optional_string()),
            value: bytes.map_or(Value::Null, |b| Value::String(self.encoding.decode(b))),
        }
    }
}

impl Converter for StringConverter {
    fn config_def(&self) -> ConfigDef {
        Self::string_config_def()
    }

    fn configure(&mut self, configs: &Properties, _is_key: bool) -> Result<(), Vec<ConfigIssue>> {
        self.apply(configs)
    }

    fn from_connect(
        &mut self,
        _topic: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        Ok(self.write(schema, value, out))
    }

    fn to_connect(
        &mut self,
        _topic: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        Ok(self.read(bytes))
    }
}

impl HeaderConverter for StringConverter {
    fn config_def(&self) -> ConfigDef {
        Self::string_config_def()
    }

    fn configure(&mut self, configs: &Properties) -> Result<(), Vec<ConfigIssue>> {
        self.apply(configs)
    }

    fn from_connect_header(
        &mut self,
        _topic: &str,
        _header_key: &str,
        schema: Option<&Schema>,
        value: &Value,
        out: &mut Vec<u8>,
    ) -> Result<bool, ConvertError> {
        Ok(self.write(schema, value, out))
    }

    fn to_connect_header(
        &mut self,
        _topic: &str,
        _header_key: &str,
        bytes: Option<&[u8]>,
    ) -> Result<SchemaAndValue, ConvertError> {
        Ok(self.read(bytes))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::{logical, SchemaBuilder, Struct};

    fn write(c: &mut StringConverter, schema: Option<&Schema>, value: Value) -> Option<Vec<u8>> {
        let mut out = Vec::new();
        c.from_connect("t", schema, &value, &mut out)
            .unwrap()
            .then_some(out)
    }

    fn configured(encoding: &str) -> Result<StringConverter, Vec<ConfigIssue>> {
        let mut c = StringConverter::new();
        let props: Properties = [(ENCODING_CONFIG.to_owned(), encoding.to_owned())].into();
        Converter::configure(&mut c, &props, false)?;
        Ok(c)
    }

    #[test]
    fn strings_pass_through_and_null_is_no_bytes() {
        let mut c = StringConverter::new();
        assert_eq!(
            write(&mut c, None, Value::from("héllo")),
            Some("héllo".as_bytes().to_vec())
        );
        assert_eq!(
            write(&mut c, Some(&Schema::optional_string()), Value::Null),
            None
        );
    }

    #[test]
    fn other_values_are_written_as_java_to_string() {
        let mut c = StringConverter::new();
        assert_eq!(
            write(&mut c, None, Value::Int64(-42)),
            Some(b"-42".to_vec())
        );
        assert_eq!(
            write(&mut c, None, Value::Float64(1.0e-5)),
            Some(b"1.0E-5".to_vec())
        );
        assert_eq!(
            write(&mut c, None, Value::Boolean(true)),
            Some(b"true".to_vec())
        );
        let schema = SchemaBuilder::struct_()
            .field("id", Schema::int32())
            .build();
        let st = Struct::new(schema.clone()).with("id", 3i32).unwrap();
        assert_eq!(
            write(&mut c, Some(&schema), Value::Struct(st)),
            Some(b"Struct{id=3}".to_vec())
        );
        let dec = logical::decimal_schema(2);
        assert_eq!(
            write(
                &mut c,
                Some(&dec),
                logical::Decimal::new(1230, 2).to_value()
            ),
            Some(b"12.30".to_vec())
        );
    }

    #[test]
    fn reading_gives_optional_string_schema_even_for_null() {
        let mut c = StringConverter::new();
        let v = c.to_connect("t", None).unwrap();
        assert_eq!(
            v,
            SchemaAndValue {
                schema: Some(Schema::optional_string()),
                value: Value::Null
            }
        );
        let v = c.to_connect("t", Some(&[b'a', 0xff])).unwrap();
        assert_eq!(v.value, Value::from("a\u{fffd}"));
    }

    #[test]
    fn latin1_and_ascii_encodings_replace_unmappable_characters() {
        let mut latin1 = configured("ISO-8859-1").unwrap();
        assert_eq!(
            write(&mut latin1, None, Value::from("é☃")),
            Some(vec![0xe9, b'?'])
        );
        assert_eq!(
            latin1.to_connect("t", Some(&[0xe9])).unwrap().value,
            Value::from("é")
        );
        let mut ascii = configured("us-ascii").unwrap();
        assert_eq!(
            write(&mut ascii, None, Value::from("aé")),
            Some(b"a?".to_vec())
        );
        assert_eq!(configured("utf8").unwrap().encoding(), Encoding::Utf8);
    }

    #[test]
    fn unsupported_encoding_is_a_config_issue() {
        let issues = configured("EBCDIC").unwrap_err();
        assert_eq!(issues.len(), 1);
        assert_eq!(issues[0].key, ENCODING_CONFIG);
        assert!(issues[0].message.contains("EBCDIC"), "{}", issues[0]);
    }
}
