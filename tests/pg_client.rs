//! The synchronous PostgreSQL client (the `timely-connect-pgwire` crate)
//! against a real PostgreSQL cluster started by `tests/common/pg.rs`: auth,
//! simple queries, streamed rows, replication slots, exported snapshots,
//! `pgoutput` decoding, standby status, restarts.
//!
//! Needs the PostgreSQL server binaries (`scripts/install-postgres.sh`).

#[path = "common/pg.rs"]
mod pg;

use std::time::{Duration, Instant};

use pg::PgCluster;
use timely_connect_pgwire::{
    Lsn, PgConfig, PgConnection, PgError, PgOutput, ReplicationConnection, ReplicationMessage,
    ReplicationStream, SnapshotAction, TupleValue,
};

fn cfg(pg: &PgCluster) -> PgConfig {
    PgConfig {
        connect_timeout: Duration::from_secs(10),
        io_timeout: Some(Duration::from_secs(60)),
        application_name: "pg_client_test".into(),
        ..PgConfig::new(pg.host(), pg.port(), pg.superuser(), "postgres")
            .with_password(pg.password())
    }
}

fn connect(pg: &PgCluster) -> PgConnection {
    PgConnection::connect(&cfg(pg)).unwrap_or_else(|e| panic!("connect: {e}\n{}", pg.log()))
}

fn replication(pg: &PgCluster) -> ReplicationConnection {
    ReplicationConnection::connect(&cfg(pg))
        .unwrap_or_else(|e| panic!("replication connect: {e}\n{}", pg.log()))
}

fn text(v: &TupleValue) -> Option<&str> {
    match v {
        TupleValue::Text(_) => Some(v.as_str().expect("utf-8 text value")),
        TupleValue::Null => None,
        other => panic!("unexpected tuple value {other:?}"),
    }
}

fn texts(vals: &[TupleValue]) -> Vec<Option<&str>> {
    vals.iter().map(text).collect()
}

/// Receives until `commits` transactions have committed (answering
/// keepalives that ask for a reply), returning every XLogData payload with
/// its `wal_start`.
fn collect_commits(
    stream: &mut ReplicationStream,
    commits: usize,
    limit: Duration,
) -> Vec<(Lsn, PgOutput)> {
    let deadline = Instant::now() + limit;
    let mut out = Vec::new();
    let mut seen = 0;
    while seen < commits {
        assert!(
            Instant::now() < deadline,
            "only {seen} of {commits} commits within {limit:?}: {out:#?}"
        );
        match stream.recv(Duration::from_millis(500)) {
            Ok(Some(ReplicationMessage::XLogData {
                wal_start, data, ..
            })) => {
                if matches!(data, PgOutput::Commit { .. }) {
                    seen += 1;
                }
                out.push((wal_start, data));
            }
            Ok(Some(ReplicationMessage::Keepalive {
                reply_requested: true,
                ..
            })) => stream.send_keepalive_reply().expect("keepalive reply"),
            Ok(_) => {}
            Err(e) => panic!("recv: {e}"),
        }
    }
    out
}

/// The text values of every `Insert` among `msgs`, in order.
fn inserted_rows(msgs: &[(Lsn, PgOutput)]) -> Vec<Vec<Option<&str>>> {
    msgs.iter()
        .filter_map(|(_, m)| match m {
            PgOutput::Insert { new, .. } => Some(texts(new)),
            _ => None,
        })
        .collect()
}

fn confirmed_flush_lsn(pg: &PgCluster, slot: &str) -> Lsn {
    pg.psql(&format!(
        "SELECT confirmed_flush_lsn FROM pg_replication_slots WHERE slot_name = '{slot}'"
    ))
    .parse()
    .expect("confirmed_flush_lsn")
}

/// `START_REPLICATION` on a fresh session, retrying while the previous
/// session's walsender still holds the slot (SQLSTATE 55006).
fn start_stream(pg: &PgCluster, slot: &str, start: Lsn, publication: &str) -> ReplicationStream {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        let repl = replication(pg);
        match repl.start_logical_replication(
            slot,
            start,
            &[("proto_version", "1"), ("publication_names", publication)],
        ) {
            Ok(s) => return s,
            Err(e) if e.sqlstate() == Some("55006") && Instant::now() < deadline => {
                std::thread::sleep(Duration::from_millis(100));
            }
            Err(e) => panic!("START_REPLICATION: {e}"),
        }
    }
}

// ------------------------------------------------------------------ connecting

#[test]
fn connects_with_scram_md5_and_cleartext_passwords() {
    let pg = PgCluster::start();
    let mut c = connect(&pg);
    assert!(
        c.server_version_num() >= 100000,
        "{}",
        c.server_version_num()
    );
    assert_eq!(c.parameter("client_encoding"), Some("UTF8"));
    assert_eq!(c.parameter("TimeZone"), Some("UTC"));
    let r = c
        .simple_query("SELECT current_user, current_setting('application_name')")
        .expect("query");
    assert_eq!(r[0].rows[0][0].as_deref(), Some("postgres"));
    assert_eq!(r[0].rows[0][1].as_deref(), Some("pg_client_test"));

    // md5_user: MD5-hashed password and an `md5` hba line → MD5 challenge.
    // plain_user: an hba `password` line → cleartext password message.
    pg.psql("SET password_encryption = 'md5'; CREATE ROLE md5_user LOGIN PASSWORD 'md5-pw'");
    pg.psql("CREATE ROLE plain_user LOGIN PASSWORD 'plain-pw'");
    for (user, pw) in [("md5_user", "md5-pw"), ("plain_user", "plain-pw")] {
        let mut config = cfg(&pg);
        config.user = user.into();
        config.password = Some(pw.into());
        let mut c = PgConnection::connect(&config).unwrap_or_else(|e| panic!("{user}: {e}"));
        let r = c.simple_query("SELECT current_user").expect("query");
        assert_eq!(r[0].rows[0][0].as_deref(), Some(user));
        config.password = Some("wrong".into());
        let err = PgConnection::connect(&config).expect_err("wrong password must fail");
        assert!(matches!(err, PgError::Auth { .. }), "{user}: {err:?}");
    }
}

