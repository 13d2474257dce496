//! Debezium's change-event envelope: key and value schemas per table, the
//! `source` block, `op` codes, tombstones and topic names.

use std::sync::{Arc, OnceLock};

use crate::data::{Schema, SchemaBuilder, SchemaRef, Struct, Value};

use super::types::{decode_as, ColumnType, Kind, ENUM};

/// Name of the `source` block's schema.
pub const SOURCE_SCHEMA_NAME: &str = "io.debezium.connector.postgresql.Source";
/// Debezium's placeholder for an unchanged TOASTed value pgoutput does not send.
pub const UNAVAILABLE_VALUE: &str = "__debezium_unavailable_value";

/// A change's operation code (`op`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Op {
    /// `r`: a row read by the snapshot.
    Read,
    /// `c`: an insert.
    Create,
    /// `u`: an update.
    Update,
    /// `d`: a delete.
    Delete,
}

impl Op {
    /// Debezium's one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Read => "r",
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
        }
    }
}

/// Schema of the `source` block (fields as Debezium's PostgreSQL connector has them).
pub fn source_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            SchemaBuilder::struct_()
                .name(SOURCE_SCHEMA_NAME)
                .field("version", Schema::string())
                .field("connector", Schema::string())
                .field("name", Schema::string())
                .field("ts_ms", Schema::int64())
                .field(
                    "snapshot",
                    SchemaBuilder::string()
                        .optional()
                        .name(ENUM)
                        .version(1)
                        .parameter("allowed", "true,last,false,incremental")
                        .default_value(Value::String("false".into()))
                        .build(),
                )
                .field("db", Schema::string())
                .field("sequence", Schema::optional_string())
                .field("schema", Schema::string())
                .field("table", Schema::string())
                .field("txId", Schema::optional_int64())
                .field("lsn", Schema::optional_int64())
                .field("xmin", Schema::optional_int64())
                .build()
        })
        .clone()
}

/// Schema of the optional `transaction` block (`event.block`); always null
/// here (Debezium fills it only with `provide.transaction.metadata`).
fn transaction_schema() -> SchemaRef {
    static SCHEMA: OnceLock<SchemaRef> = OnceLock::new();
    SCHEMA
        .get_or_init(|| {
            SchemaBuilder::struct_()
                .optional()
                .name("event.block")
                .version(1)
                .field("id", Schema::string())
                .field("total_order", Schema::int64())
                .field("data_collection_order", Schema::int64())
                .build()
        })
        .clone()
}

/// What the `source` block says about one event.
#[derive(Clone, Debug, Default)]
pub struct SourceInfo {
    /// The logical server name (`topic.prefix`).
    pub name: Arc<str>,
    /// The database name.
    pub db: Arc<str>,
    /// Commit time (streaming) or read time (snapshot), ms since the epoch.
    pub ts_ms: i64,
    /// `"true"`, `"last"` or `"false"`.
    pub snapshot: &'static str,
    /// `["<last commit lsn>","<lsn>"]`, as Debezium writes it.
    pub sequence: Option<String>,
    /// Transaction id.
    pub tx_id: Option<i64>,
    /// The event's LSN.
    pub lsn: Option<i64>,
}

/// A captured table: its columns, key and the schemas of its events.
#[derive(Clone, Debug)]
pub struct TableModel {
    /// Schema (namespace) name.
    pub schema: String,
    /// Table name.
    pub table: String,
    /// `<prefix>.<schema>.<table>`.
    pub topic: Arc<str>,
    /// Captured columns, in table order.
    pub columns: Vec<ColumnType>,
    /// For each captured column, its position in the tuples this model decodes.
    pub positions: Vec<usize>,
    /// Indexes into `columns` of the primary key, in key order (empty: no key).
    pub key: Vec<usize>,
    /// `<topic>.Key`, or `None` without a primary key.
    pub key_schema: Option<SchemaRef>,
    /// `<topic>.Value`.
    pub value_schema: SchemaRef,
    /// `<topic>.Envelope`.
    pub envelope_schema: SchemaRef,
}

/// One column's value in a tuple, as text.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Cell<'a> {
    /// SQL NULL.
    Null,
    /// An unchanged TOASTed value pgoutput did not send.
    Unchanged,
    /// The text output.
    Text(&'a str),
}

/// A value that does not decode, naming the table and column.
#[derive(Clone, Debug, thiserror::Error)]
#[error("table {table}, column `{column}` (type {type_name}): {message}")]
pub struct RowError {
    /// `schema.table`.
    pub table: String,
    /// Column name.
    pub column: String,
    /// The column's type, as PostgreSQL names it or by OID.
    pub type_name: String,
    /// What went wrong.
    pub message: String,
}

