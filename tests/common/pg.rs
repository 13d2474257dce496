//! A throw-away PostgreSQL cluster for integration tests: a real server,
//! started from the installed binaries in a fresh temp dir, stopped and
//! removed on drop.
//!
//! ```ignore
//! let pg = PgCluster::start();                      // wal_level=logical
//! pg.psql("CREATE TABLE t (id int primary key)");   // as the superuser
//! let (port, user, pw) = (pg.port(), pg.superuser(), pg.password());
//! pg.restart();                                     // fast shutdown + start
//! pg.kill(); pg.start_again();                      // crash (immediate) + start
//! pg.create_database("app");
//! let props = pg.connector_props("app");            // database.hostname, …
//! let old = PgCluster::builder().wal_level("replica").start();
//! ```
//!
//! Usable from any test: `mod common;` then `common::pg::PgCluster`, or
//! standalone with `#[path = "common/pg.rs"] mod pg;`. Only `std` and the
//! `tempfile` dev-dependency are used.
//!
//! The server binaries come from `$PG_BINDIR`, else `pg_config --bindir`,
//! else the highest `/usr/lib/postgresql/*/bin`. `initdb` refuses to run as
//! root, so when the test runs as root the cluster's files are chowned to the
//! `postgres` OS user and the server binaries run as that user via `runuser`.
//!
//! Authentication is `scram-sha-256` over TCP on 127.0.0.1 for everyone
//! (ordinary and replication connections), except two role names reserved
//! for auth tests: `md5_user` (hba method `md5`) and `plain_user` (hba method
//! `password`, i.e. cleartext). Those roles do not exist until a test
//! creates them.
#![allow(dead_code)]

use std::fs;
use std::net::TcpListener;
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};

/// Columns of every type the native PostgreSQL connector maps (the
/// `mood` enum must exist).
pub const TYPED_COLUMNS: &str = "
    c_smallint smallint, c_int int, c_bigint bigint, c_real real, c_double double precision,
    c_num numeric(10,3), c_num_free numeric, c_nan numeric, c_bool boolean, c_text text,
    c_varchar varchar(10), c_char char(3), c_bytea bytea, c_date date, c_inf_date date,
    c_time time, c_time3 time(3), c_ts timestamp, c_ts3 timestamp(3), c_tstz timestamptz,
    c_timetz timetz, c_interval interval, c_uuid uuid, c_json json, c_jsonb jsonb,
    c_int_arr int[], c_text_arr text[], c_enum mood, c_money money, c_inet inet,
    c_bit bit(1), c_bits bit(10)";

/// One row of values for [`TYPED_COLUMNS`].
pub const TYPED_VALUES: &str = "
    -5, 42, 9007199254740993, 1.5, 2.25,
    12.345, 12.3400, 'NaN', true, 'héllo',
    'v', 'ab', '\\x00ff', '2024-02-29', 'infinity',
    '13:45:00.25', '00:00:01.5', '1970-01-02 00:00:00.000001', '1970-01-01 00:00:01.5', '2024-01-31 15:45:00.25+02',
    '10:15:30.5+01', '1 day 01:00:00', 'a0eebc99-9c0b-4ef8-bb6d-6bb9bd380a11', '{\"a\": 1}', '{\"a\": 1}',
    '{1,NULL,3}', '{x,\"y z\"}', 'ok', 12.34, '10.0.0.1',
    B'1', B'1000000001'";

/// The superuser's name in every test cluster.
pub const SUPERUSER: &str = "postgres";
/// The superuser's password in every test cluster.
pub const PASSWORD: &str = "test-secret-pw";

/// Options for [`PgCluster`]; see [`PgCluster::builder`].
#[derive(Clone, Debug)]
pub struct PgClusterBuilder {
    wal_level: String,
    settings: Vec<(String, String)>,
    hba: Option<String>,
    files: Vec<(String, String)>,
}

impl PgClusterBuilder {
    /// `wal_level` of the cluster (default `logical`; `replica` to test the
    /// "logical decoding requires wal_level=logical" error).
    pub fn wal_level(mut self, level: &str) -> Self {
        self.wal_level = level.to_string();
        self
    }