#[test]
fn bad_credentials_and_unreachable_servers_give_clear_errors() {
    let pg = PgCluster::start();

    let mut bad = cfg(&pg);
    bad.password = Some("not-the-password".into());
    let err = PgConnection::connect(&bad).expect_err("bad password must fail");
    assert!(matches!(err, PgError::Auth { .. }), "{err:?}");
    assert_eq!(
        err.to_string(),
        "password authentication failed for user \"postgres\""
    );
    assert!(!err.is_connection_lost());
    // The same on a replication session.
    let err = ReplicationConnection::connect(&bad).expect_err("must fail");
    assert!(err.to_string().contains("user \"postgres\""), "{err}");

    let mut no_pw = cfg(&pg);
    no_pw.password = None;
    let err = PgConnection::connect(&no_pw).expect_err("missing password must fail");
    assert!(
        err.to_string()
            .contains("requires a password for user \"postgres\""),
        "{err}"
    );

    let mut no_db = cfg(&pg);
    no_db.dbname = "nope".into();
    let err = PgConnection::connect(&no_db).expect_err("missing database must fail");
    assert_eq!(err.sqlstate(), Some("3D000"), "{err}");
    assert!(err.to_string().contains("\"nope\" does not exist"), "{err}");
    assert!(!err.is_connection_lost());

    // A role without REPLICATION cannot open a replication session.
    pg.psql("CREATE ROLE app LOGIN PASSWORD 'app-pw'");
    let mut app = cfg(&pg);
    app.user = "app".into();
    app.password = Some("app-pw".into());
    PgConnection::connect(&app).expect("ordinary session");
    let err = ReplicationConnection::connect(&app).expect_err("no REPLICATION attribute");
    assert_eq!(err.sqlstate(), Some("42501"), "{err}");
    assert!(err.to_string().contains("replication"), "{err}");
    assert!(!err.is_connection_lost());

    // A port nobody listens on.
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("free port");
    let mut refused = cfg(&pg);
    refused.port = port;
    let err = PgConnection::connect(&refused).expect_err("must fail");
    let msg = err.to_string();
    assert!(
        msg.starts_with(&format!("could not connect to 127.0.0.1:{port}: ")),
        "{msg}"
    );
    assert!(msg.contains("refused"), "{msg}");
    assert!(err.is_connection_lost());

    // Every sslmode against servers with and without TLS: tests/pg_tls.rs.
}

// ------------------------------------------------------------------ queries

#[test]
fn simple_query_returns_types_nulls_tags_and_survives_errors() {
    let pg = PgCluster::start();
    let mut c = connect(&pg);
    let r = c
        .simple_query(
            "CREATE TABLE t (id int4 PRIMARY KEY, name varchar(20), price numeric(10,2), \
                             at timestamptz, raw bytea, ok bool);\
             INSERT INTO t VALUES (1, 'één', 12.50, '2024-01-02 03:04:05+02', '\\x00ff', true),\
                                  (2, NULL, NULL, NULL, NULL, NULL);\
             SELECT * FROM t ORDER BY id",
        )
        .expect("query");
    assert_eq!(r.len(), 3);
    assert_eq!(r[0].command_tag, "CREATE TABLE");
    assert_eq!(r[1].command_tag, "INSERT 0 2");
    let sel = &r[2];
    assert_eq!(sel.command_tag, "SELECT 2");
    let names: Vec<&str> = sel.columns.iter().map(|c| c.name.as_str()).collect();
    assert_eq!(names, ["id", "name", "price", "at", "raw", "ok"]);
    let oids: Vec<u32> = sel.columns.iter().map(|c| c.type_oid).collect();
    assert_eq!(oids, [23, 1043, 1700, 1184, 17, 16]);
    assert_eq!(sel.columns[1].type_modifier, 24); // varchar(20): 20 + 4
    assert!(sel.columns[0].table_oid != 0);
    assert_eq!(sel.columns[0].column_id, 1);
    assert_eq!(
        sel.rows[0],
        [
            Some("1".to_string()),
            Some("één".to_string()),
            Some("12.50".to_string()),
            Some("2024-01-02 01:04:05+00".to_string()), // TimeZone=UTC, DateStyle=ISO
            Some("\\x00ff".to_string()),
            Some("t".to_string()),
        ]
    );
    assert_eq!(
        sel.rows[1],
        [Some("2".to_string()), None, None, None, None, None]
    );
    assert_eq!(sel.get(0, "name"), Some("één"));

    // A server error names the SQLSTATE; the session stays usable.
    let err = c
        .simple_query("SELECT * FROM missing")
        .expect_err("must fail");
    assert_eq!(err.sqlstate(), Some("42P01"));
    assert!(
        err.to_string()
            .starts_with("ERROR: relation \"missing\" does not exist (SQLSTATE 42P01)"),
        "{err}"
    );
    assert!(!err.is_connection_lost());
    // An error inside a transaction block: the block is failed, then usable again.
    c.execute("BEGIN").expect("begin");
    assert_eq!(c.transaction_status(), b'T');
    assert!(c.execute("SELECT 1/0").is_err());
    assert_eq!(c.transaction_status(), b'E');
    c.execute("ROLLBACK").expect("rollback");
    assert_eq!(c.transaction_status(), b'I');
    // Notices (logged) and empty statements do not disturb results.
    let r = c
        .simple_query("DO $$ BEGIN RAISE NOTICE 'hello'; END $$; ; SELECT 7")
        .expect("query");
    assert_eq!(r.last().and_then(|r| r.get(0, "?column?")), Some("7"));
    // Statements needing COPY FROM STDIN are refused cleanly.
    assert!(c.execute("COPY t FROM STDIN").is_err());
    assert_eq!(
        c.simple_query("SELECT count(*) FROM t").expect("q")[0].rows[0][0].as_deref(),
        Some("2")
    );
}

