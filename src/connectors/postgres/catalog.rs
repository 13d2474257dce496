//! What the connector asks PostgreSQL's catalog: server checks, types,
//! captured tables with their columns and primary keys, the publication.

use std::collections::HashMap;

use super::config::{AutocreateMode, PgCdcConfig};
use super::envelope::TableModel;
use super::types::{ColumnType, TypeInfo, TypeRegistry};
use super::wire::{quote_ident, quote_literal, PgConfig, PgConnection, PgError};

/// A catalog problem, with what the user must do about it.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The connection or a query failed.
    #[error("{context}: {source}")]
    Pg {
        /// What was being done.
        context: String,
        /// The client's error.
        source: Box<PgError>,
    },
    /// The server or its configuration cannot support the connector.
    #[error("{0}")]
    Unsupported(String),
}

impl CatalogError {
    /// Whether reconnecting later may help.
    pub fn is_connection_lost(&self) -> bool {
        matches!(self, CatalogError::Pg { source, .. } if source.is_connection_lost())
    }
}

fn pg(context: impl Into<String>) -> impl FnOnce(PgError) -> CatalogError {
    let context = context.into();
    move |source| CatalogError::Pg {
        context,
        source: Box::new(source),
    }
}

/// The client configuration for `config` (`application_name` set by the caller).
pub fn client_config(config: &PgCdcConfig, application_name: &str) -> PgConfig {
    PgConfig {
        host: config.host.clone(),
        port: config.port,
        user: config.user.clone(),
        password: config.password.clone(),
        dbname: config.dbname.clone(),
        sslmode: config.sslmode.clone(),
        sslrootcert: config.sslrootcert.clone(),
        sslcert: config.sslcert.clone(),
        sslkey: config.sslkey.clone(),
        connect_timeout: config.connect_timeout,
        application_name: application_name.to_owned(),
        ..PgConfig::default()
    }
}

/// Connects, naming the server, user and database when it fails.
pub fn connect(config: &PgCdcConfig, application_name: &str) -> Result<PgConnection, CatalogError> {
    PgConnection::connect(&client_config(config, application_name)).map_err(pg(format!(
        "cannot connect to PostgreSQL at {}:{} as user `{}` (database `{}`)",
        config.host, config.port, config.user, config.dbname
    )))
}

/// One row's text cells of a simple query's first result.
fn rows(conn: &mut PgConnection, sql: &str) -> Result<Vec<Vec<Option<String>>>, CatalogError> {
    let results = conn
        .simple_query(sql)
        .map_err(pg(format!("query `{sql}`")))?;
    Ok(results
        .into_iter()
        .next()
        .map(|r| r.rows)
        .unwrap_or_default())
}

fn cell(row: &[Option<String>], i: usize) -> &str {
    row.get(i).and_then(|c| c.as_deref()).unwrap_or("")
}

/// Fails unless `wal_level` is `logical`, naming what to change.
pub fn check_wal_level(conn: &mut PgConnection) -> Result<(), CatalogError> {
    let level = rows(conn, "SHOW wal_level")?;
    let level = level
        .first()
        .map(|r| cell(r, 0).to_owned())
        .unwrap_or_default();
    if level != "logical" {
        return Err(CatalogError::Unsupported(format!(
            "the server's wal_level is `{level}`, but logical decoding needs \
             wal_level=logical: set `wal_level = logical` in postgresql.conf (or ALTER \
             SYSTEM SET wal_level = logical) and restart PostgreSQL"
        )));
    }
    Ok(())
}

/// Loads enums, domains and arrays from `pg_type` / `pg_enum`.
pub fn load_types(conn: &mut PgConnection) -> Result<TypeRegistry, CatalogError> {
    let mut registry = TypeRegistry::new();
    let mut labels: HashMap<u32, Vec<String>> = HashMap::new();
    for row in rows(
        conn,
        "SELECT enumtypid, enumlabel FROM pg_enum ORDER BY enumtypid, enumsortorder",
    )? {
        if let Ok(oid) = cell(&row, 0).parse() {
            labels
                .entry(oid)
                .or_default()
                .push(cell(&row, 1).to_owned());
        }
    }
    for row in rows(
        conn,
        "SELECT oid, typname, typtype, typelem, typbasetype, typtypmod, typcategory \
         FROM pg_type WHERE typtype IN ('e', 'd') OR typcategory = 'A' OR oid >= 16384",
    )? {
        let Ok(oid) = cell(&row, 0).parse::<u32>() else {
            continue;
        };
        let ch = |i| cell(&row, i).chars().next().unwrap_or(' ');
        registry.insert(
            oid,
            TypeInfo {
                name: cell(&row, 1).to_owned(),
                typtype: ch(2),
                elem: cell(&row, 3).parse().unwrap_or(0),
                base: cell(&row, 4).parse().unwrap_or(0),
                base_typmod: cell(&row, 5).parse().unwrap_or(-1),
                category: ch(6),
                labels: labels.remove(&oid).unwrap_or_default(),
            },
        );
    }
    Ok(registry)
}

