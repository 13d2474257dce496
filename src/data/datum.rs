//! Values for differential collections: [`Datum`], a Connect value without
//! its schema, totally ordered and hashable, and [`FromConnect`], the small
//! trait that turns a record's key or row into a type a pipeline chooses.
//!
//! A [`Value`] carries its schema inside every struct and compares floats
//! as IEEE numbers (NaN is not equal to itself), so it can be neither
//! sorted nor hashed, which differential dataflow's collections need. A
//! `Datum` keeps the data and drops the schema: structs become records of
//! their values in field order, Decimals keep their unscaled value and
//! scale, and floats order as [`f64::total_cmp`] does.

use std::cmp::Ordering;
use std::hash::{Hash, Hasher};

use serde::{Deserialize, Serialize};

use super::logical::{Decimal, LogicalType};
use super::{Schema, Value};

/// A Connect value without its schema: what a differential collection of
/// changes holds when the pipeline has no type of its own for the rows.
///
/// ```
/// use timely_connect::data::{Datum, FromConnect, SchemaBuilder, Struct, Value};
/// use timely_connect::data::logical::{decimal_schema, Decimal};
///
/// let schema = SchemaBuilder::struct_()
///     .field("id", SchemaBuilder::int64().build())
///     .field("amount", decimal_schema(2))
///     .build();
/// let mut row = Struct::new(schema.clone());
/// row.put("id", Value::Int64(7))?;
/// row.put("amount", Decimal::new(1250, 2).to_value())?;
/// let datum = Datum::from_connect(&Value::Struct(row), Some(&schema))?;
/// assert_eq!(datum, Datum::Record(vec![Datum::Int(7), Datum::Decimal(1250, 2)]));
/// assert_eq!(datum.field(1).and_then(Datum::as_f64), Some(12.5));
/// # Ok::<(), Box<dyn std::error::Error>>(())
/// ```
#[derive(Clone, Debug, PartialEq, Eq, PartialOrd, Ord, Hash, Deserialize)]
pub enum Datum {
    /// `null`.
    Null,
    /// BOOLEAN.
    Bool(bool),
    /// INT8, INT16, INT32 and INT64, and the logical types they carry
    /// (Date in days, Time in milliseconds of the day, Timestamp in
    /// milliseconds since the Unix epoch).
    Int(i64),
    /// FLOAT32 and FLOAT64, ordered as [`f64::total_cmp`].
    Float(Float),
    /// A Decimal: its unscaled value and its scale (`unscaled × 10^-scale`).
    /// Values of one column share a scale, so they order numerically.
    Decimal(i128, i32),
    /// STRING.
    Text(String),
    /// BYTES (other than a Decimal).
    Bytes(Vec<u8>),
    /// ARRAY.
    List(Vec<Datum>),
    /// MAP, as its entries in order.
    Map(Vec<(Datum, Datum)>),
    /// STRUCT: its values in field order.
    Record(Vec<Datum>),
}

impl Datum {
    /// Field `i` of a record.
    pub fn field(&self, i: usize) -> Option<&Datum> {
        match self {
            Datum::Record(fields) => fields.get(i),
            _ => None,
        }
    }

    /// The integer, if this is one.
    pub fn as_i64(&self) -> Option<i64> {
        match self {
            Datum::Int(n) => Some(*n),
            _ => None,
        }
    }

    /// The number as a float: integers, floats and decimals.
    pub fn as_f64(&self) -> Option<f64> {
        match self {
            Datum::Int(n) => Some(*n as f64),
            Datum::Float(f) => Some(f.0),
            Datum::Decimal(unscaled, scale) => Some(*unscaled as f64 / 10f64.powi(*scale)),
            _ => None,
        }
    }

    /// The text, if this is text.
    pub fn as_str(&self) -> Option<&str> {
        match self {
            Datum::Text(s) => Some(s),
            _ => None,
        }
    }
}

