//! The simple-query loop and what it hands out.

use super::*;

/// What the simple-query loop hands out, statement by statement.
pub(crate) trait QuerySink {
    /// A statement's result columns.
    fn columns(&mut self, columns: &[Column]);
    /// One row of the current statement, values in text format.
    fn row(&mut self, columns: &[Column], values: &[Option<&[u8]>]) -> Result<(), PgError>;
    /// A statement finished with this command tag.
    fn complete(&mut self, tag: &str);
}

/// Collects [`SimpleResult`]s.
#[derive(Default)]
pub(super) struct Collect {
    results: Vec<SimpleResult>,
    current: SimpleResult,
}

impl QuerySink for Collect {
    fn columns(&mut self, columns: &[Column]) {
        self.current.columns = columns.to_vec();
    }

    fn row(&mut self, _columns: &[Column], values: &[Option<&[u8]>]) -> Result<(), PgError> {
        let row = values
            .iter()
            .map(|v| v.map(|b| String::from_utf8_lossy(b).into_owned()))
            .collect();
        self.current.rows.push(row);
        Ok(())
    }

    fn complete(&mut self, tag: &str) {
        let mut done = std::mem::take(&mut self.current);
        done.command_tag = tag.to_string();
        self.results.push(done);
    }
}

/// Hands rows to a closure.
pub(crate) struct RowsTo<F>(pub(crate) F);

impl<F> QuerySink for RowsTo<F>
where
    F: FnMut(&[Column], &[Option<&[u8]>]) -> Result<(), PgError>,
{
    fn columns(&mut self, _columns: &[Column]) {}

    fn row(&mut self, columns: &[Column], values: &[Option<&[u8]>]) -> Result<(), PgError> {
        (self.0)(columns, values)
    }

    fn complete(&mut self, _tag: &str) {}
}

impl Wire {
    /// Runs `sql` with the simple-query protocol, handing results to `sink`,
    /// and reads up to `ReadyForQuery` even after an error, so the session
    /// stays usable. The first error (the server's or the sink's) is
    /// returned.
    pub(crate) fn query(&mut self, sql: &str, sink: &mut dyn QuerySink) -> Result<(), PgError> {
        if self.unread > 0 {
            return Err(PgError::Protocol(format!(
                "{} sent quer{} not read yet; read {} before another query: {}",
                self.unread,
                if self.unread == 1 {
                    "y's reply is"
                } else {
                    "ies' replies are"
                },
                if self.unread == 1 { "it" } else { "them" },
                abbreviate(sql)
            )));
        }
        self.send_query(sql)?;
        self.receive(sink)
    }

    /// Sends `sql` (simple-query protocol) without waiting for its reply,
    /// which [`Wire::receive`] reads later, in the order sent.
    pub(crate) fn send_query(&mut self, sql: &str) -> Result<(), PgError> {
        self.check_usable()?;
        frontend::query(sql, &mut self.wbuf).map_err(|e| {
            PgError::Config(format!(
                "query text cannot be sent ({e}): {}",
                abbreviate(sql)
            ))
        })?;
        self.flush()?;
        self.unread += 1;
        Ok(())
    }