/// A table the connector captures.
#[derive(Clone, Debug)]
pub struct TableInfo {
    /// `pg_class.oid` (pgoutput's relation id).
    pub oid: u32,
    /// Schema name.
    pub schema: String,
    /// Table name.
    pub table: String,
}

impl TableInfo {
    /// `schema.table`.
    pub fn qualified(&self) -> String {
        format!("{}.{}", self.schema, self.table)
    }

    /// `"schema"."table"`, quoted for SQL.
    pub fn quoted(&self) -> String {
        format!("{}.{}", quote_ident(&self.schema), quote_ident(&self.table))
    }
}

/// The tables the filters capture, ordered by schema and name: ordinary
/// tables and partitions, or — with `publish.via.partition.root` — ordinary
/// tables and the roots of partitioned tables (not their partitions).
pub fn captured_tables(
    conn: &mut PgConnection,
    config: &PgCdcConfig,
) -> Result<Vec<TableInfo>, CatalogError> {
    let kinds = if config.via_partition_root {
        "((c.relkind = 'r' OR c.relkind = 'p') AND NOT c.relispartition)"
    } else {
        "c.relkind = 'r'"
    };
    let mut out = Vec::new();
    for row in rows(
        conn,
        &format!(
            "SELECT c.oid, n.nspname, c.relname FROM pg_class c \
             JOIN pg_namespace n ON n.oid = c.relnamespace \
             WHERE {kinds} AND n.nspname NOT IN ('pg_catalog', 'information_schema') \
             AND n.nspname NOT LIKE 'pg\\_toast%' AND n.nspname NOT LIKE 'pg\\_temp%' \
             ORDER BY n.nspname, c.relname"
        ),
    )? {
        let info = TableInfo {
            oid: cell(&row, 0).parse().unwrap_or(0),
            schema: cell(&row, 1).to_owned(),
            table: cell(&row, 2).to_owned(),
        };
        if config.filters.table_included(&info.schema, &info.table) {
            out.push(info);
        }
    }
    Ok(out)
}

/// A column as the catalog describes it.
#[derive(Clone, Debug)]
pub struct CatalogColumn {
    /// Name.
    pub name: String,
    /// Type OID.
    pub type_oid: u32,
    /// Type modifier.
    pub typmod: i32,
    /// Accepts NULL.
    pub nullable: bool,
    /// The declared default's expression (`pg_get_expr`), if any.
    pub default: Option<String>,
}

/// A table's columns (as pgoutput sends them: no dropped or generated
/// columns) and its primary-key column names in key order.
pub fn table_columns(
    conn: &mut PgConnection,
    oid: u32,
) -> Result<(Vec<CatalogColumn>, Vec<String>), CatalogError> {
    let generated = if conn.server_version_num() >= 120_000 {
        "AND a.attgenerated = ''"
    } else {
        ""
    };
    let columns = rows(
        conn,
        &format!(
            "SELECT a.attname, a.atttypid, a.atttypmod, NOT a.attnotnull, \
                    pg_get_expr(d.adbin, d.adrelid) \
             FROM pg_attribute a \
             LEFT JOIN pg_attrdef d ON d.adrelid = a.attrelid AND d.adnum = a.attnum \
             WHERE a.attrelid = {oid} AND a.attnum > 0 AND NOT a.attisdropped {generated} \
             ORDER BY a.attnum"
        ),
    )?
    .into_iter()
    .map(|row| CatalogColumn {
        name: cell(&row, 0).to_owned(),
        type_oid: cell(&row, 1).parse().unwrap_or(0),
        typmod: cell(&row, 2).parse().unwrap_or(-1),
        nullable: cell(&row, 3) == "t",
        default: row.get(4).cloned().flatten(),
    })
    .collect();
    let key = rows(
        conn,
        &format!(
            "SELECT a.attname FROM pg_index i JOIN pg_attribute a \
             ON a.attrelid = i.indrelid AND a.attnum = ANY(i.indkey) \
             WHERE i.indrelid = {oid} AND i.indisprimary \
             ORDER BY array_position(i.indkey::int2[], a.attnum)"
        ),
    )?
    .into_iter()
    .map(|row| cell(&row, 0).to_owned())
    .collect();
    Ok((columns, key))
}