/// Serializes as plain data for human-readable formats (JSON: `null`,
/// `true`, `7`, `2.5`, a Decimal as its exact text `"12.50"`, text, bytes
/// as an array of numbers, lists, maps and records as arrays), and as the
/// tagged enum that `Deserialize` reads for binary ones (bincode, between
/// workers and in snapshots).
impl Serialize for Datum {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeTupleVariant;
        if s.is_human_readable() {
            return match self {
                Datum::Null => s.serialize_unit(),
                Datum::Bool(b) => s.serialize_bool(*b),
                Datum::Int(n) => s.serialize_i64(*n),
                Datum::Float(f) => s.serialize_f64(f.0),
                Datum::Decimal(u, scale) => s.collect_str(&Decimal::new(*u, *scale)),
                Datum::Text(t) => s.serialize_str(t),
                Datum::Bytes(b) => b.serialize(s),
                Datum::List(items) | Datum::Record(items) => items.serialize(s),
                Datum::Map(entries) => entries.serialize(s),
            };
        }
        const NAME: &str = "Datum";
        match self {
            Datum::Null => s.serialize_unit_variant(NAME, 0, "Null"),
            Datum::Bool(b) => s.serialize_newtype_variant(NAME, 1, "Bool", b),
            Datum::Int(n) => s.serialize_newtype_variant(NAME, 2, "Int", n),
            Datum::Float(f) => s.serialize_newtype_variant(NAME, 3, "Float", f),
            Datum::Decimal(u, scale) => {
                let mut t = s.serialize_tuple_variant(NAME, 4, "Decimal", 2)?;
                t.serialize_field(u)?;
                t.serialize_field(scale)?;
                t.end()
            }
            Datum::Text(t) => s.serialize_newtype_variant(NAME, 5, "Text", t),
            Datum::Bytes(b) => s.serialize_newtype_variant(NAME, 6, "Bytes", b),
            Datum::List(l) => s.serialize_newtype_variant(NAME, 7, "List", l),
            Datum::Map(m) => s.serialize_newtype_variant(NAME, 8, "Map", m),
            Datum::Record(r) => s.serialize_newtype_variant(NAME, 9, "Record", r),
        }
    }
}

/// An `f64` that is totally ordered and hashable: equal when its bits are,
/// ordered as [`f64::total_cmp`] (`-0.0 < 0.0`, NaNs at the ends).
#[derive(Clone, Copy, Debug, Serialize, Deserialize)]
pub struct Float(pub f64);

impl PartialEq for Float {
    fn eq(&self, other: &Float) -> bool {
        self.0.to_bits() == other.0.to_bits()
    }
}

impl Eq for Float {}

