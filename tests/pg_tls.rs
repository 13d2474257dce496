//! TLS in the PostgreSQL client (the `timely-connect-pgwire` crate) against
//! real PostgreSQL clusters, one started with `ssl=on` and certificates this
//! test generates, one without TLS: every `sslmode` against both, a wrong
//! CA, a wrong host name, client certificates, libpq's fallbacks (`allow`,
//! `prefer`) when `pg_hba.conf` refuses a session, and a replication stream
//! over TLS.
//!
//! Whether a session is encrypted is asked of the server
//! (`pg_stat_ssl`), not only of the client.
//!
//! Needs the PostgreSQL server binaries (`scripts/install-postgres.sh`).

#[path = "common/pg.rs"]
mod pg;
#[path = "common/tls.rs"]
mod tls;

use std::path::Path;
use std::time::{Duration, Instant};

use pg::PgCluster;
use timely_connect_pgwire::{
    Lsn, PgConfig, PgConnection, PgError, PgOutput, ReplicationConnection, ReplicationMessage,
    SnapshotAction,
};
use tls::{pki, Pki};

/// Roles by what `pg_hba.conf` lets them do: `ssl_only` is refused in plain
/// text, `nossl_only` over TLS, `certuser` logs in by client certificate.
const HBA: &str = "\
local all all scram-sha-256
hostssl all certuser 127.0.0.1/32 cert
hostnossl all ssl_only 127.0.0.1/32 reject
hostssl all nossl_only 127.0.0.1/32 reject
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
";

fn tls_cluster(pki: &Pki) -> PgCluster {
    let pg = pki.server(PgCluster::builder()).hba(HBA).start();
    pg.psql(&format!(
        "CREATE ROLE ssl_only LOGIN SUPERUSER PASSWORD '{pw}';
         CREATE ROLE nossl_only LOGIN SUPERUSER PASSWORD '{pw}';
         CREATE ROLE certuser LOGIN SUPERUSER;",
        pw = pg.password()
    ));
    pg
}

fn cfg(pg: &PgCluster, host: &str, user: &str, sslmode: &str) -> PgConfig {
    PgConfig {
        connect_timeout: Duration::from_secs(10),
        io_timeout: Some(Duration::from_secs(60)),
        application_name: "pg_tls_test".into(),
        sslmode: sslmode.into(),
        ..PgConfig::new(host, pg.port(), user, "postgres").with_password(pg.password())
    }
}

fn with_root(mut cfg: PgConfig, root: &Path) -> PgConfig {
    cfg.sslrootcert = Some(root.to_path_buf());
    cfg
}

/// Whether the server sees the session as TLS; the client must agree.
fn encrypted(conn: &mut PgConnection) -> bool {
    let rows = conn
        .simple_query("SELECT ssl FROM pg_stat_ssl WHERE pid = pg_backend_pid()")
        .expect("ask pg_stat_ssl");
    let server = rows[0].rows[0][0].as_deref() == Some("t");
    assert_eq!(
        server,
        conn.is_tls(),
        "client and server disagree about TLS"
    );
    server
}

fn connect(cfg: &PgConfig) -> PgConnection {
    PgConnection::connect(cfg).unwrap_or_else(|e| panic!("connect with {cfg:?}: {e}"))
}

fn connect_err(cfg: &PgConfig) -> String {
    match PgConnection::connect(cfg) {
        Ok(_) => panic!("connected with {cfg:?}, expected a failure"),
        Err(e) => e.to_string(),
    }
}

#[test]
fn every_sslmode_against_a_server_with_tls() {
    let pki = pki();
    let pg = tls_cluster(&pki);
    let root = pki.path("root.crt");
    let plain = |mode| cfg(&pg, "127.0.0.1", pg.superuser(), mode);

    assert!(!encrypted(&mut connect(&plain("disable"))), "disable");
    assert!(
        !encrypted(&mut connect(&plain("allow"))),
        "allow: plain first"
    );
    assert!(
        encrypted(&mut connect(&plain("prefer"))),
        "prefer: TLS offered"
    );
    assert!(encrypted(&mut connect(&plain("require"))), "require");
    assert!(
        encrypted(&mut connect(&with_root(plain("verify-ca"), &root))),
        "verify-ca does not check the host name (127.0.0.1 is not in the certificate)"
    );
    let by_name = with_root(cfg(&pg, "localhost", pg.superuser(), "verify-full"), &root);
    assert!(
        encrypted(&mut connect(&by_name)),
        "verify-full by the certificate's name"
    );
    // The system's roots do not include our test CA.
    let system = with_root(plain("verify-ca"), Path::new("system"));
    let err = connect_err(&system);
    assert!(
        err.contains("TLS handshake") && err.contains("certificate"),
        "{err}"
    );
}

