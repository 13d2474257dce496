//! What a query returns: its columns and, for simple queries, its rows.

/// A result column of a query (from the server's `RowDescription`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Column {
    /// Column name (or alias).
    pub name: String,
    /// OID of the column's data type (`pg_type.oid`), e.g. 23 for `int4`.
    pub type_oid: u32,
    /// Type modifier (`atttypmod`), e.g. length/precision; -1 if none.
    pub type_modifier: i32,
    /// OID of the table the column comes from, 0 if it is not a plain column.
    pub table_oid: u32,
    /// Attribute number in that table, 0 if none.
    pub column_id: i16,
}

/// The outcome of one statement of a simple query.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct SimpleResult {
    /// The result columns; empty for statements that return no rows.
    pub columns: Vec<Column>,
    /// The rows, each value in PostgreSQL's text format, `None` for NULL.
    pub rows: Vec<Vec<Option<String>>>,
    /// The command tag, e.g. `SELECT 3`, `INSERT 0 1`, `CREATE TABLE`.
    pub command_tag: String,
}

impl SimpleResult {
    /// The index of the column named `name`.
    pub fn column_index(&self, name: &str) -> Option<usize> {
        self.columns.iter().position(|c| c.name == name)
    }

    /// The value of column `name` in row `row`; `None` if the row or column
    /// does not exist or the value is NULL.
    pub fn get(&self, row: usize, name: &str) -> Option<&str> {
        let col = self.column_index(name)?;
        self.rows.get(row)?.get(col)?.as_deref()
    }
}
