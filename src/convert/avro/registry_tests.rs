use super::*;
use crate::convert::avro::test_server::TestRegistry;
use crate::data::json::base64;

const V1: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"}]}"#;
const V2: &str = r#"{"type":"record","name":"R","fields":[{"name":"a","type":"int"},{"name":"b","type":["null","string"],"default":null}]}"#;

#[test]
fn embedded_ids_are_deterministic_and_stable_per_schema() {
    let one = EmbeddedRegistry::new();
    let id1 = one.register("t-value", V1).expect("v1");
    let id2 = one.register("t-value", V2).expect("v2");
    assert_ne!(id1, id2);
    assert!(id1 > 0 && id2 > 0);
    assert_eq!(one.register("t-value", V1).expect("again"), id1);
    assert_eq!(one.register("other-value", V1).expect("other subject"), id1);
    assert_eq!(EmbeddedRegistry::deterministic_id(V1).expect("id"), id1);
    // Formatting does not change a schema's identity.
    let spaced = V1.replace(',', " , ");
    assert_eq!(one.register("t-value", &spaced).expect("spaced"), id1);

    // Another process, registering in another order, agrees.
    let two = EmbeddedRegistry::new();
    assert_eq!(two.register("x", V2).expect("v2"), id2);
    assert_eq!(two.register("y", V1).expect("v1"), id1);

    let latest = one.latest("t-value").expect("latest").expect("some");
    assert_eq!((latest.id, latest.version), (id2, 2));
    assert_eq!(latest.schema, V2);
    assert_eq!(one.latest("nothing").expect("latest"), None);
    assert_eq!(one.lookup("t-value", V2).expect("lookup"), Some(id2));
    assert_eq!(one.lookup("other-value", V2).expect("lookup"), None);
    assert_eq!(&*one.schema_by_id(id1).expect("by id"), V1);
}

#[test]
fn embedded_errors_are_clear() {
    let r = EmbeddedRegistry::new();
    let err = r.schema_by_id(12).unwrap_err();
    assert_eq!(err.error_code, Some(40403));
    assert!(!err.retriable);
    assert!(err.message.contains("schema id 12 not found"), "{err}");
    let err = r.register("s", r#"{"type":"nonsense"}"#).unwrap_err();
    assert!(err.message.contains("invalid Avro schema"), "{err}");
    assert!(r.register("s", "not json").is_err());
}

#[test]
fn embedded_scopes_are_shared_and_separate() {
    let a = EmbeddedRegistry::scoped("registry-tests-a");
    let id = a.register("s", V1).expect("register");
    assert_eq!(
        EmbeddedRegistry::scoped("registry-tests-a")
            .lookup("s", V1)
            .expect("lookup"),
        Some(id)
    );
    assert_eq!(
        EmbeddedRegistry::scoped("registry-tests-b")
            .lookup("s", V1)
            .expect("lookup"),
        None
    );
}

fn client(url: &str, user_info: Option<&str>) -> HttpRegistry {
    HttpRegistry::new(&HttpRegistryConfig {
        urls: vec![url.to_owned()],
        user_info: user_info.map(str::to_owned),
        connect_timeout: Duration::from_secs(5),
        read_timeout: Duration::from_secs(5),
    })
    .expect("client")
}

#[test]
fn http_client_speaks_the_registry_api_and_caches() {
    let server = TestRegistry::start(Some("u:p"));
    let r = client(&format!("{}/", server.url), Some("u:p"));
    let subject = "odd subject/with:chars";
    assert_eq!(r.lookup(subject, V1).expect("lookup"), None);
    assert_eq!(r.latest(subject).expect("latest"), None);
    let id = r.register(subject, V1).expect("register");
    assert_eq!(id, 1);
    assert_eq!(r.register(subject, V2).expect("v2"), 2);
    assert_eq!(r.lookup(subject, V1).expect("lookup"), Some(1));
    let latest = r.latest(subject).expect("latest").expect("some");
    assert_eq!(
        (latest.id, latest.version, latest.schema.as_str()),
        (2, 2, V2)
    );
    let fresh = client(&server.url, Some("u:p"));
    assert_eq!(&*fresh.schema_by_id(1).expect("by id"), V1);
    let calls = server.requests.load(std::sync::atomic::Ordering::SeqCst);
    for _ in 0..10 {
        fresh.schema_by_id(1).expect("cached");
        r.register(subject, V1).expect("cached");
    }
    assert_eq!(
        server.requests.load(std::sync::atomic::Ordering::SeqCst),
        calls
    );
    let err = fresh.schema_by_id(77).unwrap_err();
    assert_eq!((err.status, err.error_code), (Some(404), Some(40403)));
}

#[test]
fn http_config_helpers() {
    assert_eq!(
        base64(b"Aladdin:open sesame"),
        "QWxhZGRpbjpvcGVuIHNlc2FtZQ=="
    );
    assert_eq!(base64(b"a"), "YQ==");
    assert_eq!(base64(b"ab"), "YWI=");
    assert_eq!(base64(b""), "");
    assert_eq!(
        split_user_info("https://u:p@host:8081/x").expect("split"),
        ("https://host:8081/x".to_owned(), Some("u:p".to_owned()))
    );
    assert_eq!(
        split_user_info("http://host").expect("split"),
        ("http://host".to_owned(), None)
    );
    assert!(split_user_info("host:8081").is_err());
    assert_eq!(percent_encode("a b/c-d.e"), "a%20b%2Fc-d.e");
    let config = HttpRegistryConfig {
        urls: vec!["http://h".into()],
        user_info: Some("u:secret".into()),
        connect_timeout: Duration::from_secs(1),
        read_timeout: Duration::from_secs(1),
    };
    assert!(!format!("{config:?}").contains("secret"));
    assert!(Arc::ptr_eq(
        &HttpRegistry::shared(&config).expect("shared"),
        &HttpRegistry::shared(&config).expect("shared")
    ));
}
