//! Unit tests of the transport.

use super::query::abbreviate;
use super::*;

#[test]
fn server_version_parses_like_server_version_num() {
    assert_eq!(
        parse_server_version("15.4 (Debian 15.4-1.pgdg120+1)"),
        150004
    );
    assert_eq!(parse_server_version("9.6.24"), 90624);
    assert_eq!(parse_server_version("17beta1"), 170000);
    assert_eq!(parse_server_version("16.0"), 160000);
    assert_eq!(parse_server_version("garbage"), 0);
}

/// A one-shot fake server: reads the startup message, then writes
/// `reply` and closes. For malformed input only; real behaviour is
/// tested against PostgreSQL in `tests/pg_client.rs`.
fn fake_server(reply: Vec<u8>) -> u16 {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("addr").port();
    std::thread::spawn(move || {
        if let Ok((mut sock, _)) = listener.accept() {
            let mut len = [0u8; 4];
            if sock.read_exact(&mut len).is_ok() {
                let mut rest = vec![0u8; (u32::from_be_bytes(len) as usize).saturating_sub(4)];
                let _ = sock.read_exact(&mut rest);
            }
            let _ = sock.write_all(&reply);
        }
    });
    port
}

fn connect_to(port: u16) -> Result<Wire, PgError> {
    connect_with(port, "disable")
}

fn connect_with(port: u16, sslmode: &str) -> Result<Wire, PgError> {
    let cfg = PgConfig {
        host: "127.0.0.1".into(),
        port,
        connect_timeout: Duration::from_secs(5),
        sslmode: sslmode.into(),
        ..PgConfig::default()
    };
    Wire::connect(&cfg, false)
}

fn msg(tag: u8, body: &[u8]) -> Vec<u8> {
    let mut m = vec![tag];
    m.extend_from_slice(&(body.len() as u32 + 4).to_be_bytes());
    m.extend_from_slice(body);
    m
}

#[test]
fn malformed_server_input_is_an_error_not_a_panic() {
    let auth_ok = msg(b'R', &0i32.to_be_bytes());
    let cases: Vec<(&str, Vec<u8>)> = vec![
        ("garbage tag", b"\x01\x00\x00\x00\x08abcd".to_vec()),
        ("length below 4", vec![b'R', 0, 0, 0, 2]),
        ("length above 1 GiB", vec![b'd', 0x7f, 0xff, 0xff, 0xff]),
        ("unknown auth method", msg(b'R', &99i32.to_be_bytes())),
        ("truncated auth", msg(b'R', &[0, 0])),
        (
            "SASL without SCRAM",
            msg(b'R', b"\x00\x00\x00\x0aOTHER\x00\x00"),
        ),
        ("closed after auth", auth_ok.clone()),
        ("nothing", Vec::new()),
    ];
    for (what, reply) in cases {
        let err = connect_to(fake_server(reply));
        assert!(err.is_err(), "{what}: connected");
    }
    // A password request without a configured password names the user.
    let err = connect_to(fake_server(msg(b'R', &3i32.to_be_bytes())))
        .err()
        .map(|e| e.to_string());
    assert!(
        err.as_deref()
            .is_some_and(|e| e.contains("requires a password for user \"postgres\"")),
        "{err:?}"
    );
    // A reply to SSLRequest that is neither `S` nor `N` (libpq: "received
    // invalid response to SSL negotiation") fails, also under prefer.
    for mode in ["prefer", "require"] {
        let err = connect_with(fake_server(b"R".to_vec()), mode)
            .err()
            .map(|e| e.to_string());
        assert!(
            err.as_deref()
                .is_some_and(|e| e.contains("answered SSLRequest with 'R'")),
            "{mode}: {err:?}"
        );
    }
    // A server that closes mid-startup: the session is lost, not wedged.
    let err = connect_to(fake_server(Vec::new())).err();
    assert!(err.is_some_and(|e| e.is_connection_lost()));
}

#[test]
fn long_sql_is_abbreviated_on_a_char_boundary() {
    let sql = "é".repeat(300);
    let short = abbreviate(&sql);
    assert!(short.len() < 210);
    assert!(short.ends_with('…'));
}