#[test]
fn query_rows_streams_many_rows_without_collecting() {
    let pg = PgCluster::start();
    let mut c = connect(&pg);
    const N: u64 = 300_000;
    let mut count = 0u64;
    let mut sum = 0u64;
    let mut nulls = 0u64;
    let started = Instant::now();
    c.query_rows(
        &format!(
            "SELECT g, CASE WHEN g % 10 = 0 THEN NULL ELSE repeat('x', (g % 50)::int) END \
             FROM generate_series(1, {N}) g"
        ),
        |cols, vals| {
            assert_eq!(cols.len(), 2);
            let g: u64 = std::str::from_utf8(vals[0].expect("g not null"))
                .expect("utf8")
                .parse()
                .expect("number");
            match vals[1] {
                None => nulls += 1,
                Some(x) => assert_eq!(x.len() as u64, g % 50),
            }
            count += 1;
            sum += g;
            Ok(())
        },
    )
    .expect("query_rows");
    eprintln!("query_rows: {N} rows in {:?}", started.elapsed());
    assert_eq!(count, N);
    assert_eq!(sum, N * (N + 1) / 2);
    assert_eq!(nulls, N / 10);

    // A failing callback stops the calls, drains the result, returns its
    // error, and the session stays usable.
    let mut calls = 0;
    let err = c
        .query_rows("SELECT generate_series(1, 1000)", |_, _| {
            calls += 1;
            if calls == 3 {
                Err(PgError::Protocol("stop here".into()))
            } else {
                Ok(())
            }
        })
        .expect_err("callback error");
    assert!(err.to_string().contains("stop here"));
    assert_eq!(calls, 3);
    let r = c.simple_query("SELECT 1").expect("usable");
    assert_eq!(r[0].rows[0][0].as_deref(), Some("1"));
}

/// Pipelined queries: replies come back in the order sent, a row of more
/// than 64 values and one of none arrive whole, a failing pipelined query
/// fails only its own reply, and no other query may read a reply that is
/// not its own.
#[test]
fn pipelined_queries_reply_in_order_and_guard_their_replies() {
    let pg = PgCluster::start();
    let mut c = connect(&pg);
    c.execute("BEGIN; DECLARE cur NO SCROLL CURSOR FOR SELECT g FROM generate_series(1, 2500) g")
        .expect("cursor");
    c.send_query("FETCH 1000 FROM cur").expect("send");
    let mut seen = Vec::new();
    loop {
        c.send_query("FETCH 1000 FROM cur").expect("send the next");
        assert_eq!(c.unread_replies(), 2);
        // Another query now would read the FETCH's reply as its own.
        let err = c
            .execute("SELECT 1")
            .expect_err("refused while replies are unread");
        assert!(err.to_string().contains("not read yet"), "{err}");
        let before = seen.len();
        c.receive_rows(|_, vals| {
            let g: u64 = std::str::from_utf8(vals[0].expect("not null"))
                .expect("utf8")
                .parse()
                .expect("number");
            seen.push(g);
            Ok(())
        })
        .expect("receive");
        if seen.len() - before < 1000 {
            let mut extra = 0;
            c.receive_rows(|_, _| {
                extra += 1;
                Ok(())
            })
            .expect("the last FETCH");
            assert_eq!(extra, 0);
            break;
        }
    }
    assert_eq!(seen, (1..=2500).collect::<Vec<u64>>());
    assert_eq!(c.unread_replies(), 0);
    let err = c.receive_rows(|_, _| Ok(())).expect_err("nothing to read");
    assert!(err.to_string().contains("no query"), "{err}");
    c.execute("COMMIT").expect("commit");

    // A wide row (100 values) and an empty one.
    let wide: Vec<String> = (1..=100).map(|i| format!("{i} AS c{i}")).collect();
    c.send_query(&format!("SELECT {}", wide.join(", ")))
        .expect("send");
    c.send_query("SELECT").expect("send");
    let mut got = Vec::new();
    c.receive_rows(|cols, vals| {
        assert_eq!(cols.len(), 100);
        got = vals
            .iter()
            .map(|v| {
                std::str::from_utf8(v.expect("set"))
                    .expect("utf8")
                    .to_owned()
            })
            .collect();
        Ok(())
    })
    .expect("wide");
    assert_eq!(got, (1..=100).map(|i| i.to_string()).collect::<Vec<_>>());
    let mut empty_rows = 0;
    c.receive_rows(|cols, vals| {
        assert!(cols.is_empty() && vals.is_empty());
        empty_rows += 1;
        Ok(())
    })
    .expect("empty row");
    assert_eq!(empty_rows, 1);

    // An error fails its own reply only.
    c.send_query("SELECT 1/0").expect("send");
    c.send_query("SELECT 7").expect("send");
    let err = c.receive_rows(|_, _| Ok(())).expect_err("division by zero");
    assert!(err.to_string().contains("division by zero"), "{err}");
    let mut seven = None;
    c.receive_rows(|_, vals| {
        seven = vals[0].map(|v| v.to_vec());
        Ok(())
    })
    .expect("the next reply");
    assert_eq!(seven.as_deref(), Some(&b"7"[..]));
    let r = c.simple_query("SELECT 1").expect("usable");
    assert_eq!(r[0].rows[0][0].as_deref(), Some("1"));
}