/// Builds a table's model from its columns (`(name, type, typmod, nullable)`
/// in tuple order) and key names, leaving out excluded columns.
pub fn model(
    config: &PgCdcConfig,
    registry: &TypeRegistry,
    schema: &str,
    table: &str,
    columns: &[CatalogColumn],
    key_names: &[String],
) -> TableModel {
    let mut captured = Vec::new();
    let mut positions = Vec::new();
    for (i, c) in columns.iter().enumerate() {
        if config.filters.column_included(schema, table, &c.name) {
            captured.push(
                ColumnType::new(&c.name, c.type_oid, c.typmod, c.nullable, registry)
                    .with_default_expr(c.default.as_deref()),
            );
            positions.push(i);
        }
    }
    let key = key_names
        .iter()
        .filter_map(|k| captured.iter().position(|c| &c.name == k))
        .collect();
    TableModel::new(&config.prefix, schema, table, captured, positions, key)
}

/// Makes sure the publication exists as `publication.autocreate.mode` asks.
pub fn ensure_publication(
    conn: &mut PgConnection,
    config: &PgCdcConfig,
    tables: &[TableInfo],
) -> Result<(), CatalogError> {
    let name = &config.publication;
    // `pubviaroot` exists from PostgreSQL 13; older servers report none.
    let found = rows(
        conn,
        &format!(
            "SELECT to_jsonb(p) ->> 'pubviaroot' FROM pg_publication p WHERE pubname = {}",
            quote_literal(name)
        ),
    )?;
    let exists = !found.is_empty();
    let via_root_now = found.first().map(|r| cell(r, 0) == "true");
    let with = if config.via_partition_root {
        " WITH (publish_via_partition_root = true)"
    } else {
        ""
    };
    let list = || {
        tables
            .iter()
            .map(TableInfo::quoted)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let sql = match (exists, config.autocreate) {
        (true, AutocreateMode::Filtered) if !tables.is_empty() => {
            let mut sql = format!(
                "ALTER PUBLICATION {} SET TABLE {}",
                quote_ident(name),
                list()
            );
            if via_root_now.is_some_and(|v| v != config.via_partition_root) {
                sql.push_str(&format!(
                    "; ALTER PUBLICATION {} SET (publish_via_partition_root = {})",
                    quote_ident(name),
                    config.via_partition_root
                ));
            }
            sql
        }
        (true, AutocreateMode::Disabled) => {
            if via_root_now.is_some_and(|v| v != config.via_partition_root) {
                tracing::warn!(
                    publication = %name,
                    "publication `{name}` has publish_via_partition_root = {}, but \
                     publish.via.partition.root is {}; with publication.autocreate.mode=disabled \
                     it is left as it is, and changes of partitions arrive as the publication says",
                    !config.via_partition_root,
                    config.via_partition_root
                );
            }
            return Ok(());
        }
        (true, _) if via_root_now.is_some_and(|v| v != config.via_partition_root) => format!(
            "ALTER PUBLICATION {} SET (publish_via_partition_root = {})",
            quote_ident(name),
            config.via_partition_root
        ),
        (true, _) => return Ok(()),
        (false, AutocreateMode::Disabled) => {
            return Err(CatalogError::Unsupported(format!(
                "publication `{name}` does not exist and publication.autocreate.mode is \
                 disabled: create it (CREATE PUBLICATION {} FOR ALL TABLES, or FOR TABLE …) \
                 or set publication.autocreate.mode to all_tables or filtered",
                quote_ident(name)
            )))
        }
        (false, AutocreateMode::AllTables) => {
            format!(
                "CREATE PUBLICATION {} FOR ALL TABLES{with}",
                quote_ident(name)
            )
        }
        (false, AutocreateMode::Filtered) if tables.is_empty() => {
            return Err(CatalogError::Unsupported(format!(
                "publication.autocreate.mode=filtered, but no table matches the include/exclude \
                 lists, so publication `{name}` cannot be created"
            )))
        }
        (false, AutocreateMode::Filtered) => {
            format!(
                "CREATE PUBLICATION {} FOR TABLE {}{with}",
                quote_ident(name),
                list()
            )
        }
    };
    match conn.execute(&sql) {
        Ok(()) => {
            tracing::info!(publication = %name, %sql, "publication set up");
            Ok(())
        }
        Err(e) => Err(publication_error(config, &sql, e)),
    }
}

/// A failed change of the publication, with what to do when it is a
/// missing privilege.
fn publication_error(config: &PgCdcConfig, sql: &str, e: PgError) -> CatalogError {
    let name = &config.publication;
    match e {
        e if e.sqlstate() == Some("42501") => {
            let needed = match config.autocreate {
                AutocreateMode::AllTables => format!(
                    "creating a publication FOR ALL TABLES needs a superuser; user `{}` is \
                     not one. Create publication `{name}` as a superuser, or use \
                     publication.autocreate.mode=filtered (needs the CREATE privilege on \
                     database `{}` and ownership of the captured tables)",
                    config.user, config.dbname
                ),
                _ => format!(
                    "user `{}` may not create or change publication `{name}`: it needs the \
                     CREATE privilege on database `{}` (GRANT CREATE ON DATABASE {} TO {}) \
                     and must own the captured tables",
                    config.user,
                    config.dbname,
                    quote_ident(&config.dbname),
                    quote_ident(&config.user)
                ),
            };
            CatalogError::Unsupported(format!("{needed} ({e})"))
        }
        source => CatalogError::Pg {
            context: format!("`{sql}`"),
            source: Box::new(source),
        },
    }
}

/// `"schema"."table"` of a `schema.table` name (a name without a schema
/// is quoted whole).
pub fn quote_qualified(qualified: &str) -> String {
    match qualified.split_once('.') {
        Some((s, t)) => format!("{}.{}", quote_ident(s), quote_ident(t)),
        None => quote_ident(qualified),
    }
}

/// The tables in publication `name`, as `schema.table`.
pub fn published_tables(conn: &mut PgConnection, name: &str) -> Result<Vec<String>, CatalogError> {
    Ok(rows(
        conn,
        &format!(
            "SELECT schemaname, tablename FROM pg_publication_tables WHERE pubname = {} \
             ORDER BY 1, 2",
            quote_literal(name)
        ),
    )?
    .iter()
    .map(|r| format!("{}.{}", cell(r, 0), cell(r, 1)))
    .collect())
}

/// Adds `tables` to the (filtered) publication and — with a signal table —
/// in the same transaction inserts an `execute-snapshot` signal for them,
/// so the stream meets the signal exactly where the tables' changes start
/// to be published: their rows from before are read by an incremental
/// snapshot after it, their changes from then on are streamed. `id` names
/// the signal row.
pub fn join_publication(
    conn: &mut PgConnection,
    config: &PgCdcConfig,
    tables: &[TableInfo],
    id: &str,
) -> Result<(), CatalogError> {
    if tables.is_empty() {
        return Ok(());
    }
    let list: Vec<String> = tables.iter().map(TableInfo::quoted).collect();
    let mut sql = format!(
        "BEGIN; ALTER PUBLICATION {} ADD TABLE {};",
        quote_ident(&config.publication),
        list.join(", ")
    );
    if let Some(signal) = &config.signal_table {
        let names: Vec<String> = tables.iter().map(TableInfo::qualified).collect();
        let data = serde_json::json!({"data-collections": names, "type": "incremental"});
        sql.push_str(&format!(
            " INSERT INTO {} (id, type, data) VALUES ({}, 'execute-snapshot', {});",
            quote_qualified(signal),
            quote_literal(id),
            quote_literal(&data.to_string())
        ));
    }
    sql.push_str(" COMMIT");
    if let Err(e) = conn.execute(&sql) {
        // The transaction is over either way; a failed one is rolled back.
        let _ = conn.execute("ROLLBACK");
        return Err(publication_error(config, &sql, e));
    }
    Ok(())
}

/// The slot's `confirmed_flush_lsn` and whether a session uses it; `None`
/// if it does not exist. Fails if it exists for another database or plugin.
pub fn slot_state(
    conn: &mut PgConnection,
    config: &PgCdcConfig,
) -> Result<Option<(u64, bool)>, CatalogError> {
    let found = rows(
        conn,
        &format!(
            "SELECT confirmed_flush_lsn, active, plugin, database FROM pg_replication_slots \
             WHERE slot_name = {}",
            quote_literal(&config.slot)
        ),
    )?;
    let Some(row) = found.first() else {
        return Ok(None);
    };
    if cell(row, 2) != "pgoutput" || cell(row, 3) != config.dbname {
        return Err(CatalogError::Unsupported(format!(
            "replication slot `{}` exists but belongs to plugin `{}` on database `{}`; \
             use another slot.name",
            config.slot,
            cell(row, 2),
            cell(row, 3)
        )));
    }
    let lsn = cell(row, 0)
        .parse::<super::wire::Lsn>()
        .map(|l| l.0)
        .unwrap_or(0);
    Ok(Some((lsn, cell(row, 1) == "t")))
}