impl PartialOrd for Float {
    fn partial_cmp(&self, other: &Float) -> Option<Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Float {
    fn cmp(&self, other: &Float) -> Ordering {
        self.0.total_cmp(&other.0)
    }
}

impl Hash for Float {
    fn hash<H: Hasher>(&self, state: &mut H) {
        self.0.to_bits().hash(state);
    }
}

/// Turns a record's key or row (a [`Value`] and its schema, when the
/// record has one) into a pipeline's own type. The differential adapter
/// calls it for every change; an `Err` fails the job with a message that
/// names the record.
///
/// ```
/// use timely_connect::data::{FromConnect, Schema, Value};
///
/// /// A row of an `orders` table, as the pipeline wants it.
/// #[derive(Debug, PartialEq)]
/// struct Order { id: i64, customer: i64 }
///
/// impl FromConnect for Order {
///     fn from_connect(value: &Value, _schema: Option<&Schema>) -> Result<Self, String> {
///         let row = value.as_struct().ok_or("an order is a struct")?;
///         let int = |name: &str| match row.get(name) {
///             Some(Value::Int64(n)) => Ok(*n),
///             other => Err(format!("field `{name}`: expected INT64, got {other:?}")),
///         };
///         Ok(Order { id: int("id")?, customer: int("customer_id")? })
///     }
/// }
/// ```
pub trait FromConnect: Sized {
    /// Converts `value`, whose schema is `schema` if the record has one.
    fn from_connect(value: &Value, schema: Option<&Schema>) -> Result<Self, String>;
}

impl FromConnect for Datum {
    fn from_connect(value: &Value, schema: Option<&Schema>) -> Result<Self, String> {
        Ok(match value {
            Value::Null => Datum::Null,
            Value::Int8(n) => Datum::Int(i64::from(*n)),
            Value::Int16(n) => Datum::Int(i64::from(*n)),
            Value::Int32(n) => Datum::Int(i64::from(*n)),
            Value::Int64(n) => Datum::Int(*n),
            Value::Float32(f) => Datum::Float(Float(f64::from(*f))),
            Value::Float64(f) => Datum::Float(Float(*f)),
            Value::Boolean(b) => Datum::Bool(*b),
            Value::String(s) => Datum::Text(s.clone()),
            Value::Bytes(b) => match schema {
                Some(s) if LogicalType::of(s) == Some(LogicalType::Decimal) => {
                    let d = Decimal::from_value(value, s).map_err(|e| e.to_string())?;
                    Datum::Decimal(d.unscaled, d.scale)
                }
                _ => Datum::Bytes(b.clone()),
            },
            Value::Array(items) => {
                let item_schema = schema.and_then(|s| s.value_schema.as_deref());
                Datum::List(
                    items
                        .iter()
                        .map(|v| Datum::from_connect(v, item_schema))
                        .collect::<Result<_, _>>()?,
                )
            }
            Value::Map(entries) => {
                let key_schema = schema.and_then(|s| s.key_schema.as_deref());
                let value_schema = schema.and_then(|s| s.value_schema.as_deref());
                Datum::Map(
                    entries
                        .iter()
                        .map(|(k, v)| {
                            Ok((
                                Datum::from_connect(k, key_schema)?,
                                Datum::from_connect(v, value_schema)?,
                            ))
                        })
                        .collect::<Result<_, String>>()?,
                )
            }
            Value::Struct(s) => {
                let fields = &s.schema().fields;
                Datum::Record(
                    s.values()
                        .iter()
                        .zip(fields)
                        .map(|(v, f)| Datum::from_connect(v, Some(&f.schema)))
                        .collect::<Result<_, _>>()?,
                )
            }
        })
    }
}

/// An integer key or row: an integer value, or a struct of one integer
/// field (a table's single-column primary key, as CDC connectors send it).
impl FromConnect for i64 {
    fn from_connect(value: &Value, _schema: Option<&Schema>) -> Result<Self, String> {
        match single(value) {
            Value::Int8(n) => Ok(i64::from(*n)),
            Value::Int16(n) => Ok(i64::from(*n)),
            Value::Int32(n) => Ok(i64::from(*n)),
            Value::Int64(n) => Ok(*n),
            other => Err(format!("expected an integer, got {}", describe(other))),
        }
    }
}

/// A text key or row: a string value, or a struct of one string field.
impl FromConnect for String {
    fn from_connect(value: &Value, _schema: Option<&Schema>) -> Result<Self, String> {
        match single(value) {
            Value::String(s) => Ok(s.clone()),
            other => Err(format!("expected a string, got {}", describe(other))),
        }
    }
}

/// The value inside a struct of one field, or the value itself.
fn single(value: &Value) -> &Value {
    match value {
        Value::Struct(s) if s.values().len() == 1 => &s.values()[0],
        v => v,
    }
}

fn describe(value: &Value) -> String {
    match value.schema_type() {
        Some(t) => t.to_string(),
        None => "null".to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::data::SchemaBuilder;

    #[test]
    fn floats_order_totally_and_nan_equals_itself() {
        let nan = Datum::Float(Float(f64::NAN));
        assert_eq!(nan, nan.clone());
        let mut v = [
            Datum::Float(Float(1.5)),
            Datum::Float(Float(-0.0)),
            Datum::Float(Float(0.0)),
            Datum::Float(Float(-3.0)),
        ];
        v.sort();
        let got: Vec<f64> = v.iter().filter_map(Datum::as_f64).collect();
        assert_eq!(got, vec![-3.0, -0.0, 0.0, 1.5]);
        assert_ne!(Datum::Float(Float(0.0)), Datum::Float(Float(-0.0)));
    }

    #[test]
    fn integer_keys_come_from_single_field_structs() {
        let schema = SchemaBuilder::struct_()
            .field("id", SchemaBuilder::int32().build())
            .build();
        let mut key = crate::data::Struct::new(schema);
        key.put("id", Value::Int32(42)).unwrap();
        assert_eq!(i64::from_connect(&Value::Struct(key), None), Ok(42));
        assert_eq!(
            i64::from_connect(&Value::String("x".into()), None),
            Err("expected an integer, got STRING".to_owned())
        );
        assert_eq!(
            String::from_connect(&Value::Null, None),
            Err("expected a string, got null".to_owned())
        );
    }

    #[test]
    fn datum_survives_bincode() {
        let d = Datum::Record(vec![
            Datum::Int(1),
            Datum::Decimal(-125, 2),
            Datum::Text("a".into()),
            Datum::Map(vec![(Datum::Bool(true), Datum::Null)]),
            Datum::Float(Float(2.5)),
        ]);
        let bytes = bincode::serialize(&d).unwrap();
        assert_eq!(bincode::deserialize::<Datum>(&bytes).unwrap(), d);
        assert_eq!(
            serde_json::to_string(&d).unwrap(),
            r#"[1,"-1.25","a",[[true,null]],2.5]"#
        );
    }
}