#[test]
fn cancel_token_and_shutdown_handle_work_from_another_thread() {
    fn assert_send<T: Send>() {}
    assert_send::<PgConnection>();
    assert_send::<ReplicationConnection>();
    assert_send::<ReplicationStream>();

    let pg = PgCluster::start();
    let mut c = connect(&pg);
    assert_cancels_a_running_query(&mut c);

    // Shutting the socket down wakes a blocked replication recv.
    pg.psql("CREATE PUBLICATION pub FOR ALL TABLES");
    let mut repl = replication(&pg);
    repl.create_logical_slot("s", "pgoutput", true, SnapshotAction::NoExport)
        .expect("slot");
    let mut stream = repl
        .start_logical_replication(
            "s",
            Lsn::ZERO,
            &[("proto_version", "1"), ("publication_names", "pub")],
        )
        .expect("start");
    assert_shutdown_wakes_recv(&mut stream);
}

/// Cancels a `pg_sleep(30)` on `c` from another thread after 300 ms: the
/// query fails with SQLSTATE 57014 long before 30 s, and the session stays
/// usable.
fn assert_cancels_a_running_query(c: &mut PgConnection) {
    let token = c.cancel_token().expect("cancel key");
    let started = Instant::now();
    let canceller = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        token.cancel()
    });
    let err = c.execute("SELECT pg_sleep(30)").expect_err("cancelled");
    canceller.join().expect("thread").expect("cancel sent");
    assert_eq!(err.sqlstate(), Some("57014"), "{err}");
    assert!(started.elapsed() < Duration::from_secs(20));
    c.execute("SELECT 1").expect("usable after cancel");
}

/// Shuts `stream`'s socket down from another thread after 300 ms: a `recv`
/// blocked on it returns at once, with a lost connection.
fn assert_shutdown_wakes_recv(stream: &mut ReplicationStream) {
    let handle = stream.shutdown_handle().expect("handle");
    let stopper = std::thread::spawn(move || {
        std::thread::sleep(Duration::from_millis(300));
        handle.shutdown();
    });
    let started = Instant::now();
    let err = loop {
        match stream.recv(Duration::from_secs(30)) {
            Ok(_) => assert!(started.elapsed() < Duration::from_secs(20), "not woken"),
            Err(e) => break e,
        }
    };
    stopper.join().expect("thread");
    assert!(err.is_connection_lost(), "{err:?}");
    assert!(started.elapsed() < Duration::from_secs(20));
}

#[test]
fn unix_socket_sessions_query_cancel_replicate_and_ignore_sslmode() {
    let pg = PgCluster::start();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY, v text); CREATE PUBLICATION pub FOR TABLE t");
    pg.psql("SELECT pg_create_logical_replication_slot('unix_slot', 'pgoutput')");
    // libpq's rule: a host that is an absolute path is the socket's
    // directory; sslmode means nothing there, even `verify-full`.
    let unix = |sslmode: &str| PgConfig {
        host: pg.socket_dir(),
        sslmode: sslmode.into(),
        ..cfg(&pg)
    };
    let mut c = PgConnection::connect(&unix("verify-full"))
        .unwrap_or_else(|e| panic!("connect over the socket: {e}\n{}", pg.log()));
    let r = c
        .simple_query("SELECT client_addr IS NULL, client_port FROM pg_stat_activity WHERE pid = pg_backend_pid()")
        .expect("query");
    // A Unix-domain session has no client address and port -1.
    assert_eq!(r[0].rows[0][0].as_deref(), Some("t"));
    assert_eq!(r[0].rows[0][1].as_deref(), Some("-1"));

    // Cancel requests go to the same socket.
    assert_cancels_a_running_query(&mut c);

    // Replication: changes arrive over the socket, and shutting it down
    // wakes a blocked recv.
    let repl = ReplicationConnection::connect(&unix("require"))
        .unwrap_or_else(|e| panic!("replication over the socket: {e}\n{}", pg.log()));
    let mut stream = repl
        .start_logical_replication(
            "unix_slot",
            Lsn::ZERO,
            &[("proto_version", "1"), ("publication_names", "pub")],
        )
        .expect("START_REPLICATION");
    pg.psql("INSERT INTO t VALUES (1, 'over the socket')");
    let msgs = collect_commits(&mut stream, 1, Duration::from_secs(30));
    let inserted = inserted_rows(&msgs);
    assert_eq!(inserted, [vec![Some("1"), Some("over the socket")]]);
    assert_shutdown_wakes_recv(&mut stream);

    // A directory with no server's socket in it: the error names the path.
    let dir = tempfile::tempdir().expect("temp dir");
    let config = PgConfig {
        host: dir.path().to_string_lossy().into_owned(),
        ..cfg(&pg)
    };
    let err = PgConnection::connect(&config).expect_err("nothing listens there");
    let want = format!("{}/.s.PGSQL.{}", dir.path().display(), pg.port());
    assert!(err.to_string().contains(&want), "{err}");
}

