//! Decoding of the `pgoutput` logical-decoding plugin's messages, protocol
//! version 1 (PostgreSQL 10+; the format of the "Logical Replication Message
//! Formats" chapter of the PostgreSQL docs).
//!
//! Start replication with `proto_version '1'` and without `streaming` /
//! `two_phase`: the streamed-transaction and two-phase messages of versions
//! 2–4 are not decoded (they fail with [`PgError::Protocol`]). The
//! `messages 'true'` option is supported ([`PgOutput::Message`]).
//!
//! Tuple values are [`Bytes`] slices of the received message — no copy, no
//! allocation per value.

use bytes::Bytes;

use super::{Lsn, PgError};

/// One `pgoutput` message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum PgOutput {
    /// A transaction starts.
    Begin {
        /// LSN of the transaction's commit record.
        final_lsn: Lsn,
        /// Commit time, microseconds since 2000-01-01 UTC (see
        /// [`super::pg_time_to_unix_us`]).
        commit_time_us: i64,
        /// Transaction id.
        xid: u32,
    },
    /// The transaction started by the last `Begin` commits.
    Commit {
        /// Flags (currently unused by PostgreSQL, 0).
        flags: u8,
        /// LSN of the commit record.
        commit_lsn: Lsn,
        /// LSN just past the commit record: the position to confirm once the
        /// transaction is durably processed.
        end_lsn: Lsn,
        /// Commit time, microseconds since 2000-01-01 UTC.
        commit_time_us: i64,
    },
    /// The transaction came from another node (replication origin).
    Origin {
        /// LSN of the commit on the origin server.
        commit_lsn: Lsn,
        /// Name of the origin.
        name: String,
    },
    /// A table's description; sent before the first change to it in a
    /// session and again after its definition changes. Later changes refer
    /// to it by [`RelationBody::id`].
    Relation(RelationBody),
    /// A non-built-in data type used by a following `Relation`.
    Type {
        /// Type OID.
        id: u32,
        /// Schema of the type.
        namespace: String,
        /// Type name.
        name: String,
    },
    /// A row was inserted.
    Insert {
        /// The table ([`RelationBody::id`]).
        relation_id: u32,
        /// The new row.
        new: Vec<TupleValue>,
    },
    /// A row was updated.
    Update {
        /// The table ([`RelationBody::id`]).
        relation_id: u32,
        /// The old key columns (other columns `Null`), sent when replica
        /// identity is `DEFAULT`/`INDEX` and the key changed.
        key: Option<Vec<TupleValue>>,
        /// The whole old row, sent when replica identity is `FULL`.
        old: Option<Vec<TupleValue>>,
        /// The new row (unchanged TOASTed values as
        /// [`TupleValue::UnchangedToast`]).
        new: Vec<TupleValue>,
    },
    /// A row was deleted.
    Delete {
        /// The table ([`RelationBody::id`]).
        relation_id: u32,
        /// The old key columns (replica identity `DEFAULT`/`INDEX`).
        key: Option<Vec<TupleValue>>,
        /// The whole old row (replica identity `FULL`).
        old: Option<Vec<TupleValue>>,
    },
    /// Tables were truncated.
    Truncate {
        /// Bit 1: `CASCADE`, bit 2: `RESTART IDENTITY`.
        options: u8,
        /// The tables ([`RelationBody::id`]).
        relation_ids: Vec<u32>,
    },
    /// A message from `pg_logical_emit_message` (needs `messages 'true'`).
    Message {
        /// Emitted inside a transaction (`true`) or immediately.
        transactional: bool,
        /// LSN of the message.
        lsn: Lsn,
        /// The message's prefix.
        prefix: String,
        /// The message's content.
        content: Bytes,
    },
}

/// A table's description (`pgoutput` `Relation` message).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationBody {
    /// Relation OID, referenced by later change messages.
    pub id: u32,
    /// Schema name.
    pub namespace: String,
    /// Table name.
    pub name: String,
    /// Replica identity: `b'd'` default (primary key), `b'n'` nothing,
    /// `b'f'` full, `b'i'` index.
    pub replica_identity: u8,
    /// The columns, in table order (dropped and generated columns left out,
    /// as in the tuples).
    pub columns: Vec<RelationColumn>,
}

