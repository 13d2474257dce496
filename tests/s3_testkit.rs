//! The S3 test kit (`tests/common/s3.rs`) does what the S3 snapshot store's
//! tests will rely on: a real S3 server that checks signatures, keeps its
//! data across a stop and restart, and answers conditional puts the way
//! `object_store` expects; and a proxy whose injected faults an
//! `object_store` client sees and retries.

#[path = "common/s3.rs"]
mod s3;

use std::process::Command;
use std::time::{Duration, Instant};

use object_store::aws::{AmazonS3, AmazonS3Builder, AmazonS3ConfigKey};
use object_store::path::Path as ObjectPath;
use object_store::{
    BackoffConfig, ClientOptions, ObjectStore, ObjectStoreExt, PutMode, PutOptions, PutPayload,
    RetryConfig, UpdateVersion,
};
use s3::{FaultProxy, S3Server, BUCKET};

/// A runtime for the client side of one test.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("client runtime")
}

/// A client configured from `env` the way `AmazonS3Builder::from_env` reads
/// the process environment (lower-cased names parsed as config keys), with
/// retries short enough that a test sees an outage fail in well under a
/// second.
fn client(env: &[(String, String)]) -> AmazonS3 {
    let mut builder = AmazonS3Builder::new().with_bucket_name(BUCKET);
    for (name, value) in env {
        let key: AmazonS3ConfigKey = name
            .to_ascii_lowercase()
            .parse()
            .unwrap_or_else(|e| panic!("{name} is not an object_store S3 setting: {e}"));
        builder = builder.with_config(key, value);
    }
    builder
        .with_retry(RetryConfig {
            backoff: BackoffConfig {
                init_backoff: Duration::from_millis(10),
                max_backoff: Duration::from_millis(50),
                base: 2.0,
            },
            max_retries: 3,
            retry_timeout: Duration::from_secs(10),
        })
        .with_client_options(
            ClientOptions::new()
                .with_allow_http(true)
                .with_connect_timeout(Duration::from_secs(2))
                .with_timeout(Duration::from_secs(10)),
        )
        .build()
        .expect("build the S3 client")
}

fn path(key: &str) -> ObjectPath {
    ObjectPath::from(key)
}

async fn get(store: &AmazonS3, key: &str) -> Vec<u8> {
    let result = store.get(&path(key)).await;
    let result = result.unwrap_or_else(|e| panic!("get {key}: {e}"));
    result.bytes().await.expect("read body").to_vec()
}

async fn put(store: &AmazonS3, key: &str, data: &[u8]) -> object_store::Result<()> {
    store
        .put(&path(key), PutPayload::from(data.to_vec()))
        .await
        .map(drop)
}

/// The bytes the server stored for `key` (read from its data root).
fn stored(server: &S3Server, key: &str) -> Vec<u8> {
    std::fs::read(server.object_path(key)).unwrap_or_else(|e| panic!("object file {key}: {e}"))
}

fn create(key: &str, data: &[u8]) -> (ObjectPath, PutPayload, PutOptions) {
    let opts = PutOptions {
        mode: PutMode::Create,
        ..PutOptions::default()
    };
    (path(key), PutPayload::from(data.to_vec()), opts)
}

#[test]
fn put_get_list_delete_round_trip() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    let store = client(&server.env());
    runtime().block_on(async {
        put(&store, "epoch/1/part-0", b"zero").await.expect("put");
        put(&store, "epoch/1/part-1", b"one").await.expect("put");
        put(&store, "manifest", b"epoch=1").await.expect("put");
        assert_eq!(get(&store, "epoch/1/part-1").await, b"one");

        let mut listed: Vec<(String, u64)> = store
            .list_with_delimiter(Some(&path("epoch/1")))
            .await
            .expect("list")
            .objects
            .into_iter()
            .map(|meta| (meta.location.to_string(), meta.size))
            .collect();
        listed.sort();
        assert_eq!(
            listed,
            [
                ("epoch/1/part-0".to_string(), 4),
                ("epoch/1/part-1".to_string(), 3)
            ]
        );

        store.delete(&path("epoch/1/part-0")).await.expect("delete");
        match store.get(&path("epoch/1/part-0")).await {
            Err(object_store::Error::NotFound { .. }) => {}
            other => panic!("get after delete: {other:?}"),
        }
    });
    // The server keeps objects as plain files.
    assert_eq!(stored(&server, "manifest"), b"epoch=1");
    assert!(!server.object_path("epoch/1/part-0").exists());
}