// ------------------------------------------------------------------ replication

#[test]
fn replication_snapshot_stream_status_and_resume() {
    let pg = PgCluster::start();
    pg.psql(
        "CREATE TABLE items (id int PRIMARY KEY, name text, qty int);\
         CREATE TABLE audit (id int, note text);\
         ALTER TABLE audit REPLICA IDENTITY FULL;\
         INSERT INTO items VALUES (1, 'before', 1);\
         CREATE PUBLICATION pub FOR TABLE items, audit;",
    );

    let mut repl = replication(&pg);
    let sys = repl.identify_system().expect("IDENTIFY_SYSTEM");
    assert_eq!(sys.timeline, 1);
    assert_eq!(sys.dbname.as_deref(), Some("postgres"));
    assert!(sys.xlogpos > Lsn::ZERO);
    assert!(!sys.systemid.is_empty());
    // Plain SQL works on a replication=database session.
    let r = repl.simple_query("SELECT 40 + 2").expect("plain SQL");
    assert_eq!(r[0].rows[0][0].as_deref(), Some("42"));

    let slot = repl
        .create_logical_slot("cdc_slot", "pgoutput", false, SnapshotAction::Export)
        .expect("create slot");
    assert_eq!(slot.slot_name, "cdc_slot");
    assert_eq!(slot.output_plugin.as_deref(), Some("pgoutput"));
    assert!(slot.consistent_point >= sys.xlogpos);
    let snapshot = slot.snapshot_name.clone().expect("exported snapshot name");

    // Committed after the slot's consistent point: streamed, not in the snapshot.
    pg.psql("INSERT INTO items VALUES (2, 'after', 2)");

    // A second, ordinary session imports the snapshot while the replication
    // session stays idle.
    let mut snap = connect(&pg);
    snap.execute(&format!(
        "BEGIN ISOLATION LEVEL REPEATABLE READ; SET TRANSACTION SNAPSHOT '{snapshot}'"
    ))
    .expect("import snapshot");
    let mut ids = Vec::new();
    snap.query_rows("SELECT id, name FROM items ORDER BY id", |_, v| {
        ids.push(String::from_utf8_lossy(v[0].expect("id")).into_owned());
        Ok(())
    })
    .expect("snapshot read");
    assert_eq!(ids, ["1"]);
    snap.execute("COMMIT").expect("commit");

    let mut stream = repl
        .start_logical_replication(
            "cdc_slot",
            Lsn::ZERO,
            &[("proto_version", "1"), ("publication_names", "pub")],
        )
        .expect("START_REPLICATION");

    pg.psql("UPDATE items SET qty = 5 WHERE id = 1");
    pg.psql("UPDATE items SET id = 10 WHERE id = 2"); // key change: old key sent
    pg.psql("DELETE FROM items WHERE id = 1");
    pg.psql(
        "BEGIN; INSERT INTO audit VALUES (1, 'a'), (2, NULL); \
         UPDATE audit SET note = 'b' WHERE id = 1; DELETE FROM audit WHERE id = 2; COMMIT",
    );

    let msgs = collect_commits(&mut stream, 5, Duration::from_secs(30));
    // Every transaction is Begin … Commit, wal_start never goes backwards
    // between transactions, and commit LSNs increase.
    let mut last_commit = Lsn::ZERO;
    let mut in_tx = false;
    let mut final_lsn = Lsn::ZERO;
    for (_, m) in &msgs {
        match m {
            PgOutput::Begin {
                final_lsn: f, xid, ..
            } => {
                assert!(!in_tx);
                assert!(*xid > 0);
                in_tx = true;
                final_lsn = *f;
            }
            PgOutput::Commit {
                commit_lsn,
                end_lsn,
                ..
            } => {
                assert!(in_tx);
                assert_eq!(*commit_lsn, final_lsn);
                assert!(end_lsn > commit_lsn);
                assert!(*commit_lsn > last_commit);
                assert!(*commit_lsn >= slot.consistent_point);
                last_commit = *commit_lsn;
                in_tx = false;
            }
            _ => assert!(in_tx, "change outside a transaction: {m:?}"),
        }
    }
    let mut relations = std::collections::HashMap::new();
    let mut changes = Vec::new();
    for (_, m) in &msgs {
        match m {
            PgOutput::Relation(r) => {
                relations.insert(r.id, r.clone());
            }
            PgOutput::Insert { relation_id, new } => changes.push(format!(
                "{} I {:?}",
                relations[relation_id].name,
                texts(new)
            )),
            PgOutput::Update {
                relation_id,
                key,
                old,
                new,
            } => changes.push(format!(
                "{} U key={:?} old={:?} new={:?}",
                relations[relation_id].name,
                key.as_deref().map(texts),
                old.as_deref().map(texts),
                texts(new)
            )),
            PgOutput::Delete {
                relation_id,
                key,
                old,
            } => changes.push(format!(
                "{} D key={:?} old={:?}",
                relations[relation_id].name,
                key.as_deref().map(texts),
                old.as_deref().map(texts)
            )),
            _ => {}
        }
    }
    assert_eq!(
        changes,
        [
            r#"items I [Some("2"), Some("after"), Some("2")]"#,
            r#"items U key=None old=None new=[Some("1"), Some("before"), Some("5")]"#,
            r#"items U key=Some([Some("2"), None, None]) old=None new=[Some("10"), Some("after"), Some("2")]"#,
            r#"items D key=Some([Some("1"), None, None]) old=None"#,
            r#"audit I [Some("1"), Some("a")]"#,
            r#"audit I [Some("2"), None]"#,
            r#"audit U key=None old=Some([Some("1"), Some("a")]) new=[Some("1"), Some("b")]"#,
            r#"audit D key=None old=Some([Some("2"), None])"#,
        ]
    );
    let items = relations
        .values()
        .find(|r| r.name == "items")
        .expect("items relation");
    assert_eq!(items.namespace, "public");
    assert_eq!(items.replica_identity, b'd');
    let cols: Vec<(bool, &str, u32)> = items
        .columns
        .iter()
        .map(|c| (c.is_key, c.name.as_str(), c.type_oid))
        .collect();
    assert_eq!(
        cols,
        [(true, "id", 23), (false, "name", 25), (false, "qty", 23)]
    );
    let audit = relations
        .values()
        .find(|r| r.name == "audit")
        .expect("audit relation");
    assert_eq!(audit.replica_identity, b'f');

    // Confirm up to the end of the third transaction (the UPDATE of the key).
    let third_end = msgs
        .iter()
        .filter_map(|(_, m)| match m {
            PgOutput::Commit { end_lsn, .. } => Some(*end_lsn),
            _ => None,
        })
        .nth(2)
        .expect("third commit");
    let before = confirmed_flush_lsn(&pg, "cdc_slot");
    assert!(before < third_end, "{before} < {third_end}");
    stream
        .send_standby_status(third_end, third_end, third_end, true)
        .expect("standby status");
    let deadline = Instant::now() + Duration::from_secs(10);
    while confirmed_flush_lsn(&pg, "cdc_slot") < third_end {
        assert!(
            Instant::now() < deadline,
            "confirmed_flush_lsn did not advance"
        );
        let _ = stream.recv(Duration::from_millis(100)).expect("recv");
    }
    assert_eq!(confirmed_flush_lsn(&pg, "cdc_slot"), third_end);
    stream.close();

    // Restarting from the slot's confirmed position re-delivers only the
    // later transactions (the delete and the audit transaction), plus one
    // made while nobody was streaming.
    pg.psql("INSERT INTO items VALUES (3, 'offline', 3)");
    let mut stream = start_stream(&pg, "cdc_slot", Lsn::ZERO, "pub");
    let again = collect_commits(&mut stream, 3, Duration::from_secs(30));
    let kinds: Vec<&str> = again
        .iter()
        .filter_map(|(_, m)| match m {
            PgOutput::Insert { .. } => Some("I"),
            PgOutput::Update { .. } => Some("U"),
            PgOutput::Delete { .. } => Some("D"),
            _ => None,
        })
        .collect();
    assert_eq!(kinds, ["D", "I", "I", "U", "D", "I"]);
    // Relations are described again in the new session before first use.
    assert!(again
        .iter()
        .any(|(_, m)| matches!(m, PgOutput::Relation(_))));
    assert!(again.iter().all(|(_, m)| match m {
        PgOutput::Commit { commit_lsn, .. } => *commit_lsn > third_end,
        _ => true,
    }));
    stream.close();

    // Slot management: duplicate name, temporary slots, drop.
    let mut repl = replication(&pg);
    let err = repl
        .create_logical_slot("cdc_slot", "pgoutput", false, SnapshotAction::NoExport)
        .expect_err("duplicate slot");
    assert_eq!(err.sqlstate(), Some("42710"), "{err}");
    let tmp = repl
        .create_logical_slot("tmp_slot", "pgoutput", true, SnapshotAction::NoExport)
        .expect("temporary slot");
    assert!(tmp.snapshot_name.is_none());
    assert_eq!(
        pg.psql("SELECT temporary FROM pg_replication_slots WHERE slot_name = 'tmp_slot'"),
        "t"
    );
    repl.drop_slot("cdc_slot", true).expect("drop slot");
    let err = repl
        .drop_slot("cdc_slot", false)
        .expect_err("already dropped");
    assert_eq!(err.sqlstate(), Some("42704"), "{err}");
    assert!(repl.drop_slot("Bad-Name", false).is_err());
    repl.close();
    let deadline = Instant::now() + Duration::from_secs(10);
    while pg.psql("SELECT count(*) FROM pg_replication_slots") != "0" {
        assert!(
            Instant::now() < deadline,
            "temporary slot outlived its session"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn use_snapshot_reads_the_slot_snapshot_on_the_replication_session() {
    let pg = PgCluster::start();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); INSERT INTO t VALUES (1), (2)");
    let mut repl = replication(&pg);
    repl.simple_query("BEGIN ISOLATION LEVEL REPEATABLE READ")
        .expect("begin");
    let slot = repl
        .create_logical_slot("use_slot", "pgoutput", true, SnapshotAction::Use)
        .expect("slot");
    assert!(slot.snapshot_name.is_none());
    pg.psql("INSERT INTO t VALUES (3)");
    let mut n = 0;
    repl.query_rows("SELECT id FROM t", |_, _| {
        n += 1;
        Ok(())
    })
    .expect("read in slot snapshot");
    assert_eq!(n, 2);
    repl.simple_query("COMMIT").expect("commit");
}

#[test]
fn logical_slot_on_wal_level_replica_fails_naming_wal_level() {
    let pg = PgCluster::builder().wal_level("replica").start();
    let mut repl = replication(&pg);
    let err = repl
        .create_logical_slot("s", "pgoutput", false, SnapshotAction::Export)
        .expect_err("must fail without wal_level=logical");
    assert!(matches!(err, PgError::Server { .. }), "{err:?}");
    assert_eq!(err.sqlstate(), Some("55000"), "{err}");
    assert!(err.to_string().contains("wal_level"), "{err}");
    assert!(!err.is_connection_lost());
    // The session is still usable.
    repl.identify_system().expect("identify after error");
}

#[test]
fn unknown_publication_or_slot_fails_clearly() {
    let pg = PgCluster::start();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY)");
    let repl = replication(&pg);
    let err = repl
        .start_logical_replication(
            "no_such_slot",
            Lsn::ZERO,
            &[("proto_version", "1"), ("publication_names", "p")],
        )
        .expect_err("missing slot");
    assert_eq!(err.sqlstate(), Some("42704"), "{err}");

    let mut repl = replication(&pg);
    repl.create_logical_slot("s", "pgoutput", false, SnapshotAction::NoExport)
        .expect("slot");
    let mut stream = repl
        .start_logical_replication(
            "s",
            Lsn::ZERO,
            &[("proto_version", "1"), ("publication_names", "nope")],
        )
        .expect("start");
    pg.psql("INSERT INTO t VALUES (1)");
    let deadline = Instant::now() + Duration::from_secs(20);
    let err = loop {
        assert!(
            Instant::now() < deadline,
            "no error for a missing publication"
        );
        match stream.recv(Duration::from_millis(200)) {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(err.to_string().contains("\"nope\" does not exist"), "{err}");
}

#[test]
fn server_restart_mid_stream_is_connection_lost() {
    let mut pg = PgCluster::start();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR ALL TABLES");
    let mut repl = replication(&pg);
    repl.create_logical_slot("s", "pgoutput", false, SnapshotAction::NoExport)
        .expect("slot");
    let mut stream = repl
        .start_logical_replication(
            "s",
            Lsn::ZERO,
            &[("proto_version", "1"), ("publication_names", "pub")],
        )
        .expect("start");
    pg.psql("INSERT INTO t VALUES (1)");
    collect_commits(&mut stream, 1, Duration::from_secs(20));

    // An idle recv times out with None after its timeout (keepalives may
    // come first).
    let mut timed_out = false;
    for _ in 0..10 {
        let started = Instant::now();
        if stream
            .recv(Duration::from_millis(300))
            .expect("recv")
            .is_none()
        {
            assert!(started.elapsed() >= Duration::from_millis(290));
            timed_out = true;
            break;
        }
    }
    assert!(timed_out, "recv never timed out");

    // A durable confirmation that lags what was sent (as a connector's
    // does until its next snapshot).
    let first_commit = pg.psql("SELECT confirmed_flush_lsn FROM pg_replication_slots");
    let lagging: Lsn = first_commit.parse().expect("lsn");
    stream
        .send_standby_status(stream.last_received(), lagging, lagging, false)
        .expect("status");

    // Restart from another thread while this one keeps receiving: a
    // logical walsender's shutdown waits until the client has acknowledged
    // everything sent (else until wal_sender_timeout, 60 s), so keepalives
    // that ask for a reply are answered, as a connector must.
    let restart_started = Instant::now();
    let err = std::thread::scope(|scope| {
        let restarter = scope.spawn(|| pg.restart());
        let deadline = Instant::now() + Duration::from_secs(30);
        let err = loop {
            assert!(Instant::now() < deadline, "no error after the restart");
            match stream.recv(Duration::from_millis(200)) {
                Ok(Some(ReplicationMessage::Keepalive {
                    reply_requested: true,
                    ..
                })) => stream.send_keepalive_reply().expect("keepalive reply"),
                Ok(_) => {}
                Err(e) => break e,
            }
        };
        restarter.join().expect("restart");
        err
    });
    assert!(
        restart_started.elapsed() < Duration::from_secs(30),
        "the fast shutdown waited for wal_sender_timeout: {:?}",
        restart_started.elapsed()
    );
    assert!(err.is_connection_lost(), "{err:?}");
    // Further use fails fast as closed.
    let again = stream.recv(Duration::from_millis(10)).expect_err("closed");
    assert!(matches!(again, PgError::Closed), "{again:?}");
    assert!(stream
        .send_standby_status(Lsn::ZERO, Lsn::ZERO, Lsn::ZERO, false)
        .is_err());

    // The slot survived; a new session resumes and sees new data only.
    pg.psql("INSERT INTO t VALUES (2)");
    let mut stream = start_stream(&pg, "s", Lsn::ZERO, "pub");
    let msgs = collect_commits(&mut stream, 2, Duration::from_secs(20));
    let inserted = inserted_rows(&msgs);
    // Row 1 was never confirmed as flushed, so it comes again (at-least-once).
    assert_eq!(inserted, [[Some("1")], [Some("2")]]);
}

#[test]
fn server_crash_mid_stream_is_connection_lost() {
    let mut pg = PgCluster::start();
    pg.psql("CREATE TABLE t (id int PRIMARY KEY); CREATE PUBLICATION pub FOR ALL TABLES");
    let mut repl = replication(&pg);
    repl.create_logical_slot("s", "pgoutput", false, SnapshotAction::NoExport)
        .expect("slot");
    let mut stream = repl
        .start_logical_replication(
            "s",
            Lsn::ZERO,
            &[("proto_version", "1"), ("publication_names", "pub")],
        )
        .expect("start");
    pg.kill(); // immediate shutdown: no goodbye beyond a best-effort FATAL
    let deadline = Instant::now() + Duration::from_secs(20);
    let err = loop {
        assert!(Instant::now() < deadline, "no error after the crash");
        match stream.recv(Duration::from_millis(200)) {
            Ok(_) => {}
            Err(e) => break e,
        }
    };
    assert!(err.is_connection_lost(), "{err:?}");
    pg.start_again();
    let mut stream = start_stream(&pg, "s", Lsn::ZERO, "pub");
    pg.psql("INSERT INTO t VALUES (1)");
    collect_commits(&mut stream, 1, Duration::from_secs(20));
}

#[test]
fn ordinary_session_sees_restart_as_connection_lost() {
    let mut pg = PgCluster::start();
    let mut c = connect(&pg);
    c.execute("SELECT 1").expect("query");
    pg.restart();
    let err = c.execute("SELECT 1").expect_err("terminated session");
    assert!(err.is_connection_lost(), "{err:?}");
    assert!(c.is_closed());
    connect(&pg)
        .execute("SELECT 1")
        .expect("new session after restart");
}

#[test]
fn streams_a_large_transaction() {
    let pg = PgCluster::start();
    pg.psql(
        "CREATE TABLE big (id int PRIMARY KEY, payload text, n numeric);\
         CREATE PUBLICATION pub FOR TABLE big",
    );
    let mut repl = replication(&pg);
    repl.create_logical_slot("big_slot", "pgoutput", false, SnapshotAction::NoExport)
        .expect("slot");
    let mut stream = repl
        .start_logical_replication(
            "big_slot",
            Lsn::ZERO,
            &[("proto_version", "1"), ("publication_names", "pub")],
        )
        .expect("start");
    const N: usize = 100_000;
    pg.psql(&format!(
        "INSERT INTO big SELECT g, md5(g::text), g * 1.5 FROM generate_series(1, {N}) g"
    ));
    let started = Instant::now();
    let mut inserts = 0usize;
    let mut id_sum = 0u64;
    let mut first_change = None;
    let deadline = Instant::now() + Duration::from_secs(120);
    loop {
        assert!(Instant::now() < deadline, "only {inserts} of {N} inserts");
        match stream.recv(Duration::from_millis(500)).expect("recv") {
            Some(ReplicationMessage::XLogData { data, .. }) => match data {
                PgOutput::Insert { new, .. } => {
                    first_change.get_or_insert_with(Instant::now);
                    inserts += 1;
                    id_sum += text(&new[0])
                        .and_then(|s| s.parse::<u64>().ok())
                        .expect("id");
                    assert_eq!(text(&new[1]).map(str::len), Some(32));
                }
                PgOutput::Commit { end_lsn, .. } => {
                    stream
                        .send_standby_status(end_lsn, end_lsn, end_lsn, false)
                        .expect("status");
                    break;
                }
                _ => {}
            },
            Some(ReplicationMessage::Keepalive {
                reply_requested: true,
                ..
            }) => stream.send_keepalive_reply().expect("keepalive reply"),
            _ => {}
        }
    }
    let n = N as u64;
    assert_eq!(inserts, N);
    assert_eq!(id_sum, n * (n + 1) / 2);
    let streaming = first_change.map(|t| t.elapsed()).unwrap_or_default();
    eprintln!(
        "streamed {N} inserts in {streaming:?} after the first ({:.0}/s; {:?} since the INSERT returned)",
        N as f64 / streaming.as_secs_f64().max(1e-9),
        started.elapsed()
    );
}

#[test]
fn harness_starts_restarts_and_runs_psql() {
    let mut pg = PgCluster::start();
    assert_eq!(pg.psql("SHOW wal_level"), "logical");
    pg.psql("CREATE TABLE t (id int primary key, v text)");
    pg.psql("INSERT INTO t VALUES (1, 'a'), (2, NULL)");
    pg.restart();
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "2");
    let err = pg
        .try_psql_db("postgres", "SELECT * FROM nope")
        .unwrap_err();
    assert!(err.contains("does not exist"), "{err}");
    pg.stop();
    assert!(!pg.is_running());
    pg.start_again();
    assert_eq!(pg.psql("SELECT count(*) FROM t"), "2");
    pg.create_database("app");
    assert_eq!(pg.psql_db("app", "SELECT current_database()"), "app");
    let props = pg.connector_props("app");
    assert!(props.contains(&("database.port".to_string(), pg.port().to_string())));
    assert!(pg
        .conn_string("app")
        .contains(&format!("port={}", pg.port())));
    let old = PgCluster::builder().wal_level("replica").start();
    assert_eq!(old.psql("SHOW wal_level"), "replica");
    assert_ne!(old.port(), pg.port());
}
