//! A JSON tree that keeps object keys in insertion order, so the Avro
//! schemas we write list their attributes in the order Confluent's
//! `AvroData` (through Avro Java) writes them.

use std::fmt::Write as _;

/// An ordered JSON value. Leaves that need no ordering are plain
/// `serde_json` values.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Json {
    /// A string.
    Str(String),
    /// An array.
    Arr(Vec<Json>),
    /// An object, keys in insertion order.
    Obj(Vec<(String, Json)>),
    /// Any other value (numbers, booleans, `null`, default values).
    Plain(serde_json::Value),
}

impl Json {
    /// A string value.
    pub(crate) fn str(s: &str) -> Json {
        Json::Str(s.to_owned())
    }

    /// The compact text of this value.
    pub(crate) fn to_text(&self) -> String {
        let mut out = String::new();
        self.write(&mut out);
        out
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, item) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    item.write(out);
                }
                out.push(']');
            }
            Json::Obj(entries) => {
                out.push('{');
                for (i, (k, v)) in entries.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
            // Writing a `serde_json::Value` into a String cannot fail.
            Json::Plain(v) => {
                let _ = write!(out, "{v}");
            }
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    // `Value::String`'s Display escapes exactly as JSON requires.
    let _ = write!(out, "{}", serde_json::Value::String(s.to_owned()));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ordered_json_keeps_insertion_order_and_escapes() {
        let j = Json::Obj(vec![
            ("type".into(), Json::str("int")),
            ("b".into(), Json::Plain(serde_json::json!(1))),
            (
                "a".into(),
                Json::Arr(vec![
                    Json::str("q\"x"),
                    Json::Plain(serde_json::Value::Null),
                ]),
            ),
        ]);
        assert_eq!(j.to_text(), r#"{"type":"int","b":1,"a":["q\"x",null]}"#);
    }
}