/// s3s-fs honours `If-None-Match: *` on PutObject: a second `PutMode::Create`
/// of an existing key gets `412 PreconditionFailed`, which object_store (its
/// default `S3ConditionalPut::ETagMatch`) reports as `AlreadyExists`, and
/// the first object stays. It honours `If-Match: <etag>` too, so
/// `PutMode::Update` is a compare-and-swap. Its check is not atomic with the
/// write (it tests whether the file exists, then writes a temporary file and
/// renames it over), so two racing creates can both succeed: sequential use
/// only.
#[test]
fn create_mode_put_of_an_existing_key_is_already_exists() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    let store = client(&server.env());
    runtime().block_on(async {
        let (key, payload, opts) = create("lock", b"first");
        let created = store.put_opts(&key, payload, opts).await.expect("create");

        let (key, payload, opts) = create("lock", b"second");
        match store.put_opts(&key, payload, opts).await {
            Err(object_store::Error::AlreadyExists { .. }) => {}
            other => panic!("second create of the same key: {other:?}"),
        }
        assert_eq!(get(&store, "lock").await, b"first");

        // Compare-and-swap: the current ETag wins, a stale one is refused.
        let update = |e_tag: Option<String>, data: &'static [u8]| {
            let opts = PutOptions {
                mode: PutMode::Update(UpdateVersion {
                    e_tag,
                    version: None,
                }),
                ..PutOptions::default()
            };
            store.put_opts(&key, PutPayload::from_static(data), opts)
        };
        update(created.e_tag.clone(), b"third")
            .await
            .expect("update with the current ETag");
        match update(created.e_tag, b"fourth").await {
            Err(object_store::Error::Precondition { .. }) => {}
            other => panic!("update with a stale ETag: {other:?}"),
        }
        assert_eq!(get(&store, "lock").await, b"third");
    });
}

#[test]
fn injected_503s_are_retried_by_object_store() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    let proxy = FaultProxy::start(server.addr());
    let store = client(&proxy.env());
    runtime().block_on(async {
        proxy.fail_next(2, 503);
        put(&store, "retried", b"data")
            .await
            .expect("put through two 503s");
        assert_eq!(proxy.requests_failed(), 2);
        assert_eq!(proxy.requests_seen(), 3);
        assert_eq!(proxy.requests_forwarded(), 1);

        // Bodies pass both ways whole, and keep-alive holds.
        let big: Vec<u8> = (0..3 * 1024 * 1024u32).map(|i| (i % 251) as u8).collect();
        put(&store, "big", &big).await.expect("put big");
        assert_eq!(get(&store, "big").await, big);
        let head = store.head(&path("big")).await.expect("head");
        assert_eq!(head.size, big.len() as u64);
        for i in 0..5 {
            put(&store, &format!("small-{i}"), b"x").await.expect("put");
        }
        assert_eq!(proxy.requests_forwarded(), 9);
        assert!(
            proxy.connections() < 9,
            "{} connections for 9 sequential requests: keep-alive broken",
            proxy.connections()
        );

        // Retries give up: more failures than retries is an error.
        proxy.fail_next(10, 500);
        let err = put(&store, "never", b"x")
            .await
            .expect_err("put through 500s");
        assert!(err.to_string().contains("500"), "{err}");
        assert_eq!(proxy.requests_failed(), 2 + 4, "first try and 3 retries");
        proxy.fail_next(0, 500);
    });
    assert_eq!(stored(&server, "retried"), b"data");
    assert!(!server.object_path("never").exists());
}

#[test]
fn proxy_down_drops_requests_until_it_is_up() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    let proxy = FaultProxy::start(server.addr());
    let store = client(&proxy.env());
    runtime().block_on(async {
        put(&store, "before", b"1").await.expect("put");
        proxy.set_down(true);
        put(&store, "during", b"2")
            .await
            .expect_err("put while the proxy is down");
        proxy.set_down(false);
        put(&store, "after", b"3").await.expect("put once up");

        // A request in flight (held by a long delay) is dropped too.
        proxy.delay(Duration::from_secs(30));
        let seen = proxy.requests_seen();
        let started = Instant::now();
        let (in_flight, ()) = tokio::join!(put(&store, "in-flight", b"4"), async {
            while proxy.requests_seen() == seen {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
            proxy.set_down(true);
        });
        in_flight.expect_err("put in flight when the proxy goes down");
        assert!(started.elapsed() < Duration::from_secs(10));
        proxy.set_down(false);

        proxy.delay(Duration::from_millis(300));
        let started = Instant::now();
        assert_eq!(get(&store, "after").await, b"3");
        assert!(started.elapsed() >= Duration::from_millis(300));
        proxy.delay(Duration::ZERO);
    });
    assert!(!server.object_path("during").exists());
    assert!(!server.object_path("in-flight").exists());
}