impl TableModel {
    /// The model of `schema.table` with `columns` (captured, in order),
    /// read from tuples at `positions`, keyed by `key`, for topic prefix
    /// `prefix`. `version` is set on the Value and Envelope schemas.
    pub fn new(
        prefix: &str,
        schema: &str,
        table: &str,
        columns: Vec<ColumnType>,
        positions: Vec<usize>,
        key: Vec<usize>,
        version: i32,
    ) -> TableModel {
        let topic = format!("{prefix}.{schema}.{table}");
        let mut value = SchemaBuilder::struct_()
            .optional()
            .name(&format!("{topic}.Value"))
            .version(version);
        for (i, c) in columns.iter().enumerate() {
            // Key columns are required; every other column is optional so a
            // delete's key-only `before` (REPLICA IDENTITY DEFAULT) and
            // NaN numerics can be null.
            let required = key.contains(&i);
            value = value.field(&c.name, super::types::schema_of(&c.kind, !required));
        }
        let value_schema = value.build();
        let key_schema = (!key.is_empty()).then(|| {
            let mut k = SchemaBuilder::struct_().name(&format!("{topic}.Key"));
            for &i in &key {
                k = k.field(
                    &columns[i].name,
                    super::types::schema_of(&columns[i].kind, false),
                );
            }
            k.build()
        });
        let envelope_schema = SchemaBuilder::struct_()
            .name(&format!("{topic}.Envelope"))
            .version(version)
            .field("before", value_schema.clone())
            .field("after", value_schema.clone())
            .field("source", source_schema())
            .field("op", Schema::string())
            .field("ts_ms", Schema::optional_int64())
            .field("transaction", transaction_schema())
            .build();
        TableModel {
            schema: schema.to_owned(),
            table: table.to_owned(),
            topic: Arc::from(topic),
            columns,
            positions,
            key,
            key_schema,
            value_schema,
            envelope_schema,
        }
    }

    /// `schema.table`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    fn error(&self, column: &ColumnType, message: String) -> RowError {
        let type_name = match &column.kind {
            Kind::Fallback { type_name } => type_name.clone(),
            _ => format!("oid {}", column.type_oid),
        };
        RowError {
            table: self.qualified(),
            column: column.name.clone(),
            type_name,
            message,
        }
    }

    /// Decodes a tuple into a `<topic>.Value` struct. `cells[positions[i]]`
    /// is column `i`'s cell.
    pub fn row(&self, cells: &[Cell<'_>]) -> Result<Struct, RowError> {
        let mut values = Struct::new(self.value_schema.clone());
        for (i, column) in self.columns.iter().enumerate() {
            let cell = cells
                .get(self.positions[i])
                .copied()
                .ok_or_else(|| self.error(column, "missing from the tuple".to_owned()))?;
            let value = match cell {
                Cell::Null => Value::Null,
                Cell::Unchanged => match column.kind {
                    Kind::Text | Kind::Json | Kind::Xml | Kind::Fallback { .. } => {
                        Value::String(UNAVAILABLE_VALUE.to_owned())
                    }
                    Kind::Bytes => Value::Bytes(UNAVAILABLE_VALUE.as_bytes().to_vec()),
                    _ => Value::Null,
                },
                Cell::Text(text) => decode_as(&column.kind, text, !self.key.contains(&i))
                    .map_err(|e| self.error(column, e.to_string()))?,
            };
            values
                .put(&column.name, value)
                .map_err(|e| self.error(column, e.to_string()))?;
        }
        Ok(values)
    }

    /// The key struct of a row, or `Value::Null` for a table without a key.
    pub fn key_of(&self, row: &Struct) -> Result<Value, RowError> {
        let Some(schema) = &self.key_schema else {
            return Ok(Value::Null);
        };
        let mut key = Struct::new(schema.clone());
        for &i in &self.key {
            let column = &self.columns[i];
            let v = match row.get(&column.name).cloned().unwrap_or(Value::Null) {
                // Same value, the key field's (required) schema.
                Value::Struct(s) => {
                    let mut k = Struct::new(super::types::schema_of(&column.kind, false));
                    for f in &s.schema().fields {
                        let fv = s.get(&f.name).cloned().unwrap_or(Value::Null);
                        k.put(&f.name, fv)
                            .map_err(|e| self.error(column, format!("key column: {e}")))?;
                    }
                    Value::Struct(k)
                }
                v => v,
            };
            key.put(&column.name, v)
                .map_err(|e| self.error(column, format!("key column: {e}")))?;
        }
        Ok(Value::Struct(key))
    }

    /// The envelope value of an event.
    pub fn envelope(
        &self,
        op: Op,
        before: Option<Struct>,
        after: Option<Struct>,
        source: &SourceInfo,
        now_ms: i64,
    ) -> Result<Value, RowError> {
        let fail = |e: crate::data::DataError| RowError {
            table: self.qualified(),
            column: "(envelope)".to_owned(),
            type_name: "struct".to_owned(),
            message: e.to_string(),
        };
        let mut s = Struct::new(source_schema());
        s.put(
            "version",
            Value::String(env!("CARGO_PKG_VERSION").to_owned()),
        )
        .and_then(|s| s.put("connector", Value::String("postgresql".into())))
        .and_then(|s| s.put("name", Value::String(source.name.to_string())))
        .and_then(|s| s.put("ts_ms", Value::Int64(source.ts_ms)))
        .and_then(|s| s.put("snapshot", Value::String(source.snapshot.to_owned())))
        .and_then(|s| s.put("db", Value::String(source.db.to_string())))
        .and_then(|s| {
            s.put(
                "sequence",
                source.sequence.clone().map_or(Value::Null, Value::String),
            )
        })
        .and_then(|s| s.put("schema", Value::String(self.schema.clone())))
        .and_then(|s| s.put("table", Value::String(self.table.clone())))
        .and_then(|s| s.put("txId", source.tx_id.map_or(Value::Null, Value::Int64)))
        .and_then(|s| s.put("lsn", source.lsn.map_or(Value::Null, Value::Int64)))
        .map_err(fail)?;
        let mut e = Struct::new(self.envelope_schema.clone());
        e.put("before", before.map_or(Value::Null, Value::Struct))
            .and_then(|e| e.put("after", after.map_or(Value::Null, Value::Struct)))
            .and_then(|e| e.put("source", Value::Struct(s)))
            .and_then(|e| e.put("op", Value::String(op.code().to_owned())))
            .and_then(|e| e.put("ts_ms", Value::Int64(now_ms)))
            .map_err(fail)?;
        Ok(Value::Struct(e))
    }
}