#[test]
fn wrong_ca_wrong_host_and_missing_roots_fail_where_libpq_fails() {
    let pki = pki();
    let pg = tls_cluster(&pki);
    let wrong = pki.path("wrong-root.crt");
    let root = pki.path("root.crt");

    // A CA that did not sign the server's certificate.
    for mode in ["verify-ca", "verify-full"] {
        let c = with_root(cfg(&pg, "localhost", pg.superuser(), mode), &wrong);
        let err = connect_err(&c);
        assert!(
            err.contains("TLS handshake")
                && err.contains(&format!("sslmode={mode}"))
                && err.contains("wrong-root.crt")
                && err.to_lowercase().contains("unknownissuer"),
            "{mode}: {err}"
        );
    }
    // libpq: `require` with a root certificate verifies as `verify-ca`.
    let c = with_root(cfg(&pg, "127.0.0.1", pg.superuser(), "require"), &wrong);
    let err = connect_err(&c);
    assert!(
        err.to_lowercase().contains("unknownissuer"),
        "require + sslrootcert: {err}"
    );
    assert!(
        encrypted(&mut connect(&with_root(
            cfg(&pg, "127.0.0.1", pg.superuser(), "require"),
            &root
        ))),
        "require + the right root"
    );

    // The certificate names `localhost`, not 127.0.0.1.
    let c = with_root(cfg(&pg, "127.0.0.1", pg.superuser(), "verify-full"), &root);
    let err = connect_err(&c);
    assert!(
        err.contains("TLS handshake") && err.contains("not valid for name \"127.0.0.1\""),
        "verify-full by address: {err}"
    );

    // Verification without roots fails before connecting, naming the key.
    let mut c = cfg(&pg, "localhost", pg.superuser(), "verify-full");
    c.sslrootcert = Some(pki.path("no-such-root.crt"));
    let err = connect_err(&c);
    assert!(err.contains("no-such-root.crt"), "{err}");

    // An unknown mode is a configuration error.
    let err = connect_err(&cfg(&pg, "localhost", pg.superuser(), "verify"));
    assert!(
        err.contains("unknown sslmode") && err.contains("verify-full"),
        "{err}"
    );
}

#[test]
fn allow_and_prefer_fall_back_when_pg_hba_refuses() {
    let pki = pki();
    let pg = tls_cluster(&pki);
    let user = |name, mode| cfg(&pg, "127.0.0.1", name, mode);

    // `ssl_only` is refused in plain text: allow retries with TLS, disable
    // fails naming pg_hba.conf and the user.
    assert!(encrypted(&mut connect(&user("ssl_only", "allow"))));
    let err = connect_err(&user("ssl_only", "disable"));
    assert!(
        err.contains("pg_hba.conf") && err.contains("ssl_only"),
        "{err}"
    );
    match PgConnection::connect(&user("ssl_only", "disable")) {
        Err(PgError::Auth { user, .. }) => assert_eq!(user, "ssl_only"),
        other => panic!("expected an auth error, got {other:?}"),
    }

    // `nossl_only` is refused over TLS: prefer retries in plain text,
    // require fails.
    assert!(!encrypted(&mut connect(&user("nossl_only", "prefer"))));
    let err = connect_err(&user("nossl_only", "require"));
    assert!(
        err.contains("pg_hba.conf") && err.contains("nossl_only"),
        "{err}"
    );

    // A wrong password is not retried in the other mode: same error, once.
    let mut bad = user("ssl_only", "allow");
    bad.password = Some("wrong".into());
    let err = connect_err(&bad);
    assert!(err.contains("password authentication failed"), "{err}");
}