#[test]
fn stopped_server_fails_puts_and_restart_keeps_its_data() {
    let dir = tempfile::tempdir().expect("tempdir");
    let mut server = S3Server::start(dir.path());
    let addr = server.addr();
    let store = client(&server.env());
    let rt = runtime();
    rt.block_on(put(&store, "kept", b"before the outage"))
        .expect("put");

    // An idle connection, to see that stopping closes connections too.
    let mut idle = std::net::TcpStream::connect(addr).expect("connect");
    idle.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("read timeout");

    server.stop();
    assert!(!server.is_running());
    let mut buf = [0u8; 1];
    match std::io::Read::read(&mut idle, &mut buf) {
        Ok(0) => {}
        Err(e) if e.kind() != std::io::ErrorKind::WouldBlock => {}
        other => panic!("an idle connection survived stop: {other:?}"),
    }
    assert!(
        std::net::TcpStream::connect(addr).is_err(),
        "a stopped server must refuse connections"
    );
    let started = Instant::now();
    rt.block_on(put(&store, "lost", b"x"))
        .expect_err("put while the server is down");
    assert!(started.elapsed() < Duration::from_secs(5));

    server.restart();
    assert_eq!(server.addr(), addr);
    rt.block_on(async {
        assert_eq!(get(&store, "kept").await, b"before the outage");
        put(&store, "new", b"after the outage")
            .await
            .expect("put after restart");
        assert_eq!(get(&store, "new").await, b"after the outage");
    });
}

#[test]
fn wrong_secret_key_is_rejected() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    let mut env = server.env();
    for (name, value) in &mut env {
        if name == "AWS_SECRET_ACCESS_KEY" {
            *value = "not-the-secret".to_string();
        }
    }
    let store = client(&env);
    runtime().block_on(async {
        match put(&store, "forged", b"x").await {
            Err(e @ object_store::Error::PermissionDenied { .. }) => {
                assert!(e.to_string().contains("SignatureDoesNotMatch"), "{e}");
            }
            other => panic!("put signed with a wrong secret: {other:?}"),
        }
        match store.get(&path("forged")).await {
            Err(object_store::Error::PermissionDenied { .. }) => {}
            other => panic!("get signed with a wrong secret: {other:?}"),
        }
    });
    assert!(!server.object_path("forged").exists());
}

/// Set in the child process `env_is_what_from_env_reads` starts.
const CHILD_KEY_VAR: &str = "S3_TESTKIT_FROM_ENV_KEY";

/// `env()` names the variables `AmazonS3Builder::from_env` reads: a child
/// process whose only `AWS_*` variables are those builds its client with
/// `from_env` and writes an object.
#[test]
fn env_is_what_from_env_reads() {
    let dir = tempfile::tempdir().expect("tempdir");
    let server = S3Server::start(dir.path());
    let exe = std::env::current_exe().expect("test binary");
    let mut child = Command::new(exe);
    child.args([
        "--exact",
        "from_env_child",
        "--nocapture",
        "--test-threads=1",
    ]);
    for (name, _) in std::env::vars_os() {
        if name.to_string_lossy().starts_with("AWS_") {
            child.env_remove(name);
        }
    }
    child.envs(server.env()).env(CHILD_KEY_VAR, "from-env");
    let output = child.output().expect("run the child test");
    assert!(
        output.status.success(),
        "child failed: {}\n{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
    assert_eq!(stored(&server, "from-env"), b"written by a from_env client");
}

/// The child side of `env_is_what_from_env_reads`; does nothing unless
/// started by it.
#[test]
fn from_env_child() {
    let Ok(key) = std::env::var(CHILD_KEY_VAR) else {
        return;
    };
    let store = AmazonS3Builder::from_env()
        .with_bucket_name(BUCKET)
        .build()
        .expect("from_env client");
    runtime()
        .block_on(put(&store, &key, b"written by a from_env client"))
        .expect("put from the child");
}