/// A column of a [`RelationBody`].
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RelationColumn {
    /// Part of the replica identity key.
    pub is_key: bool,
    /// Column name.
    pub name: String,
    /// Data type OID.
    pub type_oid: u32,
    /// Type modifier (`atttypmod`), -1 if none.
    pub type_modifier: i32,
}

/// One column value of a row in a change message.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum TupleValue {
    /// SQL NULL.
    Null,
    /// A TOASTed value that did not change (in an `Update`'s new row): the
    /// value is not sent.
    UnchangedToast,
    /// The value in the type's text output format.
    Text(Bytes),
    /// The value in the type's binary format (only with `binary 'true'`,
    /// protocol version 2+ servers).
    Binary(Bytes),
}

impl TupleValue {
    /// The bytes of a `Text` or `Binary` value.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            TupleValue::Text(b) | TupleValue::Binary(b) => Some(b),
            TupleValue::Null | TupleValue::UnchangedToast => None,
        }
    }

    /// A `Text` value as `&str` (`None` for other variants or invalid UTF-8).
    pub fn as_str(&self) -> Option<&str> {
        match self {
            TupleValue::Text(b) => std::str::from_utf8(b).ok(),
            _ => None,
        }
    }
}

impl PgOutput {
    /// Decodes one message (the payload of an XLogData). `data` is shared,
    /// not copied: tuple values are slices of it.
    pub fn decode(data: &Bytes) -> Result<PgOutput, PgError> {
        let mut r = Reader {
            data,
            pos: 0,
            tag: 0,
        };
        r.tag = r.u8()?;
        let msg = match r.tag {
            b'B' => PgOutput::Begin {
                final_lsn: Lsn(r.u64()?),
                commit_time_us: r.i64()?,
                xid: r.u32()?,
            },
            b'C' => PgOutput::Commit {
                flags: r.u8()?,
                commit_lsn: Lsn(r.u64()?),
                end_lsn: Lsn(r.u64()?),
                commit_time_us: r.i64()?,
            },
            b'O' => PgOutput::Origin {
                commit_lsn: Lsn(r.u64()?),
                name: r.cstr()?,
            },
            b'R' => {
                let id = r.u32()?;
                let namespace = r.cstr()?;
                let name = r.cstr()?;
                let replica_identity = r.u8()?;
                let n = r.count()?;
                let mut columns = Vec::with_capacity(n);
                for _ in 0..n {
                    columns.push(RelationColumn {
                        is_key: r.u8()? & 1 == 1,
                        name: r.cstr()?,
                        type_oid: r.u32()?,
                        type_modifier: r.i32()?,
                    });
                }
                PgOutput::Relation(RelationBody {
                    id,
                    namespace,
                    name,
                    replica_identity,
                    columns,
                })
            }
            b'Y' => PgOutput::Type {
                id: r.u32()?,
                namespace: r.cstr()?,
                name: r.cstr()?,
            },
            b'I' => {
                let relation_id = r.u32()?;
                r.expect(b'N')?;
                PgOutput::Insert {
                    relation_id,
                    new: r.tuple()?,
                }
            }
            b'U' => {
                let relation_id = r.u32()?;
                let (mut key, mut old) = (None, None);
                match r.u8()? {
                    b'K' => {
                        key = Some(r.tuple()?);
                        r.expect(b'N')?;
                    }
                    b'O' => {
                        old = Some(r.tuple()?);
                        r.expect(b'N')?;
                    }
                    b'N' => {}
                    other => return Err(r.bad(&format!("tuple kind {:?}", char::from(other)))),
                }
                PgOutput::Update {
                    relation_id,
                    key,
                    old,
                    new: r.tuple()?,
                }
            }
            b'D' => {
                let relation_id = r.u32()?;
                let (mut key, mut old) = (None, None);
                match r.u8()? {
                    b'K' => key = Some(r.tuple()?),
                    b'O' => old = Some(r.tuple()?),
                    other => return Err(r.bad(&format!("tuple kind {:?}", char::from(other)))),
                }
                PgOutput::Delete {
                    relation_id,
                    key,
                    old,
                }
            }
            b'T' => {
                let n = r.u32()? as usize;
                let options = r.u8()?;
                if n > r.remaining() / 4 {
                    return Err(r.bad("relation count"));
                }
                let mut relation_ids = Vec::with_capacity(n);
                for _ in 0..n {
                    relation_ids.push(r.u32()?);
                }
                PgOutput::Truncate {
                    options,
                    relation_ids,
                }
            }
            b'M' => {
                let transactional = r.u8()? & 1 == 1;
                let lsn = Lsn(r.u64()?);
                let prefix = r.cstr()?;
                let len = r.u32()? as usize;
                PgOutput::Message {
                    transactional,
                    lsn,
                    prefix,
                    content: r.bytes(len)?,
                }
            }
            other => {
                return Err(PgError::Protocol(format!(
                    "unsupported pgoutput message {:?} (only protocol version 1 is decoded; \
                     start replication with proto_version '1' and without streaming/two_phase)",
                    char::from(other)
                )));
            }
        };
        if r.remaining() != 0 {
            return Err(r.bad("trailing bytes"));
        }
        Ok(msg)
    }
}

