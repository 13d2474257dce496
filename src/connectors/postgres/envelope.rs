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
    /// `t`: a truncate (with `skipped.operations` not holding `t`).
    Truncate,
    /// `m`: a logical decoding message.
    Message,
}

impl Op {
    /// Debezium's one-letter code.
    pub fn code(self) -> &'static str {
        match self {
            Op::Read => "r",
            Op::Create => "c",
            Op::Update => "u",
            Op::Delete => "d",
            Op::Truncate => "t",
            Op::Message => "m",
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
                .version(1)
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
                        .parameter(
                            "allowed",
                            "true,first,first_in_data_collection,last_in_data_collection,last,false,incremental",
                        )
                        .default_value(Value::String("false".into()))
                        .build(),
                )
                .field("db", Schema::string())
                .field("sequence", Schema::optional_string())
                .field("ts_us", Schema::optional_int64())
                .field("ts_ns", Schema::optional_int64())
                .field("schema", Schema::string())
                .field("table", Schema::string())
                .field("txId", Schema::optional_int64())
                .field("lsn", Schema::optional_int64())
                .field("xmin", Schema::optional_int64())
                .field("origin", Schema::optional_string())
                .field("origin_lsn", Schema::optional_int64())
                .build()
        })
        .clone()
}

/// Schema of the optional `transaction` block (`event.block`), filled with
/// `provide.transaction.metadata`.
pub fn transaction_schema() -> SchemaRef {
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
    /// `"first"`, `"first_in_data_collection"`, `"true"`,
    /// `"last_in_data_collection"`, `"last"` or `"false"`.
    pub snapshot: &'static str,
    /// `["<last commit lsn>","<lsn>"]`, as Debezium writes it.
    pub sequence: Option<String>,
    /// Transaction id.
    pub tx_id: Option<i64>,
    /// The event's LSN.
    pub lsn: Option<i64>,
    /// The slot's `catalog_xmin` as last fetched (`xmin.fetch.interval.ms`).
    pub xmin: Option<i64>,
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
    /// `prefix`. As Debezium's: a `NOT NULL` column's field is required
    /// (a value the tuple lacks gets its type's fallback, see
    /// [`TableModel::row`]); a column's constant default is its field's
    /// default; the Envelope schema has version 2.
    pub fn new(
        prefix: &str,
        schema: &str,
        table: &str,
        columns: Vec<ColumnType>,
        positions: Vec<usize>,
        key: Vec<usize>,
    ) -> TableModel {
        let topic = format!("{prefix}.{schema}.{table}");
        let mut value = SchemaBuilder::struct_()
            .optional()
            .name(&format!("{topic}.Value"));
        for (i, c) in columns.iter().enumerate() {
            let optional = c.nullable && !key.contains(&i);
            value = value.field(
                &c.name,
                super::types::schema_with_default(&c.kind, optional, c.default.as_ref()),
            );
        }
        let value_schema = value.build();
        let key_schema = (!key.is_empty()).then(|| {
            let mut k = SchemaBuilder::struct_().name(&format!("{topic}.Key"));
            for &i in &key {
                k = k.field(
                    &columns[i].name,
                    super::types::schema_with_default(
                        &columns[i].kind,
                        false,
                        columns[i].default.as_ref(),
                    ),
                );
            }
            k.build()
        });
        let envelope_schema = SchemaBuilder::struct_()
            .name(&format!("{topic}.Envelope"))
            .version(2)
            .field("before", value_schema.clone())
            .field("after", value_schema.clone())
            .field("source", source_schema())
            .field("transaction", transaction_schema())
            .field("op", Schema::string())
            .field("ts_ms", Schema::optional_int64())
            .field("ts_us", Schema::optional_int64())
            .field("ts_ns", Schema::optional_int64())
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
    /// is column `i`'s cell. Values are made for their fields' schemas
    /// (the decoders follow [`super::types::schema_of`]), so the struct is
    /// assembled in field order without a per-field lookup or check.
    pub fn row(&self, cells: &[Cell<'_>]) -> Result<Struct, RowError> {
        // Values go straight into the struct's storage (one allocation);
        // the first error is kept aside and returned instead.
        let mut failed: Option<RowError> = None;
        let values = self.columns.iter().enumerate().map(|(i, column)| {
            if failed.is_some() {
                return Value::Null;
            }
            match self.cell_value(i, column, cells) {
                Ok(v) => v,
                Err(e) => {
                    failed = Some(e);
                    Value::Null
                }
            }
        });
        let row = Struct::from_iter_parts(self.value_schema.clone(), values);
        if let Some(e) = failed {
            return Err(e);
        }
        row.map_err(|e| RowError {
            table: self.qualified(),
            column: "(row)".to_owned(),
            type_name: "struct".to_owned(),
            message: e.to_string(),
        })
    }

    /// Column `i`'s value in `cells`, for its field's schema.
    fn cell_value(
        &self,
        i: usize,
        column: &ColumnType,
        cells: &[Cell<'_>],
    ) -> Result<Value, RowError> {
        let cell = self
            .positions
            .get(i)
            .and_then(|&p| cells.get(p))
            .copied()
            .ok_or_else(|| self.error(column, "missing from the tuple".to_owned()))?;
        let field = &self.value_schema.fields[i].schema;
        Ok(match cell {
            // A required column without a value (a key-only `before`):
            // its declared default, else its type's zero, as Debezium.
            Cell::Null if !field.optional && column.default.is_some() => {
                column.default.clone().unwrap_or(Value::Null)
            }
            Cell::Null => fallback(field),
            Cell::Unchanged => match column.kind {
                Kind::Text | Kind::Json | Kind::Xml | Kind::Fallback { .. } => {
                    Value::String(UNAVAILABLE_VALUE.to_owned())
                }
                Kind::Bytes => Value::Bytes(UNAVAILABLE_VALUE.as_bytes().to_vec()),
                _ => fallback(field),
            },
            Cell::Text(text) => decode_as(&column.kind, text, field.optional)
                .map_err(|e| self.error(column, e.to_string()))?,
        })
    }

    /// The key struct of a row, or `Value::Null` for a table without a key.
    pub fn key_of(&self, row: &Struct) -> Result<Value, RowError> {
        let Some(schema) = &self.key_schema else {
            return Ok(Value::Null);
        };
        let mut values = Vec::with_capacity(self.key.len());
        for &i in &self.key {
            let column = &self.columns[i];
            let v = match row.values().get(i).cloned().unwrap_or(Value::Null) {
                // Same values, the key field's (required) schema.
                Value::Struct(s) => Struct::from_parts(
                    super::types::schema_of(&column.kind, false),
                    s.values().to_vec(),
                )
                .map(Value::Struct)
                .map_err(|e| self.error(column, format!("key column: {e}")))?,
                v => v,
            };
            values.push(v);
        }
        Struct::from_parts(schema.clone(), values)
            .map(Value::Struct)
            .map_err(|e| RowError {
                table: self.qualified(),
                column: "(key)".to_owned(),
                type_name: "struct".to_owned(),
                message: e.to_string(),
            })
    }

    /// The envelope value of an event, assembled in the field order of
    /// [`source_schema`] and the envelope schema.
    pub fn envelope(
        &self,
        op: Op,
        before: Option<Struct>,
        after: Option<Struct>,
        source: &SourceInfo,
        now_ms: i64,
    ) -> Result<Value, RowError> {
        let s = self.source_block(source)?;
        self.envelope_with_source(op, before, after, s, now_ms)
    }

    /// The `source` block of this table's events read at `source`, of the
    /// schema of the envelope's `source` field.
    pub fn source_block(&self, source: &SourceInfo) -> Result<Struct, RowError> {
        let schema = self
            .envelope_schema
            .field("source")
            .map_or_else(source_schema, |f| f.schema.clone());
        source_struct_of(schema, &self.schema, &self.table, source)
            .map_err(|e| self.envelope_error(e))
    }

    /// A copy whose topic and schemas are new allocations, equal to this
    /// model's. A batch of records decoded with its own copy counts its
    /// references to them on counters of its own: the thread that reads
    /// the next batch and the worker that drops this one do not contend
    /// for one atomic counter per record and schema.
    pub fn own_copy(&self) -> TableModel {
        let fresh = |s: &SchemaRef| Arc::new(Schema::clone(s));
        let mut envelope = Schema::clone(&self.envelope_schema);
        for f in &mut envelope.fields {
            if f.name == "source" {
                f.schema = fresh(&f.schema);
            }
        }
        TableModel {
            topic: Arc::from(&*self.topic),
            key_schema: self.key_schema.as_ref().map(fresh),
            value_schema: fresh(&self.value_schema),
            envelope_schema: Arc::new(envelope),
            ..self.clone()
        }
    }

    fn envelope_error(&self, e: crate::data::DataError) -> RowError {
        RowError {
            table: self.qualified(),
            column: "(envelope)".to_owned(),
            type_name: "struct".to_owned(),
            message: e.to_string(),
        }
    }

    /// [`TableModel::envelope`] with a `source` block already made (from
    /// [`TableModel::source_block`]): records that share one share its
    /// values, built once.
    pub fn envelope_with_source(
        &self,
        op: Op,
        before: Option<Struct>,
        after: Option<Struct>,
        s: Struct,
        now_ms: i64,
    ) -> Result<Value, RowError> {
        let e = Struct::from_iter_parts(
            self.envelope_schema.clone(),
            [
                before.map_or(Value::Null, Value::Struct),
                after.map_or(Value::Null, Value::Struct),
                Value::Struct(s),
                // transaction
                Value::Null,
                Value::String(op.code().to_owned()),
                Value::Int64(now_ms),
                Value::Int64(now_ms.saturating_mul(1_000)),
                Value::Int64(now_ms.saturating_mul(1_000_000)),
            ],
        )
        .map_err(|e| self.envelope_error(e))?;
        Ok(Value::Struct(e))
    }
}

/// The `source` block of an event on table `schema.table` (both empty for
/// a logical decoding message), in [`source_schema`]'s field order.
pub fn source_struct(
    schema: &str,
    table: &str,
    source: &SourceInfo,
) -> Result<Struct, crate::data::DataError> {
    source_struct_of(source_schema(), schema, table, source)
}

/// [`source_struct`] of a given [`source_schema`] (or a copy of it).
fn source_struct_of(
    source_schema: SchemaRef,
    schema: &str,
    table: &str,
    source: &SourceInfo,
) -> Result<Struct, crate::data::DataError> {
    Struct::from_iter_parts(
        source_schema,
        [
            Value::String(env!("CARGO_PKG_VERSION").to_owned()),
            Value::String("postgresql".to_owned()),
            Value::String(source.name.to_string()),
            Value::Int64(source.ts_ms),
            Value::String(source.snapshot.to_owned()),
            Value::String(source.db.to_string()),
            source.sequence.clone().map_or(Value::Null, Value::String),
            Value::Int64(source.ts_ms.saturating_mul(1_000)),
            Value::Int64(source.ts_ms.saturating_mul(1_000_000)),
            Value::String(schema.to_owned()),
            Value::String(table.to_owned()),
            source.tx_id.map_or(Value::Null, Value::Int64),
            source.lsn.map_or(Value::Null, Value::Int64),
            source.xmin.map_or(Value::Null, Value::Int64),
            // origin, origin_lsn
            Value::Null,
            Value::Null,
        ],
    )
}

/// Debezium's schemas of a logical decoding message event: the key
/// (`io.debezium.connector.postgresql.MessageKey`, the prefix) and the value
/// (`…MessageValue`: `op`, `ts_ms`, `source`, `message` with `prefix` and
/// `content`).
pub fn message_schemas() -> (SchemaRef, SchemaRef) {
    static SCHEMAS: OnceLock<(SchemaRef, SchemaRef)> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            let key = SchemaBuilder::struct_()
                .name("io.debezium.connector.postgresql.MessageKey")
                .field("prefix", Schema::optional_string())
                .build();
            let message = SchemaBuilder::struct_()
                .name("io.debezium.connector.postgresql.Message")
                .field("prefix", Schema::optional_string())
                .field("content", Schema::optional_bytes())
                .build();
            let value = SchemaBuilder::struct_()
                .name("io.debezium.connector.postgresql.MessageValue")
                .field("op", Schema::string())
                .field("ts_ms", Schema::optional_int64())
                .field("source", source_schema())
                .field("message", message)
                .build();
            (key, value)
        })
        .clone()
}

/// Debezium's schemas of a transaction metadata event: the key
/// (`io.debezium.connector.common.TransactionMetadataKey {id}`) and the value
/// (`…TransactionMetadataValue {status, id, event_count, data_collections,
/// ts_ms}`).
pub fn transaction_event_schemas() -> (SchemaRef, SchemaRef) {
    static SCHEMAS: OnceLock<(SchemaRef, SchemaRef)> = OnceLock::new();
    SCHEMAS
        .get_or_init(|| {
            let key = SchemaBuilder::struct_()
                .name("io.debezium.connector.common.TransactionMetadataKey")
                .field("id", Schema::string())
                .build();
            let collection = SchemaBuilder::struct_()
                .field("data_collection", Schema::string())
                .field("event_count", Schema::int64())
                .build();
            let value = SchemaBuilder::struct_()
                .name("io.debezium.connector.common.TransactionMetadataValue")
                .field("status", Schema::string())
                .field("id", Schema::string())
                .field("event_count", Schema::optional_int64())
                .field(
                    "data_collections",
                    SchemaBuilder::array(collection).optional().build(),
                )
                .field("ts_ms", Schema::int64())
                .build();
            (key, value)
        })
        .clone()
}

/// What Debezium puts in a required field whose value the tuple lacks (a
/// delete's key-only `before`, an unchanged TOASTed value): null where the
/// field is optional, else zero, false, the empty string, empty bytes or
/// an empty array.
fn fallback(field: &Schema) -> Value {
    use crate::data::SchemaType;
    if field.optional {
        return Value::Null;
    }
    match field.schema_type {
        SchemaType::Int8 => Value::Int8(0),
        SchemaType::Int16 => Value::Int16(0),
        SchemaType::Int32 => Value::Int32(0),
        SchemaType::Int64 => Value::Int64(0),
        SchemaType::Float32 => Value::Float32(0.0),
        SchemaType::Float64 => Value::Float64(0.0),
        SchemaType::Boolean => Value::Boolean(false),
        SchemaType::String => Value::String(String::new()),
        SchemaType::Bytes
            if field.name.as_deref() == Some(crate::data::LogicalType::Decimal.name()) =>
        {
            Value::Bytes(vec![0])
        }
        SchemaType::Bytes => Value::Bytes(Vec::new()),
        SchemaType::Array => Value::Array(Vec::new()),
        SchemaType::Map => Value::Map(Vec::new()),
        SchemaType::Struct => Struct::from_parts(
            Arc::new(field.clone()),
            field.fields.iter().map(|f| fallback(&f.schema)).collect(),
        )
        .map_or(Value::Null, Value::Struct),
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
        TableModel::new("shop", "public", "items", columns, vec![0, 1, 2], key)
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
            [
                "before",
                "after",
                "source",
                "transaction",
                "op",
                "ts_ms",
                "ts_us",
                "ts_ns"
            ]
        );
        assert_eq!(m.envelope_schema.version, Some(2));
        assert_eq!(m.value_schema.version, None);
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
            xmin: Some(4),
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
        // Every field lands in its own place of the source block.
        assert_eq!(src.get("xmin"), Some(&Value::Int64(4)));
        assert_eq!(src.get("lsn"), Some(&Value::Int64(2)));
        assert_eq!(src.get("txId"), Some(&Value::Int64(5)));
        assert_eq!(src.get("origin"), Some(&Value::Null));
    }

    /// A model's own copy (one per batch in turn) makes events equal to
    /// the model's, and shares no topic or schema allocation with it.
    #[test]
    fn own_copy_makes_equal_events_from_its_own_allocations() {
        let m = model(vec![0]);
        let c = m.own_copy();
        let key = |m: &TableModel| m.key_schema.clone().unwrap();
        assert_eq!(c.topic, m.topic);
        assert!(!Arc::ptr_eq(&c.topic, &m.topic));
        for (ours, theirs) in [
            (&c.value_schema, &m.value_schema),
            (&c.envelope_schema, &m.envelope_schema),
            (&key(&c), &key(&m)),
        ] {
            assert_eq!(ours, theirs);
            assert!(!Arc::ptr_eq(ours, theirs));
        }
        let source = SourceInfo {
            name: Arc::from("shop"),
            db: Arc::from("app"),
            ts_ms: 1,
            snapshot: "true",
            sequence: None,
            tx_id: Some(5),
            lsn: Some(2),
            xmin: None,
        };
        let event = |m: &TableModel| {
            let row = m
                .row(&[Cell::Text("7"), Cell::Text("x"), Cell::Text("1.50")])
                .unwrap();
            let block = m.source_block(&source).unwrap();
            (
                m.key_of(&row).unwrap(),
                m.envelope_with_source(Op::Read, None, Some(row), block, 9)
                    .unwrap(),
            )
        };
        let (ours, theirs) = (event(&c), event(&m));
        assert_eq!(ours, theirs);
        let e = ours.1.as_struct().unwrap();
        e.validate().unwrap();
        let block = e.get("source").unwrap().as_struct().unwrap();
        assert!(
            Arc::ptr_eq(
                block.schema(),
                &c.envelope_schema.field("source").unwrap().schema
            ),
            "the source block is of the copy's own source schema"
        );
        assert!(!Arc::ptr_eq(block.schema(), &source_schema()));
        assert!(Arc::ptr_eq(e.schema(), &c.envelope_schema));
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