/// Milliseconds since the epoch, now.
pub fn now_ms() -> i64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as i64)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::connectors::postgres::types::{oid, TypeRegistry};

    fn model(key: Vec<usize>) -> TableModel {
        let reg = TypeRegistry::new();
        let columns = vec![
            ColumnType::new("id", oid::INT4, -1, false, &reg),
            ColumnType::new("name", oid::TEXT, -1, true, &reg),
            ColumnType::new("price", oid::NUMERIC, (8 << 16 | 2) + 4, false, &reg),
        ];
        TableModel::new("shop", "public", "items", columns, vec![0, 1, 2], key, 1)
    }

    #[test]
    fn pg_envelope_names_and_fields_follow_debezium() {
        let m = model(vec![0]);
        assert_eq!(&*m.topic, "shop.public.items");
        assert_eq!(
            m.key_schema.as_ref().unwrap().name.as_deref(),
            Some("shop.public.items.Key")
        );
        assert_eq!(
            m.value_schema.name.as_deref(),
            Some("shop.public.items.Value")
        );
        let names: Vec<&str> = m
            .envelope_schema
            .fields
            .iter()
            .map(|f| f.name.as_str())
            .collect();
        assert_eq!(
            names,
            ["before", "after", "source", "op", "ts_ms", "transaction"]
        );
        let row = m
            .row(&[Cell::Text("7"), Cell::Null, Cell::Text("1.50")])
            .unwrap();
        let key = m.key_of(&row).unwrap();
        assert_eq!(key.as_struct().unwrap().get("id"), Some(&Value::Int32(7)));
        let source = SourceInfo {
            name: Arc::from("shop"),
            db: Arc::from("app"),
            ts_ms: 1,
            snapshot: "last",
            sequence: Some("[\"1\",\"2\"]".into()),
            tx_id: Some(5),
            lsn: Some(2),
        };
        let v = m.envelope(Op::Read, None, Some(row), &source, 9).unwrap();
        let e = v.as_struct().unwrap();
        e.validate().unwrap();
        assert_eq!(e.get("op"), Some(&Value::String("r".into())));
        let src = e.get("source").unwrap().as_struct().unwrap();
        assert_eq!(src.get("snapshot"), Some(&Value::String("last".into())));
        assert_eq!(
            src.get("connector"),
            Some(&Value::String("postgresql".into()))
        );
        assert_eq!(src.get("name"), Some(&Value::String("shop".into())));
    }

    #[test]
    fn pg_table_without_key_has_null_key() {
        let m = model(vec![]);
        assert!(m.key_schema.is_none());
        let row = m
            .row(&[Cell::Text("1"), Cell::Text("x"), Cell::Text("2.00")])
            .unwrap();
        assert_eq!(m.key_of(&row).unwrap(), Value::Null);
    }

    #[test]
    fn pg_bad_value_names_table_and_column() {
        let m = model(vec![0]);
        let err = m
            .row(&[Cell::Text("x"), Cell::Null, Cell::Text("1")])
            .unwrap_err()
            .to_string();
        assert!(
            err.contains("public.items") && err.contains("`id`"),
            "{err}"
        );
        let row = m
            .row(&[Cell::Text("1"), Cell::Unchanged, Cell::Null])
            .unwrap();
        assert_eq!(
            row.get("name"),
            Some(&Value::String(UNAVAILABLE_VALUE.into()))
        );
    }
}
