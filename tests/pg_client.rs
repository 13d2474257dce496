//! The synchronous PostgreSQL client (`timely_connect::connectors::postgres::wire`)
//! against a real PostgreSQL cluster started by `tests/common/pg.rs`.

mod common;

use common::pg::PgCluster;

#[test]
fn harness_starts_restarts_and_runs_psql() {
    let mut pg = PgCluster::start();
    assert_eq!(pg.psql("SHOW wal_level"), "logical");
    pg.psql("CREATE TABLE t (id int primary key, v text)");
    pg.psql("INSERT INTO t VALUES (1, 'a'), (2, NULL)");
    pg.restart();
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "2");
    let err = pg.try_psql_db("postgres", "SELECT * FROM nope").unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    let old = PgCluster::builder().wal_level("replica").start();
    assert_eq!(old.psql("SHOW wal_level"), "replica");
    assert_ne!(old.port(), pg.port());
}