    /// One more `postgresql.conf` setting, e.g. `("wal_sender_timeout", "5s")`.
    /// The value is written as given (quote strings yourself).
    pub fn setting(mut self, name: &str, value: &str) -> Self {
        self.settings.push((name.to_string(), value.to_string()));
        self
    }

    /// `pg_hba.conf` in place of the default (which the module docs list).
    pub fn hba(mut self, hba: &str) -> Self {
        self.hba = Some(hba.to_string());
        self
    }

    /// A file written into the data directory before the server starts,
    /// readable by the server only (mode 0600), e.g. a TLS key.
    pub fn data_file(mut self, name: &str, contents: &str) -> Self {
        self.files.push((name.to_string(), contents.to_string()));
        self
    }

    /// initdb's a fresh cluster and starts it; panics with the server log on
    /// failure.
    pub fn start(self) -> PgCluster {
        PgCluster::init_and_start(self)
    }
}

/// A running throw-away cluster. Dropping it stops the server
/// (`-m immediate`) and removes its directory.
pub struct PgCluster {
    bindir: PathBuf,
    /// Root of the temp dir; removed on drop.
    dir: tempfile::TempDir,
    data: PathBuf,
    logfile: PathBuf,
    port: u16,
    /// Run server binaries as the `postgres` OS user (we are root).
    as_postgres: bool,
    running: bool,
}

impl PgCluster {
    /// A cluster with `wal_level=logical`, started and ready for connections.
    pub fn start() -> PgCluster {
        Self::builder().start()
    }

    /// Options for a cluster; finish with [`PgClusterBuilder::start`].
    pub fn builder() -> PgClusterBuilder {
        PgClusterBuilder {
            wal_level: "logical".to_string(),
            settings: Vec::new(),
            hba: None,
            files: Vec::new(),
        }
    }

    /// The TCP port on 127.0.0.1 the server listens on (stable across restarts).
    pub fn port(&self) -> u16 {
        self.port
    }

    /// The directory of the server's Unix-domain socket (`.s.PGSQL.<port>`),
    /// as libpq's `host` takes it.
    pub fn socket_dir(&self) -> String {
        self.dir.path().join("sock").to_string_lossy().into_owned()
    }

