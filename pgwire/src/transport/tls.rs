//! TLS with `rustls`, with libpq's `sslmode` meanings: the socket a session
//! talks over ([`Stream`]), the modes ([`SslMode`]), the client
//! configuration each mode needs (roots, client certificate, how much of
//! the server's certificate is checked), and the `SSLRequest` negotiation.

use std::io::{self, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::{Duration, Instant};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::WebPkiServerVerifier;
use rustls::crypto::{verify_tls12_signature, verify_tls13_signature, CryptoProvider};
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{
    CertificateError, ClientConfig, ClientConnection, DigitallySignedStruct, RootCertStore,
    SignatureScheme, StreamOwned,
};

use super::socket::Socket;
use super::MIN_TIMEOUT;
use crate::{PgConfig, PgError};

/// `SSLRequest`: length 8, then the request code 1234.5679.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 0x04, 0xd2, 0x16, 0x2f];

/// Bundles of the operating system's trusted roots, for
/// `sslrootcert=system` (the first that exists is used).
const SYSTEM_BUNDLES: &[&str] = &[
    "/etc/ssl/certs/ca-certificates.crt",
    "/etc/pki/tls/certs/ca-bundle.crt",
    "/etc/ssl/ca-bundle.pem",
    "/etc/ssl/cert.pem",
];

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SslMode {
    /// Plain text only.
    Disable,
    /// Plain text first; TLS if the server refuses a plain session.
    Allow,
    /// TLS if the server offers it, else plain text (no certificate check).
    Prefer,
    /// TLS or fail; the certificate is checked as for `verify-ca` when a
    /// root certificate is configured (or `~/.postgresql/root.crt` exists).
    Require,
    /// TLS, with a certificate that chains to a configured root.
    VerifyCa,
    /// As `verify-ca`, and the certificate names the host connected to.
    VerifyFull,
}

impl SslMode {
    pub(crate) fn parse(mode: &str) -> Result<SslMode, PgError> {
        Ok(match mode {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(PgError::Config(format!(
                    "unknown sslmode {other:?}; expected disable, allow, prefer, require, \
                     verify-ca or verify-full"
                )))
            }
        })
    }

    fn name(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The socket a session talks over: plain TCP or Unix-domain, or TLS over
/// TCP.
pub(crate) enum Stream {
    Plain(Socket),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

impl Stream {
    pub(crate) fn set_read_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.set_read_timeout(t),
            Stream::Tls(s) => s.get_ref().set_read_timeout(t),
        }
    }

    pub(crate) fn set_write_timeout(&self, t: Option<Duration>) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.set_write_timeout(t),
            Stream::Tls(s) => s.get_ref().set_write_timeout(t),
        }
    }

    /// A second handle on the socket underneath (to shut it down).
    pub(crate) fn try_clone_socket(&self) -> io::Result<Socket> {
        match self {
            Stream::Plain(s) => s.try_clone(),
            Stream::Tls(s) => s.get_ref().try_clone().map(Socket::Tcp),
        }
    }

    /// Whether the session is encrypted.
    pub(crate) fn is_tls(&self) -> bool {
        matches!(self, Stream::Tls(_))
    }

    /// Writes everything and, for TLS, pushes the records out to the socket
    /// (rustls's `write` buffers and ignores socket errors; `flush` reports
    /// them).
    pub(crate) fn send(&mut self, buf: &[u8]) -> io::Result<()> {
        match self {
            Stream::Plain(s) => s.write_all(buf),
            Stream::Tls(s) => {
                s.write_all(buf)?;
                s.flush()
            }
        }
    }

    pub(crate) fn recv(&mut self, buf: &mut [u8]) -> io::Result<usize> {
        match self {
            Stream::Plain(s) => s.read(buf),
            Stream::Tls(s) => s.read(buf),
        }
    }
}

/// What a connection attempt does about TLS.
#[derive(Clone)]
pub(crate) enum Attempt {
    /// No `SSLRequest`.
    Plain,
    /// TLS if the server accepts the `SSLRequest`, else plain text.
    TlsIfOffered(Arc<ClientConfig>),
    /// TLS or fail.
    TlsRequired(Arc<ClientConfig>),
}

/// The paths a configuration names, or libpq's defaults under
/// `~/.postgresql/` where those files exist.
struct Files {
    root: Option<PathBuf>,
    cert: Option<PathBuf>,
    key: Option<PathBuf>,
}

fn default_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    let path = Path::new(&home).join(".postgresql").join(name);
    path.is_file().then_some(path)
}