#[test]
fn client_certificates_log_in_and_untrusted_ones_do_not() {
    let pki = pki();
    let pg = tls_cluster(&pki);
    let root = pki.path("root.crt");
    let mut c = with_root(cfg(&pg, "localhost", "certuser", "verify-full"), &root);
    c.password = None;

    let err = connect_err(&c);
    assert!(err.contains("certuser"), "no client certificate: {err}");

    c.sslcert = Some(pki.path("client.crt"));
    c.sslkey = Some(pki.path("client.key"));
    let mut conn = connect(&c);
    assert!(encrypted(&mut conn));
    let who = conn
        .simple_query("SELECT current_user")
        .expect("current_user");
    assert_eq!(who[0].rows[0][0].as_deref(), Some("certuser"));

    // A certificate the server's CA did not sign.
    c.sslcert = Some(pki.path("stranger.crt"));
    c.sslkey = Some(pki.path("stranger.key"));
    assert!(
        PgConnection::connect(&c).is_err(),
        "an untrusted client certificate"
    );

    // A certificate without its key is a configuration error, before any
    // connection.
    c.sslkey = None;
    let err = connect_err(&c);
    assert!(err.contains("sslkey"), "{err}");
}

#[test]
fn every_sslmode_against_a_server_without_tls() {
    let pki = pki();
    let pg = PgCluster::start();
    let root = pki.path("root.crt");
    let plain = |mode| cfg(&pg, "127.0.0.1", pg.superuser(), mode);

    for mode in ["disable", "allow", "prefer"] {
        assert!(!encrypted(&mut connect(&plain(mode))), "{mode}");
    }
    for mode in ["require", "verify-ca", "verify-full"] {
        let err = connect_err(&with_root(plain(mode), &root));
        assert!(
            err.contains("does not support TLS") && err.contains(&format!("sslmode={mode}")),
            "{mode}: {err}"
        );
    }
}

#[test]
fn replication_streams_over_tls() {
    let pki = pki();
    let pg = tls_cluster(&pki);
    pg.psql(
        "CREATE TABLE t (id int PRIMARY KEY, v text);
         CREATE PUBLICATION pub FOR TABLE t;",
    );
    let c = with_root(
        cfg(&pg, "localhost", pg.superuser(), "verify-full"),
        &pki.path("root.crt"),
    );
    let mut repl = ReplicationConnection::connect(&c).expect("replication connect over TLS");
    assert!(repl.is_tls());
    let slot = repl
        .create_logical_slot("tls_slot", "pgoutput", false, SnapshotAction::NoExport)
        .expect("create slot");
    let sslrows = pg.psql(
        "SELECT count(*) FROM pg_stat_ssl s JOIN pg_stat_activity a USING (pid) \
         WHERE s.ssl AND a.backend_type = 'walsender'",
    );
    assert_eq!(sslrows.trim(), "1", "the walsender's session is TLS");
    pg.psql("INSERT INTO t VALUES (1, 'over tls'), (2, 'still')");

    let mut stream = repl
        .start_logical_replication(
            "tls_slot",
            slot.consistent_point,
            &[("proto_version", "1"), ("publication_names", "pub")],
        )
        .expect("start replication");
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut values = Vec::new();
    let mut committed = Lsn(0);
    while committed == Lsn(0) {
        assert!(
            Instant::now() < deadline,
            "no commit over TLS; got {values:?}"
        );
        match stream.recv(Duration::from_millis(500)).expect("recv") {
            Some(ReplicationMessage::XLogData { data, .. }) => match data {
                PgOutput::Insert { new, .. } => {
                    values.push(new[1].as_str().map(str::to_owned));
                }
                PgOutput::Commit { end_lsn, .. } => committed = end_lsn,
                _ => {}
            },
            Some(ReplicationMessage::Keepalive {
                reply_requested: true,
                ..
            }) => stream.send_keepalive_reply().expect("keepalive reply"),
            Some(_) | None => {}
        }
    }
    assert_eq!(
        values,
        vec![Some("over tls".to_string()), Some("still".to_string())]
    );
}