/// A cursor over one message.
struct Reader<'a> {
    data: &'a Bytes,
    pos: usize,
    tag: u8,
}

impl Reader<'_> {
    fn remaining(&self) -> usize {
        self.data.len() - self.pos
    }

    fn bad(&self, what: &str) -> PgError {
        PgError::Protocol(format!(
            "malformed pgoutput {:?} message ({} bytes): {what} at byte {}",
            char::from(self.tag),
            self.data.len(),
            self.pos
        ))
    }

    fn take<const N: usize>(&mut self) -> Result<[u8; N], PgError> {
        let end = self.pos + N;
        let bytes = self
            .data
            .get(self.pos..end)
            .and_then(|s| <[u8; N]>::try_from(s).ok())
            .ok_or_else(|| self.bad("truncated"))?;
        self.pos = end;
        Ok(bytes)
    }

    fn u8(&mut self) -> Result<u8, PgError> {
        Ok(self.take::<1>()?[0])
    }

    fn expect(&mut self, want: u8) -> Result<(), PgError> {
        let got = self.u8()?;
        if got != want {
            self.pos -= 1;
            return Err(self.bad(&format!(
                "expected {:?}, found {:?}",
                char::from(want),
                char::from(got)
            )));
        }
        Ok(())
    }

    fn u32(&mut self) -> Result<u32, PgError> {
        Ok(u32::from_be_bytes(self.take()?))
    }

    fn i32(&mut self) -> Result<i32, PgError> {
        Ok(i32::from_be_bytes(self.take()?))
    }

    fn u64(&mut self) -> Result<u64, PgError> {
        Ok(u64::from_be_bytes(self.take()?))
    }

    fn i64(&mut self) -> Result<i64, PgError> {
        Ok(i64::from_be_bytes(self.take()?))
    }

    /// A 16-bit column count.
    fn count(&mut self) -> Result<usize, PgError> {
        Ok(usize::from(u16::from_be_bytes(self.take()?)))
    }

    fn cstr(&mut self) -> Result<String, PgError> {
        let rest = &self.data[self.pos..];
        let nul = memchr::memchr(0, rest).ok_or_else(|| self.bad("unterminated string"))?;
        let s = String::from_utf8_lossy(&rest[..nul]).into_owned();
        self.pos += nul + 1;
        Ok(s)
    }

    fn bytes(&mut self, len: usize) -> Result<Bytes, PgError> {
        if len > self.remaining() {
            return Err(self.bad("value longer than the message"));
        }
        let b = self.data.slice(self.pos..self.pos + len);
        self.pos += len;
        Ok(b)
    }

    fn tuple(&mut self) -> Result<Vec<TupleValue>, PgError> {
        let n = self.count()?;
        // Each value takes at least one byte; do not trust n further.
        if n > self.remaining() {
            return Err(self.bad("column count"));
        }
        let mut values = Vec::with_capacity(n);
        for _ in 0..n {
            let v = match self.u8()? {
                b'n' => TupleValue::Null,
                b'u' => TupleValue::UnchangedToast,
                b't' => {
                    let len = self.u32()? as usize;
                    TupleValue::Text(self.bytes(len)?)
                }
                b'b' => {
                    let len = self.u32()? as usize;
                    TupleValue::Binary(self.bytes(len)?)
                }
                other => {
                    self.pos -= 1;
                    return Err(self.bad(&format!("value kind {:?}", char::from(other))));
                }
            };
            values.push(v);
        }
        Ok(values)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Builds messages byte by byte, as the server would.
    #[derive(Default)]
    struct Msg(Vec<u8>);

    impl Msg {
        fn new(tag: u8) -> Self {
            Msg(vec![tag])
        }
        fn u8(mut self, v: u8) -> Self {
            self.0.push(v);
            self
        }
        fn u16(mut self, v: u16) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn u32(mut self, v: u32) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn i32(mut self, v: i32) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn u64(mut self, v: u64) -> Self {
            self.0.extend_from_slice(&v.to_be_bytes());
            self
        }
        fn cstr(mut self, s: &str) -> Self {
            self.0.extend_from_slice(s.as_bytes());
            self.0.push(0);
            self
        }
        fn text(self, s: &str) -> Self {
            let mut m = self.u8(b't').u32(s.len() as u32);
            m.0.extend_from_slice(s.as_bytes());
            m
        }
        fn decode(self) -> Result<PgOutput, PgError> {
            PgOutput::decode(&Bytes::from(self.0))
        }
    }

    fn text(s: &str) -> TupleValue {
        TupleValue::Text(Bytes::copy_from_slice(s.as_bytes()))
    }

    #[test]
    fn decodes_begin_and_commit() {
        let begin = Msg::new(b'B').u64(0x16_B374_D848).u64(1_000_000).u32(777);
        assert_eq!(
            begin.decode().ok(),
            Some(PgOutput::Begin {
                final_lsn: Lsn(0x16_B374_D848),
                commit_time_us: 1_000_000,
                xid: 777
            })
        );
        let commit = Msg::new(b'C').u8(0).u64(10).u64(20).u64(5);
        assert_eq!(
            commit.decode().ok(),
            Some(PgOutput::Commit {
                flags: 0,
                commit_lsn: Lsn(10),
                end_lsn: Lsn(20),
                commit_time_us: 5
            })
        );
    }

    #[test]
    fn decodes_relation_with_key_flags() {
        let m = Msg::new(b'R')
            .u32(16384)
            .cstr("public")
            .cstr("users")
            .u8(b'd')
            .u16(2)
            .u8(1)
            .cstr("id")
            .u32(23)
            .i32(-1)
            .u8(0)
            .cstr("name")
            .u32(1043)
            .i32(104);
        let Ok(PgOutput::Relation(rel)) = m.decode() else {
            panic!("not a relation");
        };
        assert_eq!(rel.id, 16384);
        assert_eq!(
            (rel.namespace.as_str(), rel.name.as_str()),
            ("public", "users")
        );
        assert_eq!(rel.replica_identity, b'd');
        assert_eq!(
            rel.columns,
            vec![
                RelationColumn {
                    is_key: true,
                    name: "id".into(),
                    type_oid: 23,
                    type_modifier: -1
                },
                RelationColumn {
                    is_key: false,
                    name: "name".into(),
                    type_oid: 1043,
                    type_modifier: 104
                },
            ]
        );
    }

    #[test]
    fn decodes_insert_with_null_toast_and_text() {
        let m = Msg::new(b'I')
            .u32(5)
            .u8(b'N')
            .u16(3)
            .text("42")
            .u8(b'n')
            .u8(b'u');
        assert_eq!(
            m.decode().ok(),
            Some(PgOutput::Insert {
                relation_id: 5,
                new: vec![text("42"), TupleValue::Null, TupleValue::UnchangedToast]
            })
        );
    }

    #[test]
    fn decodes_update_variants() {
        let plain = Msg::new(b'U').u32(5).u8(b'N').u16(1).text("a");
        assert_eq!(
            plain.decode().ok(),
            Some(PgOutput::Update {
                relation_id: 5,
                key: None,
                old: None,
                new: vec![text("a")]
            })
        );
        let with_old = Msg::new(b'U')
            .u32(5)
            .u8(b'O')
            .u16(1)
            .text("old")
            .u8(b'N')
            .u16(1)
            .text("new");
        assert_eq!(
            with_old.decode().ok(),
            Some(PgOutput::Update {
                relation_id: 5,
                key: None,
                old: Some(vec![text("old")]),
                new: vec![text("new")]
            })
        );
        let with_key = Msg::new(b'U')
            .u32(5)
            .u8(b'K')
            .u16(1)
            .text("1")
            .u8(b'N')
            .u16(1)
            .text("2");
        assert!(matches!(
            with_key.decode(),
            Ok(PgOutput::Update {
                key: Some(_),
                old: None,
                ..
            })
        ));
    }

    #[test]
    fn decodes_delete_truncate_origin_type_message() {
        let del = Msg::new(b'D').u32(9).u8(b'K').u16(1).text("7");
        assert_eq!(
            del.decode().ok(),
            Some(PgOutput::Delete {
                relation_id: 9,
                key: Some(vec![text("7")]),
                old: None
            })
        );
        let trunc = Msg::new(b'T').u32(2).u8(1).u32(10).u32(11);
        assert_eq!(
            trunc.decode().ok(),
            Some(PgOutput::Truncate {
                options: 1,
                relation_ids: vec![10, 11]
            })
        );
        let origin = Msg::new(b'O').u64(3).cstr("node1");
        assert_eq!(
            origin.decode().ok(),
            Some(PgOutput::Origin {
                commit_lsn: Lsn(3),
                name: "node1".into()
            })
        );
        let ty = Msg::new(b'Y').u32(700).cstr("public").cstr("mood");
        assert!(matches!(ty.decode(), Ok(PgOutput::Type { id: 700, .. })));
        let mut m = Msg::new(b'M').u8(1).u64(99).cstr("pfx").u32(3);
        m.0.extend_from_slice(b"abc");
        assert_eq!(
            m.decode().ok(),
            Some(PgOutput::Message {
                transactional: true,
                lsn: Lsn(99),
                prefix: "pfx".into(),
                content: Bytes::from_static(b"abc")
            })
        );
    }

    #[test]
    fn rejects_truncated_and_malformed_messages_without_panicking() {
        let full = Msg::new(b'I')
            .u32(5)
            .u8(b'N')
            .u16(2)
            .text("42")
            .text("hello")
            .0;
        for cut in 0..full.len() {
            let r = PgOutput::decode(&Bytes::copy_from_slice(&full[..cut]));
            assert!(r.is_err(), "prefix of {cut} bytes decoded");
        }
        let mut trailing = full.clone();
        trailing.push(0);
        assert!(PgOutput::decode(&Bytes::from(trailing)).is_err());
        // Huge length and count fields.
        let huge = Msg::new(b'I').u32(5).u8(b'N').u16(1).u8(b't').u32(u32::MAX);
        assert!(huge.decode().is_err());
        let many = Msg::new(b'T').u32(u32::MAX).u8(0);
        assert!(many.decode().is_err());
        let err = Msg::new(b'S').u32(1).decode().err().map(|e| e.to_string());
        assert!(err.is_some_and(|e| e.contains("proto_version '1'")));
        let bad_kind = Msg::new(b'I').u32(5).u8(b'N').u16(1).u8(b'x');
        assert!(bad_kind.decode().is_err());
    }

    #[test]
    fn tuple_values_share_the_message_buffer() {
        let data = Bytes::from(Msg::new(b'I').u32(1).u8(b'N').u16(1).text("xyz").0);
        let Ok(PgOutput::Insert { new, .. }) = PgOutput::decode(&data) else {
            panic!("not an insert");
        };
        let v = new[0].as_bytes().map(|b| b.as_ptr());
        assert_eq!(v, Some(data[data.len() - 3..].as_ptr()));
        assert_eq!(new[0].as_str(), Some("xyz"));
    }
}