impl Files {
    fn of(cfg: &PgConfig) -> Files {
        let (cert, key) = match (&cfg.sslcert, &cfg.sslkey) {
            (None, None) => match (
                default_file("postgresql.crt"),
                default_file("postgresql.key"),
            ) {
                (Some(c), Some(k)) => (Some(c), Some(k)),
                _ => (None, None),
            },
            (c, k) => (c.clone(), k.clone()),
        };
        Files {
            root: cfg.sslrootcert.clone().or_else(|| default_file("root.crt")),
            cert,
            key,
        }
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// The client configuration for a mode (`None` for `disable`). Files are
/// read here, so a missing or unreadable certificate fails before any
/// connection is made, naming the file.
pub(crate) fn client_config(
    cfg: &PgConfig,
    mode: SslMode,
) -> Result<Option<Arc<ClientConfig>>, PgError> {
    if mode == SslMode::Disable {
        return Ok(None);
    }
    let files = Files::of(cfg);
    let provider = provider();
    // libpq: `require` with a root certificate file verifies as `verify-ca`.
    let verify = match mode {
        SslMode::VerifyFull => Verify::Full,
        SslMode::VerifyCa => Verify::Ca,
        SslMode::Require if files.root.is_some() => Verify::Ca,
        _ => Verify::Nothing,
    };
    let verifier: Arc<dyn ServerCertVerifier> = match verify {
        Verify::Nothing => Arc::new(AcceptAny(provider.clone())),
        Verify::Ca | Verify::Full => {
            let root = files.root.as_deref().ok_or_else(|| {
                PgError::Tls(format!(
                    "sslmode={} needs the root certificate(s) to check the server's certificate \
                     against: set sslrootcert (database.sslrootcert) to a PEM file, or to \
                     \"system\" for the operating system's trusted roots \
                     (~/.postgresql/root.crt does not exist)",
                    mode.name()
                ))
            })?;
            let roots = load_roots(root)?;
            let inner =
                WebPkiServerVerifier::builder_with_provider(Arc::new(roots), provider.clone())
                    .build()
                    .map_err(|e| {
                        PgError::Tls(format!("root certificates from {}: {e}", root.display()))
                    })?;
            Arc::new(Checked {
                inner,
                check_name: verify == Verify::Full,
            })
        }
    };
    let builder = ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| PgError::Tls(format!("TLS protocol versions: {e}")))?
        .dangerous()
        .with_custom_certificate_verifier(verifier);
    let config = match (&files.cert, &files.key) {
        (Some(cert), Some(key)) => {
            let chain = load_certs(cert)?;
            let key = PrivateKeyDer::from_pem_file(key).map_err(|e| {
                PgError::Tls(format!(
                    "could not read the client key sslkey={}: {e}",
                    key.display()
                ))
            })?;
            builder.with_client_auth_cert(chain, key).map_err(|e| {
                PgError::Tls(format!(
                    "client certificate {} and key do not go together: {e}",
                    cert.display()
                ))
            })?
        }
        (Some(cert), None) => {
            return Err(PgError::Tls(format!(
                "sslcert={} is set but sslkey is not: a client certificate needs its key",
                cert.display()
            )))
        }
        (None, Some(key)) => {
            return Err(PgError::Tls(format!(
                "sslkey={} is set but sslcert is not: a client key needs its certificate",
                key.display()
            )))
        }
        (None, None) => builder.with_no_client_auth(),
    };
    Ok(Some(Arc::new(config)))
}

fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, PgError> {
    let certs = CertificateDer::pem_file_iter(path)
        .and_then(|it| it.collect::<Result<Vec<_>, _>>())
        .map_err(|e| {
            PgError::Tls(format!(
                "could not read certificates from {}: {e}",
                path.display()
            ))
        })?;
    if certs.is_empty() {
        return Err(PgError::Tls(format!(
            "{} holds no PEM certificate",
            path.display()
        )));
    }
    Ok(certs)
}

fn load_roots(root: &Path) -> Result<RootCertStore, PgError> {
    let path = if root == Path::new("system") {
        SYSTEM_BUNDLES
            .iter()
            .map(Path::new)
            .find(|p| p.is_file())
            .ok_or_else(|| {
                PgError::Tls(format!(
                    "sslrootcert=system, but none of {} exists",
                    SYSTEM_BUNDLES.join(", ")
                ))
            })?
    } else {
        root
    };
    let mut store = RootCertStore::empty();
    for cert in load_certs(path)? {
        store.add(cert).map_err(|e| {
            PgError::Tls(format!(
                "a root certificate in {} is not usable: {e}",
                path.display()
            ))
        })?;
    }
    Ok(store)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Verify {
    Nothing,
    Ca,
    Full,
}

/// `prefer` / `require` without roots: any certificate, but the handshake's
/// signatures are still checked against it (so the session is encrypted to
/// whoever holds that certificate's key).
#[derive(Debug)]
struct AcceptAny(Arc<CryptoProvider>);

impl ServerCertVerifier for AcceptAny {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` / `verify-full`: the chain must reach a configured root;
/// `verify-full` also needs the certificate to name the host.
#[derive(Debug)]
struct Checked {
    inner: Arc<WebPkiServerVerifier>,
    check_name: bool,
}

impl ServerCertVerifier for Checked {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .inner
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            // The chain verified; only the name did not match.
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) if !self.check_name => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.inner.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.inner.supported_verify_schemes()
    }
}

/// Whether a socket read or write stopped at its timeout.
fn timed_out(e: &io::Error) -> bool {
    matches!(
        e.kind(),
        io::ErrorKind::WouldBlock | io::ErrorKind::TimedOut
    )
}

/// What came of an `SSLRequest`.
pub(crate) enum Negotiated {
    /// The TLS handshake completed.
    Tls(Stream),
    /// The server does not do TLS (it answered `N`); the socket is still
    /// usable for a plain session.
    Refused(TcpStream),
}

/// Sends `SSLRequest` and, if the server agrees, runs the TLS handshake
/// before `deadline`.
pub(crate) fn negotiate(
    mut tcp: TcpStream,
    config: Arc<ClientConfig>,
    cfg: &PgConfig,
    peer: &str,
    deadline: Instant,
) -> Result<Negotiated, PgError> {
    let timeout = |what: &str| -> Result<(), PgError> {
        let left = deadline.saturating_duration_since(Instant::now());
        if left.is_zero() {
            return Err(PgError::Tls(format!("timed out {what} with {peer}")));
        }
        Ok(())
    };
    let set_timeout = |tcp: &TcpStream| {
        let left = deadline
            .saturating_duration_since(Instant::now())
            .max(MIN_TIMEOUT);
        tcp.set_read_timeout(Some(left))
            .and_then(|()| tcp.set_write_timeout(Some(left)))
            .map_err(|e| PgError::io(format!("could not configure the socket to {peer}"), e))
    };
    set_timeout(&tcp)?;
    tcp.write_all(&SSL_REQUEST)
        .map_err(|e| PgError::io(format!("could not send SSLRequest to {peer}"), e))?;
    // Exactly one byte: anything the server sent after `S` before our
    // handshake would be unencrypted data injected into the session.
    let mut answer = [0u8; 1];
    loop {
        match tcp.read(&mut answer) {
            Ok(0) => {
                return Err(PgError::io(
                    format!("{peer} closed the connection after SSLRequest"),
                    io::Error::from(io::ErrorKind::UnexpectedEof),
                ))
            }
            Ok(_) => break,
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if timed_out(&e) => {
                timeout("waiting for the answer to SSLRequest")?;
            }
            Err(e) => {
                return Err(PgError::io(
                    format!("no answer to SSLRequest from {peer}"),
                    e,
                ))
            }
        }
    }
    match answer[0] {
        b'S' => {}
        // `N`: no TLS on this server. `E`: a server too old to know
        // SSLRequest (it closes the connection after the error).
        b'N' => return Ok(Negotiated::Refused(tcp)),
        b'E' => {
            return Err(PgError::Tls(format!(
                "{peer} does not understand SSLRequest (a server older than 7.0?)"
            )))
        }
        other => {
            return Err(PgError::Protocol(format!(
                "{peer} answered SSLRequest with {:?}",
                char::from(other)
            )))
        }
    }
    let name = ServerName::try_from(cfg.host.clone()).map_err(|e| {
        PgError::Tls(format!(
            "host {:?} is not a valid TLS server name: {e}",
            cfg.host
        ))
    })?;
    let mut conn = ClientConnection::new(config, name)
        .map_err(|e| PgError::Tls(format!("could not start TLS with {peer}: {e}")))?;
    while conn.is_handshaking() {
        set_timeout(&tcp)?;
        match conn.complete_io(&mut tcp) {
            Ok(_) => {}
            Err(e) if e.kind() == io::ErrorKind::Interrupted => {}
            Err(e) if timed_out(&e) => {
                timeout("in the TLS handshake")?;
            }
            Err(e) => {
                return Err(PgError::Tls(format!(
                    "TLS handshake with {peer} failed (sslmode={}{}): {e}",
                    cfg.sslmode,
                    cfg.sslrootcert
                        .as_ref()
                        .map(|r| format!(", sslrootcert={}", r.display()))
                        .unwrap_or_default()
                )))
            }
        }
    }
    Ok(Negotiated::Tls(Stream::Tls(Box::new(StreamOwned::new(
        conn, tcp,
    )))))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_and_unknown_ones_name_the_choices() {
        assert_eq!(
            SslMode::parse("verify-full").ok(),
            Some(SslMode::VerifyFull)
        );
        assert_eq!(SslMode::parse("allow").ok(), Some(SslMode::Allow));
        let err = SslMode::parse("strict")
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(
            err.contains("\"strict\"") && err.contains("verify-ca"),
            "{err}"
        );
    }

    #[test]
    fn verify_modes_without_roots_fail_before_connecting() {
        let cfg = PgConfig {
            sslrootcert: Some(PathBuf::from("/nonexistent/root.crt")),
            sslmode: "verify-ca".into(),
            ..PgConfig::default()
        };
        let err = client_config(&cfg, SslMode::VerifyCa)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("/nonexistent/root.crt"), "{err}");
        let cfg = PgConfig {
            sslcert: Some(PathBuf::from("/tmp/client.crt")),
            ..PgConfig::default()
        };
        let err = client_config(&cfg, SslMode::Require)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(err.contains("sslkey"), "{err}");
    }
}
