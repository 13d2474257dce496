//! A captured column's type: its kind, schema and decoding.

use super::*;

/// One column of a table as captured: name, kind and schema.
#[derive(Clone, Debug, PartialEq)]
pub struct ColumnType {
    /// Column name.
    pub name: String,
    /// PostgreSQL type OID.
    pub type_oid: u32,
    /// PostgreSQL type modifier.
    pub typmod: i32,
    /// The representation.
    pub kind: Kind,
    /// Whether the column accepts NULL.
    pub nullable: bool,
    /// The Connect schema of its values.
    pub schema: SchemaRef,
    /// The column's declared default, when it is a constant this connector
    /// reads (see [`super::default_literal`]): what a key-only `before`
    /// gets for this column if it is `NOT NULL`.
    pub default: Option<crate::data::Value>,
}

impl ColumnType {
    /// A column of `type_oid`/`typmod`, resolved through `registry`.
    pub fn new(
        name: &str,
        type_oid: u32,
        typmod: i32,
        nullable: bool,
        registry: &TypeRegistry,
    ) -> ColumnType {
        let kind = kind_of(type_oid, typmod, registry);
        let schema = schema_of(&kind, nullable);
        ColumnType {
            name: name.to_owned(),
            type_oid,
            typmod,
            kind,
            nullable,
            schema,
            default: None,
        }
    }

    /// The column with its default from the expression PostgreSQL reports
    /// (`pg_get_expr` of `pg_attrdef`), if that is a constant.
    pub fn with_default_expr(mut self, expr: Option<&str>) -> ColumnType {
        self.default = expr
            .and_then(super::default_literal)
            .and_then(|text| super::decode_as(&self.kind, &text, false).ok());
        self
    }
}