    /// Always `127.0.0.1`.
    pub fn host(&self) -> &'static str {
        "127.0.0.1"
    }

    /// The superuser's role name.
    pub fn superuser(&self) -> &'static str {
        SUPERUSER
    }

    /// The superuser's password.
    pub fn password(&self) -> &'static str {
        PASSWORD
    }

    /// Writes a `PostgresCdc` connector's properties named `name` for this
    /// cluster's `postgres` database (topic prefix `shop`) into `path`;
    /// `extra` adds keys or replaces these.
    pub fn write_connector_props(&self, path: &Path, name: &str, extra: &[(&str, &str)]) {
        let port = self.port.to_string();
        let mut entries: Vec<(&str, &str)> = vec![
            ("name", name),
            ("connector.class", "PostgresCdc"),
            ("database.hostname", "127.0.0.1"),
            ("database.port", &port),
            ("database.user", SUPERUSER),
            ("database.password", PASSWORD),
            ("database.dbname", "postgres"),
            ("topic.prefix", "shop"),
        ];
        for (k, v) in extra {
            entries.retain(|(key, _)| key != k);
            entries.push((k, v));
        }
        let text: String = entries.iter().map(|(k, v)| format!("{k}={v}\n")).collect();
        fs::write(path, text).unwrap_or_else(|e| panic!("write {}: {e}", path.display()));
    }

    /// The cluster's data directory.
    pub fn data_dir(&self) -> &Path {
        &self.data
    }

    /// The server log so far (for assertion messages).
    pub fn log(&self) -> String {
        fs::read_to_string(&self.logfile).unwrap_or_default()
    }

    /// A libpq connection string for the superuser (`host=127.0.0.1 port=…
    /// user=postgres password=… dbname=…`).
    pub fn conn_string(&self, db: &str) -> String {
        format!(
            "host=127.0.0.1 port={} user={SUPERUSER} password={PASSWORD} dbname={db}",
            self.port
        )
    }

    /// Debezium-style connection properties for the superuser:
    /// `database.hostname`, `database.port`, `database.user`,
    /// `database.password`, `database.dbname`.
    pub fn connector_props(&self, db: &str) -> Vec<(String, String)> {
        vec![
            ("database.hostname".into(), "127.0.0.1".into()),
            ("database.port".into(), self.port.to_string()),
            ("database.user".into(), SUPERUSER.into()),
            ("database.password".into(), PASSWORD.into()),
            ("database.dbname".into(), db.into()),
        ]
    }

    /// Creates database `db`.
    pub fn create_database(&self, db: &str) {
        self.psql(&format!("CREATE DATABASE \"{}\"", db.replace('"', "\"\"")));
    }

    /// Runs `sql` with `psql` as the superuser against database `postgres`;
    /// returns stdout (unaligned, tuples only, `|`-separated, trailing
    /// newline trimmed). Panics with psql's stderr if anything fails
    /// (`ON_ERROR_STOP`).
    pub fn psql(&self, sql: &str) -> String {
        self.psql_db("postgres", sql)
    }

    /// [`PgCluster::psql`] against database `db`.
    pub fn psql_db(&self, db: &str, sql: &str) -> String {
        match self.try_psql_db(db, sql) {
            Ok(out) => out,
            Err(err) => panic!("psql failed on database {db}: {err}\nSQL: {sql}"),
        }
    }

    /// The rows of a two-column query of integers on database `db` (an
    /// `id` and a value, say), as pairs; rows that do not parse are left
    /// out.
    pub fn int_pairs_db<C: FromIterator<(i64, i64)>>(&self, db: &str, sql: &str) -> C {
        self.psql_db(db, sql)
            .lines()
            .filter_map(|l| {
                let (a, b) = l.trim().split_once('|')?;
                Some((a.trim().parse().ok()?, b.trim().parse().ok()?))
            })
            .collect()
    }

    /// [`PgCluster::int_pairs_db`] on the `postgres` database.
    pub fn int_pairs<C: FromIterator<(i64, i64)>>(&self, sql: &str) -> C {
        self.int_pairs_db("postgres", sql)
    }

    /// [`PgCluster::psql_db`] returning psql's stderr as the error instead of
    /// panicking.
    pub fn try_psql_db(&self, db: &str, sql: &str) -> Result<String, String> {
        let out = Command::new(self.bindir.join("psql"))
            .args(["-X", "-q", "-A", "-t", "-v", "ON_ERROR_STOP=1"])
            .args(["-h", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-U", SUPERUSER, "-d", db, "-c", sql])
            .env("PGPASSWORD", PASSWORD)
            .env("PGCONNECT_TIMEOUT", "10")
            .env_remove("PGSERVICE")
            .output()
            .map_err(|e| format!("could not run psql: {e}"))?;
        if !out.status.success() {
            return Err(format!(
                "{}\n{}",
                out.status,
                String::from_utf8_lossy(&out.stderr)
            ));
        }
        let mut s = String::from_utf8_lossy(&out.stdout).into_owned();
        while s.ends_with('\n') {
            s.pop();
        }
        Ok(s)
    }

    /// Fast shutdown (`-m fast`: sessions are terminated), then start again on
    /// the same port.
    pub fn restart(&mut self) {
        if self.running {
            self.pg_ctl(&["-m", "fast", "-w", "stop"]);
            self.running = false;
        }
        self.start_again();
    }

    /// Fast shutdown; [`PgCluster::start_again`] brings it back.
    pub fn stop(&mut self) {
        if self.running {
            self.pg_ctl(&["-m", "fast", "-w", "stop"]);
            self.running = false;
        }
    }

    /// Immediate shutdown, like a crash (no checkpoint; recovery on next start).
    pub fn kill(&mut self) {
        if self.running {
            self.pg_ctl(&["-m", "immediate", "-w", "stop"]);
            self.running = false;
        }
    }

    /// Starts a stopped cluster on the same port.
    pub fn start_again(&mut self) {
        if self.running {
            return;
        }
        let log = self.logfile.to_string_lossy().into_owned();
        self.pg_ctl(&["-w", "-t", "120", "-l", &log, "start"]);
        self.running = true;
    }

    /// Whether the server is (as far as this handle knows) running.
    pub fn is_running(&self) -> bool {
        self.running
    }

    fn init_and_start(opts: PgClusterBuilder) -> PgCluster {
        let bindir = find_bindir();
        let dir = tempfile::Builder::new()
            .prefix("pgtest-")
            .tempdir()
            .expect("create temp dir for the PostgreSQL cluster");
        let as_postgres = fs::metadata(dir.path()).expect("stat temp dir").uid() == 0;
        let data = dir.path().join("data");
        let sock = dir.path().join("sock");
        let logfile = dir.path().join("postgres.log");
        let pwfile = dir.path().join("pwfile");
        fs::create_dir(&sock).expect("create socket dir");
        fs::write(&pwfile, PASSWORD).expect("write pwfile");
        fs::write(&logfile, "").expect("create logfile");
        if as_postgres {
            let status = Command::new("chown")
                .args(["-R", "postgres:", &dir.path().to_string_lossy()])
                .status()
                .expect("run chown");
            assert!(
                status.success(),
                "chown of the test cluster dir to the `postgres` user failed; \
                 does the user exist? Run scripts/install-postgres.sh"
            );
        }

        let mut cluster = PgCluster {
            bindir,
            dir,
            data,
            logfile,
            port: 0,
            as_postgres,
            running: false,
        };
        let data_s = cluster.data.to_string_lossy().into_owned();
        let pw_s = pwfile.to_string_lossy().into_owned();
        cluster.run_server_bin(
            "initdb",
            &[
                "-D",
                &data_s,
                "-U",
                SUPERUSER,
                "--auth=scram-sha-256",
                &format!("--pwfile={pw_s}"),
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ],
        );

        let hba = "\
# written by tests/common/pg.rs
local all all scram-sha-256
local replication all scram-sha-256
host all md5_user 127.0.0.1/32 md5
host all plain_user 127.0.0.1/32 password
host replication md5_user 127.0.0.1/32 md5
host all all 127.0.0.1/32 scram-sha-256
host replication all 127.0.0.1/32 scram-sha-256
";
        fs::write(
            cluster.data.join("pg_hba.conf"),
            opts.hba.as_deref().unwrap_or(hba),
        )
        .expect("write pg_hba.conf");
        for (name, contents) in &opts.files {
            use std::os::unix::fs::PermissionsExt;
            let path = cluster.data.join(name);
            fs::write(&path, contents).expect("write a data directory file");
            fs::set_permissions(&path, fs::Permissions::from_mode(0o600))
                .expect("chmod a data directory file");
            if cluster.as_postgres {
                let _ = Command::new("chown")
                    .args(["postgres:", &path.to_string_lossy()])
                    .status();
            }
        }

        // A free port: bind :0, read it, release it. Retried if another
        // process grabs it before the server binds.
        let mut last_err = String::new();
        for _attempt in 0..5 {
            cluster.port = free_port();
            let mut conf = format!(
                "\n# written by tests/common/pg.rs\n\
                 listen_addresses = '127.0.0.1'\n\
                 port = {port}\n\
                 unix_socket_directories = '{sock}'\n\
                 wal_level = {wal}\n\
                 max_replication_slots = 20\n\
                 max_wal_senders = 20\n\
                 fsync = off\n\
                 synchronous_commit = off\n\
                 full_page_writes = off\n\
                 shared_buffers = 16MB\n\
                 max_connections = 50\n",
                port = cluster.port,
                sock = sock.to_string_lossy(),
                wal = opts.wal_level,
            );
            for (k, v) in &opts.settings {
                conf.push_str(&format!("{k} = {v}\n"));
            }
            // postgresql.auto.conf is read last, so rewriting it per attempt
            // replaces the previous port.
            let auto = cluster.data.join("postgresql.auto.conf");
            fs::write(&auto, conf).expect("write postgresql.auto.conf");
            if cluster.as_postgres {
                let _ = Command::new("chown")
                    .args(["postgres:", &auto.to_string_lossy()])
                    .status();
            }
            let log = cluster.logfile.to_string_lossy().into_owned();
            let out = cluster.server_cmd(
                "pg_ctl",
                &["-D", &data_s, "-w", "-t", "120", "-l", &log, "start"],
            );
            if out.status.success() {
                cluster.running = true;
                return cluster;
            }
            last_err = describe(&out);
            if !cluster.log().contains("could not bind") {
                break;
            }
        }
        panic!(
            "could not start the test PostgreSQL cluster: {last_err}\n--- server log ---\n{}",
            cluster.log()
        );
    }

    fn pg_ctl(&self, args: &[&str]) {
        let data_s = self.data.to_string_lossy().into_owned();
        let mut all = vec!["-D", &data_s];
        all.extend_from_slice(args);
        self.run_server_bin("pg_ctl", &all);
    }

    fn run_server_bin(&self, bin: &str, args: &[&str]) {
        let out = self.server_cmd(bin, args);
        if !out.status.success() {
            panic!(
                "{bin} {args:?} failed: {}\n--- server log ---\n{}",
                describe(&out),
                self.log()
            );
        }
    }

    /// Runs a server binary, as the `postgres` user when we are root.
    fn server_cmd(&self, bin: &str, args: &[&str]) -> Output {
        let path = self.bindir.join(bin);
        let mut cmd = if self.as_postgres {
            let mut c = Command::new("runuser");
            c.args(["-u", "postgres", "--"]).arg(&path);
            c
        } else {
            Command::new(&path)
        };
        cmd.args(args)
            // The server inherits the cwd; make it one the postgres user can read.
            .current_dir(self.dir.path())
            .env_remove("PGDATA")
            .env_remove("PGPORT")
            .output()
            .unwrap_or_else(|e| panic!("could not run {}: {e}", path.display()))
    }
}

impl Drop for PgCluster {
    fn drop(&mut self) {
        if self.running {
            let data_s = self.data.to_string_lossy().into_owned();
            let _ = self.server_cmd("pg_ctl", &["-D", &data_s, "-m", "immediate", "-w", "stop"]);
            self.running = false;
        }
        // TempDir's own drop removes the directory.
    }
}

fn describe(out: &Output) -> String {
    format!(
        "{}\nstdout: {}\nstderr: {}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    )
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("bind 127.0.0.1:0 to find a free port")
}

/// The directory holding `initdb`, `pg_ctl`, `postgres` and `psql`.
pub fn find_bindir() -> PathBuf {
    let has_pg_ctl = |d: &Path| d.join("pg_ctl").is_file() && d.join("initdb").is_file();
    if let Some(dir) = std::env::var_os("PG_BINDIR") {
        let dir = PathBuf::from(dir);
        if has_pg_ctl(&dir) {
            return dir;
        }
        panic!("PG_BINDIR={} holds no pg_ctl/initdb", dir.display());
    }
    if let Ok(out) = Command::new("pg_config").arg("--bindir").output() {
        if out.status.success() {
            let dir = PathBuf::from(String::from_utf8_lossy(&out.stdout).trim());
            if has_pg_ctl(&dir) {
                return dir;
            }
        }
    }
    let mut best: Option<(u32, PathBuf)> = None;
    if let Ok(entries) = fs::read_dir("/usr/lib/postgresql") {
        for entry in entries.flatten() {
            let version = entry
                .file_name()
                .to_string_lossy()
                .split('.')
                .next()
                .and_then(|v| v.parse::<u32>().ok());
            let bin = entry.path().join("bin");
            if let Some(v) = version {
                if has_pg_ctl(&bin) && best.as_ref().is_none_or(|(b, _)| v > *b) {
                    best = Some((v, bin));
                }
            }
        }
    }
    match best {
        Some((_, dir)) => dir,
        None => panic!(
            "PostgreSQL server binaries not found (no pg_ctl via $PG_BINDIR, \
             `pg_config --bindir` or /usr/lib/postgresql/*/bin). \
             Install them with scripts/install-postgres.sh"
        ),
    }
}