    /// Reads the oldest unread query's reply up to its `ReadyForQuery`,
    /// handing results to `sink`, even after an error, so the session stays
    /// usable. The first error (the server's or the sink's) is returned.
    pub(crate) fn receive(&mut self, sink: &mut dyn QuerySink) -> Result<(), PgError> {
        self.check_usable()?;
        if self.unread == 0 {
            return Err(PgError::Protocol(
                "no query's reply is waiting to be read".into(),
            ));
        }
        let mut columns: Vec<Column> = Vec::new();
        let mut first_err: Option<PgError> = None;
        loop {
            let msg = match self.next()? {
                Backend::Msg(m) => m,
                Backend::Skipped => continue,
                Backend::Error(e) => {
                    first_err.get_or_insert(e);
                    continue;
                }
                Backend::CopyBoth => {
                    self.broken = true;
                    return Err(PgError::Protocol(
                        "the server started a replication stream; use \
                         ReplicationConnection::start_logical_replication for START_REPLICATION"
                            .into(),
                    ));
                }
            };
            match msg {
                Message::RowDescription(body) => {
                    columns = parse_columns(&body)?;
                    sink.columns(&columns);
                }
                Message::DataRow(row) => {
                    if first_err.is_some() {
                        continue;
                    }
                    let buf = row.buffer();
                    // Rows of up to 64 values are sliced on the stack.
                    let mut on_stack: [Option<&[u8]>; 64] = [None; 64];
                    let mut on_heap: Vec<Option<&[u8]>> = Vec::new();
                    let mut n = 0usize;
                    let mut ranges = row.ranges();
                    loop {
                        let range = match ranges.next() {
                            Ok(Some(r)) => r,
                            Ok(None) => break,
                            Err(e) => {
                                self.broken = true;
                                return Err(proto("DataRow", e));
                            }
                        };
                        let value = match range {
                            None => None,
                            Some(r) => Some(buf.get(r).ok_or_else(|| {
                                self.broken = true;
                                proto(
                                    "DataRow",
                                    io::Error::new(
                                        io::ErrorKind::InvalidData,
                                        "value out of bounds",
                                    ),
                                )
                            })?),
                        };
                        match on_stack.get_mut(n) {
                            Some(slot) if on_heap.is_empty() => *slot = value,
                            _ => {
                                if on_heap.is_empty() {
                                    on_heap.extend_from_slice(&on_stack);
                                }
                                on_heap.push(value);
                            }
                        }
                        n += 1;
                    }
                    let values: &[Option<&[u8]>] = if on_heap.is_empty() {
                        &on_stack[..n]
                    } else {
                        &on_heap
                    };
                    if values.len() != columns.len() {
                        self.broken = true;
                        return Err(PgError::Protocol(format!(
                            "DataRow with {} values for {} columns",
                            values.len(),
                            columns.len()
                        )));
                    }
                    if let Err(e) = sink.row(&columns, values) {
                        first_err = Some(e);
                    }
                }
                Message::CommandComplete(body) => {
                    let tag = body.tag().map_err(|e| proto("CommandComplete", e))?;
                    sink.complete(tag);
                    columns.clear();
                }
                Message::EmptyQueryResponse => {}
                Message::CopyInResponse(_) => {
                    frontend::copy_fail(
                        "COPY FROM STDIN is not supported by this client",
                        &mut self.wbuf,
                    )
                    .map_err(|e| proto("CopyFail", e))?;
                    self.flush()?;
                }
                Message::CopyOutResponse(_) | Message::CopyData(_) | Message::CopyDone => {}
                Message::ReadyForQuery(body) => {
                    self.tx_status = body.status();
                    self.unread -= 1;
                    break;
                }
                other => {
                    self.broken = true;
                    return Err(PgError::Protocol(format!(
                        "unexpected {} in reply to a query",
                        message_name(&other)
                    )));
                }
            }
        }
        match first_err {
            Some(e) => Err(e),
            None => Ok(()),
        }
    }

    /// All statements' results of `sql`.
    pub(crate) fn simple_query(&mut self, sql: &str) -> Result<Vec<SimpleResult>, PgError> {
        let mut sink = Collect::default();
        self.query(sql, &mut sink)?;
        Ok(sink.results)
    }
}

pub(super) fn parse_columns(body: &RowDescriptionBody) -> Result<Vec<Column>, PgError> {
    body.fields()
        .map(|f| {
            Ok(Column {
                name: f.name().to_string(),
                type_oid: f.type_oid(),
                type_modifier: f.type_modifier(),
                table_oid: f.table_oid(),
                column_id: f.column_id(),
            })
        })
        .collect()
        .map_err(|e| proto("RowDescription", e))
}

pub(super) fn abbreviate(sql: &str) -> String {
    const MAX: usize = 200;
    if sql.len() <= MAX {
        return sql.to_string();
    }
    let mut end = MAX;
    while !sql.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &sql[..end])
}
